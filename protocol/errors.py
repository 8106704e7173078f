"""Every error code of PROTOCOL.md, and the exception that carries one."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """Every code in PROTOCOL.md, in its order."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    # axd's own, in the JSON-RPC server range -32000..-32099.
    UNKNOWN_WORKSPACE = -32001
    NOT_READY = -32002
    NOT_FOUND = -32003
    INVALID_PATH = -32004
    CONFLICT = -32005
    OVERLOADED = -32006
    SHUTTING_DOWN = -32007
    TIMEOUT = -32008

    @property
    def kind(self) -> str:
        """The `data.kind` string PROTOCOL.md gives this code."""
        return self.name.lower()


class RpcError(Exception):
    """A failure the client should see; becomes an error object on the wire."""

    def __init__(self, code: ErrorCode, message: str, **data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data: dict[str, Any] = {"kind": code.kind, **data}

    def __repr__(self) -> str:
        return f"RpcError({self.code.name}, {self.message!r})"


def invalid_params(message: str, field: str = "$") -> RpcError:
    """-32602 naming the offending field as a JSON path (`$.query`)."""
    return RpcError(ErrorCode.INVALID_PARAMS, message, field=field)


def invalid_path(message: str, path: str | None = None) -> RpcError:
    """-32004 for a path that is relative, escapes its root, or is missing."""
    extra = {} if path is None else {"path": path}
    return RpcError(ErrorCode.INVALID_PATH, message, **extra)


def not_found(message: str, **data: Any) -> RpcError:
    """-32003 for a snapshot, flag, file or symbol id that does not exist."""
    return RpcError(ErrorCode.NOT_FOUND, message, **data)
