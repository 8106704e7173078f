"""LSP messages as msgspec Structs: what `axd lsp` reads and writes on its hot path.

Only the shapes the index-backed requests need. Field names follow LSP's
camelCase on the wire (``rename="camel"``); optional fields that LSP lets a
server omit are omitted when unset, as lsprotocol's converter does. Decoding a
request ignores the fields this server does not read (``workDoneToken`` ...).
Encoding a result is one msgspec call: no lsprotocol objects, no cattrs.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

# -- results -----------------------------------------------------------------------


class Position(msgspec.Struct, frozen=True, gc=False):
    line: int
    character: int


class Range(msgspec.Struct, frozen=True, gc=False):
    start: Position
    end: Position


class Location(msgspec.Struct, frozen=True, gc=False):
    uri: str
    range: Range


class SymbolInformation(msgspec.Struct, rename="camel", omit_defaults=True, gc=False):
    name: str
    kind: int
    location: Location
    container_name: str | None = None


class DocumentSymbol(msgspec.Struct, rename="camel", omit_defaults=True):
    name: str
    kind: int
    range: Range
    selection_range: Range
    detail: str | None = None
    children: list[DocumentSymbol] = []


class MarkupContent(msgspec.Struct, frozen=True, gc=False):
    kind: str  # "markdown" | "plaintext"
    value: str


class Hover(msgspec.Struct, omit_defaults=True, gc=False):
    contents: MarkupContent
    range: Range | None = None


# -- requests ----------------------------------------------------------------------


class TextDocumentIdentifier(msgspec.Struct, frozen=True, gc=False):
    uri: str


class TextDocumentPositionParams(msgspec.Struct, rename="camel", frozen=True):
    """definition, declaration, hover: a document and a position in it."""

    text_document: TextDocumentIdentifier
    position: Position


class ReferenceContext(msgspec.Struct, rename="camel", frozen=True, gc=False):
    include_declaration: bool


class ReferenceParams(TextDocumentPositionParams, frozen=True):
    context: ReferenceContext


class DocumentSymbolParams(msgspec.Struct, rename="camel", frozen=True):
    text_document: TextDocumentIdentifier


class WorkspaceSymbolParams(msgspec.Struct, frozen=True, gc=False):
    query: str


class CancelParams(msgspec.Struct, frozen=True, gc=False):
    id: int | str


# -- envelopes ---------------------------------------------------------------------

MsgId = int | str


class Head(msgspec.Struct, frozen=True, gc=False):
    """Enough of any JSON-RPC message to route it (params are skipped)."""

    method: str | UnsetType = UNSET
    id: MsgId | None | UnsetType = UNSET


class Response(msgspec.Struct, frozen=True, gc=False):
    """A success: `result` is always present, `null` included."""

    id: MsgId
    result: Any
    jsonrpc: str = "2.0"


class Error(msgspec.Struct, frozen=True, gc=False):
    code: int
    message: str


class ErrorResponse(msgspec.Struct, frozen=True, gc=False):
    id: MsgId | None
    error: Error
    jsonrpc: str = "2.0"


# JSON-RPC and LSP error codes this server sends itself.
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800

_encoder = msgspec.json.Encoder()
_head = msgspec.json.Decoder(Head)


def head(body: bytes) -> Head:
    """Route information of a message body.

    :raises msgspec.DecodeError: not JSON, or not a JSON-RPC object.
    """
    return _head.decode(body)


def response(msg_id: MsgId, result: Any) -> bytes:
    """The JSON body answering `msg_id` with `result` (Structs, lists, None)."""
    return _encoder.encode(Response(id=msg_id, result=result))


def error(msg_id: MsgId | None, code: int, message: str) -> bytes:
    """The JSON body of an error answer."""
    return _encoder.encode(
        ErrorResponse(id=msg_id, error=Error(code=code, message=message))
    )
