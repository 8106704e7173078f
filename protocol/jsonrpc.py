"""The JSON-RPC 2.0 envelope: parse one message into calls, encode replies.

Parsing follows PROTOCOL.md's "JSON-RPC rules" and "Clarifications":
a readable id of a valid type (string, integer, null) is echoed in errors,
any other id becomes null; `params` must be an object (an array is -32602
unless the method is unknown; anything else is -32600); a notification (no
`id` member) never gets a reply. `params` stays raw bytes until the method
is known, so each method decodes it once with its own typed decoder.

Hostile input is the normal case: nesting deeper than `max_depth` is refused
by a byte scan *before* any decoder runs (decoders recurse, and a stack of
a few thousand brackets would otherwise exhaust the interpreter's recursion
limit), a batch longer than `max_batch` is refused before its elements are
parsed, and no input makes `parse_message` raise.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Literal

import msgspec

from axd.protocol.errors import ErrorCode

RequestId = int | str | None

# Defaults of the server's `max_nesting_depth` and `max_batch` settings.
MAX_DEPTH = 64
MAX_BATCH = 256


class _Envelope(msgspec.Struct, frozen=True):
    """The fast path: a well-formed request decodes straight into this."""

    jsonrpc: Literal["2.0"]
    method: str
    id: int | str | None | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw = msgspec.Raw(b"{}")


@dataclass(frozen=True, slots=True)
class Call:
    """A structurally valid request or notification."""

    method: str
    params: msgspec.Raw
    id: RequestId
    is_notification: bool
    params_shape: Literal["object", "array"]


@dataclass(frozen=True, slots=True)
class Invalid:
    """A message that must be answered with an error (never a notification)."""

    code: ErrorCode
    message: str
    id: RequestId


Parsed = Call | Invalid


class Incoming(msgspec.Struct):
    """What a client reads: a response (id + result/error) or a notification
    (method + params, no id)."""

    id: int | str | None | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw = msgspec.Raw(b"null")
    error: dict[str, Any] | None = None
    method: str | None = None
    params: msgspec.Raw = msgspec.Raw(b"{}")

    @property
    def is_notification(self) -> bool:
        """A server→client notification rather than a response."""
        return self.method is not None and self.id is msgspec.UNSET


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_batch_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


# A JSON string token (escapes included): brackets inside one do not nest.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
# Depth step per byte value: an opening bracket +1, a closing one -1.
_STEP = tuple(1 if b in b"[{" else -1 if b in b"]}" else 0 for b in range(256))


def nesting_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (a cheap byte scan).

    Exact for valid JSON; for invalid JSON an upper bound, which is all a
    limit needs (that text fails to decode anyway). C-speed: the common
    case is one `count` per bracket kind.
    """
    opening = body.count(b"[") + body.count(b"{")
    if opening <= 1:
        return opening
    return _depth_of(_STRING.sub(b"", body).translate(None, _NOT_BRACKETS))


def _depth_of(brackets: bytes) -> int:
    return max(accumulate(map(_STEP.__getitem__, brackets), operator.add, initial=0))


def _too_deep(body: bytes, max_depth: int) -> Invalid | None:
    # The count of opening brackets bounds the depth: most messages stop here.
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return None
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    # A run of openers longer than the limit settles it without a full scan
    # (the shape of a nesting attack).
    if not _has_run(brackets, max_depth + 1) and _depth_of(brackets) <= max_depth:
        return None
    return Invalid(
        ErrorCode.INVALID_REQUEST,
        f"invalid request: JSON nested deeper than {max_depth} levels "
        "(the server's max_nesting_depth)",
        None,
    )


def _has_run(brackets: bytes, length: int) -> bool:
    return re.search(rb"[\[{]{%d}" % length, brackets) is not None


