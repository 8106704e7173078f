"""Pure checks a worker runs on every file it reads: skip it, and its hash.

`classify` says whether a file's bytes are worth parsing and, if not, why,
with the measured value in the detail (PROTOCOL.md skip reasons, shown by
``files.explain``). The checks run cheapest first and stop at the first hit:

* ``too_large``: more bytes than ``[index] max_file_bytes`` (2 MiB).
* ``binary``: a UTF-16/UTF-32 byte order mark (tree-sitter parses UTF-8, and
  such files are rare enough in source trees not to transcode them); a NUL
  byte in the first 8 KiB (git's test); or more than 10% control bytes in
  the first 8 KiB (NUL-free binaries: some images, compressed streams).
  Tab, newline, carriage return, form feed, vertical tab, backspace and
  escape (ANSI colours in logs) are text, not control bytes.
* ``minified``: a line longer than ``[index] max_line_bytes`` (5000), or,
  for files of at least 8 KiB, a mean line length above a quarter of it
  (1250 bytes): minified JavaScript/CSS, generated tables, data files and
  lock files that keep a whole object per line. Pretty-printed lock files
  (package-lock.json) have short lines and pass; they are excluded by name,
  if at all, by ignore rules, since these functions see only bytes.
  Raising ``max_line_bytes`` raises both limits.

`content_hash` is BLAKE2b with a 16-byte digest, hex. Measured on this
project's 2-core CI box (Python 3.11, OpenSSL 3): BLAKE2b 1.4 GB/s, SHA-256
2.1 GB/s and SHA-1 2.2 GB/s thanks to the CPU's SHA extensions, MD5 0.9
GB/s. SHA-256 is only faster where the CPU has SHA instructions and drops to
about 0.4 GB/s without them, while BLAKE2b is fast everywhere; either is
<1 ms for a typical source file, far below the parse. zlib.crc32 is much
faster but 32 bits collide among 100,000 files. Changing the algorithm makes
every stored hash differ once, so every file is re-parsed once.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from axd.daemon.records import SkipReason

__all__ = [
    "BINARY_SNIFF_BYTES",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "classify",
    "content_hash",
]

DEFAULT_MAX_FILE_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_LINE_BYTES = 5000
BINARY_SNIFF_BYTES = 8192  # git's buffer for its NUL test
# Control bytes that do not occur in text. Kept: \b \t \n \v \f \r and ESC.
_CONTROL = bytes([*range(0x01, 0x08), *range(0x0E, 0x1B), *range(0x1C, 0x20), 0x7F])
_MAX_CONTROL_RATIO = 0.10
_MEAN_CHECK_MIN_BYTES = 8192  # below this, a few long lines skew the mean
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32LE"),  # before UTF-16LE: it starts the same
    (b"\x00\x00\xfe\xff", "UTF-32BE"),
    (b"\xff\xfe", "UTF-16LE"),
    (b"\xfe\xff", "UTF-16BE"),
)


def classify(
    data: bytes,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> tuple[SkipReason, str] | None:
    """Why `data` should not be parsed, with the measured value; None to parse."""
    size = len(data)
    if size > max_file_bytes:
        return "too_large", f"{size} bytes > limit {max_file_bytes}"
    if not size:
        return None  # an empty file is indexed, with no chunks
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return "binary", f"{encoding} byte order mark"
    nul = data.find(b"\0", 0, BINARY_SNIFF_BYTES)
    if nul >= 0:
        return "binary", f"NUL byte at offset {nul}"
    sample = data[:BINARY_SNIFF_BYTES]
    # translate() deletes in C: the length lost is the control byte count.
    control = len(sample) - len(sample.translate(None, _CONTROL))
    if control > len(sample) * _MAX_CONTROL_RATIO:
        return "binary", f"{control} control bytes in the first {len(sample)}"
    if size > max_line_bytes or size >= _MEAN_CHECK_MIN_BYTES:
        return _line_lengths(data, max_line_bytes)
    return None


def _line_lengths(data: bytes, max_line_bytes: int) -> tuple[SkipReason, str] | None:
    """The ``minified`` test, without splitting ordinary files into lines.

    A line longer than ``max_line_bytes`` contains a whole aligned block of
    half that length (runs of ``2 * block`` or more always do), so a file in
    which every such block holds a ``\n`` has no long line. That costs one
    short `bytes.find` per block instead of one object per line; only files
    failing it (long lines, or a lone ``\r`` as line end) are split.
    """
    size = len(data)
    block = max(1, max_line_bytes // 2)
    find = data.find
    for start in range(0, size - block + 1, block):
        if find(b"\n", start, start + block) < 0:
            break
    else:
        lines = data.count(b"\n") + (not data.endswith(b"\n"))
        return _mean_check(size, lines, max_line_bytes)
    lengths = list(map(len, data.splitlines()))  # \n, \r\n and a lone \r
    longest = max(lengths)
    if longest > max_line_bytes:
        number = lengths.index(longest) + 1
        return (
            "minified",
            f"longest line {longest} bytes (line {number}) > limit {max_line_bytes}",
        )
    return _mean_check(size, len(lengths), max_line_bytes)


def _mean_check(
    size: int, lines: int, max_line_bytes: int
) -> tuple[SkipReason, str] | None:
    mean, limit = size // max(lines, 1), max_line_bytes // 4
    if size >= _MEAN_CHECK_MIN_BYTES and mean > limit:
        return (
            "minified",
            f"mean line length {mean} bytes over {lines} lines > limit {limit}",
        )
    return None


def content_hash(data: bytes) -> str:
    """The hash that decides whether a file changed: BLAKE2b-128, hex."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
