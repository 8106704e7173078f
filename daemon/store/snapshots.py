"""Snapshots of one workspace's index: consistent copies kept beside it.

Layout, under the workspace's state directory::

    snapshots/<id>.db     a standalone SQLite file (rollback-journal mode)
    snapshots/<id>.changeset  an incremental snapshot: the changes since its
                          parent snapshot (see `incremental`)
    snapshots/<id>.json   its manifest; written last, so it is the commit point

A snapshot is a copy of one read transaction of a read-only connection of
its own, so it is consistent while the daemon keeps writing (WAL readers
never block the writer): the daemon's full snapshots open that transaction
in the write slot, next to the start of the record of changes for the next
incremental one, and copy it outside the slot with SQLite's online backup
(`copy_from`, compacted afterwards when it holds many free pages); `create`
(the offline tool) uses ``VACUUM INTO``. It is written under a temporary name, checked with ``PRAGMA quick_check``, fsynced and
renamed into place; only then is the manifest written (temporary name,
fsync, rename, directory fsync). A crash at any point leaves either no
snapshot or a complete one: files without a manifest are debris, removed
by `sweep`. Never a file copy of a live WAL database.

Restoring copies the snapshot to a temporary file, migrates it there and
sets its generation above the live one, checks it, and only then copies it
into the live database with SQLite's online backup in one write transaction
(see `install`): readers in flight keep their old WAL snapshot, and a crash
leaves the old index or the new one, nothing between.

An incremental snapshot (made by `incremental.Chain`) is a changeset on its
parent; reading one (`materialised`, `verify`) applies the chain from its
full base to a temporary copy and checks that. Retention and deletion never
leave a snapshot without its parent (`prune`, `delete`).

Size: the snapshot directory's one class; its chain reading and retention
share the manifest walk, split they would need each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import apsw
import msgspec

from axd.daemon.store import indexes
from axd.daemon.store.migrator import MigrationError, Migrator, discover

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

FORMAT = 1
# Snapshot kinds: "manual" and "import" are made by people; "auto",
# "pre-restore", "pre-migrate" and "pre-db-restore" by the daemon.
MANUAL_KINDS = frozenset({"manual", "import"})


class SnapshotError(Exception):
    """A snapshot cannot be made, read or used."""


class SnapshotNotFoundError(SnapshotError):
    """No snapshot with that id."""


class SnapshotInvalidError(SnapshotError):
    """A snapshot file failed verification (checksum, SQLite, quick_check)."""


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """What a snapshot is: written next to it and inside exported files."""

    format: int = FORMAT
    id: str
    label: str | None = None
    kind: str = "manual"
    created_at: str
    generation: int
    schema_version: int
    size_bytes: int
    sha256: str  # of the data file (.db, or .changeset for an incremental one)
    # "full" (a standalone .db) or "incremental" (a changeset on `parent`,
    # whose chain starts at the full snapshot `base`).
    storage: str = "full"
    parent: str | None = None
    base: str | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Manifest)


def utc_now() -> str:
    """RFC 3339 UTC, seconds precision."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def new_id() -> str:
    """Sortable by creation time, unique: ``20261206T111600Z-3fa2``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def fsync_path(path: Path) -> None:
    """fsync a file or a directory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file, fsync, rename."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_path(path.parent)


def _single(conn: apsw.Connection, pragma: str) -> str:
    return "\n".join(str(row[0]) for row in conn.execute(f"PRAGMA {pragma}"))


@dataclass(frozen=True, slots=True)
class DbFacts:
    """What a standalone database file says about itself."""

    generation: int
    schema_version: int


