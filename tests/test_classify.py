"""classify(): every skip reason with its measured detail; content_hash."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axd.daemon.index.classify import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_LINE_BYTES,
    classify,
    content_hash,
)
from axd.daemon.records import SKIP_REASONS

LIMITS = {"max_file_bytes": 2 * 1024 * 1024, "max_line_bytes": 5000}
SOURCE = b"def f(x):\n    return x + 1\n\n\nclass A:\n    pass\n"


def test_defaults_match_the_config() -> None:
    assert DEFAULT_MAX_FILE_BYTES == 2 * 1024 * 1024
    assert DEFAULT_MAX_LINE_BYTES == 5000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        SOURCE,
        SOURCE * 5000,  # big but ordinary
        b"x = 1",  # no final newline
        "naïve = 'café'\n".encode(),
        b"\xef\xbb\xbfprint(1)\n",  # a UTF-8 BOM is text
        b"\x1b[31mred\x1b[0m\n\tindented\f\n",  # ESC, tab, form feed are text
        b"\xe9t\xe9\n",  # Latin-1 is text (decoded with replacement later)
        b"a" * 5000 + b"\n" + SOURCE * 300 + b"b" * 5000,  # lines right at the limit
        b"line\r\n" * 3000,  # CRLF
        b"line\r" * 3000,  # a lone CR ends lines too
    ],
)
def test_text_is_parsed(data: bytes) -> None:
    assert classify(data, **LIMITS) is None


def test_too_large() -> None:
    data = b"x" * (3 * 1024 * 1024)
    assert classify(data, **LIMITS) == ("too_large", "3145728 bytes > limit 2097152")


def test_exactly_at_size_limit_is_not_too_large() -> None:
    data = (b"y = 2\n" * 1_000_000)[: 2 * 1024 * 1024]
    assert classify(data, **LIMITS) is None


def test_nul_byte() -> None:
    data = b"a" * 123 + b"\0" + b"b" * 100
    assert classify(data, **LIMITS) == ("binary", "NUL byte at offset 123")


def test_nul_after_sniff_window_is_not_binary() -> None:
    data = b"abc\n" * 2500 + b"\0"
    assert classify(data, **LIMITS) is None


@pytest.mark.parametrize(
    ("bom", "name"),
    [
        (b"\xff\xfe", "UTF-16LE"),
        (b"\xfe\xff", "UTF-16BE"),
        (b"\xff\xfe\x00\x00", "UTF-32LE"),
        (b"\x00\x00\xfe\xff", "UTF-32BE"),
    ],
)
def test_utf16_and_utf32_are_binary(bom: bytes, name: str) -> None:
    data = bom + "x = 1\n".encode("utf-16-le")
    assert classify(data, **LIMITS) == ("binary", f"{name} byte order mark")


def test_control_bytes_without_nul() -> None:
    data = bytes(range(1, 32)) * 10 + b"a" * 90  # 400 bytes, 240 of them control
    assert classify(data, **LIMITS) == ("binary", "240 control bytes in the first 400")


def test_a_few_control_bytes_are_text() -> None:
    data = b"\x01" + SOURCE * 10
    assert classify(data, **LIMITS) is None


def test_long_line_is_minified() -> None:
    data = b"var a=1;\n" + b"x" * 48213 + b"\nend\n"
    assert classify(data, **LIMITS) == (
        "minified",
        "longest line 48213 bytes (line 2) > limit 5000",
    )


def test_long_line_at_end_without_newline() -> None:
    data = b"a\n" * 10 + b"z" * 5001
    assert classify(data, **LIMITS) == (
        "minified",
        "longest line 5001 bytes (line 11) > limit 5000",
    )


def test_long_lines_ending_in_crlf_count_without_the_cr() -> None:
    data = b"a\r\n" + b"q" * 5000 + b"\r\n"
    assert classify(data, **LIMITS) is None
    assert classify(data + b"q" * 5001 + b"\r\n", **LIMITS) == (
        "minified",
        "longest line 5001 bytes (line 3) > limit 5000",
    )


def test_high_mean_line_length_is_minified() -> None:
    data = (b"k" * 1999 + b"\n") * 10  # every line under 5000, mean 2000
    assert classify(data, **LIMITS) == (
        "minified",
        "mean line length 2000 bytes over 10 lines > limit 1250",
    )


def test_mean_is_not_checked_on_small_files() -> None:
    data = (b"k" * 1999 + b"\n") * 3  # 6000 bytes
    assert classify(data, **LIMITS) is None


def test_raising_the_line_limit_keeps_long_lines() -> None:
    data = b"x" * 48213 + b"\n"
    assert classify(data, max_file_bytes=1 << 20, max_line_bytes=200_000) is None


def test_tiny_line_limit() -> None:
    assert classify(b"ab\n", max_file_bytes=100, max_line_bytes=1) == (
        "minified",
        "longest line 2 bytes (line 1) > limit 1",
    )


def test_detail_reasons_are_protocol_skip_reasons() -> None:
    for data in (b"x" * (3 << 20), b"\0", b"x" * 6000):
        result = classify(data, **LIMITS)
        assert result is not None
        assert result[0] in SKIP_REASONS


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=20_000),
    max_file_bytes=st.integers(min_value=0, max_value=30_000),
    max_line_bytes=st.integers(min_value=0, max_value=10_000),
)
def test_classify_never_raises(
    data: bytes, max_file_bytes: int, max_line_bytes: int
) -> None:
    result = classify(
        data, max_file_bytes=max_file_bytes, max_line_bytes=max_line_bytes
    )
    if result is not None:
        reason, detail = result
        assert reason in SKIP_REASONS
        assert detail


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.binary(max_size=300).map(
            lambda b: b.replace(b"\n", b"").replace(b"\r", b"")
        ),
        max_size=60,
    ),
    limit=st.integers(min_value=1, max_value=400),
)
def test_longest_line_agrees_with_splitting(lines: list[bytes], limit: int) -> None:
    data = b"\n".join(b"t" + line.replace(b"\0", b"t") for line in lines)
    result = classify(data, max_file_bytes=1 << 20, max_line_bytes=limit)
    longest = max(map(len, data.splitlines()), default=0)
    if longest > limit:
        assert result is not None
        assert result[0] in ("minified", "binary")
    elif result is not None:
        assert result[0] != "minified" or result[1].startswith("mean")


def test_content_hash() -> None:
    assert content_hash(b"") == hashlib.blake2b(b"", digest_size=16).hexdigest()
    assert len(content_hash(SOURCE)) == 32
    assert content_hash(SOURCE) == content_hash(bytes(SOURCE))
    assert content_hash(SOURCE) != content_hash(SOURCE + b" ")
