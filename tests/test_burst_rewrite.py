"""Re-indexing a file writes only the rows that changed (store/rewrite.py,
#16 live bursts): the index afterwards holds exactly what deleting and
re-inserting every row of the file gives, up to the numbering of the file's
chunk and symbol ids, which stays in file order.

Real files (this project's own sources and documentation, in three
languages) go through a sequence of real edits; every step is extracted
once and written to two stores, one with `DIFF_WRITES` off and one with it
on, and the two are compared table by table, the FTS5 index term by term.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import apsw
import pytest
from store_records import FileSpec, Sym, indexed

from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
from axd.daemon.query.search import search
from axd.daemon.query.symbols import outline
from axd.daemon.store import batch
from axd.daemon.store.chunktext import chunk_text
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

REPO = Path(__file__).resolve().parent.parent
# Real files of three languages; what an edit does to each is below.
SOURCES = {
    "batch.py": REPO / "daemon/store/batch.py",
    "planner.py": REPO / "daemon/index/planner.py",
    "architecture.md": REPO / "docs/architecture.md",
    "nvim_lsp.lua": REPO / "tests/nvim_lsp.lua",
}
APPENDED = {
    ".py": "\n\ndef axd_appended_{n}(x):\n    '''Added.'''\n    return os.path.join(x)\n",
    ".md": "\n\n## Appended {n}\n\nMore words about `axd_appended_{n}`.\n",
    ".lua": "\n\nlocal function axd_appended_{n}() return 1 end\n",
}


def _append(text: str, ext: str, n: int) -> str:
    return text + APPENDED[ext].replace("{n}", str(n))


def _prepend(text: str, ext: str, n: int) -> str:
    return APPENDED[ext].replace("{n}", str(n)).lstrip("\n") + "\n" + text


def _middle(text: str, ext: str, n: int) -> str:
    """An edit in the middle: one line changed (names, refs, docstrings)."""
    lines = text.splitlines(keepends=True)
    at = len(lines) // 2
    lines[at] = lines[at].replace("self", "this").replace("the", f"axd{n}")
    if lines[at].strip() == "":
        lines[at] = "\n\n"
    return "".join(lines)


def _drop_tail(text: str, ext: str, n: int) -> str:
    return text[: len(text) * 3 // 4]


def _unchanged_but_renamed(text: str, ext: str, n: int) -> str:
    return text.replace("def ", "def  ", 1)  # shifts one line's columns


def _empty(text: str, ext: str, n: int) -> str:
    return ""


def _import(text: str, ext: str, n: int) -> str:
    """An import added at the top of a Python file (resolved to pkg/util.py)."""
    return f"import pkg.util as u{n}\n" + text if ext == ".py" else text + "\n"


# Small files whose imports resolve inside the tree (the linker's side).
PACKAGE = {
    "pkg/__init__.py": "",
    "pkg/util.py": "import os\n\n\ndef helper(path):\n    return os.path.join(path)\n",
    "uses.py": "import pkg.util\nfrom pkg import util\n\n\n"
    "def main():\n    return util.helper('x')\n",
}


# Applied in order to every file (each step from the previous text).
EDITS: list[Callable[[str, str, int], str]] = [
    _append,
    _append,
    _import,
    _middle,
    _prepend,
    _drop_tail,
    _unchanged_but_renamed,
    _append,
    _empty,
    _append,
]


def _settings(root: Path) -> WorkerSettings:
    return WorkerSettings(
        root=str(root),
        max_file_bytes=1 << 21,
        max_line_bytes=1 << 16,
        max_chunk_bytes=1024,  # small chunks: many per file, many to keep
        parse_timeout_ms=60_000,
    )


@pytest.fixture
def diff_mode() -> Iterator[Callable[[bool], None]]:
    saved = batch.DIFF_WRITES

    def choose(on: bool) -> None:
        batch.DIFF_WRITES = on

    yield choose
    batch.DIFF_WRITES = saved


def _positions(
    conn: apsw.Connection, table: str
) -> tuple[dict[int, tuple[str, int]], list[int]]:
    """id -> (path, rank of the row in its file by id); and whether the
    ids follow the file order (chunks by start_byte)."""
    order = "c.start_byte, c.id" if table == "chunks" else "c.id"
    rows = conn.execute(
        f"SELECT c.id, f.path FROM {table} c JOIN files f ON f.id = c.file_id"
        f" ORDER BY f.path, {order}"
    ).fetchall()
    out: dict[int, tuple[str, int]] = {}
    ranks: dict[str, int] = {}
    ids: list[int] = []
    for row_id, path in rows:
        rank = ranks.get(str(path), 0)
        ranks[str(path)] = rank + 1
        out[int(row_id)] = (str(path), rank)  # type: ignore[call-overload]
        ids.append(int(row_id))  # type: ignore[call-overload]
    return out, ids


def _dump(store: Store) -> dict[str, object]:
    """The index with chunk and symbol ids read as positions in their file."""
    with contextlib.closing(apsw.Connection(str(store.path))) as conn:
        chunk_at, chunk_ids = _positions(conn, "chunks")
        symbol_at, _ = _positions(conn, "symbols")
        # Ids follow the file order, file by file (outline and a chunk's
        # symbols are read in id order).
        by_file: dict[str, list[int]] = {}
        for cid in chunk_ids:
            by_file.setdefault(chunk_at[cid][0], []).append(cid)
        assert all(ids == sorted(ids) for ids in by_file.values())
        chunks = sorted(
            (chunk_at[int(r[0])], *r[2:])  # type: ignore[call-overload]
            for r in conn.execute("SELECT * FROM chunks")
        )
        symbols = sorted(
            (
                symbol_at[int(r[0])],  # type: ignore[call-overload]
                None if r[2] is None else chunk_at[int(r[2])],  # type: ignore[call-overload]
                None if r[3] is None else symbol_at[int(r[3])],  # type: ignore[call-overload]
                *r[4:],
            )
            for r in conn.execute("SELECT * FROM symbols")
        )
        conn.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab"
            " USING fts5vocab(main, chunks_fts, 'instance')"
        )
        fts = sorted(
            (str(term), chunk_at[int(doc)], str(col), int(offset))  # type: ignore[call-overload]
            for term, doc, col, offset in conn.execute(
                "SELECT term, doc, col, offset FROM temp.vocab"
            )
        )
        return {
            "files": conn.execute("SELECT * FROM files ORDER BY id").fetchall(),
            "chunks": chunks,
            "symbols": symbols,
            "fts": fts,
            "fts_docs": conn.execute("SELECT count(*) FROM chunks_fts").fetchall(),
            "refs": conn.execute(
                "SELECT name, file_id, spots FROM refs ORDER BY name, file_id"
            ).fetchall(),
            "imports": conn.execute(
                "SELECT file_id, language, module, start_line, start_col, end_line,"
                " end_col, key, target_id FROM imports ORDER BY file_id, start_line,"
                " start_col, module"
            ).fetchall(),
        }


def _unpack_text(store: Store) -> None:
    with contextlib.closing(apsw.Connection(str(store.path))) as conn:
        rows = conn.execute("SELECT id, ztext FROM chunks").fetchall()
        with conn:
            conn.executemany(
                "UPDATE chunks SET text = ?, ztext = NULL WHERE id = ?",
                [(chunk_text("", z), cid) for cid, z in rows],
            )


def _fts_check(store: Store) -> None:
    """FTS5's own check of its index (raises on a stale or missing entry)."""
    with contextlib.closing(apsw.Connection(str(store.path))) as conn:
        conn.execute("BEGIN")
        try:
            conn.execute(
                "INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('integrity-check', 0)"
            )
        finally:
            conn.execute("ROLLBACK")


