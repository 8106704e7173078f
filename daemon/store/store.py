"""The per-workspace index database: one writer connection, pooled readers.

apsw, WAL, ``synchronous=NORMAL``, foreign keys on (ARCHITECTURE.md,
Storage). The writer connection is only touched through the writer API
(`apply_batch`, `bump_generation`, `restore`, …), which the daemon calls
only through the workspace's one `writer.Writer` (one write at a time, in a
thread); a lock makes accidental concurrent calls wait instead of
interleaving transactions. Readers come from `reader()`: each is inside a
read transaction for the whole ``with`` block, so a query and the generation
it reports come from one snapshot, and WAL lets them run while the writer
commits.

The connection settings are applied per connection here instead of through
``apsw.bestpractice.apply``, which would install a process-wide hook on every
apsw connection other modules open.

Two costs kept off the commit path (#16, perf/RESULTS.md "#16 edits"): WAL
checkpoints run beside the writer, not inside its COMMIT
(store/checkpointer.py; the writer's WAL hook says when one is due), and
the writer's page cache is `WRITER_CACHE_KIB` (SQLite's default is 2 MB)
during a write and given back after it (`release_memory`).

Size: one database's connections, locks and writer API belong together;
the SQL lives in batch.py, linker.py and the query modules.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import apsw

from axd.daemon.store import indexes
from axd.daemon.store.batch import (
    GRAPH_GENERATION,
    BatchResult,
    mark_graph_changed,
    write_batch,
)
from axd.daemon.store.checkpointer import (
    CHECKPOINT_MAX_PAGES,
    CHECKPOINT_PAGES,
    Checkpointer,
)
from axd.daemon.store.errors import (
    DAMAGE,
    StoreClosedError,
    StoreCorruptError,
    StoreDamagedError,
    StoreError,
)
from axd.daemon.store.linker import (
    DbFacts,
    record_rules,
    rekey,
    relink_all,
    rules_outdated,
)
from axd.daemon.store.migrator import Migrator
from axd.daemon.store.rows import FileInfo, FileState, StoreCounts
from axd.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from importlib.resources.abc import Traversable

    from axd.daemon.records import FileOutcome

__all__ = ["BatchResult", "FileInfo", "FileState", "Store", "StoreClosedError"]
__all__ += ["StoreCorruptError", "StoreCounts", "StoreDamagedError", "StoreError"]
__all__ += ["DAMAGE"]

_BUSY_TIMEOUT_MS = 5_000
# A 100-file batch in the 100k index read ~30k pages with SQLite's default
# 2 MB cache, 17-24k with 16 MB and ~11k with 64 MB; but 64 MB kept ~60 MB
# more resident in the daemon (malloc keeps what `release_memory` frees)
# for no CPU gain measurable on the shared machine (perf/RESULTS.md "#16
# edits"). The memory budget (#16 target 2) decides this number.
WRITER_CACHE_KIB = 16_384
_T = TypeVar("_T")


def _configure(conn: apsw.Connection, *, writer: bool) -> None:
    conn.set_busy_timeout(_BUSY_TIMEOUT_MS)
    # Double-quoted strings are identifiers only (apsw.bestpractice.connection_dqs).
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DML, 0)
    conn.config(apsw.SQLITE_DBCONFIG_DQS_DDL, 0)
    if writer:
        conn.pragma("journal_mode", "wal")
        conn.pragma("synchronous", "NORMAL")
        conn.pragma("foreign_keys", "ON")
        conn.pragma("cache_size", -WRITER_CACHE_KIB)
    else:
        conn.pragma("query_only", "ON")  # a reader that writes is a bug


def _read_generation(conn: apsw.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return int(row[0]) if row is not None else 0


def _ensure_indexes(conn: apsw.Connection) -> None:
    """Build the indexes a first index cut short left out (store/indexes.py)."""
    if not indexes.missing(conn) and not indexes.refs_pending(conn):
        return
    with conn:
        indexes.ensure(conn)


# `meta` key present from the first batch written with `defer_links` to the
# `relink_all` that resolves their imports, in the same transactions.
LINKS_PENDING = "links_pending"


def _link_if_cut_short(conn: apsw.Connection, root: Path) -> None:
    """Resolve every import if a bulk first index was cut short (a SIGKILL
    between its first batch and its `relink_all`): a resumed first index
    links its own batches as it goes, so nothing else would link these."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (LINKS_PENDING,)).fetchone():
        with conn:
            _relink_all(conn, root)


