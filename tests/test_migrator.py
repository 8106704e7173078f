"""Migrations runner: apply, checksums, status, rollback, backup/restore."""

from __future__ import annotations

import shutil
from importlib import resources
from typing import TYPE_CHECKING

import apsw
import pytest

from axd.daemon.store import maintenance, migrator
from axd.daemon.store.migrator import MigrationChecksumError, MigrationError, Migrator
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A private copy of the first shipped migration plus a second one."""
    folder = tmp_path / "migrations"
    folder.mkdir()
    for entry in resources.files("axd.migrations").iterdir():
        if entry.name.startswith("0001_") and entry.name.endswith(".sql"):
            (folder / entry.name).write_text(entry.read_text(encoding="utf-8"))
    (folder / "0002_notes.up.sql").write_text(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"
    )
    (folder / "0002_notes.down.sql").write_text("DROP TABLE notes;\n")
    return folder


def tables(conn: apsw.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {str(r[0]) for r in rows}


def test_shipped_migrations_are_discovered_in_order() -> None:
    found = migrator.discover()
    assert [m.version for m in found] == sorted(m.version for m in found)
    assert found[0].version == 1 and found[0].name == "initial"
    assert found[0].down_sql is not None
    assert len(found[0].checksum) == 64


def test_apply_records_each_migration(tmp_path: Path, source: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "db"))
    runner = Migrator(conn, source)
    assert runner.status().pending[0].version == 1
    applied = runner.migrate()
    assert [m.version for m in applied] == [1, 2]
    assert {"files", "chunks", "notes", "schema_migrations"} <= tables(conn)
    status = runner.status()
    assert (status.current, status.latest, status.pending, status.modified) == (
        2,
        2,
        [],
        [],
    )
    assert [m.name for m in status.applied] == ["initial", "notes"]
    assert all(m.applied_at and m.applied_at.endswith("Z") for m in status.applied)
    assert runner.migrate() == []  # idempotent


def test_migrate_to_a_target_then_the_rest(tmp_path: Path, source: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "db"))
    runner = Migrator(conn, source)
    assert [m.version for m in runner.migrate(target=1)] == [1]
    status = runner.status()
    assert status.current == 1 and [m.version for m in status.pending] == [2]
    assert [m.version for m in runner.migrate()] == [2]


def test_a_modified_applied_migration_is_refused(tmp_path: Path, source: Path) -> None:
    db = tmp_path / "db"
    Migrator(apsw.Connection(str(db)), source).migrate()
    with (source / "0002_notes.up.sql").open("a") as handle:
        handle.write("-- edited after the fact\n")
    conn = apsw.Connection(str(db))
    runner = Migrator(conn, source)
    assert [m.version for m in runner.status().modified] == [2]
    with pytest.raises(MigrationChecksumError, match=r"0002_notes\.up\.sql"):
        runner.migrate()
    with pytest.raises(MigrationChecksumError, match="modified"):
        Store.open(db, migrations=source)


def test_a_failing_migration_leaves_no_trace(tmp_path: Path, source: Path) -> None:
    (source / "0003_broken.up.sql").write_text(
        "CREATE TABLE half (x INTEGER);\nTHIS IS NOT SQL;\n"
    )
    conn = apsw.Connection(str(tmp_path / "db"))
    runner = Migrator(conn, source)
    with pytest.raises(apsw.SQLError):
        runner.migrate()
    assert "half" not in tables(conn)
    status = runner.status()
    assert status.current == 2 and [m.version for m in status.pending] == [3]


def test_rollback_runs_down_files(tmp_path: Path, source: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "db"))
    runner = Migrator(conn, source)
    runner.migrate()
    undone = runner.rollback(1)
    assert [m.version for m in undone] == [2]
    assert "notes" not in tables(conn) and "files" in tables(conn)
    assert runner.status().current == 1
    runner.rollback(0)
    assert tables(conn) == {"schema_migrations"}
    assert [m.version for m in runner.migrate()] == [1, 2]


def test_rollback_without_down_file_is_an_error(tmp_path: Path, source: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "db"))
    runner = Migrator(conn, source)
    runner.migrate()
    (source / "0002_notes.down.sql").unlink()
    with pytest.raises(MigrationError, match="no down file"):
        Migrator(conn, source).rollback(0)


def test_database_from_a_newer_axd_is_refused(tmp_path: Path, source: Path) -> None:
    db = tmp_path / "db"
    Migrator(apsw.Connection(str(db)), source).migrate()
    older = tmp_path / "older"
    older.mkdir()
    shutil.copy(source / "0001_initial.up.sql", older)
    with pytest.raises(MigrationError, match="newer"):
        Migrator(apsw.Connection(str(db)), older).migrate()


def test_backup_restore_round_trip(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "live.db")
    try:
        store.bump_generation()
        migrator.backup(store.path, tmp_path / "copy.db")
        copy = apsw.Connection(str(tmp_path / "copy.db"))
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        row = copy.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        assert row == (1,)
        copy.close()
        store.bump_generation()
        generation = maintenance.restore(store, tmp_path / "copy.db")
        assert generation == 3  # above everything before
        assert maintenance.db_status(store).current == len(migrator.discover())
    finally:
        store.close()


def test_restore_from_a_non_database_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    conn = apsw.Connection(str(tmp_path / "db"))
    with pytest.raises(MigrationError):
        migrator.restore(conn, junk)
    with pytest.raises(MigrationError, match="does not exist"):
        migrator.restore(conn, tmp_path / "absent.db")
