"""Writing one batch of worker outcomes: the body of `Store.apply_batch`.

Runs inside the writer's transaction. A re-indexed file keeps its ``files.id``
(its children are deleted and re-inserted) so import edges pointing at it
stay valid; a deleted file's row goes, its children cascade, and imports that
pointed at it are re-resolved by the linker.
"""

from __future__ import annotations

import json
import posixpath
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from axd.daemon.clock import utc_now
from axd.daemon.index.derive import derive
from axd.daemon.index.resolve import config_scope, import_key
from axd.daemon.records import extraction_of
from axd.daemon.store import indexes
from axd.daemon.store.linker import DbFacts, relink
from axd.daemon.store.refspots import pack as pack_spots
from axd.daemon.store.rewrite import Fresh, rewrite
from axd.daemon.store.symbolrows import INSERT as INSERT_SYMBOL
from axd.daemon.store.symbolrows import symbol_row

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import apsw

    from axd.daemon.records import Extraction, FileOutcome
    from axd.daemon.store.refspots import Spot

ChangeKind = Literal["added", "modified", "deleted"]
# Rows built before they are inserted: enough for executemany to amortise
# its per-call cost, few enough that a batch of large files never holds all
# its rows at once.
_FLUSH_ROWS = 20_000
# A re-indexed file writes only the rows that changed (store/rewrite.py);
# False: all its rows are deleted and inserted again (kept to compare both).
DIFF_WRITES = True


@dataclass(slots=True)
class BatchResult:
    """What one committed batch did.

    ``generation`` is the workspace generation after the batch; it grew by
    one exactly when ``bumped``. ``changes`` lists indexed-content changes:
    ``added`` = the path was not an indexed file before (new, or previously
    skipped), ``modified`` = it was and was re-indexed, ``deleted`` = it was
    an indexed file and is now gone or skipped.
    """

    generation: int
    bumped: bool = False
    changes: list[tuple[str, ChangeKind]] = field(default_factory=list)
    files_indexed: int = 0
    files_skipped: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    imports_resolved: int = 0
    parse_errors: int = 0  # ERROR/MISSING nodes in the files indexed
    ms: float = 0.0


@dataclass(slots=True)
class _Prior:
    id: int
    status: str
    skip_reason: str | None
    detail: str | None


@dataclass(slots=True)
class _Rows:
    """Child rows of the batch, inserted with one executemany per table."""

    chunks: list[tuple[object, ...]] = field(default_factory=list)
    fts: list[tuple[object, ...]] = field(default_factory=list)
    symbols: list[tuple[object, ...]] = field(default_factory=list)
    refs: list[tuple[object, ...]] = field(default_factory=list)
    imports: list[tuple[object, ...]] = field(default_factory=list)
    fts_gone: list[int] = field(default_factory=list)  # chunks_fts rowids to delete


def _next_id(conn: apsw.Connection, table: str) -> int:
    row = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


# `meta` key: the generation whose commit last changed the import graph
# (an import row added, deleted or re-resolved, or a file deleted). Set by
# every write that can change the graph (`write_batch`, `Store.relink_all`);
# `graph.cycles` caches by it, so a save that leaves every import alone
# costs no whole-graph walk. Absent in indexes written before it: readers
# then fall back to the generation.
GRAPH_GENERATION = "graph_generation"


def mark_graph_changed(conn: apsw.Connection, generation: int) -> None:
    """Record, in the caller's transaction, that `generation` changed the graph."""
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
        (GRAPH_GENERATION, generation),
    )


