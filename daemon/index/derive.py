"""Columns the writer inserts that follow from an extraction alone.

Computed in the worker, right after `extract`, so the daemon's one writer
thread does not (#16: identifier splitting and row building were half of the
writer's CPU, and the writer is the critical path of a cold index): the FTS
columns of every chunk (split identifiers, defined names, docstrings), each
symbol's chunk and initials, and the chunk text compressed for storage.

The writer calls `derive` itself for an extraction that arrives without
them (records built elsewhere, e.g. in tests), so both paths write the
same rows.
"""

from __future__ import annotations

import bisect
from functools import lru_cache

from axd.daemon.records import Derived, Extraction
from axd.daemon.store.chunktext import pack
from axd.daemon.store.fts import compound_terms, name_terms, split_identifier


@lru_cache(maxsize=65536)
def initials(name: str) -> str:
    """First letter of each word of an identifier (cached: names repeat)."""
    return "".join(part[0] for part in split_identifier(name))


def derive(ex: Extraction) -> Derived:
    """The derived columns of `ex` (see the module docstring)."""
    starts = [(c.span.start_line, c.span.start_col) for c in ex.chunks]
    symbol_chunk: list[int] = []
    per_chunk: list[list[int]] = [[] for _ in ex.chunks]
    for index, symbol in enumerate(ex.symbols):
        if not starts:
            symbol_chunk.append(-1)
            continue
        sel = symbol.selection
        at = max(bisect.bisect_right(starts, (sel.start_line, sel.start_col)) - 1, 0)
        symbol_chunk.append(at)
        per_chunk[at].append(index)
    fts: list[tuple[str, str, str]] = []
    for offset, chunk in enumerate(ex.chunks):
        defined = [ex.symbols[i] for i in per_chunk[offset]]
        docs = "\n".join(d.docstring for d in defined if d.docstring)
        fts.append(
            (compound_terms(chunk.text), name_terms(d.name for d in defined), docs)
        )
    return Derived(
        fts=fts,
        packed=[pack(chunk.text) for chunk in ex.chunks],
        symbol_chunk=symbol_chunk,
        initials=[initials(symbol.name) for symbol in ex.symbols],
    )
