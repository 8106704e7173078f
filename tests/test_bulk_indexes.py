"""A bulk first index builds its name indexes once at the end and stages its
references until then (store/indexes.py).

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
from axd.daemon.store.migrator import Migrator
from axd.daemon.store.snapshots import prepare_for_install
from axd.daemon.store.store import LINKS_PENDING, Store

if TYPE_CHECKING:
    from collections.abc import Callable
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


def edited(i: int) -> str:
    """`source(i)` after an edit that drops one name's uses, adds another's
    and moves a third's (each a different write of a reference row)."""
    return source(i).replace("return shared_helper(value) + ", "return other(0) + ")


def outcomes(
    count: int, start: int = 0, text: Callable[[int], str] = source
) -> list[FileOutcome]:
    made = []
    for i in range(start, start + count):
        path = f"pkg/mod{i}.py"
        data = text(i).encode()
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


def schema_names(path: Path, kind: str) -> set[str]:
    """The names of the database's objects of one `kind` (index, table)."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
        return {str(r[0]) for r in rows}
    finally:
        conn.close()


def index_names(path: Path) -> set[str]:
    return schema_names(path, "index")


def table_names(path: Path) -> set[str]:
    return schema_names(path, "table")


def stored_refs(store: Store) -> list[tuple[object, ...]]:
    """Every reference row, staged or not, by path (ids differ between stores)."""
    with store.reader() as conn:
        return sorted(
            conn.execute(
                f"SELECT f.path, r.name, r.spots FROM {indexes.refs_source(conn)} r"
                " JOIN files f ON f.id = r.file_id"
            ).fetchall()
        )


def staged(store: Store) -> int:
    """Reference rows waiting in the staging table (0: none, or no table)."""
    with store.reader() as conn:
        if not indexes.refs_pending(conn):
            return 0
        row = conn.execute(f"SELECT count(*) FROM {indexes.PENDING_REFS}").fetchone()
        assert row is not None
        return int(row[0])


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
            "references": [
                (r.path, r.range.start_line, r.kind)
                for r in query.references(conn, "shared_helper", limit=1000)
            ],
            "one_file": [
                r.path
                for r in query.references(conn, "shared_helper", path="pkg/mod3.py")
            ],
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
    expected_refs = stored_refs(plain)
    plain.close()
    assert expected["definition"] and expected["humps"] and expected["importers"]
    assert expected["references"] and expected["one_file"] == ["pkg/mod3.py"]

    bulk = Store.open(tmp_path / "bulk.db")
    bulk.apply_batch(batches[0], defer_links=True)
    assert set(missing_in(bulk)) == set(indexes.DEFERRED)
    for batch in batches[1:]:
        bulk.apply_batch(batch, defer_links=True)
    # Every reference is staged, none in `refs` yet.
    with bulk.reader() as conn:
        assert conn.execute("SELECT count(*) FROM refs").fetchone() == (0,)
    assert staged(bulk) == len(stored_refs(bulk)) > 0
    # Half-way: the same answers without the indexes (imports unlinked yet).
    during = answers(bulk)
    assert {k: v for k, v in during.items() if k != "importers"} == {
        k: v for k, v in expected.items() if k != "importers"
    }
    bulk.relink_all()
    assert missing_in(bulk) == []
    assert staged(bulk) == 0
    assert answers(bulk) == expected
    assert stored_refs(bulk) == expected_refs
    assert bulk.integrity_check() == "ok"
    bulk.close()
    assert set(indexes.DEFERRED) <= index_names(tmp_path / "bulk.db")
    assert indexes.PENDING_REFS not in table_names(tmp_path / "bulk.db")
    assert "refs_file" in index_names(tmp_path / "bulk.db")


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
    # Killed with the batch committed, the indexes dropped, references staged.
    assert not set(indexes.DEFERRED) & index_names(db)
    assert indexes.PENDING_REFS in table_names(db)
    # Without the workspace root (a tool): the indexes and references only,
    # links stay due.
    Store.open(db).close()
    assert set(indexes.DEFERRED) <= index_names(db)
    assert indexes.PENDING_REFS not in table_names(db)
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
    assert indexes.PENDING_REFS in table_names(copy)
    work = tmp_path / "work.db"
    prepare_for_install(copy, work, above=0)
    assert set(indexes.DEFERRED) <= index_names(work)
    assert indexes.PENDING_REFS not in table_names(work)
    installed = Store.open(work)
    assert len(stored_refs(installed)) == 20 * len(outcomes(1)[0].extraction.references)  # type: ignore[union-attr]
    installed.close()


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


def test_edits_mid_index_write_staged_references_as_stored_ones(tmp_path: Path) -> None:
    """Files re-indexed and deleted while references are staged: the
    rewrite finds, updates and deletes staged rows as it does stored ones."""
    found = []
    for deferred in (False, True):
        store = Store.open(tmp_path / f"index-{deferred}.db")
        store.apply_batch(outcomes(30), defer_links=deferred)
        store.apply_batch(
            outcomes(10, 5, edited), ["pkg/mod1.py"], defer_links=deferred
        )
        # A live edit between a first index's batches writes without links;
        # a file that is now skipped loses its rows.
        too_large = FileOutcome(
            path="pkg/mod3.py", status="skipped", skip_reason="too_large", size=1 << 30
        )
        store.apply_batch([*outcomes(2, 20, edited), too_large], ["pkg/mod2.py"])
        assert (staged(store) > 0) is deferred
        during = (stored_refs(store), answers(store))
        if deferred:
            store.relink_all()
        assert staged(store) == 0
        found.append((during, stored_refs(store)))
        store.close()
    (plain_during, plain_after), (bulk_during, bulk_after) = found
    assert bulk_during[0] == plain_during[0] == plain_after == bulk_after
    assert bulk_during[1]["references"] == plain_during[1]["references"]
    names = {name for _, name, _ in plain_after}
    assert "other" in names
    edited_uses = {path for path, name, _ in plain_after if name == "shared_helper"}
    assert "pkg/mod7.py" not in edited_uses and "pkg/mod4.py" in edited_uses
    gone = ("pkg/mod1.py", "pkg/mod2.py", "pkg/mod3.py")
    assert not any(path in gone for path, _, _ in plain_after)


def test_a_schema_change_takes_the_staged_references_along(tmp_path: Path) -> None:
    """Migrations know `refs` only: `Migrator` moves staged rows there before
    a step runs, so no staging table outlives the schema that made it (a
    later `ensure` would move stale rows into a `refs` rebuilt meanwhile)."""
    db = tmp_path / "index.db"
    store = Store.open(db)
    store.apply_batch(outcomes(12), defer_links=True)
    store.close()
    assert indexes.PENDING_REFS in table_names(db)
    conn = apsw.Connection(str(db))
    try:
        Migrator(conn).rollback(2)  # refs back to one row per use, emptied
        assert indexes.PENDING_REFS not in table_names(db)
        Migrator(conn).migrate()
    finally:
        conn.close()
    store = Store.open(db)
    try:
        store.apply_batch(outcomes(12))  # re-indexed, as after a real rollback
        assert store.integrity_check() == "ok"
        assert {path for path, _, _ in stored_refs(store)} == {
            f"pkg/mod{i}.py" for i in range(12)
        }
    finally:
        store.close()


async def test_snapshots_across_the_end_of_a_first_index(tmp_path: Path) -> None:
    """A snapshot taken mid-index (references staged), then the end of the
    index (the staging table dropped: a schema change the snapshot session
    cannot record), then another snapshot: the second is full and rebuilds
    the index, and the first installs as a complete one."""
    from axd.daemon.store.incremental import Limits
    from axd.daemon.store.snapshots import SnapshotDir
    from axd.daemon.store.writer import Writer

    store = Store.open(tmp_path / "index.db")
    writer = Writer(store)
    directory = SnapshotDir(tmp_path / "snapshots")
    limits = Limits(chain_max=20, max_fraction=100.0)  # incremental when it can be
    try:
        await writer.apply_batch(outcomes(20), [], defer_links=True)
        during = await writer.snapshot(
            directory, label=None, kind="manual", limits=limits
        )
        await writer.apply_batch(outcomes(20, 20), [], defer_links=True)
        assert staged(store) > 0
        await writer.relink_all()
        assert staged(store) == 0
        await writer.apply_batch(outcomes(5, 40, edited), [])
        after = await writer.snapshot(
            directory, label=None, kind="manual", limits=limits
        )
        expected = (stored_refs(store), answers(store))
        # With no schema change in between, the next one is a changeset.
        await writer.apply_batch(outcomes(3, 45), [])
        later = await writer.snapshot(
            directory, label=None, kind="manual", limits=limits
        )
        expected_later = stored_refs(store)
    finally:
        await writer.close()
    assert (during.storage, after.storage, later.storage) == (
        "full",
        "full",
        "incremental",
    )
    for snapshot, refs in ((after, expected[0]), (later, expected_later)):
        with directory.materialised(snapshot.id) as rebuilt:
            work = tmp_path / f"{snapshot.id}.db"
            prepare_for_install(rebuilt, work, above=0)
        assert indexes.PENDING_REFS not in table_names(work)
        installed = Store.open(work)
        try:
            assert stored_refs(installed) == refs
            if snapshot is after:
                assert answers(installed) == expected[1]
            assert installed.integrity_check() == "ok"
        finally:
            installed.close()
    with directory.materialised(during.id) as rebuilt:
        assert indexes.PENDING_REFS in table_names(rebuilt)
        prepare_for_install(rebuilt, tmp_path / "during.db", above=0)
    installed = Store.open(tmp_path / "during.db")
    try:
        assert {path for path, _, _ in stored_refs(installed)} == {
            f"pkg/mod{i}.py" for i in range(20)
        }
    finally:
        installed.close()


async def test_a_snapshot_before_a_first_index_is_followed_by_a_full_one(
    tmp_path: Path,
) -> None:
    """A snapshot of the empty index, then a bulk first index (its first batch
    changes the schema: a session cannot record the staging table's birth
    faithfully), then a snapshot: full, with every staged reference."""
    from axd.daemon.store.incremental import Limits
    from axd.daemon.store.snapshots import SnapshotDir
    from axd.daemon.store.writer import Writer

    store = Store.open(tmp_path / "index.db")
    writer = Writer(store)
    directory = SnapshotDir(tmp_path / "snapshots")
    limits = Limits(chain_max=20, max_fraction=100.0)
    try:
        empty = await writer.snapshot(
            directory, label=None, kind="manual", limits=limits
        )
        await writer.apply_batch(outcomes(15), [], defer_links=True)
        await writer.apply_batch(outcomes(15, 15), [], defer_links=True)
        during = await writer.snapshot(
            directory, label=None, kind="manual", limits=limits
        )
        expected = stored_refs(store)
    finally:
        await writer.close()
    assert (empty.storage, during.storage) == ("full", "full")
    with directory.materialised(during.id) as rebuilt:
        prepare_for_install(rebuilt, tmp_path / "during.db", above=0)
    installed = Store.open(tmp_path / "during.db")
    try:
        assert stored_refs(installed) == expected
        assert len({path for path, _, _ in expected}) == 30
    finally:
        installed.close()
