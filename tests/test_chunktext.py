"""Chunk text stored compressed, reference context lines read back from it
(migration 0002, #16): what the queries return is what the source says."""

from __future__ import annotations

from typing import TYPE_CHECKING

import apsw

from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
from axd.daemon.query.symbols import chunks, references
from axd.daemon.store.chunktext import CONTEXT_CHARS, chunk_text, pack
from axd.daemon.store.migrator import Migrator
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path


def _settings(root: Path, max_chunk_bytes: int = 4096) -> WorkerSettings:
    return WorkerSettings(
        root=str(root),
        max_file_bytes=1 << 21,
        max_line_bytes=1 << 20,
        max_chunk_bytes=max_chunk_bytes,
        parse_timeout_ms=60_000,
    )


def _expected(source: str, line: int) -> str:
    return source.split("\n")[line - 1].strip()[:CONTEXT_CHARS].strip()


def test_reference_contexts_are_the_source_lines(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    long_args = ", ".join(f"argument_{i}" for i in range(400))  # a 5 KB line
    files = {
        "a.py": (
            "import os\n\n\ndef helper(x):\n    return x\n\n\n"
            f"def caller():\n    helper(1)\n    helper({long_args})\n"
            "    v = 'h\u00e9llo \u2603'; helper(v)\n"
            + "".join(f"\n\ndef f{i}():\n    return helper({i})\n" for i in range(300))
        ),
        "b.go": "package b\r\n\r\nfunc g() {\r\n\thelper(2)\r\n}\r\n",
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8", newline="")
    # Small chunks: lines are cut across chunks, and the long line is cut
    # inside itself.
    outcomes = [
        process_file(_settings(root, max_chunk_bytes=256), WorkItem(name))
        for name in files
    ]
    assert [o.status for o in outcomes] == ["indexed", "indexed"]
    store = Store.open(tmp_path / "index.db")
    try:
        store.apply_batch(outcomes, [])
        with store.reader() as conn:
            found = references(conn, "helper", limit=1000)
            stored = conn.execute(
                "SELECT count(*), count(ztext), sum(text = '') FROM chunks"
            ).fetchone()
            texts = {
                path: "".join(c.text for c in chunks(conn, path)) for path in files
            }
    finally:
        store.close()
    assert stored is not None and stored[0] == stored[1] == stored[2] > 20
    assert texts == files  # every byte of every file, read back
    assert len(found) >= 304
    for ref in found:
        line = ref.range.start_line
        assert ref.context == _expected(files[ref.path], line), (ref.path, line)
    cut = [r for r in found if "argument_0" in r.context]
    assert len(cut) == 1 and len(cut[0].context) == CONTEXT_CHARS


def test_rows_written_before_0002_read_as_before(tmp_path: Path) -> None:
    db = tmp_path / "index.db"
    conn = apsw.Connection(str(db))
    Migrator(conn).migrate(target=1)
    conn.execute(
        "INSERT INTO files (id, path, basename, language, status, content_hash)"
        " VALUES (1, 'a.py', 'a.py', 'python', 'indexed', 'h');"
        "INSERT INTO chunks VALUES (1, 1, 0, 22, 1, 0, 3, 0, 'block', NULL,"
        " 'x = 1\n  go(x)  \n');"
        "INSERT INTO refs (file_id, name, kind, start_line, start_col, end_line,"
        " end_col, context) VALUES (1, 'go', 'call', 2, 2, 2, 4, 'go(x)')"
    )
    conn.close()
    store = Store.open(db)  # migrates to the newest version
    try:
        with store.reader() as reader:
            assert [r.context for r in references(reader, "go")] == ["go(x)"]
            assert [c.text for c in chunks(reader, "a.py")] == ["x = 1\n  go(x)  \n"]
    finally:
        store.close()
    # Rolling 0002 back marks every indexed file for re-indexing: version 1
    # cannot read the compressed text.
    conn = apsw.Connection(str(db))
    Migrator(conn).rollback(1)
    row = conn.execute("SELECT content_hash FROM files").fetchone()
    assert row == (None,)
    conn.close()


def test_pack_round_trips() -> None:
    for text in ("", "plain", "\u00e9\u2603\U0001f600\n" * 1000, "\ufffd"):
        assert chunk_text("", pack(text)) == text
    assert chunk_text("kept", None) == "kept"
