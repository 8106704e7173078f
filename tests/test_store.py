"""Store: batches replace rows atomically, generations, counts, file states."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import apsw
import msgspec
import pytest
from store_records import FileSpec, Sym, indexed, plain, skipped

from axd.daemon.records import FileOutcome
from axd.daemon.store import maintenance
from axd.daemon.store.store import Store, StoreClosedError, read_generation

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

HELPERS = FileSpec(
    "util/helpers.py",
    'def slugify(text):\n    """Turn text into a slug."""\n    return text.lower()\n',
    symbols=[Sym("slugify", end_needle="lower()", docstring="Turn text into a slug.")],
    refs=[("lower", "call", "lower")],
    imports=[],
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "index.db", root=tmp_path)
    yield opened
    opened.close()


def table_counts(store: Store) -> dict[str, int]:
    out = {}
    with store.reader() as conn:
        for table in ("files", "chunks", "symbols", "refs", "imports"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            out[table] = int(row[0])
        fts = conn.execute(
            "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'slugify OR beta'"
        ).fetchone()
        assert fts is not None
        out["fts_hits"] = int(fts[0])
    return out


def test_new_store_is_empty_at_generation_zero(store: Store) -> None:
    assert store.generation == 0
    assert store.counts().files_indexed == 0
    assert store.file_states() == {}
    assert store.integrity_check() == "ok"


def test_batch_adds_files_and_bumps_generation_by_one(store: Store) -> None:
    result = store.apply_batch(
        [indexed(HELPERS), plain("b.py", "def beta(): pass\n")], []
    )
    assert result.generation == 1 and result.bumped
    assert sorted(result.changes) == [("b.py", "added"), ("util/helpers.py", "added")]
    assert result.files_indexed == 2
    counts = store.counts()
    assert counts.files_indexed == 2 and counts.chunks == 2 and counts.symbols == 1
    assert counts.languages == {"python": 2}
    with store.reader() as conn:
        assert read_generation(conn) == 1


def test_reindex_replaces_every_row_of_the_file(store: Store) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    before = table_counts(store)
    changed = FileSpec(
        HELPERS.path,
        "def beta():\n    return 2\n",
        symbols=[Sym("beta")],
        split_lines=[2],
    )
    result = store.apply_batch([indexed(changed)], [])
    assert result.changes == [("util/helpers.py", "modified")]
    after = table_counts(store)
    assert before["symbols"] == 1 and after["symbols"] == 1
    assert after["chunks"] == 2 and after["refs"] == 0
    with store.reader() as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM symbols")]
        hits = conn.execute(
            "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH 'slugify'"
        ).fetchone()
    assert names == ["beta"]
    assert hits == (0,)  # the old FTS rows went with the old chunks


def test_unchanged_updates_only_stat_fields(store: Store) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    outcome = FileOutcome(path=HELPERS.path, status="unchanged", size=99, mtime_ns=42)
    result = store.apply_batch([outcome], [])
    assert not result.bumped and result.generation == 1 and result.changes == []
    state = store.file_states()[HELPERS.path]
    assert (state.size, state.mtime_ns, state.status) == (99, 42, "indexed")
    assert store.counts().symbols == 1


def test_counts_are_read_again_only_after_the_generation_moved(store: Store) -> None:
    # The metrics refresh asks every few seconds; an idle index must not be
    # scanned each time, and a change must show at once.
    store.apply_batch([indexed(HELPERS)], [])
    first = store.counts()
    assert store.counts() is first  # nothing written: not read again
    touched = FileOutcome(path=HELPERS.path, status="unchanged", size=7, mtime_ns=1)
    store.apply_batch([touched], [])  # sizes only: no new generation
    assert store.counts() is first
    store.apply_batch([plain("b.py", "def beta(): pass\n")], [])
    second = store.counts()
    assert second is not first
    assert (first.files_indexed, second.files_indexed) == (1, 2)
    store.apply_batch([], ["b.py"])
    third = store.counts()
    assert third.files_indexed == 1
    with store.exclusive():  # restores and migrations: read again afterwards
        pass
    assert store.counts() is not third
    assert store.counts().files_indexed == 1


def test_empty_batch_does_not_bump(store: Store) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    result = store.apply_batch([], [])
    assert result.generation == 1 and not result.bumped
    assert store.apply_batch([], ["never/was/here.py"]).generation == 1


def test_skipped_files_are_counted_by_reason_without_content(store: Store) -> None:
    result = store.apply_batch(
        [skipped("big.bin", "too_large", "3 MiB"), skipped("x.png"), skipped("y.png")],
        [],
    )
    assert result.bumped and result.changes == [] and result.files_skipped == 3
    counts = store.counts()
    assert counts.files_skipped == {"too_large": 1, "binary": 2}
    assert counts.files_indexed == 0
    info = store.file_info("big.bin")
    assert info is not None and not info.indexed
    assert (info.skip_reason, info.detail, info.chunks) == ("too_large", "3 MiB", 0)
    # The same skip again changes nothing.
    assert not store.apply_batch([skipped("x.png")], []).bumped


def test_indexed_file_becoming_skipped_is_deleted_and_back_is_added(
    store: Store,
) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    result = store.apply_batch([skipped(HELPERS.path, "too_large")], [])
    assert result.changes == [(HELPERS.path, "deleted")]
    assert table_counts(store)["symbols"] == 0
    result = store.apply_batch([indexed(HELPERS)], [])
    assert result.changes == [(HELPERS.path, "added")]


def test_deleted_and_missing_files_vanish_with_their_rows(store: Store) -> None:
    store.apply_batch([indexed(HELPERS), plain("b.py", "def beta(): pass\n")], [])
    missing = FileOutcome(path="b.py", status="missing")
    result = store.apply_batch([missing], [HELPERS.path])
    assert sorted(result.changes) == [("b.py", "deleted"), (HELPERS.path, "deleted")]
    assert result.generation == 2
    assert table_counts(store) == {
        "files": 0, "chunks": 0, "symbols": 0, "refs": 0, "imports": 0, "fts_hits": 0
    }  # fmt: skip
    assert store.file_info("b.py") is None


def _broken(kind: str) -> FileOutcome:
    good = indexed(HELPERS)
    assert good.extraction is not None
    if kind == "sqlite":
        # NOT NULL violated on insert: fails inside SQLite, after the deletes.
        chunk = msgspec.structs.replace(good.extraction.chunks[0], text=None)
        ex = msgspec.structs.replace(good.extraction, chunks=[chunk])
    else:
        ex = msgspec.structs.replace(good.extraction, symbols=None)
    return msgspec.structs.replace(good, path="zzz.py", extraction=ex)


@pytest.mark.parametrize("kind", ["sqlite", "python"])
def test_failing_batch_rolls_back_completely(store: Store, kind: str) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    before = table_counts(store)
    good = plain("c.py", "def gamma(): pass\n")
    with pytest.raises((apsw.Error, TypeError)):
        store.apply_batch([good, _broken(kind)], [HELPERS.path])
    assert store.generation == 1
    assert table_counts(store) == before
    assert set(store.file_states()) == {HELPERS.path}
    # The store still works after the failed batch.
    assert store.apply_batch([good], []).generation == 2


def test_generation_survives_reopen_and_bump(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "i.db")
    store.apply_batch([indexed(HELPERS)], [])
    store.checkpoint()
    store.close()
    reopened = Store.open(tmp_path / "i.db", quick_check=True)
    try:
        assert reopened.generation == 1
        assert reopened.bump_generation(at_least=10) == 11
        assert reopened.last_indexed_at() is not None
    finally:
        reopened.close()
    with pytest.raises(StoreClosedError):
        reopened.apply_batch([], [])


def test_file_states_and_info(store: Store) -> None:
    store.apply_batch([indexed(HELPERS, mtime_ns=7, version=3)], [])
    state = store.file_states()[HELPERS.path]
    assert state.mtime_ns == 7 and state.extractor_version == 3
    assert state.language == "python" and state.content_hash
    info = store.file_info(HELPERS.path)
    assert info is not None
    assert (info.indexed, info.chunks, info.symbols, info.generation) == (True, 1, 1, 1)


def test_readers_see_a_snapshot_while_the_writer_commits(store: Store) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    with store.reader() as conn:
        assert read_generation(conn) == 1
        store.apply_batch([plain("b.py", "x = 1\n")], [])  # commits meanwhile
        assert read_generation(conn) == 1  # same snapshot inside the block
        row = conn.execute("SELECT count(*) FROM files").fetchone()
        assert row == (1,)
    with store.reader() as conn:
        assert read_generation(conn) == 2


def test_readers_from_many_threads(store: Store) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    errors: list[Exception] = []

    def work() -> None:
        try:
            for _ in range(50):
                with store.reader() as conn:
                    assert conn.execute("SELECT count(*) FROM symbols").fetchone() == (
                        1,
                    )
        except (AssertionError, apsw.Error) as exc:  # checked below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        store.apply_batch([plain("b.py", "x = 1\n")], ["b.py"])
    for thread in threads:
        thread.join()
    assert not errors


def test_reader_connections_cannot_write(store: Store) -> None:
    with store.reader() as conn, pytest.raises(apsw.ReadOnlyError):
        conn.execute("DELETE FROM files")


def test_backup_and_restore_keep_generations_growing(
    store: Store, tmp_path: Path
) -> None:
    store.apply_batch([indexed(HELPERS)], [])
    maintenance.backup(store, tmp_path / "snap.db")
    store.apply_batch([plain("b.py", "x = 1\n")], [HELPERS.path])
    assert store.generation == 2
    generation = maintenance.restore(store, tmp_path / "snap.db")
    assert generation == 3
    assert set(store.file_states()) == {HELPERS.path}
    with store.reader() as conn:
        assert read_generation(conn) == 3
    assert store.integrity_check() == "ok"
