"""Hand-built worker records for the store/query tests.

Building `Extraction` records directly keeps these tests about the store:
they do not change when the extractor's chunking or queries change.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from axd.daemon.query import graph
from axd.daemon.records import (
    ChunkRecord,
    Extraction,
    FileOutcome,
    ImportRecord,
    ReferenceRecord,
    Span,
    SymbolRecord,
)

if TYPE_CHECKING:
    from axd.daemon.store.store import Store


def line_span(text: str, needle: str, occurrence: int = 0) -> Span:
    """The span of the `occurrence`-th `needle` in `text` (single line)."""
    at = -1
    for _ in range(occurrence + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    col = len(text[text.rfind("\n", 0, at) + 1 : at].encode())
    return Span(line, col, line, col + len(needle.encode()))


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = len(text[text.rfind("\n", 0, offset) + 1 : offset].encode())
    return line, col


@dataclass
class Sym:
    """A symbol to place in a file: the name is found at `needle`."""

    name: str
    kind: str = "function"
    qualified_name: str | None = None
    needle: str | None = None  # text whose first occurrence holds the name
    end_needle: str | None = None  # the definition ends after this text
    docstring: str | None = None
    parent: int | None = None


@dataclass
class FileSpec:
    """A file: its text, symbols, references and imports."""

    path: str
    text: str
    language: str | None = "python"
    symbols: list[Sym] = field(default_factory=list)
    refs: list[tuple[str, str, str]] = field(default_factory=list)  # name, kind, needle
    imports: list[tuple[str, str]] = field(default_factory=list)  # module, needle
    split_lines: list[int] = field(default_factory=list)  # chunk boundaries (1-based)
    parse_errors: int = 0


def extraction(spec: FileSpec) -> Extraction:
    """Records for `spec`: chunks tile the text at `split_lines`."""
    text = spec.text
    data = text.encode()
    starts = [0]
    for line in spec.split_lines:
        offset = 0
        for _ in range(line - 1):
            offset = text.index("\n", offset) + 1
        starts.append(offset)
    starts.append(len(text))
    chunks: list[ChunkRecord] = []
    for begin, end in itertools.pairwise(starts):
        if begin == end:
            continue
        sl, sc = _position(text, begin)
        el, ec = _position(text, end)
        chunks.append(
            ChunkRecord(
                len(text[:begin].encode()),
                len(text[:end].encode()),
                Span(sl, sc, el, ec),
                "block",
                None,
                text[begin:end],
            )
        )
    assert sum(len(c.text.encode()) for c in chunks) == len(data)
    symbols: list[SymbolRecord] = []
    for sym in spec.symbols:
        needle = sym.needle or sym.name
        at = text.index(needle)
        name_at = at + needle.index(sym.name)
        sel_l, sel_c = _position(text, name_at)
        start_l, start_c = _position(text, text.rfind("\n", 0, at) + 1)
        end_at = (
            text.index(sym.end_needle, at) + len(sym.end_needle)
            if sym.end_needle
            else text.find("\n", name_at)
            if "\n" in text[name_at:]
            else len(text)
        )
        end_l, end_c = _position(text, end_at)
        symbols.append(
            SymbolRecord(
                name=sym.name,
                qualified_name=sym.qualified_name or sym.name,
                kind=sym.kind,
                span=Span(start_l, start_c, end_l, end_c),
                selection=Span(sel_l, sel_c, sel_l, sel_c + len(sym.name.encode())),
                signature=text.splitlines()[start_l - 1].strip(),
                docstring=sym.docstring,
                parent=sym.parent,
            )
        )
    refs = [
        ReferenceRecord(
            name,
            kind,  # type: ignore[arg-type]
            line_span(text, needle),
            text.splitlines()[line_span(text, needle).start_line - 1].strip(),
        )
        for name, kind, needle in spec.refs
    ]
    imports = [
        ImportRecord(module, line_span(text, needle)) for module, needle in spec.imports
    ]
    return Extraction(
        chunks=chunks,
        symbols=symbols,
        references=refs,
        imports=imports,
        parse_errors=spec.parse_errors,
    )


def indexed(spec: FileSpec, *, mtime_ns: int = 1, version: int = 1) -> FileOutcome:
    """An ``indexed`` outcome for `spec`."""
    return FileOutcome(
        path=spec.path,
        status="indexed",
        language=spec.language,
        size=len(spec.text.encode()),
        mtime_ns=mtime_ns,
        content_hash=f"h{hash(spec.text) & 0xFFFFFFFF:x}",
        extractor_version=version,
        extraction=extraction(spec),
    )


def plain(
    path: str, text: str = "", language: str | None = "python", **kw: object
) -> FileOutcome:
    """An ``indexed`` outcome for a file with one chunk and nothing else."""
    return indexed(FileSpec(path, text, language, **kw))  # type: ignore[arg-type]


def skipped(
    path: str, reason: Any = "binary", detail: str | None = None
) -> FileOutcome:
    """A ``skipped`` outcome (`reason` one of records.SKIP_REASONS)."""
    return FileOutcome(
        path=path,
        status="skipped",
        size=10,
        mtime_ns=1,
        skip_reason=reason,
        detail=detail,
    )


def importing(path: str, *modules: str) -> FileOutcome:
    """A Python file that only imports `modules`."""
    text = "".join(f"import {m}\n" for m in modules)
    return indexed(
        FileSpec(path, text, "python", imports=[(m, f"import {m}\n") for m in modules])
    )


def all_edges(store: Store) -> list[tuple[str, str, str | None]]:
    """Every import edge of the index: (importer, module, resolved path)."""
    with store.reader() as conn:
        rows = conn.execute("SELECT path FROM files ORDER BY path")
        paths = [str(p) for (p,) in rows]
        return [
            (path, e.module, e.path)
            for path in paths
            for e in graph.imports(conn, path)
        ]