class _Writer:
    def __init__(self, conn: apsw.Connection, generation: int) -> None:
        self.conn = conn
        self.generation = generation  # the generation this batch commits as
        self.graph_changed = False  # an import row written or a file deleted
        self.rows = _Rows()
        self.chunk_id = _next_id(conn, "chunks")
        self.symbol_id = _next_id(conn, "symbols")
        # Where references go: staged during a bulk first index (store/indexes.py).
        self.staged_refs = indexes.refs_pending(conn)

    def clear_children(self, file_id: int) -> None:
        conn = self.conn
        conn.execute(
            "DELETE FROM chunks_fts WHERE rowid IN"
            " (SELECT id FROM chunks WHERE file_id = ?)",
            (file_id,),
        )
        tables = ["chunks", "symbols", "refs", "imports"]
        if self.staged_refs:
            tables.insert(3, indexes.PENDING_REFS)
        for table in tables:  # imports last: `changes` below counts its rows
            conn.execute(f"DELETE FROM {table} WHERE file_id = ?", (file_id,))
        if conn.changes():  # the file had imports
            self.graph_changed = True

    def rewrite_children(
        self, file_id: int, language: str | None, ex: Extraction
    ) -> bool:
        """`clear_children` + `add_children`, writing only the difference
        (store/rewrite.py): the rows are built as `add_children` builds them.
        True when the file's imports need resolving (a row was added)."""
        pending, self.rows = self.rows, _Rows()
        first_chunk, first_symbol = self.chunk_id, self.symbol_id
        self.add_children(file_id, language, ex)
        built, self.rows = self.rows, pending
        left = rewrite(
            self.conn,
            file_id,
            Fresh(first_chunk, first_symbol, built.chunks, built.fts, built.symbols,
                  built.refs, built.imports),
            staged_refs=self.staged_refs,
        )  # fmt: skip
        pending.chunks += left.chunks
        pending.fts += left.fts
        pending.symbols += left.symbols
        pending.refs += left.refs
        pending.imports += left.imports
        pending.fts_gone += left.fts_gone
        if left.gone_imports:
            self.graph_changed = True  # the rows added are flagged by `flush`
        return left.imports_changed

    def delete_file(self, file_id: int) -> None:
        # Its imports go by cascade, and imports of its path lose their target.
        self.graph_changed = True
        self.conn.execute(
            "DELETE FROM chunks_fts WHERE rowid IN"
            " (SELECT id FROM chunks WHERE file_id = ?)",
            (file_id,),
        )
        self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def add_children(self, file_id: int, language: str | None, ex: Extraction) -> None:
        rows = self.rows
        first_chunk = self.chunk_id
        # The worker computes these (index/derive.py); records made elsewhere
        # get the same from the same function here.
        derived = ex.derived if ex.derived is not None else derive(ex)
        for offset, (chunk, packed, fts) in enumerate(
            zip(ex.chunks, derived.packed, derived.fts, strict=True)
        ):
            chunk_id = first_chunk + offset
            s = chunk.span
            rows.chunks.append(
                (chunk_id, file_id, chunk.start_byte, chunk.end_byte, s.start_line,
                 s.start_col, s.end_line, s.end_col, chunk.kind, chunk.symbol, packed)
            )  # fmt: skip
            rows.fts.append((chunk_id, chunk.text, *fts))
        self.chunk_id += len(ex.chunks)
        base = self.symbol_id
        for index, (symbol, at, initials) in enumerate(
            zip(ex.symbols, derived.symbol_chunk, derived.initials, strict=True)
        ):
            parent = None if symbol.parent is None else base + symbol.parent
            rows.symbols.append(
                symbol_row(
                    base + index,
                    file_id,
                    None if at < 0 else first_chunk + at,
                    parent,
                    initials,
                    symbol,
                )
            )
        self.symbol_id += len(ex.symbols)
        # One row per name (store/refspots.py), in the order first used.
        by_name: dict[str, list[Spot]] = {}
        for ref in ex.references:
            s = ref.span
            by_name.setdefault(ref.name, []).append(
                (ref.kind, s.start_line, s.start_col, s.end_line, s.end_col)
            )
        rows.refs.extend(
            (name, file_id, pack_spots(name, spots)) for name, spots in by_name.items()
        )
        for imp in ex.imports:
            s = imp.span
            rows.imports.append(
                (file_id, language, imp.module, s.start_line, s.start_col, s.end_line,
                 s.end_col, import_key(imp.module, language))
            )  # fmt: skip

    def pending(self) -> int:
        """Rows waiting for `flush`."""
        rows = self.rows
        return len(rows.chunks) + len(rows.symbols) + len(rows.refs)

    def flush(self) -> None:
        conn, rows = self.conn, self.rows
        # Every FTS write of the batch here, deletes then inserts, in rowid
        # order (new chunk ids are above every stored one): FTS5 writes out
        # what it holds pending at each statement savepoint (every file's
        # upsert opens one) and whenever a rowid goes back, so deletes made
        # file by file wrote ~15% more FTS blocks per burst (perf/RESULTS.md).
        rows.fts_gone.sort()
        conn.executemany(
            "DELETE FROM chunks_fts WHERE rowid = ?", [(r,) for r in rows.fts_gone]
        )
        conn.executemany(
            "INSERT INTO chunks (id, file_id, start_byte, end_byte, start_line,"
            " start_col, end_line, end_col, kind, symbol, text, ztext)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,'',?)",
            rows.chunks,
        )
        conn.executemany(
            "INSERT INTO chunks_fts (rowid, text, terms, names, docstrings)"
            " VALUES (?,?,?,?,?)",
            rows.fts,
        )
        conn.executemany(
            INSERT_SYMBOL,
            rows.symbols,
        )
        conn.executemany(
            f"INSERT INTO {indexes.PENDING_REFS if self.staged_refs else 'refs'}"
            " (name, file_id, spots) VALUES (?,?,?)",
            rows.refs,
        )
        if rows.imports:
            self.graph_changed = True
            conn.executemany(
                "INSERT INTO imports (file_id, language, module, start_line,"
                " start_col, end_line, end_col, key) VALUES (?,?,?,?,?,?,?,?)",
                rows.imports,
            )
        self.rows = _Rows()