def inspect(path: Path, *, check: bool = True) -> DbFacts:
    """Verify that `path` is an axd index database and read its facts.

    :raises SnapshotInvalidError: not SQLite, damaged, or not an axd index.
    """
    try:
        conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error as exc:
        raise SnapshotInvalidError(f"{path}: cannot open: {exc}") from exc
    try:
        if check:
            result = _single(conn, "quick_check")
            if result != "ok":
                raise SnapshotInvalidError(f"{path}: quick_check failed: {result}")
        tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master")}
        # A database rolled back to version 0 has neither table: schema 0.
        row = version = None
        if "meta" in tables:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = 'generation'"
            ).fetchone()
        if "schema_migrations" in tables:
            version = conn.execute(
                "SELECT max(version) FROM schema_migrations"
            ).fetchone()
    except apsw.Error as exc:
        raise SnapshotInvalidError(
            f"{path} is not an axd index database ({type(exc).__name__}: {exc})"
        ) from exc
    finally:
        conn.close()
    return DbFacts(
        generation=int(row[0]) if row else 0,
        schema_version=int(version[0]) if version and version[0] is not None else 0,
    )


def copy_consistent(db_path: Path, dest: Path) -> None:
    """A consistent, compact copy of a live WAL database (``VACUUM INTO``),
    fsynced, in rollback-journal mode. `dest` must not exist."""
    source = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        source.set_busy_timeout(5_000)
        source.execute("VACUUM INTO ?", (str(dest),))
    finally:
        source.close()
    os.chmod(dest, 0o600)
    fsync_path(dest)


# Pages copied per step of `copy_from` (SQLite's online backup). Between
# steps `copy_progress`, when set, is told (remaining, total) pages: how a
# caller follows a long copy (the tests hold one mid-copy through it).
COPY_STEP_PAGES = 4096
copy_progress: Callable[[int, int], None] | None = None


def open_read_state(db_path: Path) -> apsw.Connection:
    """A read-only connection inside a read transaction: the database as it
    is now, kept (WAL) until the connection is closed, whatever is written
    meanwhile."""
    conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        conn.set_busy_timeout(5_000)
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # begins it
    except BaseException:
        conn.close()
        raise
    return conn


def copy_from(reader: apsw.Connection, dest: Path) -> None:
    """Copy the state held by `reader`'s read transaction to a new file
    `dest`: SQLite's online backup, `COPY_STEP_PAGES` at a time (the source
    transaction stays open between steps, so every page comes from the same
    state), then rollback-journal mode, ``VACUUM`` when more than a quarter
    of the pages are free (as compact as ``VACUUM INTO``), fsync."""
    target = apsw.Connection(str(dest))
    try:
        with target.backup("main", reader, "main") as step:
            while not step.done:
                step.step(COPY_STEP_PAGES)
                if copy_progress is not None:
                    copy_progress(step.remaining, step.page_count)
        target.pragma("journal_mode", "delete")
        free = int(target.pragma("freelist_count"))
        if free * 4 > int(target.pragma("page_count")):
            target.execute("VACUUM")
    finally:
        target.close()
    os.chmod(dest, 0o600)
    fsync_path(dest)


