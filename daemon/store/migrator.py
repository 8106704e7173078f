"""Schema migrations: numbered SQL files applied in order, with checksums.

Files are ``NNNN_name.up.sql`` / ``NNNN_name.down.sql`` in the ``axd.migrations``
package (or any directory, for tests). Each migration runs in one transaction
together with its row in ``schema_migrations`` (sqlite-utils' ``Migrations``
does the same), so a crash leaves either both or neither. The SHA-256 of an
applied up file is recorded; if the file changes afterwards the database is
refused, because the schema on disk no longer matches what the code says it
is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import apsw

from axd.daemon.clock import utc_now
from axd.daemon.store import indexes
from axd.protocol.snapshots import DbStatus, Migration

if TYPE_CHECKING:
    from collections.abc import Iterator
    from importlib.resources.abc import Traversable

_FILE = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.(up|down)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TEXT NOT NULL
) STRICT
"""


class MigrationError(Exception):
    """The migrations cannot be applied or rolled back as asked."""


class MigrationChecksumError(MigrationError):
    """An applied migration's file changed after it was applied."""


@dataclass(frozen=True, slots=True)
class MigrationFile:
    """One numbered migration as found on disk."""

    version: int
    name: str
    up_file: str
    up_sql: str
    down_sql: str | None

    @property
    def checksum(self) -> str:
        """SHA-256 of the up file's bytes as UTF-8, hex."""
        return hashlib.sha256(self.up_sql.encode("utf-8")).hexdigest()


def _entries(source: Traversable | Path) -> Iterator[tuple[str, str]]:
    for entry in source.iterdir():
        if _FILE.match(entry.name) and entry.is_file():
            yield entry.name, entry.read_text(encoding="utf-8")


def discover(source: Traversable | Path | None = None) -> list[MigrationFile]:
    """Every migration in `source` (default: the ``axd.migrations`` package).

    :raises MigrationError: two files claim one version, or a down file has
        no up file.
    """
    root = source if source is not None else resources.files("axd.migrations")
    ups: dict[int, tuple[str, str, str]] = {}
    downs: dict[int, str] = {}
    for filename, text in _entries(root):
        match = _FILE.match(filename)
        assert match is not None  # _entries only yields matching names
        version, name, direction = int(match[1]), match[2], match[3]
        if direction == "up":
            if version in ups:
                raise MigrationError(
                    f"two up migrations for version {version}: "
                    f"{ups[version][0]} and {filename}"
                )
            ups[version] = (filename, name, text)
        else:
            downs[version] = text
    orphans = sorted(set(downs) - set(ups))
    if orphans:
        raise MigrationError(f"down migration without an up file: version {orphans[0]}")
    return [
        MigrationFile(version, name, filename, text, downs.get(version))
        for version, (filename, name, text) in sorted(ups.items())
    ]


