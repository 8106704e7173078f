"""Chunking: cut a parsed file into bounded, meaningful pieces that tile it.

The guarantee the store and search rely on: the chunks of a file are
contiguous, in order, and cover every byte exactly once, so joining their
texts gives the file back (for UTF-8 files; other bytes are decoded with
replacement characters, per chunk, at boundaries that never split a UTF-8
sequence the file itself encodes).

The algorithm works on byte offsets:

1. Start with the whole file and the root node. A range that fits in
   `max_bytes` is one piece.
2. A larger range is split at its node's children. Comments glue to the
   next child (a doc comment stays with its definition), or to the previous
   one when they share its line (a trailing comment). The cut between two
   children falls just after the first newline following the earlier one, so
   pieces start at line starts and blank lines go with what follows.
3. A child that is still too large is split the same way, recursively; a
   node without children (a huge string) is cut at newlines, and a single
   over-long line at `max_bytes` on a UTF-8 character boundary.
4. Adjacent pieces are merged greedily while the result fits, so small
   imports, statements and functions share a chunk. A definition that fits
   is always inside one chunk, since pieces are only ever joined.

A chunk that holds exactly one outermost definition (a `Unit`) takes its kind
and qualified name; any other chunk is a ``block`` named after the innermost
definition enclosing it, if any.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from axd.daemon.records import ChunkRecord, Span

if TYPE_CHECKING:
    from collections.abc import Sequence

    from tree_sitter import Node

__all__ = ["Unit", "chunk_file", "chunk_lines"]

# How deep `_Splitter.split` descends before cutting a range at newlines.
# Real code nests a few dozen levels; Python's default limit is 1000 frames.
_MAX_SPLIT_DEPTH = 200


@dataclass(frozen=True, slots=True)
class Unit:
    """A definition chunks are named after: its byte range, kind and name."""

    start: int  # attached doc comments included
    end: int
    kind: str
    qualified_name: str
    node_start: int = -1  # the definition node's own start; -1: same as start

    @property
    def node_range(self) -> tuple[int, int]:
        """The definition node's byte range, leading comments left out."""
        return (self.start if self.node_start < 0 else self.node_start, self.end)


def chunk_lines(source: bytes, *, max_bytes: int = 4096) -> list[ChunkRecord]:
    """Chunks for a file without a syntax tree: runs of whole lines."""
    return chunk_file(source, None, (), max_bytes=max_bytes)


def chunk_file(
    source: bytes,
    root: Node | None,
    units: Sequence[Unit],
    *,
    max_bytes: int = 4096,
    comment_types: frozenset[str] = frozenset({"comment"}),
) -> list[ChunkRecord]:
    """Cut `source` into chunks that tile it; see the module docstring.

    `units` are the file's definitions, in any order; `root` is the tree's
    root node, or None to chunk by lines only.
    """
    if not source:
        return []
    max_bytes = max(max_bytes, 64)  # below this, UTF-8 stepping gets silly
    pieces: list[tuple[int, int]] = []
    if root is None:
        _split_lines(source, 0, len(source), max_bytes, pieces)
    else:
        unit_nodes = frozenset(unit.node_range for unit in units)
        splitter = _Splitter(source, max_bytes, comment_types, unit_nodes)
        pieces = splitter.split(root, 0, len(source))
    return _records(source, pieces, units)


class _Splitter:
    """Steps 2 to 4 of the algorithm for one file."""

    __slots__ = ("comment_types", "max_bytes", "source", "unit_nodes")

    def __init__(
        self,
        source: bytes,
        max_bytes: int,
        comment_types: frozenset[str],
        unit_nodes: frozenset[tuple[int, int]],
    ) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.comment_types = comment_types
        self.unit_nodes = unit_nodes  # byte ranges of definition nodes

    def split(
        self, node: Node | None, lo: int, hi: int, depth: int = 0
    ) -> list[tuple[int, int]]:
        """Pieces tiling [lo, hi), each at most max_bytes, merged greedily."""
        if hi - lo <= self.max_bytes:
            return [(lo, hi)] if hi > lo else []
        # Trees can nest thousands deep (a generated `a + b + c + ...` chain
        # is one level per operand): past a bound, cut such a range at
        # newlines rather than overflow Python's recursion limit.
        if depth >= _MAX_SPLIT_DEPTH:
            return _split_lines(self.source, lo, hi, self.max_bytes, [])
        groups = self._groups(node) if node is not None else []
        if not groups:
            return _split_lines(self.source, lo, hi, self.max_bytes, [])
        source = self.source
        max_bytes = self.max_bytes
        bounds = [lo]
        for (_, previous_end, _), (start, _, _) in itertools.pairwise(groups):
            newline = source.find(b"\n", previous_end, start)
            cut = newline + 1 if newline >= 0 else start
            bounds.append(min(max(cut, bounds[-1]), hi))
        bounds.append(hi)

        out: list[tuple[int, int]] = []
        open_end = False  # may the next piece join out[-1]?
        for (_, _, main), start, end in zip(groups, bounds, bounds[1:], strict=False):
            if end <= start:
                continue
            if end - start <= max_bytes:
                if open_end and end - out[-1][0] <= max_bytes:
                    out[-1] = (out[-1][0], end)
                else:
                    out.append((start, end))
                open_end = True
                continue
            if main is None or main is node:
                # Comments only, or no smaller node to descend into.
                sub = _split_lines(source, start, end, max_bytes, [])
            else:
                sub = self.split(main, start, end, depth + 1)
            # A split definition keeps its pieces to itself, so they are not
            # named after a neighbour; other split nodes (a function's body
            # block) let the header or the closing brace join them.
            sealed = (
                main is not None and (main.start_byte, main.end_byte) in self.unit_nodes
            )
            if open_end and not sealed and sub and sub[0][1] - out[-1][0] <= max_bytes:
                out[-1] = (out[-1][0], sub[0][1])
                sub = sub[1:]
            out.extend(sub)
            open_end = not sealed
        return out

    def _groups(self, node: Node) -> list[tuple[int, int, Node | None]]:
        """Children as (start, end, main node), comments glued to neighbours.

        A node whose only child spans it is looked through, in a loop: such
        chains can be as deep as the tree.
        """
        while True:
            groups = self._children(node)
            if len(groups) == 1 and groups[0][2] is not None:
                # A single child spanning the range: descend through it.
                only = groups[0][2]
                if not only.child_count:
                    return []
                node = only
                continue
            return groups

    def _children(self, node: Node) -> list[tuple[int, int, Node | None]]:
        source = self.source
        groups: list[tuple[int, int, Node | None]] = []
        pending_start = -1  # start of comments waiting for the next child
        for child in node.children:
            start = child.start_byte
            end = child.end_byte
            if end <= start:
                continue  # MISSING nodes are zero-width
            if child.type in self.comment_types:
                if pending_start < 0 and groups:
                    previous_start, previous_end, main = groups[-1]
                    if source.find(b"\n", previous_end, start) < 0:
                        groups[-1] = (previous_start, end, main)  # trailing comment
                        continue
                if pending_start < 0:
                    pending_start = start
                continue
            if pending_start >= 0:
                groups.append((pending_start, end, child))
                pending_start = -1
            else:
                groups.append((start, end, child))
        if pending_start >= 0:
            groups.append((pending_start, node.end_byte, None))
        return groups


