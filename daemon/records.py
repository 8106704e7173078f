"""Plain records passed from chunking workers to the store's writer.

Workers get paths and return these (msgspec-encoded, never tree-sitter
objects). Positions follow PROTOCOL.md: lines 1-based, columns 0-based byte
offsets, end column exclusive. Byte offsets are 0-based into the file.

Every record is ``gc=False``: the cyclic garbage collector never tracks
them. They hold only strings, numbers, bytes and lists of other records, so
they cannot form a cycle, and a file's extraction is thousands of them: the
daemon decodes a batch's worth while the writer holds the previous ones,
and tracked, they made every collection walk them again (decoding cost 3.4x
its untracked time in a process with the daemon's heap: perf/RESULTS.md
"#16 round 10").
"""

from __future__ import annotations

from typing import Literal, get_args

import msgspec

SkipReason = Literal[
    "binary",
    "too_large",
    "minified",
    "unreadable",
    "unsupported",
    "symlink_outside_root",
    "parse_timeout",
    "parse_failed",
]
SKIP_REASONS: tuple[str, ...] = get_args(SkipReason)

ReferenceKind = Literal["call", "reference", "import"]

SYMBOL_KINDS: frozenset[str] = frozenset(
    {
        "function",
        "method",
        "class",
        "struct",
        "interface",
        "trait",
        "enum",
        "module",
        "namespace",
        "type",
        "constant",
        "variable",
        "field",
        "property",
        "macro",
        "key",
        "heading",
    }
)


class Span(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A source range: 1-based lines, 0-based byte columns, exclusive end."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


class ChunkRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A contiguous piece of a file; a file's chunks tile it byte for byte."""

    start_byte: int
    end_byte: int
    span: Span
    kind: str  # a symbol kind for definition chunks, else "block"
    symbol: str | None  # qualified name of the enclosing/covered symbol
    text: str  # decoded with errors="replace"; FTS indexes it


class SymbolRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A definition. `parent` indexes into the same file's symbol list."""

    name: str
    qualified_name: str
    kind: str  # one of SYMBOL_KINDS
    span: Span  # whole definition, attached doc comments/decorators included
    selection: Span  # the name identifier
    signature: str  # the definition's first line(s), trimmed
    docstring: str | None
    parent: int | None


class ReferenceRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """An identifier use."""

    name: str
    kind: ReferenceKind
    span: Span
    # Unused since the store reads the line back from the chunks
    # (store/chunktext.py, #16); kept so the record's shape is unchanged.
    context: str = ""


class ImportRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """An import as written; resolution to a workspace file happens later."""

    module: str
    span: Span


class Derived(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Columns that follow from an extraction alone, computed by the worker
    (`axd.daemon.index.derive`) so the one writer does not; per chunk and
    per symbol, in the extraction's order."""

    fts: list[tuple[str, str, str]]  # chunk: (terms, names, docstrings)
    packed: list[bytes]  # chunk: its text compressed for storage (`derive.pack`)
    symbol_chunk: list[int]  # symbol: index of the chunk holding its name, -1: none
    initials: list[str]  # symbol: HandleRequest -> hr


class Extraction(msgspec.Struct, frozen=True, gc=False):
    """Everything one parse of one file yields."""

    chunks: list[ChunkRecord]
    symbols: list[SymbolRecord]
    references: list[ReferenceRecord]
    imports: list[ImportRecord]
    parse_errors: int  # count of ERROR/MISSING nodes in the tree
    # What per-file limits left out ("symbols: kept 100000 of 130000 ..."),
    # None when the file is indexed in full; files.explain shows it.
    shortfall: str | None = None
    # Set by the worker; the writer derives it itself when absent.
    derived: Derived | None = None


class FileOutcome(msgspec.Struct, frozen=True, gc=False):
    """A worker's answer for one path.

    status:
      * ``indexed``: `extraction` holds the new rows.
      * ``unchanged``: content hash equals the one the writer already has;
        only size/mtime are refreshed.
      * ``skipped``: `skip_reason` (+ `detail` with the measured value).
      * ``missing``: the file vanished between listing and reading.
    """

    path: str  # workspace-relative, "/"-separated
    status: Literal["indexed", "unchanged", "skipped", "missing"]
    language: str | None = None
    size: int = 0
    mtime_ns: int = 0
    content_hash: str | None = None
    skip_reason: SkipReason | None = None
    detail: str | None = None
    extractor_version: int = 0
    extraction: Extraction | None = None
    parse_ms: float = 0.0
    # Between processes: `extraction`, msgpack-encoded by the worker and
    # decoded by the writer one file at a time (`extraction_of`), so the
    # daemon holds batches in flight as compact bytes, not as objects (#16).
    shipped: bytes | None = None


_extraction_decoder = msgspec.msgpack.Decoder(Extraction)


def ship(outcome: FileOutcome) -> FileOutcome:
    """`outcome` with its extraction encoded into `shipped` (worker side)."""
    if outcome.extraction is None:
        return outcome
    return msgspec.structs.replace(
        outcome,
        extraction=None,
        shipped=msgspec.msgpack.encode(outcome.extraction),
    )


def extraction_of(outcome: FileOutcome) -> Extraction | None:
    """The outcome's extraction, decoding a shipped one."""
    if outcome.shipped is not None:
        return _extraction_decoder.decode(outcome.shipped)
    return outcome.extraction