class Migrator:
    """Applies, verifies and rolls back migrations on one connection.

    The connection must not be inside a transaction; each step opens its own.
    """

    def __init__(
        self, conn: apsw.Connection, source: Traversable | Path | None = None
    ) -> None:
        self._conn = conn
        self._files = discover(source)
        conn.execute(_CREATE_TABLE)

    @property
    def files(self) -> list[MigrationFile]:
        """Migrations found on disk, in version order."""
        return list(self._files)

    def _applied(self) -> list[Migration]:
        rows = self._conn.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations"
            " ORDER BY version"
        ).fetchall()
        return [
            Migration(version=v, name=str(n), checksum=str(c), applied_at=str(a))
            for v, n, c, a in rows
            if isinstance(v, int)
        ]

    def status(self) -> DbStatus:
        """Current and latest versions, applied, pending and modified ones."""
        applied = self._applied()
        by_version = {f.version: f for f in self._files}
        done = {m.version for m in applied}
        modified = [
            m
            for m in applied
            if m.version in by_version and by_version[m.version].checksum != m.checksum
        ]
        pending = [
            Migration(version=f.version, name=f.name, checksum=f.checksum)
            for f in self._files
            if f.version not in done
        ]
        return DbStatus(
            current=max(done, default=0),
            latest=max(by_version, default=0),
            applied=applied,
            pending=pending,
            modified=modified,
        )

    def verify(self) -> None:
        """Refuse a database whose applied migrations no longer match the files.

        :raises MigrationChecksumError: an applied migration's file changed.
        :raises MigrationError: the database was migrated by a newer axd.
        """
        by_version = {f.version: f for f in self._files}
        for migration in self._applied():
            found = by_version.get(migration.version)
            if found is None:
                raise MigrationError(
                    f"database has migration {migration.version:04d}_{migration.name}"
                    " which this axd does not know (written by a newer version?)"
                )
            if found.checksum != migration.checksum:
                raise MigrationChecksumError(
                    f"migration file {found.up_file} was modified after it was"
                    f" applied (recorded sha256 {migration.checksum[:12]}…, file"
                    f" sha256 {found.checksum[:12]}…); restore the file or the database"
                )

    def migrate(self, target: int | None = None) -> list[Migration]:
        """Apply pending migrations up to `target` (default: all), in order.

        :raises MigrationChecksumError: see `verify`.
        """
        self.verify()
        done = {m.version for m in self._applied()}
        applied: list[Migration] = []
        for migration in self._files:
            if migration.version in done:
                continue
            if target is not None and migration.version > target:
                break
            stamp = utc_now("seconds")
            with self._conn:  # one transaction: the schema change and its record
                self._unstage()
                self._conn.execute(migration.up_sql)
                self._conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                    " VALUES (?, ?, ?, ?)",
                    (migration.version, migration.name, migration.checksum, stamp),
                )
            applied.append(
                Migration(
                    version=migration.version,
                    name=migration.name,
                    checksum=migration.checksum,
                    applied_at=stamp,
                )
            )
        return applied

    def _unstage(self) -> None:
        """References a bulk first index staged (store/indexes.py) into
        `refs` before a schema change: migrations know `refs` only."""
        if indexes.refs_pending(self._conn):
            indexes.move_pending_refs(self._conn)

    def rollback(self, to_version: int) -> list[Migration]:
        """Run down files, newest first, until `to_version` is the current one.

        :raises MigrationError: a migration to undo has no down file.
        """
        by_version = {f.version: f for f in self._files}
        undone: list[Migration] = []
        for migration in reversed(self._applied()):
            if migration.version <= to_version:
                break
            found = by_version.get(migration.version)
            if found is None or found.down_sql is None:
                raise MigrationError(
                    f"cannot roll back {migration.version:04d}_{migration.name}:"
                    " no down file"
                )
            with self._conn:
                self._unstage()
                self._conn.execute(found.down_sql)
                self._conn.execute(
                    "DELETE FROM schema_migrations WHERE version = ?",
                    (migration.version,),
                )
            undone.append(migration)
        return undone


def backup(db_path: str | Path, dest: str | Path) -> None:
    """Copy the database at `db_path` to `dest` with SQLite's online backup.

    Uses its own read connection and copies in one step, so the copy is one
    consistent snapshot even while the daemon writes (WAL readers do not block
    the writer).
    """
    source = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    target = apsw.Connection(str(dest))
    try:
        with target.backup("main", source, "main") as step:
            step.step(-1)
    finally:
        target.close()
        source.close()


def restore(conn: apsw.Connection, src: str | Path) -> None:
    """Replace the contents of `conn`'s database with the database at `src`.

    The copy runs on `conn` (normally the single writer), which takes the
    write lock for its duration; readers keep their old snapshot until their
    read transaction ends. The caller migrates/verifies afterwards.

    :raises MigrationError: `src` is not a readable SQLite database.
    """
    if not Path(src).is_file():
        raise MigrationError(f"backup file {src} does not exist")
    source = apsw.Connection(str(src), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        source.execute("PRAGMA schema_version").fetchall()  # fails on non-databases
        with conn.backup("main", source, "main") as step:
            step.step(-1)
    except apsw.NotADBError as exc:
        raise MigrationError(f"{src} is not an SQLite database") from exc
    finally:
        source.close()