def _priors(conn: apsw.Connection, paths: list[str]) -> dict[str, _Prior]:
    rows = conn.execute(
        "SELECT path, id, status, skip_reason, detail FROM files"
        " WHERE path IN (SELECT value FROM json_each(?))",
        (json.dumps(paths),),
    )
    return {str(p): _Prior(int(i), str(s), r, d) for p, i, s, r, d in rows}


_UPSERT = (
    "INSERT INTO files (path, basename, language, status, size, mtime_ns, content_hash,"
    " extractor_version, skip_reason, detail, parse_errors, chunk_count, symbol_count,"
    " generation) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (path) DO UPDATE SET language = excluded.language,"
    " status = excluded.status, size = excluded.size, mtime_ns = excluded.mtime_ns,"
    " content_hash = excluded.content_hash,"
    " extractor_version = excluded.extractor_version,"
    " skip_reason = excluded.skip_reason, detail = excluded.detail,"
    " parse_errors = excluded.parse_errors, chunk_count = excluded.chunk_count,"
    " symbol_count = excluded.symbol_count, generation = excluded.generation"
    " RETURNING id"
)


def write_batch(
    conn: apsw.Connection,
    outcomes: Sequence[FileOutcome],
    deleted: Sequence[str],
    *,
    generation: int,
    root: Path | None,
    defer_links: bool = False,
) -> BatchResult:
    """Write a batch in the caller's transaction; bump the generation if it changed.

    `defer_links` skips import resolution (a bulk first index resolves every
    import once at the end with `linker.relink_all`: re-resolving per batch
    grows with the index, 22x the time for 10x the files).
    """
    started = time.perf_counter()
    result = BatchResult(generation=generation)
    # The last word on a path wins when a batch names it twice.
    latest: dict[str, FileOutcome | None] = {o.path: o for o in outcomes}
    for path in deleted:
        latest[path] = None
    priors = _priors(conn, list(latest))
    writer = _Writer(conn, generation + 1)
    new_ids: list[int] = []
    added: list[str] = []
    removed: list[str] = []
    configs: list[str] = []
    dirty = False
    for path, outcome in latest.items():
        prior = priors.get(path)
        was_indexed = prior is not None and prior.status == "indexed"
        if outcome is not None and outcome.status == "unchanged":
            if prior is not None:
                conn.execute(
                    "UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?",
                    (outcome.size, outcome.mtime_ns, prior.id),
                )
            result.files_unchanged += 1
            continue
        if outcome is None or outcome.status == "missing":
            if prior is None:
                continue
            writer.delete_file(prior.id)
            removed.append(path)
            result.files_deleted += 1
            dirty = True
            if was_indexed:
                result.changes.append((path, "deleted"))
            if config_scope(path) is not None:
                configs.append(path)
            continue
        # Decoded here, one file at a time (records.extraction_of).
        ex = extraction_of(outcome) if outcome.status == "indexed" else None
        if outcome.status == "indexed" and ex is None:
            continue  # a worker bug; never half-write a file
        if (
            outcome.status == "skipped"
            and prior is not None
            and not was_indexed
            and (prior.skip_reason, prior.detail)
            == (outcome.skip_reason, outcome.detail)
        ):
            # Same reason again: refresh the stat fields, and the version and
            # language (rows from before they were recorded would otherwise
            # be re-queued at every start).
            conn.execute(
                "UPDATE files SET size = ?, mtime_ns = ?, extractor_version = ?,"
                " language = ? WHERE id = ?",
                (
                    outcome.size,
                    outcome.mtime_ns,
                    outcome.extractor_version,
                    outcome.language,
                    prior.id,
                ),
            )
            result.files_skipped += 1
            continue
        diff = DIFF_WRITES and was_indexed and ex is not None
        if prior is not None and not diff:
            writer.clear_children(prior.id)
        symbols = len(ex.symbols) if ex is not None else 0
        row = conn.execute(
            _UPSERT,
            (path, posixpath.basename(path), outcome.language,
             "indexed" if ex is not None else "skipped", outcome.size, outcome.mtime_ns,
             outcome.content_hash, outcome.extractor_version, outcome.skip_reason,
             outcome.detail, ex.parse_errors if ex is not None else 0,
             len(ex.chunks) if ex is not None else 0, symbols, generation + 1),
        ).fetchall()  # fmt: skip
        file_id = row[0][0]
        assert isinstance(file_id, int)
        dirty = True
        if prior is None:
            added.append(path)
        if config_scope(path) is not None:
            configs.append(path)
        if ex is not None:
            relink_file = True
            if diff:
                relink_file = writer.rewrite_children(file_id, outcome.language, ex)
            else:
                writer.add_children(file_id, outcome.language, ex)
            result.parse_errors += ex.parse_errors
            if writer.pending() >= _FLUSH_ROWS:
                writer.flush()  # bounded memory: rows are written as they come
            if relink_file:
                new_ids.append(file_id)
            result.files_indexed += 1
            result.changes.append((path, "modified" if was_indexed else "added"))
        else:
            result.files_skipped += 1
            if was_indexed:
                result.changes.append((path, "deleted"))
    writer.flush()
    if not defer_links and (new_ids or added or removed or configs):
        before = conn.total_changes()
        result.imports_resolved = relink(
            conn,
            DbFacts(conn, root),
            new_file_ids=new_ids,
            added=added,
            removed=removed,
            configs=configs,
        )
        if conn.total_changes() != before:  # a target_id set or cleared
            writer.graph_changed = True
    if dirty:
        result.generation = generation + 1
        result.bumped = True
        conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'generation'", (result.generation,)
        )
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_indexed_at', ?)",
            (utc_now(),),
        )
        if writer.graph_changed:
            mark_graph_changed(conn, result.generation)
    result.ms = (time.perf_counter() - started) * 1000
    return result