def _rules_of_a_new_index(conn: apsw.Connection) -> None:
    """An index with no file yet is linked under this axd's import rules
    from its first batch on (an index without the note is from before it,
    and is relinked once: `Committer.refresh_links`)."""
    if (
        not rules_outdated(conn)
        or conn.execute("SELECT 1 FROM files LIMIT 1").fetchone()
    ):
        return
    with contextlib.suppress(apsw.FullError, apsw.ReadOnlyError, apsw.BusyError), conn:
        record_rules(conn)


def _name_the_graph(conn: apsw.Connection) -> None:
    """Give an index written before `GRAPH_GENERATION` existed one: its
    graph as of now is its graph at its current generation. Optional (the
    cycles cache falls back to the generation), so never an error."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (GRAPH_GENERATION,)).fetchone():
        return
    with contextlib.suppress(apsw.FullError, apsw.ReadOnlyError, apsw.BusyError), conn:
        mark_graph_changed(conn, _read_generation(conn))


def _relink_all(conn: apsw.Connection, root: Path | None) -> tuple[int, bool]:
    """`Store.relink_all`'s transaction body: (imports resolved, changed)."""
    indexes.ensure(conn)  # the linker looks files and keys up by name
    before = conn.total_changes()
    count = relink_all(conn, DbFacts(conn, root))
    changed = conn.total_changes() != before
    # Keys are no answer of any query: not a change of the generation.
    if rules_outdated(conn):
        rekey(conn)
        record_rules(conn)
    if changed:
        value = _read_generation(conn) + 1
        conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (value,))
        mark_graph_changed(conn, value)
    conn.execute("DELETE FROM meta WHERE key = ?", (LINKS_PENDING,))
    return count, changed


def read_generation(conn: apsw.Connection) -> int:
    """The generation committed in `conn`'s current snapshot."""
    return _read_generation(conn)