def parse_message(
    body: bytes, *, max_depth: int = MAX_DEPTH, max_batch: int = MAX_BATCH
) -> list[Parsed] | Parsed:
    """One framed message: a single call, or a batch (list) of calls.

    An empty or too long batch, too deep nesting and unparseable JSON come
    back as a single `Invalid`. Never raises on any input.
    """
    deep = _too_deep(body, max_depth)
    if deep is not None:
        return deep
    if not body.isascii():
        # JSON text is UTF-8 (RFC 8259). Decoders check only the strings they
        # keep: raw params and ignored fields would pass invalid bytes on.
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Invalid(
                ErrorCode.PARSE_ERROR,
                f"parse error: invalid UTF-8 at byte {exc.start}",
                None,
            )
    first = body.lstrip(b" \t\r\n")[:1]
    if first == b"[":
        try:
            elements = _batch_decoder.decode(body)
        except (msgspec.DecodeError, RecursionError):
            return Invalid(ErrorCode.PARSE_ERROR, "parse error: invalid JSON", None)
        if not elements:
            return Invalid(
                ErrorCode.INVALID_REQUEST, "invalid request: empty batch", None
            )
        if len(elements) > max_batch:
            return Invalid(
                ErrorCode.INVALID_REQUEST,
                f"invalid request: batch of {len(elements)} requests exceeds "
                f"max_batch ({max_batch}); split it",
                None,
            )
        return [_parse_one(element) for element in elements]
    return _parse_one(body)


def _parse_one(body: bytes | msgspec.Raw) -> Parsed:
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.ValidationError:
        return _classify_invalid(body)
    except (msgspec.DecodeError, RecursionError):
        return Invalid(ErrorCode.PARSE_ERROR, "parse error: invalid JSON", None)
    is_notification = envelope.id is msgspec.UNSET
    request_id: RequestId = None if envelope.id is msgspec.UNSET else envelope.id
    shape = bytes(envelope.params)[:1]
    if shape == b"{":
        return Call(
            envelope.method, envelope.params, request_id, is_notification, "object"
        )
    if shape == b"[":
        return Call(
            envelope.method, envelope.params, request_id, is_notification, "array"
        )
    return Invalid(
        ErrorCode.INVALID_REQUEST,
        "invalid request: params must be an object",
        request_id,
    )


def _readable_id(obj: dict[str, Any]) -> RequestId:
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return value


def _classify_invalid(body: bytes | msgspec.Raw) -> Invalid:
    """Why a parseable message is not a valid request, and which id to echo."""
    try:
        obj = _any_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        # The envelope decoder stops at the first wrong field; the rest of
        # the text may not even be JSON.
        return Invalid(ErrorCode.PARSE_ERROR, "parse error: invalid JSON", None)
    if not isinstance(obj, dict):
        return Invalid(
            ErrorCode.INVALID_REQUEST, "invalid request: not an object", None
        )
    request_id = _readable_id(obj)
    if obj.get("jsonrpc") != "2.0":
        reason = 'jsonrpc must be "2.0"'
    elif not isinstance(obj.get("method"), str):
        reason = "method must be a string"
    elif "id" in obj and obj["id"] is not None and request_id is None:
        reason = "id must be a string, an integer or null"
    else:
        reason = "params must be an object"
    return Invalid(ErrorCode.INVALID_REQUEST, f"invalid request: {reason}", request_id)


def encode_result(request_id: RequestId, result: bytes) -> bytes:
    """A success response around an already-encoded result."""
    return b'{"jsonrpc":"2.0","id":%s,"result":%s}' % (
        _encoder.encode(request_id),
        result,
    )


def encode_error(
    request_id: RequestId,
    code: ErrorCode,
    message: str,
    data: dict[str, Any] | None = None,
) -> bytes:
    """An error response; `data` always carries `kind`."""
    payload = {"kind": code.kind} if data is None else {"kind": code.kind, **data}
    error = {"code": int(code), "message": message, "data": payload}
    return b'{"jsonrpc":"2.0","id":%s,"error":%s}' % (
        _encoder.encode(request_id),
        _encoder.encode(error),
    )


def encode_notification(method: str, params: bytes) -> bytes:
    """A server-to-client notification around already-encoded params."""
    return b'{"jsonrpc":"2.0","method":%s,"params":%s}' % (
        _encoder.encode(method),
        params,
    )


def encode_batch(responses: list[bytes]) -> bytes:
    """A batch reply: the responses as one JSON array."""
    return b"[" + b",".join(responses) + b"]"
