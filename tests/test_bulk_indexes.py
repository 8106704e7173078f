"""A bulk first index builds its name indexes once at the end (store/indexes.py).

Real stores, real extraction; a real SIGKILL of a process in the middle of a
first index (the store must come back with every index and the same answers).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import apsw

from axd.daemon.index.extract import extract
from axd.daemon.index.languages import detect_language
from axd.daemon.query import completions, graph
from axd.daemon.query import search as ranking
from axd.daemon.query import symbols as query
from axd.daemon.records import FileOutcome
from axd.daemon.store import indexes
from axd.daemon.store.snapshots import prepare_for_install
from axd.daemon.store.store import LINKS_PENDING, Store

if TYPE_CHECKING:
    from pathlib import Path


def source(i: int) -> str:
    return (
        f"import pkg.mod{(i + 1) % 40}\n\n"
        f"class HandleRequest{i}:\n"
        f'    """Request handler {i}."""\n\n'
        f"    def parse_body{i}(self, value):\n"
        f"        return shared_helper(value) + {i}\n\n\n"
        "def shared_helper(value):\n"
        "    return value\n"
    )


def outcomes(count: int, start: int = 0) -> list[FileOutcome]:
    made = []
    for i in range(start, start + count):
        path = f"pkg/mod{i}.py"
        data = source(i).encode()
        language = detect_language(path, data[:256])
        assert language is not None
        made.append(
            FileOutcome(
                path=path,
                status="indexed",
                language=language,
                size=len(data),
                content_hash=f"h{i}",
                extraction=extract(data, language),
            )
        )
    return made


def index_names(path: Path) -> set[str]:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {str(r[0]) for r in rows}
    finally:
        conn.close()


def missing_in(store: Store) -> list[str]:
    with store.reader() as conn:
        return indexes.missing(conn)


def answers(store: Store) -> dict[str, object]:
    """What the queries that use the deferred indexes answer."""
    with store.reader() as conn:
        return {
            "definition": sorted(
                (d.path, d.name, d.range.start_line)
                for d in query.definitions(conn, "shared_helper")
            ),
            "qualified": [
                d.path for d in query.definitions(conn, "HandleRequest7.parse_body7")
            ],
            "humps": sorted(s.name for s in query.symbol_search(conn, "HanReq")),
            "prefix": sorted(s.name for s in query.symbol_search(conn, "parse_body3")),
            "completions": completions.completions(conn, "handlereq"),
            "search": [(h.path, h.symbol) for h in ranking.search(conn, "request")],
            "importers": sorted(i.path for i in graph.importers(conn, "pkg/mod3.py")),
        }


def test_the_definitions_match_the_newest_migration(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "index.db")
    with store.reader() as conn:
        sql = dict(
            conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                " AND name IN (SELECT value FROM json_each(?))",
                (json.dumps(list(indexes.DEFERRED)),),
            ).fetchall()
        )
    store.close()
    assert {name: " ".join(str(s).split()) for name, s in sql.items()} == {
        name: " ".join(s.split()) for name, s in indexes.DEFERRED.items()
    }


def test_a_bulk_first_index_builds_the_indexes_at_the_end(tmp_path: Path) -> None:
    batches = [outcomes(40, start) for start in (0, 40, 80)]
    # The reference: the same files written with links and indexes as an edit would.
    plain = Store.open(tmp_path / "plain.db")
    for batch in batches:
        plain.apply_batch(batch)
    expected = answers(plain)
    plain.close()
    assert expected["definition"] and expected["humps"] and expected["importers"]

    bulk = Store.open(tmp_path / "bulk.db")
    bulk.apply_batch(batches[0], defer_links=True)
    assert set(missing_in(bulk)) == set(indexes.DEFERRED)
    for batch in batches[1:]:
        bulk.apply_batch(batch, defer_links=True)
    # Half-way: the same answers without the indexes (imports unlinked yet).
    during = answers(bulk)
    assert {k: v for k, v in during.items() if k != "importers"} == {
        k: v for k, v in expected.items() if k != "importers"
    }
    bulk.relink_all()
    assert missing_in(bulk) == []
    assert answers(bulk) == expected
    assert bulk.integrity_check() == "ok"
    bulk.close()
    assert set(indexes.DEFERRED) <= index_names(tmp_path / "bulk.db")


def test_edits_keep_the_indexes(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "index.db")
    store.apply_batch(outcomes(10))
    store.apply_batch(outcomes(5, 3))
    assert missing_in(store) == []
    assert store.build_indexes() == []
    store.close()


_KILLED_MID_INDEX = textwrap.dedent(
    """
    import os, signal, sys
    import msgspec
    from axd.daemon.records import FileOutcome
    from axd.daemon.store.store import LINKS_PENDING, Store

    store = Store.open(sys.argv[1])
    batch = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=list[FileOutcome])
    store.apply_batch(batch, defer_links=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_sigkill_mid_first_index_then_open_builds_them(tmp_path: Path) -> None:
    import msgspec

    db = tmp_path / "index.db"
    batch = outcomes(60)
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_MID_INDEX, str(db)],
        input=msgspec.msgpack.encode(batch),
        capture_output=True,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    # Killed with the batch committed and the indexes dropped.
    assert not set(indexes.DEFERRED) & index_names(db)
    # Without the workspace root (a tool): the indexes only, links stay due.
    Store.open(db).close()
    assert set(indexes.DEFERRED) <= index_names(db)
    # The daemon's open: the imports of the batches written are resolved too
    # (a resumed first index links only its own batches).
    store = Store.open(db, root=tmp_path)
    assert store.integrity_check() == "ok"
    resumed = answers(store)
    with store.reader() as conn:
        assert (
            conn.execute(
                "SELECT 1 FROM meta WHERE key = ?", (LINKS_PENDING,)
            ).fetchone()
            is None
        )
    store.close()
    assert resumed["importers"]

    clean = Store.open(tmp_path / "clean.db")
    clean.apply_batch(batch)
    assert answers(clean) == resumed
    clean.close()


def test_a_snapshot_taken_mid_index_is_installed_with_them(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "index.db")
    store.apply_batch(outcomes(20), defer_links=True)
    store.checkpoint()
    store.close()
    copy = tmp_path / "snap.db"
    copy.write_bytes((tmp_path / "index.db").read_bytes())
    assert not set(indexes.DEFERRED) & index_names(copy)
    work = tmp_path / "work.db"
    prepare_for_install(copy, work, above=0)
    assert set(indexes.DEFERRED) <= index_names(work)


def test_deleting_and_rewriting_files_mid_index(tmp_path: Path) -> None:
    """Deletes and re-indexes during a first index (the cascades run
    without the name indexes): the same rows and answers as with them."""
    results = []
    for deferred in (False, True):
        store = Store.open(tmp_path / f"index-{deferred}.db")
        store.apply_batch(outcomes(30), defer_links=deferred)
        store.apply_batch(
            outcomes(10, 25), ["pkg/mod1.py", "pkg/mod2.py"], defer_links=deferred
        )
        if deferred:
            assert missing_in(store)
            store.relink_all()
        assert missing_in(store) == []
        results.append((answers(store), store.counts().files_indexed))
        store.close()
    assert results[0] == results[1]
    assert results[0][1] == 33
    paths = {path for path, *_ in results[0][0]["definition"]}  # type: ignore[attr-defined]
    assert "pkg/mod1.py" not in paths and "pkg/mod30.py" in paths
