"""One request and its answer, shared by the blocking and the async client.

The one place where a client encodes a request, turns a response into a
result or an exception, decodes a result into its method's type, and words
what went wrong with the socket. `connection.py` (the CLI's blocking client)
and `aio.py` (the anyio client) differ only in how they move bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from axd.protocol.errors import ErrorCode
from axd.protocol.jsonrpc import Incoming
from axd.protocol.subscriptions import NOTIFICATIONS

if TYPE_CHECKING:
    from pathlib import Path

    from axd.protocol.methods import Method

R = TypeVar("R")


class DaemonUnavailableError(Exception):
    """No daemon answers on the socket (and none could be started)."""


class DaemonTimeoutError(DaemonUnavailableError):
    """The daemon did not answer within the client's deadline."""


class ProtocolError(Exception):
    """The daemon sent something this client cannot read (a version mismatch?)."""


class RemoteError(Exception):
    """The daemon answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @property
    def kind(self) -> str:
        """`data.kind`, or the code's name."""
        if isinstance(self.data, dict) and isinstance(self.data.get("kind"), str):
            return str(self.data["kind"])
        try:
            return ErrorCode(self.code).kind
        except ValueError:
            return str(self.code)


_message_decoder = msgspec.json.Decoder(Incoming)
_encoder = msgspec.json.Encoder()


def encode_request(request_id: int, method: str, params: object = None) -> bytes:
    """One NDJSON request line; `params` a Struct, a mapping or None (omitted)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        message["params"] = params
    return _encoder.encode(message) + b"\n"


def decode_message(line: bytes) -> Incoming:
    """A response or a notification.

    :raises ProtocolError: not a JSON-RPC message.
    """
    try:
        return _message_decoder.decode(line)
    except msgspec.MsgspecError as exc:
        raise ProtocolError(f"the daemon sent an unreadable message: {exc}") from exc


def result_of(response: Incoming) -> bytes:
    """The raw JSON result of a response.

    :raises RemoteError: the response is an error.
    """
    error = response.error
    if error is not None:
        raise RemoteError(
            int(error.get("code", ErrorCode.INTERNAL_ERROR)),
            str(error.get("message", "")),
            error.get("data"),
        )
    return bytes(response.result)


def decode_result(method: Method[Any, R], raw: bytes) -> R:
    """`raw` as `method`'s result type.

    :raises ProtocolError: it does not have that shape.
    """
    try:
        return msgspec.json.decode(raw, type=method.result)
    except msgspec.MsgspecError as exc:
        raise ProtocolError(f"unexpected result for {method.name}: {exc}") from exc


def no_daemon(path: Path | str, exc: OSError) -> DaemonUnavailableError:
    """Connecting failed: nobody listens at `path` (or cannot be reached)."""
    return DaemonUnavailableError(f"no daemon at {path} ({exc.strerror or exc})")


def connection_lost(
    path: Path | str, exc: OSError | None = None
) -> DaemonUnavailableError:
    """The connection broke (`exc`) or the daemon closed it (None)."""
    if exc is None:
        return DaemonUnavailableError(f"the daemon at {path} closed the connection")
    return DaemonUnavailableError(f"connection to {path} broke: {exc}")


def decode_notification(method: str, params: bytes) -> object:
    """A notification's params as its protocol type (plain data if unknown).

    :raises ProtocolError: they do not have that shape.
    """
    kind = NOTIFICATIONS.get(method)
    try:
        if kind is None:
            return msgspec.json.decode(params)
        return msgspec.json.decode(params, type=kind)
    except msgspec.MsgspecError as exc:
        raise ProtocolError(f"unexpected {method} notification: {exc}") from exc
