"""Parsing one file with a deadline, without keeping every file alive.

Only the callback form of py-tree-sitter's ``Parser.parse`` takes a progress
callback (the deadline); this module feeds it the file from one reusable
buffer, and lets the same callback serve the query predicates' text lookups
afterwards, so each file is parsed once (#16: it used to be parsed a second
time from bytes for the predicates).
"""

from __future__ import annotations

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

# What the read callback hands a query predicate's text lookup per call:
# predicates test short nodes (names), and a lookup copies all it is given.
_TEXT_STEP = 256


class _Reader:
    """The read callback of a parse, and afterwards the tree's source.

    A tree parsed from a callback keeps the callback as its source, and
    query predicates (#eq?, #match?) read node text through it. While
    parsing, it returns views of the shared buffer (py-tree-sitter 0.26
    keeps whatever the parser reads, see `_SourceBuffer`); afterwards, short
    `bytes` slices of the file, which a text lookup does release (and a
    memoryview would crash: py-tree-sitter 0.26.1 reads a callback's answer
    there as bytes). So one parse serves both, with the deadline's progress
    callback, where a second parse from bytes used to give the predicates a
    tree that owns its source.
    """

    __slots__ = ("parsing", "size", "source", "whole")

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.size = len(source)
        self.whole = _SOURCE.load(source)
        self.parsing = True

    def __call__(self, offset: int, _point: object) -> memoryview | bytes:
        if not self.parsing:
            return self.source[offset : offset + _TEXT_STEP]
        if offset == 0:
            return self.whole
        return self.whole[offset:] if offset < self.size else b""


def parse(parser: Parser, source: bytes, timeout_ms: int) -> Node:
    """Parse with a deadline; tree-sitter checks it between steps."""
    deadline = time.monotonic() + timeout_ms / 1000
    reader = _Reader(source)

    def cancel(_offset: int, _has_error: bool) -> bool:
        return time.monotonic() > deadline

    try:
        # Only the callback form of parse() takes a progress callback.
        tree = parser.parse(reader, progress_callback=cancel)
    except ValueError as exc:
        # A cancelled parse keeps its state for resumption: drop it, or the
        # next file would continue this one.
        parser.reset()
        if time.monotonic() > deadline:
            raise ParseTimeoutError(f"parse exceeded {timeout_ms} ms") from exc
        raise
    finally:
        reader.parsing = False
    return tree.root_node
