"""Envelope parsing: which requests are valid, which id an error echoes."""

from __future__ import annotations

import json

import pytest

from axd.protocol.errors import ErrorCode
from axd.protocol.jsonrpc import (
    Call,
    Invalid,
    encode_error,
    encode_result,
    parse_message,
)


def parse(obj: object) -> object:
    return parse_message(json.dumps(obj).encode())


def test_valid_request_and_notification() -> None:
    call = parse({"jsonrpc": "2.0", "method": "m", "params": {"a": 1}, "id": 3})
    assert isinstance(call, Call) and call.id == 3 and not call.is_notification
    note = parse({"jsonrpc": "2.0", "method": "m"})
    assert (
        isinstance(note, Call) and note.is_notification and bytes(note.params) == b"{}"
    )
    null_id = parse({"jsonrpc": "2.0", "method": "m", "id": None})
    assert (
        isinstance(null_id, Call) and not null_id.is_notification and null_id.id is None
    )


@pytest.mark.parametrize(
    ("message", "echoed"),
    [
        ({"method": "m", "id": 7}, 7),
        ({"jsonrpc": "1.0", "method": "m", "id": 7}, 7),
        ({"jsonrpc": "2.0", "id": "seven"}, "seven"),
        ({"jsonrpc": "2.0", "method": None, "id": 7}, 7),
        ({"jsonrpc": "2.0", "method": "m", "id": {"a": 1}}, None),
        ({"jsonrpc": "2.0", "method": "m", "id": True}, None),
        ({"jsonrpc": "2.0", "method": "m", "id": 7.5}, None),
        ({"jsonrpc": "2.0", "method": "m", "params": None, "id": 4}, 4),
        ({"jsonrpc": "2.0", "method": "m", "params": "x", "id": 4}, 4),
        ({"jsonrpc": "2.0", "method": 1, "params": "bar"}, None),
    ],
)
def test_invalid_requests_echo_a_readable_id(message: object, echoed: object) -> None:
    parsed = parse(message)
    assert isinstance(parsed, Invalid)
    assert parsed.code is ErrorCode.INVALID_REQUEST and parsed.id == echoed


def test_array_params_are_a_call_with_array_shape() -> None:
    call = parse({"jsonrpc": "2.0", "method": "m", "params": [1], "id": 1})
    assert isinstance(call, Call) and call.params_shape == "array"


def test_parse_errors_and_batches() -> None:
    assert parse_message(b"{nope") == Invalid(
        ErrorCode.PARSE_ERROR, "parse error: invalid JSON", None
    )
    assert parse_message(b"\xff\xfe") == Invalid(
        ErrorCode.PARSE_ERROR, "parse error: invalid UTF-8 at byte 0", None
    )
    empty = parse_message(b" []")
    assert isinstance(empty, Invalid) and empty.code is ErrorCode.INVALID_REQUEST
    batch = parse_message(b'[1, {"jsonrpc":"2.0","method":"m","id":2}]')
    assert (
        isinstance(batch, list)
        and isinstance(batch[0], Invalid)
        and isinstance(batch[1], Call)
    )
    broken = parse_message(b'[{"jsonrpc":"2.0"}, {"method"]')
    assert isinstance(broken, Invalid) and broken.code is ErrorCode.PARSE_ERROR


def test_encoders_produce_valid_json() -> None:
    assert json.loads(encode_result("a", b'{"x":1}')) == {
        "jsonrpc": "2.0",
        "id": "a",
        "result": {"x": 1},
    }
    error = json.loads(encode_error(None, ErrorCode.TIMEOUT, "late", {"generation": 3}))
    assert error["error"] == {
        "code": -32008,
        "message": "late",
        "data": {"kind": "timeout", "generation": 3},
    }