class SnapshotDir:
    """The snapshots of one workspace (blocking; call from threads)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _db(self, ident: str) -> Path:
        return self.directory / f"{ident}.db"

    def data_of(self, manifest: Manifest) -> Path:
        """The data file of a snapshot: its .db, or its .changeset."""
        if manifest.storage == "full":
            return self._db(manifest.id)
        return self.directory / f"{manifest.id}.changeset"

    def _manifest(self, ident: str) -> Path:
        return self.directory / f"{ident}.json"

    def ensure(self) -> None:
        """Create the directory (0700) if needed."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def sweep(self) -> int:
        """Remove debris of interrupted creates (temp files, manifest-less dbs)."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        owned = {self.data_of(m).name for m in self.all()}
        for entry in self.directory.iterdir():
            stale = ".tmp" in entry.name or (
                entry.suffix in (".db", ".changeset") and entry.name not in owned
            )
            if stale:
                with contextlib.suppress(OSError):
                    entry.unlink()
                    removed += 1
        return removed

    def all(self) -> list[Manifest]:
        """Every complete snapshot, oldest first."""
        found: list[Manifest] = []
        if not self.directory.is_dir():
            return found
        for entry in sorted(self.directory.glob("*.json")):
            try:
                manifest = _decoder.decode(entry.read_bytes())
            except (OSError, msgspec.DecodeError):
                continue  # unreadable manifest: not a snapshot we can vouch for
            if self.data_of(manifest).is_file():
                found.append(manifest)
        return sorted(found, key=lambda m: m.id)

    def get(self, ident: str) -> Manifest:
        """The manifest of `ident`.

        :raises SnapshotNotFoundError: no such snapshot.
        """
        if "/" in ident or ident.startswith(".") or not ident:
            raise SnapshotNotFoundError(f"no snapshot {ident!r}")
        try:
            manifest = _decoder.decode(self._manifest(ident).read_bytes())
        except (OSError, msgspec.DecodeError) as exc:
            raise SnapshotNotFoundError(f"no snapshot {ident!r}") from exc
        if manifest.id != ident or not self.data_of(manifest).is_file():
            raise SnapshotNotFoundError(f"no snapshot {ident!r}")
        return manifest

    def path_of(self, ident: str) -> Path:
        """The database file of a full snapshot (after `get` succeeded);
        an incremental one is read through `incremental.materialised`."""
        return self._db(ident)

    def commit(self, manifest: Manifest) -> None:
        """Write `manifest` (the commit point of a snapshot whose data file
        is in place)."""
        fsync_path(self.directory)
        write_atomically(self._manifest(manifest.id), _encoder.encode(manifest))

    def create(self, db_path: Path, *, label: str | None, kind: str) -> Manifest:
        """Snapshot the live database at `db_path`.

        :raises SnapshotInvalidError: the copy failed its quick_check.
        """
        return self._copied(
            lambda temporary: copy_consistent(db_path, temporary),
            ident=new_id(),
            label=label,
            kind=kind,
        )

    def create_from(
        self, reader: apsw.Connection, *, ident: str, label: str | None, kind: str
    ) -> Manifest:
        """Snapshot the state held by `reader`'s read transaction
        (`open_read_state`) as `ident`; the writer may go on meanwhile.

        :raises SnapshotInvalidError: the copy failed its quick_check.
        """
        return self._copied(
            lambda temporary: copy_from(reader, temporary),
            ident=ident,
            label=label,
            kind=kind,
        )

    def _copied(
        self,
        copy: Callable[[Path], None],
        *,
        ident: str,
        label: str | None,
        kind: str,
    ) -> Manifest:
        """`copy` into a temporary file, then `adopt` it as `ident`."""
        self.ensure()
        temporary = self.directory / f"{ident}.db.tmp"
        try:
            copy(temporary)
            return self.adopt(temporary, ident=ident, label=label, kind=kind)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    def adopt(
        self,
        temporary: Path,
        *,
        label: str | None,
        kind: str,
        ident: str | None = None,
        created_at: str | None = None,
    ) -> Manifest:
        """Make a verified snapshot of a standalone database file (consumed)."""
        self.ensure()
        ident = ident or new_id()
        facts = inspect(temporary)
        manifest = Manifest(
            id=ident,
            label=label,
            kind=kind,
            created_at=created_at or utc_now(),
            generation=facts.generation,
            schema_version=facts.schema_version,
            size_bytes=temporary.stat().st_size,
            sha256=sha256_of(temporary),
        )
        os.replace(temporary, self._db(ident))
        self.commit(manifest)
        return manifest

    def delete(self, ident: str) -> None:
        """Remove a snapshot (manifest first: the commit point goes first).
        Incremental snapshots built on it are made full first (`promote`),
        so none is left without its parent.

        :raises SnapshotNotFoundError: no such snapshot.
        """
        manifest = self.get(ident)
        for child in self.all():
            if child.parent == ident:
                self.promote(child.id)
        self._manifest(ident).unlink()
        with contextlib.suppress(FileNotFoundError):
            self.data_of(manifest).unlink()
        fsync_path(self.directory)

    def prune(
        self, keep: int, protect: set[str] | frozenset[str] = frozenset()
    ) -> list[str]:
        """Delete the oldest automatic snapshots beyond `keep` (never one in
        `protect`); their ids. Manual and imported snapshots are kept until
        someone deletes them: a schedule never removes what a person made."""
        listing = self.all()
        automatic = [m for m in listing if m.kind not in MANUAL_KINDS]
        kept = {m.id for m in automatic[-max(keep, 1) :]} | set(protect)
        kept |= {m.id for m in listing if m.kind in MANUAL_KINDS}
        # ... and every snapshot a kept one is built on (so `keep` is
        # exceeded by the full base and changesets of a kept incremental one).
        parents = {m.id: m.parent for m in listing}
        for ident in list(kept):
            while (ident := parents.get(ident)) is not None:  # type: ignore[assignment]
                kept.add(ident)
        # Newest first: children go before their parents.
        doomed = [m.id for m in reversed(automatic) if m.id not in kept]
        for ident in doomed:
            with contextlib.suppress(SnapshotError, OSError):
                self.delete(ident)
        return doomed

    def verify(self, ident: str) -> Manifest:
        """The manifest, after checking the file's SHA-256 and quick_check.

        :raises SnapshotNotFoundError: no such snapshot.
        :raises SnapshotInvalidError: the file does not match its manifest.
        """
        manifest = self.get(ident)
        if manifest.storage == "full":
            self._check_sha(manifest)
            inspect(self._db(ident))
        else:
            with self.materialised(ident):
                pass
        return manifest

    def _check_sha(self, manifest: Manifest) -> None:
        if sha256_of(self.data_of(manifest)) != manifest.sha256:
            raise SnapshotInvalidError(
                f"snapshot {manifest.id} does not match its manifest's sha256"
            )

    def chain(self, ident: str) -> list[Manifest]:
        """The full base of `ident`, then each changeset up to `ident`.

        :raises SnapshotNotFoundError: no such snapshot.
        :raises SnapshotInvalidError: a snapshot of the chain is missing.
        """
        links = [self.get(ident)]
        while links[0].storage != "full":
            parent = links[0].parent
            if parent is None or len(links) > 10_000:
                raise SnapshotInvalidError(f"snapshot {ident}: broken chain")
            try:
                links.insert(0, self.get(parent))
            except SnapshotNotFoundError as exc:
                raise SnapshotInvalidError(
                    f"snapshot {ident} needs {parent}, which is missing"
                ) from exc
        return links

    def materialise(self, ident: str, dest: Path) -> Manifest:
        """Write snapshot `ident` as a standalone database at `dest`: its
        base copied, each changeset applied in order (any conflict aborts),
        then ``quick_check``. Every file of the chain is checked against its
        manifest's SHA-256 first.

        :raises SnapshotInvalidError: a file or the result does not verify.
        """
        links = self.chain(ident)
        for link in links:
            self._check_sha(link)
        shutil.copyfile(self._db(links[0].id), dest)
        os.chmod(dest, 0o600)
        conn = apsw.Connection(str(dest))
        try:
            with conn:  # one transaction for the whole chain
                for link in links[1:]:
                    data = self.data_of(link).read_bytes()
                    apsw.Changeset.apply(data, conn)  # conflicts abort
        except apsw.Error as exc:
            raise SnapshotInvalidError(
                f"snapshot {ident} cannot be rebuilt from its chain: {exc}"
            ) from exc
        finally:
            conn.close()
        facts = inspect(dest)
        if facts.generation != links[-1].generation:
            raise SnapshotInvalidError(
                f"snapshot {ident} rebuilt at generation {facts.generation},"
                f" its manifest says {links[-1].generation}"
            )
        return links[-1]

    def readable(self, ident: str, work: Path) -> Path:
        """A verified standalone database of snapshot `ident`: the file
        itself for a full one, else rebuilt at `work` (the caller's to
        remove)."""
        manifest = self.get(ident)
        if manifest.storage == "full":
            self.verify(ident)
            return self._db(ident)
        self.materialise(ident, work)
        return work

    @contextlib.contextmanager
    def materialised(self, ident: str) -> Iterator[Path]:
        """`readable` with a temporary `work` removed afterwards."""
        with scratch(self.directory, "materialise") as work:
            yield self.readable(ident, work)

    def promote(self, ident: str) -> Manifest:
        """Make incremental snapshot `ident` full (same id and contents)."""
        manifest = self.get(ident)
        if manifest.storage == "full":
            return manifest
        temporary = self.directory / f"{ident}.db.tmp"
        try:
            self.materialise(ident, temporary)
            fsync_path(temporary)
            full = msgspec.structs.replace(
                manifest,
                storage="full",
                parent=None,
                base=None,
                size_bytes=temporary.stat().st_size,
                sha256=sha256_of(temporary),
            )
            os.replace(temporary, self._db(ident))
            self.commit(full)  # the commit point; the changeset is debris now
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.data_of(manifest).unlink()
        # Snapshots built on it now start their chain there (`base` is what
        # `snapshot.list` shows; reading walks `parent`).
        for other in self.all():
            if other.storage != "full" and ident in self._ancestors(other):
                self.commit(msgspec.structs.replace(other, base=ident))
        return full

    def _ancestors(self, manifest: Manifest) -> set[str]:
        found: set[str] = set()
        parent = manifest.parent
        while parent is not None and parent not in found:
            found.add(parent)
            try:
                parent = self.get(parent).parent
            except SnapshotNotFoundError:
                break
        return found

    def newest_good(self) -> Manifest | None:
        """The newest snapshot that verifies, or None (read it through
        `materialised`)."""
        for manifest in reversed(self.all()):
            try:
                self.verify(manifest.id)
            except SnapshotError:
                continue
            return manifest
        return None


def prepare_for_install(
    src: Path,
    work: Path,
    *,
    above: int,
    migrations: Path | None = None,
    checked: bool = False,
) -> int:
    """Copy `src` to `work`, migrate it and set its generation above `above`.

    Returns the generation the installed index will have. The live database
    is not touched: a snapshot that cannot be migrated fails here. `checked`:
    `src` has just passed ``quick_check`` (a verified snapshot), not re-read.

    :raises SnapshotInvalidError: `src` is not a usable axd index.
    """
    facts = inspect(src, check=not checked)
    if facts.schema_version < 1:
        raise SnapshotInvalidError(
            f"{src.name} is not an axd index (no schema version)"
        )
    latest = max((m.version for m in discover(migrations)), default=0)
    if facts.schema_version > latest:
        raise SnapshotInvalidError(
            f"{src.name} has schema version {facts.schema_version}; this axd knows"
            f" up to {latest} (written by a newer axd)"
        )
    with contextlib.suppress(FileNotFoundError):
        work.unlink()
    target = apsw.Connection(str(work))
    source = apsw.Connection(str(src), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        with target.backup("main", source, "main") as step:
            step.step(-1)
        source.close()
        Migrator(target, migrations).migrate()
        generation = max(facts.generation, above) + 1
        with target:
            indexes.ensure(target)  # a copy taken in a first index may lack them
            target.execute(
                "UPDATE meta SET value = ? WHERE key = 'generation'", (generation,)
            )
    except (apsw.Error, MigrationError) as exc:
        raise SnapshotInvalidError(f"{src.name} cannot be prepared: {exc}") from exc
    finally:
        source.close()
        target.close()
    os.chmod(work, 0o600)
    return generation


def install(writer: apsw.Connection, prepared: Path) -> None:
    """Copy `prepared` into the live database in one write transaction.

    SQLite's online backup onto the WAL-mode writer: the pages go to the WAL
    and commit at the end, so readers in flight finish on the old snapshot
    and a crash before the commit leaves the old index.
    """
    source = apsw.Connection(str(prepared), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        with writer.backup("main", source, "main") as step:
            step.step(-1)
    finally:
        source.close()


@contextlib.contextmanager
def scratch(directory: Path, name: str) -> Iterator[Path]:
    """A temporary file path in `directory`, removed afterwards."""
    path = directory / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        yield path
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{path}{suffix}").unlink()


def age_s(manifest: Manifest) -> float:
    """Seconds since `manifest` was created."""
    created = datetime.fromisoformat(manifest.created_at)
    return max(0.0, (datetime.now(UTC) - created).total_seconds())
