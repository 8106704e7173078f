"""Parsing one file with a deadline, without keeping every file alive.

Only the callback form of py-tree-sitter's ``Parser.parse`` takes a progress
callback (the deadline); this module feeds it the file from one reusable
buffer (see `_SourceBuffer`), then re-parses from bytes for the query
predicates (see `parse`).

py-tree-sitter 0.26.1's read-callback wrapper takes a buffer view of each
object the callback returns and never drops the reference the call itself
returned: every object handed to the parser lives for ever (~8 reads per
file on the 100k corpus: a slow leak in a worker that parses for weeks).
`_ReadLeak` measures, once per process, whether the installed binding does
this, and if it does, gives each returned object its one reference back
after the parse; a fixed binding is left alone.
"""

from __future__ import annotations

import ctypes
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

__all__ = ["ParseTimeoutError", "parse"]


class ParseTimeoutError(Exception):
    """Parsing took longer than the time limit."""


class _SourceBuffer:
    """One reusable buffer per process for the read callback's source.

    py-tree-sitter 0.26 never releases what a read callback returns, so
    handing it slices of each file's bytes keeps every file a worker ever
    parsed alive (workers grew to 600+ MB on 100k files). Copying into one
    long-lived buffer leaks only a small memoryview per read.
    """

    def __init__(self) -> None:
        self._buffer = bytearray(1 << 20)
        self._view = memoryview(self._buffer)

    def load(self, source: bytes) -> memoryview:
        """A view of `source`'s bytes in the shared buffer."""
        size = len(source)
        if size > len(self._buffer):
            # Never resized in place (views of it may be alive): replaced.
            self._buffer = bytearray(max(size, 2 * len(self._buffer)))
            self._view = memoryview(self._buffer)
        self._buffer[:size] = source
        return self._view[:size]


_SOURCE = _SourceBuffer()


class _ReadLeak:
    """Whether the binding leaks one reference per object `read` returns."""

    def __init__(self) -> None:
        self._measured: bool | None = None

    def leaks(self, parser: Parser) -> bool:
        if self._measured is None:
            self._measured = self._measure(parser)
        return self._measured

    @staticmethod
    def _measure(parser: Parser) -> bool:
        probe = memoryview(bytearray(b"\n"))  # a fresh object: its count is ours
        calls = [0]

        def read(offset: int, _point: object) -> memoryview | None:
            if offset:
                return None  # None ends the input (and is never kept)
            calls[0] += 1
            return probe

        before = sys.getrefcount(probe)
        tree = parser.parse(read)
        del tree  # the tree may hold `read`, not what it returned
        kept = sys.getrefcount(probe) - before
        for _ in range(kept if kept == calls[0] else 0):
            _decref(probe)
        parser.reset()
        return kept > 0 and kept == calls[0]


def _decref(obj: object) -> None:
    ctypes.pythonapi.Py_DecRef(ctypes.py_object(obj))


_READ_LEAK = _ReadLeak()


def parse(parser: Parser, source: bytes, timeout_ms: int) -> Node:
    """Parse with a deadline; tree-sitter checks it between steps."""
    deadline = time.monotonic() + timeout_ms / 1000
    whole = _SOURCE.load(source)
    size = len(source)
    returned: list[memoryview | bytes] = []

    def read(offset: int, _point: object) -> memoryview | bytes:
        piece = whole if offset == 0 else whole[offset:] if offset < size else b""
        returned.append(piece)
        return piece

    def cancel(_offset: int, _has_error: bool) -> bool:
        return time.monotonic() > deadline

    leaks = _READ_LEAK.leaks(parser)
    try:
        tree = parser.parse(read, progress_callback=cancel)
    except ValueError as exc:
        # A cancelled parse keeps its state for resumption: drop it, or the
        # next file would continue this one.
        parser.reset()
        if time.monotonic() > deadline:
            raise ParseTimeoutError(f"parse exceeded {timeout_ms} ms") from exc
        raise
    finally:
        if leaks:
            for piece in returned:
                _decref(piece)
    # Only the callback form of parse() takes a progress callback, and its
    # tree's text is read through the callback, which query predicates
    # (#eq?, #match?) would then call. A re-parse with the finished tree as
    # old tree reuses all of it (~5% of the parse) and yields a tree that
    # owns `source`. It is not a no-op: where the grammar is ambiguous it
    # can settle differently from the first parse (Kotlin: an annotation
    # line above a `fun` after the imports, which a fresh parse reads as an
    # expression), so dropping it changes what is extracted (#16: kept, the
    # output stays byte-identical; measured at ~1.5% of the worker's CPU).
    return parser.parse(source, tree).root_node
