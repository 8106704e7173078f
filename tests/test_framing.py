"""Both framings as pure byte codecs, fed in every possible split."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from axd.protocol.framing import (
    Broken,
    ContentLengthDecoder,
    Message,
    NdjsonDecoder,
    Oversized,
    detect_framing,
    encode,
)

BODIES = [
    b'{"jsonrpc":"2.0","method":"server.info","id":1}',
    b'[{"jsonrpc":"2.0","method":"a","id":"x"}]',
    json.dumps({"pad": "\u00e9\u4e2d" * 20}).encode(),
]


def feed_in_pieces(
    decoder: NdjsonDecoder | ContentLengthDecoder, data: bytes, cuts: list[int]
) -> list[object]:
    frames: list[object] = []
    start = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        frames += decoder.feed(data[start:cut])
        start = cut
    return frames


def test_every_single_split_point_ndjson() -> None:
    stream = b"".join(encode("ndjson", body) for body in BODIES)
    for cut in range(len(stream) + 1):
        frames = feed_in_pieces(NdjsonDecoder(1 << 20), stream, [cut])
        assert frames == [Message(body) for body in BODIES], cut


def test_every_single_split_point_content_length() -> None:
    stream = b"".join(encode("content-length", body) for body in BODIES)
    for cut in range(len(stream) + 1):
        frames = feed_in_pieces(ContentLengthDecoder(1 << 20), stream, [cut])
        assert frames == [Message(body) for body in BODIES], cut


@settings(max_examples=300, deadline=None)
@given(
    bodies=st.lists(
        st.binary(min_size=1, max_size=60).filter(
            lambda b: b"\n" not in b and b.strip()
        ),
        max_size=6,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=20),
)
def test_ndjson_any_split(bodies: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode("ndjson", body) for body in bodies)
    frames = feed_in_pieces(
        NdjsonDecoder(1 << 16), stream, [c for c in cuts if c <= len(stream)]
    )
    assert frames == [Message(body) for body in bodies]


@settings(max_examples=300, deadline=None)
@given(
    bodies=st.lists(st.binary(max_size=80), max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=800), max_size=20),
)
def test_content_length_any_split(bodies: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode("content-length", body) for body in bodies)
    frames = feed_in_pieces(
        ContentLengthDecoder(1 << 16), stream, [c for c in cuts if c <= len(stream)]
    )
    assert frames == [Message(body) for body in bodies]


def test_blank_lines_are_skipped() -> None:
    assert NdjsonDecoder(100).feed(b"\n \r\n{}\n\t\n") == [Message(b"{}")]


def test_oversized_ndjson_line_is_reported_once_and_discarded() -> None:
    decoder = NdjsonDecoder(10)
    frames = decoder.feed(b"x" * 8) + decoder.feed(b"y" * 8) + decoder.feed(b"z" * 100)
    assert frames == [Oversized(16)]
    assert decoder.buffered == 0  # nothing kept while discarding
    assert decoder.feed(b"zz\n{}\n") == [Message(b"{}")]


def test_oversized_line_arriving_whole() -> None:
    decoder = NdjsonDecoder(10)
    assert decoder.feed(b"x" * 50 + b"\n{}\n") == [Oversized(50), Message(b"{}")]


def test_content_length_oversized_body_is_skipped() -> None:
    decoder = ContentLengthDecoder(10)
    data = encode("content-length", b"a" * 50) + encode("content-length", b"{}")
    frames = feed_in_pieces(decoder, data, [5, 30, 60])
    assert frames == [Oversized(50), Message(b"{}")]


def test_header_names_are_case_insensitive_and_other_headers_ignored() -> None:
    decoder = ContentLengthDecoder(100)
    data = b"content-type: application/json\r\nCONTENT-LENGTH: 2\r\n\r\n{}"
    assert decoder.feed(data) == [Message(b"{}")]


def test_whitespace_between_content_length_messages() -> None:
    decoder = ContentLengthDecoder(100)
    assert decoder.feed(
        b"\r\n  Content-Length: 2\r\n\r\n{}\n\nContent-Length: 2\r\n\r\n[]"
    ) == [
        Message(b"{}"),
        Message(b"[]"),
    ]


def test_zero_length_body() -> None:
    assert ContentLengthDecoder(100).feed(
        b"Content-Length: 0\r\n\r\nContent-Length: 2\r\n\r\n{}"
    ) == [
        Message(b""),
        Message(b"{}"),
    ]


def test_broken_headers() -> None:
    for data in (
        b"Content-Length: banana\r\n\r\n{}",
        b"content-length: -5\r\n\r\n{}",
        b"CRAP\r\n\r\n",
        b"Content-Type: x\r\n\r\n",
    ):
        frames = ContentLengthDecoder(100).feed(data)
        assert len(frames) == 1 and isinstance(frames[0], Broken), data
    decoder = ContentLengthDecoder(100)
    assert isinstance(decoder.feed(b"C" * 9000)[0], Broken)  # headers never end
    assert decoder.feed(b"Content-Length: 2\r\n\r\n{}") == []  # stays broken


def test_detect_framing() -> None:
    assert detect_framing(b"  \r\n") is None
    assert detect_framing(b"\n Content-Length") == "content-length"
    assert detect_framing(b"content-length") == "content-length"
    assert detect_framing(b"{") == "ndjson"
    assert detect_framing(b"\x00garbage") == "ndjson"
