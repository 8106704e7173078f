"""Schema and file operations on a live store: status, migrate, roll back,
back up, restore. Each holds the store's writer alone (`Store.exclusive`).

A migrate or rollback runs every step inside one outer transaction (apsw
turns the migrator's own ``with conn`` blocks into savepoints), so a failure
mid-way leaves the database exactly as it was (Flyway's "all or nothing" on
a transactional database). Restores go through `snapshots.prepare_for_install`
and `snapshots.install`: the file is checked and migrated on a copy first.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from axd.daemon.store.migrator import MigrationError, Migrator, discover
from axd.daemon.store.snapshots import (
    copy_consistent,
    install,
    prepare_for_install,
    scratch,
    sha256_of,
)

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from axd.daemon.store.store import Store
    from axd.protocol.snapshots import DbStatus, Migration


def db_status(store: Store) -> DbStatus:
    """Migration status, the shape of PROTOCOL.md's ``db.status``."""
    with store.exclusive() as conn:
        return Migrator(conn).status()


def plan(
    status: DbStatus, target: int | None, source: Traversable | Path | None = None
) -> list[tuple[int, str, str]]:
    """(version, name, SQL) of each up migration `migrate` would run."""
    current = status.current
    return [
        (m.version, m.name, m.up_sql)
        for m in discover(source)
        if m.version > current and (target is None or m.version <= target)
    ]


def plan_rollback(status: DbStatus, target: int) -> list[tuple[int, str, str]]:
    """(version, name, SQL) of each down migration `rollback` would run.

    :raises MigrationError: one of them has no down file.
    """
    files = {m.version: m for m in discover()}
    steps = []
    for applied in reversed(status.applied):
        if applied.version <= target:
            break
        found = files.get(applied.version)
        if found is None or found.down_sql is None:
            raise MigrationError(
                f"cannot roll back {applied.version:04d}_{applied.name}: no down file"
            )
        steps.append((applied.version, applied.name, found.down_sql))
    return steps


def migrate(store: Store, target: int | None = None) -> list[Migration]:
    """Apply pending migrations up to `target`, all in one transaction."""
    applied: list[Migration] = []
    with store.exclusive() as conn, conn:
        applied = Migrator(conn).migrate(target)
    return applied


def rollback(store: Store, target: int) -> list[Migration]:
    """Run down migrations until `target` is current, in one transaction."""
    undone: list[Migration] = []
    with store.exclusive() as conn, conn:
        undone = Migrator(conn).rollback(target)
    return undone


def backup(store: Store, dest: str | Path) -> tuple[int, str, str]:
    """A consistent copy of the live database at `dest` (must not exist);
    (size, sha256, path)."""
    target = Path(dest)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    copy_consistent(store.path, target)
    return target.stat().st_size, sha256_of(target), str(target)


def restore(store: Store, src: str | Path) -> int:
    """Replace the index with the database at `src`; the new generation.

    The file is verified and migrated on a copy, given a generation above
    every one handed out before (PROTOCOL.md, snapshot.restore), then copied
    in one transaction. The caller reconciles with the disk afterwards.

    :raises snapshots.SnapshotInvalidError: `src` is not a usable index.
    """
    with (
        scratch(store.path.parent, "restore") as work,
        store.exclusive() as conn,
    ):
        generation = prepare_for_install(Path(src), work, above=store.generation)
        install(conn, work)
    return generation


def previous_version(status: DbStatus) -> int:
    """The version a plain rollback goes back to (undo the newest one)."""
    applied = status.applied
    return applied[-2].version if len(applied) >= 2 else 0
