"""What one batch of re-indexed files costs the writer (#16, bursts): the
batch's FTS5 deletes go with its inserts, in rowid order, and a saved configuration file
(`__init__.py`, `go.mod`...) looks up the imports below it by the path
index instead of scanning every import of its language.

Real files (this project's sources) extracted by the worker's own code,
written to a real store; what SQLite did is read from its own statement
trace and query planner.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
from axd.daemon.store import linker
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    import apsw

    from axd.daemon.records import FileOutcome

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted((REPO / "daemon/store").glob("*.py"))[:12]


def _settings(root: Path) -> WorkerSettings:
    return WorkerSettings(
        root=str(root),
        max_file_bytes=1 << 21,
        max_line_bytes=1 << 16,
        max_chunk_bytes=1024,  # small chunks: many per file
        parse_timeout_ms=60_000,
    )


def _write_tree(root: Path, *, cut: bool) -> list[str]:
    """The sources under `root/src`; `cut`: each loses its last quarter (so
    the re-index deletes chunks of every file, and their FTS rows)."""
    names = []
    for source in SOURCES:
        text = source.read_text()
        if cut:
            text = text[: len(text) * 3 // 4]
        rel = f"src/{source.name}"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        names.append(rel)
    return names


def _extract(root: Path, paths: list[str]) -> list[FileOutcome]:
    return [process_file(_settings(root), WorkItem(path=p)) for p in paths]


def _statements(conn: apsw.Connection, run: object) -> list[tuple[str, object]]:
    """The statements `run()` executed on `conn` (SQL, bindings), in order."""
    seen: list[tuple[str, object]] = []

    def tracer(_cursor: apsw.Cursor, sql: str, bindings: object) -> bool:
        seen.append((" ".join(sql.split()), bindings))
        return True

    conn.exec_trace = tracer
    try:
        run()  # type: ignore[operator]
    finally:
        conn.exec_trace = None
    return seen


def test_a_batch_deletes_its_fts_rows_together_in_rowid_order(tmp_path: Path) -> None:
    """FTS5 writes what it holds pending at every statement savepoint (the
    next file's upsert opens one) and whenever a rowid goes back: the
    batch's FTS deletes go last, with its inserts, in rowid order (~15%
    fewer FTS blocks written per burst at 100k files; perf/RESULTS.md)."""
    root = tmp_path / "tree"
    paths = _write_tree(root, cut=False)
    store = Store.open(tmp_path / "index.db", root=root)
    try:
        # One file per batch first: chunk ids rise in path order, so the
        # re-index below, in reverse, meets them going back.
        for outcome in _extract(root, paths):
            store.apply_batch([outcome])
        _write_tree(root, cut=True)
        again = list(reversed(_extract(root, paths)))
        conn = store._w()
        ran = _statements(conn, lambda: store.apply_batch(again))
        upserts = [
            i for i, (sql, _) in enumerate(ran) if sql.startswith("INSERT INTO files")
        ]
        deletes = [
            i
            for i, (sql, _) in enumerate(ran)
            if sql.startswith("DELETE FROM chunks_fts")
        ]
        assert len(upserts) == len(paths)
        assert deletes, "every file lost chunks: their FTS rows go"
        # All after the last file's own writes, as one run of deletes ...
        assert min(deletes) > max(upserts)
        assert deletes == list(range(deletes[0], deletes[0] + len(deletes)))
        # ... in rowid order (executemany traces each row's bindings).
        rowids = [ran[i][1][0] for i in deletes]  # type: ignore[index]
        assert rowids == sorted(rowids)
        gone = conn.execute("SELECT count(*) FROM chunks").fetchone()
        docs = conn.execute("SELECT count(*) FROM chunks_fts").fetchone()
        assert gone == docs
        check = (
            "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 0)"
        )
        conn.execute(check)  # FTS5's own check: no stale or missing entry
    finally:
        store.close()


def _traced_plan(conn: apsw.Connection, run: object) -> list[str]:
    """The query plans of the SELECTs `run()` executed on `conn`."""
    plans = []
    for sql, bindings in _statements(conn, run):
        if not sql.upper().startswith("SELECT"):
            continue
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", bindings).fetchall()  # type: ignore[arg-type]
        plans.append(" | ".join(str(r[-1]) for r in rows))
    return plans


def test_a_config_file_reaches_its_imports_through_the_path_index(
    tmp_path: Path,
) -> None:
    root = tmp_path / "tree"
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\nfrom . import c\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/d.py": "from .. import a\nimport os\n",
        "pkg0.py": "import pkg\n",  # sorts right after "pkg/": not below it
        "other/e.py": "import pkg.sub.d\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    store = Store.open(tmp_path / "index.db", root=root)
    try:
        store.apply_batch(_extract(root, sorted(files)))
        conn = store._w()
        found: list[list[tuple[int, str, str, str]]] = []
        plans = _traced_plan(
            conn, lambda: found.append(linker._config_scope(conn, "pkg/__init__.py"))
        )
        below = sorted({path for _, _, path, _ in found[0]})
        assert below == ["pkg/a.py", "pkg/sub/d.py"]
        assert len(found[0]) == 4  # every import of both files, nothing else
        assert plans, "no query traced"
        # A range of the path index, then each file's imports by file_id;
        # never a scan of `imports` (every import of the language).
        assert all("SCAN i" not in p and "SCAN imports" not in p for p in plans), plans
        assert any(
            "INDEX sqlite_autoindex_files_1 (path>? AND path<?)" in p for p in plans
        ), plans
        # The root's config file covers every file.
        top = linker._config_scope(conn, "__init__.py")
        assert {path for _, _, path, _ in top} == {
            "pkg/a.py",
            "pkg/sub/d.py",
            "pkg0.py",
            "other/e.py",
        }
    finally:
        store.close()