class Store:
    """One workspace's index database."""

    def __init__(
        self, path: Path, writer: apsw.Connection, root: Path | None, max_idle: int
    ) -> None:
        self._path = path
        self._writer: apsw.Connection | None = writer
        self._root = root
        self._lock = threading.RLock()
        self._idle: list[apsw.Connection] = []
        self._all_readers: set[apsw.Connection] = set()
        self._pool_lock = threading.Lock()
        self._max_idle = max_idle
        self._generation = _read_generation(writer)
        # Some name indexes are dropped for a bulk first index (`apply_batch`
        # with `defer_links`) and built by `relink_all` (store/indexes.py).
        self._indexes_deferred = False
        # `counts` as of a generation (see there).
        self._counted: tuple[int, StoreCounts] | None = None
        self._checkpointer = Checkpointer(path)
        # Replaces SQLite's automatic checkpoint (module docstring).
        self._wal_over = False
        writer.set_wal_hook(self._wal_committed)
        # Told (from any thread) when SQLite reports damage; set by the
        # daemon's recovery, which quarantines the file (store/quarantine.py).
        self.on_damage: Callable[[str], None] | None = None

    @classmethod
    def open(
        cls,
        db_path: str | Path,
        *,
        root: str | Path | None = None,
        quick_check: bool = False,
        max_idle_readers: int = 16,
        migrations: Traversable | Path | None = None,
    ) -> Store:
        """Open (creating if needed) and migrate the database at `db_path`.

        `root` is the workspace root; import resolution reads files the index
        keeps no text of (``go.mod``) from there.

        :raises migrator.MigrationChecksumError: an applied migration changed.
        :raises StoreCorruptError: `quick_check` is set and the check fails.
        """
        path = Path(db_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = apsw.Connection(str(path))
        try:
            _configure(writer, writer=True)
            Migrator(writer, migrations).migrate()
            _ensure_indexes(writer)
            if root is not None:
                _link_if_cut_short(writer, Path(root))
            _rules_of_a_new_index(writer)
            _name_the_graph(writer)
            if quick_check:
                result = "\n".join(
                    str(r[0]) for r in writer.execute("PRAGMA quick_check")
                )
                if result != "ok":
                    raise StoreCorruptError(f"{path}: quick_check: {result}")
        except BaseException:
            writer.close()
            raise
        return cls(
            path, writer, Path(root) if root is not None else None, max_idle_readers
        )

    # -- properties -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def generation(self) -> int:
        """The last committed generation (0 for a new, empty index)."""
        return self._generation

    def _w(self) -> apsw.Connection:
        if self._writer is None:
            raise StoreClosedError(f"store {self._path} is closed")
        return self._writer

    # -- readers ------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self) -> Iterator[apsw.Connection]:
        """A read connection inside one read transaction (a consistent snapshot).

        :raises StoreClosedError: after `close()`.
        """
        if self._writer is None:
            raise StoreClosedError(f"store {self._path} is closed")
        with self._pool_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = apsw.Connection(str(self._path), flags=apsw.SQLITE_OPEN_READWRITE)
            _configure(conn, writer=False)
            with self._pool_lock:
                self._all_readers.add(conn)
        conn.execute("BEGIN")
        healthy = True
        try:
            yield conn
        except DAMAGE as exc:
            healthy = False  # the COMMIT below may fail the same way: not kept
            raise self._damaged(exc) from exc
        finally:
            with contextlib.suppress(apsw.Error):  # ends a read: nothing to lose
                if conn.in_transaction:
                    conn.execute("COMMIT")
            with self._pool_lock:
                keep = healthy and self._writer is not None
                keep = keep and len(self._idle) < self._max_idle
                if keep:
                    self._idle.append(conn)
                else:
                    self._all_readers.discard(conn)
            if not keep:
                conn.close()

    def _damaged(self, exc: apsw.Error) -> StoreDamagedError:
        reason = f"{type(exc).__name__}: {exc}"
        if self.on_damage is not None:
            self.on_damage(reason)
        return StoreDamagedError(
            ErrorCode.NOT_READY,
            f"the index is damaged ({reason}); it is quarantined and rebuilt",
            reason="corrupt",
        )

    def _drop_idle_readers(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
            for conn in idle:
                self._all_readers.discard(conn)
        for conn in idle:
            conn.close()

    # -- the writer API -----------------------------------------------------------------

    def _wal_committed(self, conn: apsw.Connection, name: str, pages: int) -> int:
        """SQLite's WAL hook, after each commit of the writer (in its thread)."""
        if pages >= CHECKPOINT_MAX_PAGES:
            self._wal_over = True  # for `catch_up_wal` (not re-entrantly here)
        elif pages >= CHECKPOINT_PAGES:
            self._checkpointer.due()
        return apsw.SQLITE_OK

    def _write(self, fn: Callable[[apsw.Connection], _T]) -> _T:
        with self._lock:
            conn = self._w()
            try:
                return self._transaction(conn, fn)
            finally:
                conn.release_memory()  # the cache is for one write (module docstring)

    def catch_up_wal(self) -> None:
        """Checkpoint on the writer if the WAL passed `CHECKPOINT_MAX_PAGES`:
        writes outran the checkpointer (each new frame keeps the WAL from
        starting over), so the writer catches up itself, as SQLite would,
        and the WAL stays bounded. The writer calls it after announcing."""
        with self._lock:
            if not self._wal_over:
                return
            self._wal_over = False
            with contextlib.suppress(apsw.BusyError):
                self._w().wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)

    def _transaction(
        self, conn: apsw.Connection, fn: Callable[[apsw.Connection], _T]
    ) -> _T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except DAMAGE as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise self._damaged(exc) from exc
        except BaseException:
            # SQLite has already rolled back on SQLITE_FULL and some I/O
            # errors; a second ROLLBACK would hide the real error.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def apply_batch(
        self,
        outcomes: Sequence[FileOutcome],
        deleted: Sequence[str] = (),
        *,
        defer_links: bool = False,
    ) -> BatchResult:
        """Write one batch in one transaction (see `batch.write_batch`).

        ``indexed`` replaces all of a file's rows; ``unchanged`` refreshes size
        and mtime; ``skipped`` keeps a row with the reason and no content;
        ``missing`` and `deleted` paths are removed. The generation grows by
        exactly one if anything but size/mtime changed; a batch that changed
        nothing returns the current generation unchanged. On any exception
        the whole batch is rolled back.

        `defer_links` (a bulk first index) also drops the deferred name indexes
        (store/indexes.py) in the first such batch: `relink_all` builds them
        once at the end, and any `open` of a store without them (a first
        index cut short) builds them before anything else.
        """
        current = self._generation
        defer_indexes = self.changes_schema(defer_links=defer_links)

        def write(conn: apsw.Connection) -> BatchResult:
            if defer_indexes:
                indexes.drop(conn)
            if defer_links:
                conn.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, '1')",
                    (LINKS_PENDING,),
                )
            return write_batch(
                conn,
                outcomes,
                deleted,
                generation=current,
                root=self._root,
                defer_links=defer_links,
            )

        result = self._write(write)
        self._indexes_deferred = self._indexes_deferred or defer_indexes
        self._generation = result.generation
        return result

    def changes_schema(self, *, defer_links: bool) -> bool:
        """Whether `apply_batch` with this `defer_links` changes the schema:
        the first batch of a bulk first index drops the deferred indexes and
        creates the table references are staged in (store/indexes.py)."""
        return defer_links and not self._indexes_deferred

    def build_indexes(self) -> list[str]:
        """Create the name indexes a bulk first index left out, in one
        transaction (store/indexes.py); the names built. `relink_all` does
        it too."""
        built = self._write(indexes.ensure)
        self._indexes_deferred = False
        return built

    def relink_all(self) -> int:
        """Resolve every import in one transaction, after batches written with
        `defer_links`; bumps the generation when any edge changed. Returns the
        number of imports resolved. First builds the name indexes those
        batches left out (`apply_batch`), which the linker uses too."""

        count, changed = self._write(lambda conn: _relink_all(conn, self._root))
        self._indexes_deferred = False
        if changed:
            self._generation += 1
        return count

    def bump_generation(self, at_least: int | None = None) -> int:
        """Commit a new generation with no data change, above `at_least` if given.

        For events that change what queries see without a batch (a snapshot
        restore must land above every generation handed out before it).
        """

        def bump(conn: apsw.Connection) -> int:
            value = max(_read_generation(conn), at_least or 0) + 1
            conn.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (value,))
            return value

        self._generation = self._write(bump)
        return self._generation

    # -- file states and counts -----------------------------------------------------------

    def file_states(self) -> dict[str, FileState]:
        """Every file row by path, for the incremental pipeline (one query)."""
        with self.reader() as conn:
            rows = conn.execute(
                "SELECT path, size, mtime_ns, content_hash, extractor_version,"
                " language, status FROM files"
            )
            return {
                path: FileState(size, mtime, digest, version, language, status)
                for path, size, mtime, digest, version, language, status in rows
            }

    def file_states_of(self, paths: Sequence[str]) -> dict[str, FileState]:
        """The rows of these paths only (a batch's worth), by path."""
        found: dict[str, FileState] = {}
        with self.reader() as conn:
            for start in range(0, len(paths), 500):
                chunk = list(paths[start : start + 500])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT path, size, mtime_ns, content_hash, extractor_version,"
                    f" language, status FROM files WHERE path IN ({marks})",
                    chunk,
                )
                for path, size, mtime, digest, version, language, status in rows:
                    found[path] = FileState(
                        size, mtime, digest, version, language, status
                    )
        return found

    def paths_under(self, directory: str, *, limit: int | None = None) -> list[str]:
        """Indexed (or skipped) paths inside `directory` (workspace-relative)."""
        prefix = directory.rstrip("/") + "/"
        # A range scan on the unique path index: prefix <= path < prefix + U+10FFFF.
        sql = "SELECT path FROM files WHERE path >= ? AND path < ? ORDER BY path"
        args: list[object] = [prefix, prefix + "\U0010ffff"]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self.reader() as conn:
            return [row[0] for row in conn.execute(sql, args)]

    def is_empty(self) -> bool:
        """Whether the index holds no file at all (a first index, a rebuild)."""
        with self.reader() as conn:
            return conn.execute("SELECT 1 FROM files LIMIT 1").fetchone() is None

    def import_rules_outdated(self) -> bool:
        """Whether the import edges were resolved under other rules than
        this axd's (`linker.RULES_KEY`)."""
        with self.reader() as conn:
            return rules_outdated(conn)

    def counts(self) -> StoreCounts:
        """Files indexed and skipped (by reason), chunks, symbols, languages.

        Shared, not to be modified: read again only after the generation
        moved. Every write these totals depend on bumps it (a batch that
        refreshes only sizes and mtimes does not, and changes none of them);
        `exclusive` forgets it. The metrics and health refresh asks every few
        seconds, and at 100k files the read is a 55 ms scan of `files`: an
        idle daemon spent ~1% of a core on it, for ever (#16).
        """
        generation = self._generation  # before the read: never newer than it
        counted = self._counted
        if counted is not None and counted[0] == generation:
            return counted[1]
        counts = StoreCounts()
        with self.reader() as conn:
            for status, reason, language, files, chunks, symbols in conn.execute(
                "SELECT status, skip_reason, language, count(*), sum(chunk_count),"
                " sum(symbol_count) FROM files GROUP BY 1, 2, 3"
            ):
                if status == "indexed":
                    counts.files_indexed += files
                    counts.chunks += chunks or 0
                    counts.symbols += symbols or 0
                    if language is not None:
                        counts.languages[language] = (
                            counts.languages.get(language, 0) + files
                        )
                else:
                    key = reason or "unsupported"
                    counts.files_skipped[key] = counts.files_skipped.get(key, 0) + files
        self._counted = (generation, counts)
        return counts

    def file_info(self, path: str) -> FileInfo | None:
        """The row of `path` (workspace-relative), or None if the index has none."""
        with self.reader() as conn:
            row = conn.execute(
                "SELECT status, language, size, skip_reason, detail, chunk_count,"
                " symbol_count, parse_errors, generation FROM files WHERE path = ?",
                (path,),
            ).fetchone()
        if row is None:
            return None
        status, language, size, reason, detail, chunks, symbols, errors, gen = row
        return FileInfo(
            path, status == "indexed", language, size, reason, detail, chunks,
            symbols, errors, gen,
        )  # fmt: skip

    def last_indexed_at(self) -> str | None:
        """RFC 3339 UTC time of the last batch that changed the index, or None."""
        with self.reader() as conn:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = 'last_indexed_at'"
            ).fetchone()
        return None if row is None else str(row[0])

    # -- maintenance ------------------------------------------------------------------------

    def quick_check(self) -> str:
        """``PRAGMA quick_check`` on a fresh connection (no cached pages, so
        damage on disk shows); damage also goes to `on_damage`."""
        conn = apsw.Connection(str(self._path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            result = "\n".join(str(r[0]) for r in conn.execute("PRAGMA quick_check"))
        except DAMAGE as exc:
            result = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        if result != "ok" and self.on_damage is not None:
            self.on_damage(f"quick_check: {result[:300]}")
        return result

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check`` output; "ok" when healthy."""
        with self.reader() as conn:
            return "\n".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))

    def db_size_bytes(self) -> int:
        """Bytes on disk: the database file and its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                total += os.stat(f"{self._path}{suffix}").st_size
        return total

    def checkpoint(self) -> None:
        """Fold the WAL into the database and truncate it (shutdown, snapshots)."""
        with self._lock:
            self._w().wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_TRUNCATE)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[apsw.Connection]:
        """The writer connection alone: no batch runs meanwhile, idle readers
        are dropped, and the generation is re-read afterwards (restores and
        migrations, see `maintenance`).

        :raises StoreClosedError: after `close()`.
        """
        with self._lock:
            self._drop_idle_readers()
            self._counted = None
            try:
                yield self._w()
            finally:
                self._counted = None
                # Below schema version 1 (rolled back) there is no meta table.
                with contextlib.suppress(apsw.SQLError, StoreClosedError):
                    self._generation = _read_generation(self._w())

    def close(self) -> None:
        """Close every connection; idempotent. Readers still in use close on return."""
        with self._lock:
            writer, self._writer = self._writer, None
            self._checkpointer.close()
            self._drop_idle_readers()
            if writer is not None:
                with contextlib.suppress(apsw.Error):
                    writer.pragma("optimize")
                writer.close()