def _split_lines(
    source: bytes, lo: int, hi: int, max_bytes: int, out: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Cut [lo, hi) after newlines; an over-long line at a character boundary."""
    while hi - lo > max_bytes:
        cut = source.rfind(b"\n", lo, lo + max_bytes) + 1
        if cut <= lo:
            cut = lo + max_bytes
            # Do not cut inside a UTF-8 sequence: back up over continuation
            # bytes (10xxxxxx), at most three of them.
            while (
                cut > lo + 1
                and cut > lo + max_bytes - 4
                and (source[cut] & 0xC0) == 0x80
            ):
                cut -= 1
        out.append((lo, cut))
        lo = cut
    if hi > lo:
        out.append((lo, hi))
    return out


def _records(
    source: bytes, pieces: list[tuple[int, int]], units: Sequence[Unit]
) -> list[ChunkRecord]:
    """ChunkRecords with positions, kinds and symbol names."""
    ordered = sorted(units, key=lambda u: (u.start, -u.end))
    starts = [unit.start for unit in ordered]
    records: list[ChunkRecord] = []
    open_units: list[Unit] = []  # units starting at or before the chunk, nested
    next_unit = 0
    line = 1  # line number at `line_start`
    line_start = 0
    position = 0
    for start, end in pieces:
        # Advance the line counter to `start`.
        # Searches stay within [position, end) so a file of one huge line
        # is not rescanned from the top for every chunk.
        line += source.count(b"\n", position, start)
        newline = source.rfind(b"\n", position, start)
        if newline >= 0:
            line_start = newline + 1
        position = start
        start_line, start_col = line, start - line_start
        # The end position leaves out a final newline, so a chunk's lines
        # are the lines it holds text on (its bytes still include it).
        last = end - 1 if end - start > 1 and source[end - 1] == 0x0A else end
        end_line = start_line + source.count(b"\n", start, last)
        end_newline = source.rfind(b"\n", start, last)
        end_col = last - (end_newline + 1 if end_newline >= 0 else line_start)

        # Units enclosing the chunk's text (blank lines and indentation at its
        # edges do not count): keep a nesting stack in start order.
        text = source[start:end]
        content_end = start + len(text.rstrip())
        content_start = min(start + len(text) - len(text.lstrip()), content_end)
        while next_unit < len(ordered) and ordered[next_unit].start <= content_start:
            unit = ordered[next_unit]
            while open_units and open_units[-1].end <= unit.start:
                open_units.pop()
            open_units.append(unit)
            next_unit += 1
        while open_units and open_units[-1].end < content_end:
            open_units.pop()  # ends inside this chunk, so before any later one
        enclosing = open_units[-1] if open_units else None

        # Outermost units inside the chunk.
        inside: list[Unit] = []
        reach = -1
        for index in range(bisect.bisect_left(starts, start), len(ordered)):
            unit = ordered[index]
            if unit.start >= end:
                break
            if unit.end <= reach:
                continue  # nested in one already counted
            reach = max(reach, unit.end)
            if unit.end <= end:
                inside.append(unit)
                if len(inside) > 1:
                    break
        symbol: str | None
        if len(inside) == 1:
            kind, symbol = inside[0].kind, inside[0].qualified_name
        else:
            kind = "block"
            symbol = enclosing.qualified_name if enclosing is not None else None

        records.append(
            ChunkRecord(
                start_byte=start,
                end_byte=end,
                span=Span(start_line, start_col, end_line, end_col),
                kind=kind,
                symbol=symbol,
                text=text.decode("utf-8", "replace"),
            )
        )
    return records