def test_diff_write_equals_full_rewrite(
    tmp_path: Path, diff_mode: Callable[[bool], None]
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    texts = {name: path.read_text() for name, path in SOURCES.items()}
    texts.update(PACKAGE)
    for name, text in texts.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    settings = _settings(root)
    full = Store.open(tmp_path / "full.db", root=root)
    diff = Store.open(tmp_path / "diff.db", root=root)
    kept_somewhere = resolved_somewhere = False
    try:
        for step, edit in enumerate([None, *EDITS]):
            if edit is not None:
                for name, text in list(texts.items()):
                    texts[name] = edit(text, Path(name).suffix, step)
                    (root / name).write_text(texts[name])
            outcomes = [process_file(settings, WorkItem(name)) for name in texts]
            assert all(o.status == "indexed" for o in outcomes), outcomes
            with diff.reader() as conn:
                before = dict(conn.execute("SELECT id, file_id FROM chunks"))
            diff_mode(False)
            full.apply_batch(outcomes, [])
            diff_mode(True)
            diff.apply_batch(outcomes, [])
            if step == 0:
                # As an index migrated from schema 1 holds them: chunk text
                # not packed (migration 0002 left such rows as they were).
                for store in (full, diff):
                    _unpack_text(store)
            with diff.reader() as conn:
                after = dict(conn.execute("SELECT id, file_id FROM chunks"))
            # The point of it: rows of an appended file stay where they are.
            kept = set(before) & set(after)
            # (step 1 keeps the rows step 0 left unpacked: packed in place)
            if edit is _append and before:
                assert kept, f"step {step}: no chunk kept by an append"
            kept_somewhere |= bool(kept)
            with diff.reader() as conn:
                resolved_somewhere |= conn.execute(
                    "SELECT count(*) FROM imports WHERE target_id IS NOT NULL"
                ).fetchall() != [(0,)]
            assert _dump(full) == _dump(diff), f"step {step} ({edit})"
            _fts_check(full)
            _fts_check(diff)
            # And what the queries answer.
            with full.reader() as a, diff.reader() as b:
                for name in texts:
                    assert outline(a, name) == outline(b, name)
                for query in ("write batch", "axd_appended", "planner", "function"):
                    assert search(a, query) == search(b, query), query
        assert kept_somewhere
        assert resolved_somewhere  # the linker's side was exercised
    finally:
        full.close()
        diff.close()


_TEXT = (
    "class Server:\n"
    "    def run(self):\n"
    "        return serve(self)\n"
    "\n"
    "def helper():\n"
    "    return 1\n"
    "\n"
    "def tail():\n"
    "    return 2\n"
)


def _spec(doc: str, *, tail_kind: str = "function") -> FileSpec:
    return FileSpec(
        "m.py",
        _TEXT,
        symbols=[
            Sym("Server", "class", end_needle="serve(self)"),
            Sym("run", "method", "Server.run", needle="def run", parent=0),
            Sym("helper", docstring=doc),
            Sym("tail", tail_kind),
        ],
        refs=[("serve", "call", "serve(")],
        split_lines=[4, 8],  # chunks: the class, helper, tail
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # Same text, a docstring of a symbol in the 2nd chunk changes (a
        # comment before a definition can sit in the previous chunk): the
        # chunk's row is equal but its FTS `docstrings` column is not.
        (_spec("Old words."), _spec("New words.")),
        # A later symbol changes (its kind): the chunks and the earlier
        # symbols stay.
        (_spec("Doc."), _spec("Doc.", tail_kind="constant")),
    ],
)
def test_diff_write_of_hand_built_records(
    tmp_path: Path,
    diff_mode: Callable[[bool], None],
    first: FileSpec,
    second: FileSpec,
) -> None:
    full = Store.open(tmp_path / "full.db")
    diff = Store.open(tmp_path / "diff.db")
    try:
        for spec, mtime in ((first, 1), (second, 2)):
            outcome = indexed(spec, mtime_ns=mtime)
            diff_mode(False)
            full.apply_batch([outcome], [])
            diff_mode(True)
            diff.apply_batch([outcome], [])
            assert _dump(full) == _dump(diff)
            _fts_check(diff)
        with diff.reader() as conn:
            # Something was kept: the class chunk and its two symbols.
            assert conn.execute("SELECT min(id) FROM chunks").fetchall() == [(1,)]
            assert [r[0] for r in conn.execute("SELECT id FROM symbols ORDER BY id")][
                :2
            ] == [1, 2]
        with full.reader() as a, diff.reader() as b:
            for query in ("old words", "new words", "helper", "tail"):
                assert search(a, query) == search(b, query), query
    finally:
        full.close()
        diff.close()
