"""Incremental snapshots: what changed since the previous snapshot, as a
SQLite session changeset.

`Chain` belongs to a workspace's `Writer` and runs in its write slot. Right
after every snapshot it attaches a fresh ``Session`` (SQLite's session
extension, through apsw) to every table of the writer's connection, so the
session holds exactly the changes made since that snapshot: batches, the
bulk import linking and generation bumps all run on that connection. FTS5
keeps its index in ordinary shadow tables, which the session records like
any other (perf/RESULTS.md: replayed chains give equal tables and a passing
FTS5 ``integrity-check``). The next snapshot then stores only that
changeset, with the previous snapshot as its parent.

A full snapshot is taken instead when there is no unbroken record: after a
start (the session lives in memory), a restore, a migration or rollback
(schema changes and page copies are not recorded; the writer calls
`forget`), when the parent snapshot is gone, when the chain has `chain_max`
changesets, or when the changesets together would pass `max_fraction` of the
base's size (applying them would then cost more than a copy). A session
whose memory passes that budget is dropped early for the same reason.

Only the start of a snapshot needs the write slot (`Chain.begin`): there
the changeset is taken, or (for a full snapshot) a read transaction is
opened on a connection of its own, and the session restarts, so no write
falls between the state a snapshot holds and the start of the record of the
next one. Writing the changeset, or copying the full database out of that
read transaction (WAL keeps it while the writer goes on), happens after the
slot is released (`Pending.finish`); if that fails, the next snapshot finds
no parent on disk and is full.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import apsw
import msgspec

from axd.daemon.store.snapshots import (
    Manifest,
    SnapshotDir,
    SnapshotError,
    fsync_path,
    new_id,
    open_read_state,
    sha256_of,
    utc_now,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# A session may use this much memory beyond the chain's byte budget before it
# is dropped (its size tracks the changeset it would produce).
_SLACK_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Limits:
    """When a chain ends and the next snapshot is full again."""

    chain_max: int = 20  # changesets on one full base
    max_fraction: float = 0.5  # their total size, as a fraction of the base


class Pending:
    """A snapshot begun in the write slot, finished outside it."""

    def __init__(self, finish: Callable[[], Manifest], abandon: Callable[[], None]):
        self._finish, self._abandon = finish, abandon

    def finish(self) -> Manifest:
        """Write it (blocking; the writer may go on meanwhile)."""
        try:
            return self._finish()
        finally:
            self._abandon()

    def abandon(self) -> None:
        """Give it up (never finished): close what it holds."""
        self._abandon()


class Chain:
    """The record of changes since the last snapshot (in the write slot)."""

    def __init__(self) -> None:
        self._session: apsw.Session | None = None
        self._parent: Manifest | None = None
        self._budget = 0.0  # bytes a session may hold before it is dropped

    def forget(self) -> None:
        """Changes were made that the session cannot record: the next
        snapshot is full."""
        if self._session is not None:
            with contextlib.suppress(apsw.Error):
                self._session.close()
        self._session = self._parent = None

    def after_write(self) -> None:
        """Drop a session that has outgrown what an incremental snapshot may
        cost (its memory would only grow until the next snapshot)."""
        if self._session is not None and self._session.memory_used > self._budget:
            self.forget()

    def snapshot(
        self,
        directory: SnapshotDir,
        conn: apsw.Connection,
        db_path: Path,
        *,
        label: str | None,
        kind: str,
        limits: Limits,
    ) -> Manifest:
        """`begin` and `finish` in one go (a caller that holds no slot)."""
        return self.begin(
            directory, conn, db_path, label=label, kind=kind, limits=limits
        ).finish()

    def begin(
        self,
        directory: SnapshotDir,
        conn: apsw.Connection,
        db_path: Path,
        *,
        label: str | None,
        kind: str,
        limits: Limits,
    ) -> Pending:
        """Start a snapshot of the database of `conn` (the writer's, between
        writes, in the write slot): incremental when the chain allows,
        otherwise full. Its `finish` runs without the slot."""
        pending = self._incremental(directory, conn, label, kind, limits)
        if pending is not None:
            return pending
        reader = open_read_state(db_path)
        try:
            ident = new_id()
            page_size = int(reader.pragma("page_size"))
            estimate = int(reader.pragma("page_count")) * page_size
            session = self._restart(conn, None, limits.max_fraction * estimate)
        except BaseException:
            reader.close()
            raise

        def finish() -> Manifest:
            manifest = directory.create_from(
                reader, ident=ident, label=label, kind=kind
            )
            if self._session is session:  # no write since was left unrecorded
                self._parent = manifest
                self._budget = limits.max_fraction * manifest.size_bytes + _SLACK_BYTES
            return manifest

        return Pending(finish, reader.close)

    def _incremental(
        self,
        directory: SnapshotDir,
        conn: apsw.Connection,
        label: str | None,
        kind: str,
        limits: Limits,
    ) -> Pending | None:
        session, parent = self._session, self._parent
        if session is None or parent is None:
            return None
        try:  # the chain on disk (deletions may have made parts of it full)
            links = directory.chain(parent.id)
        except SnapshotError:
            return None
        if links[-1].generation != parent.generation:
            return None
        if len(links) > limits.chain_max:  # links = the base + changesets
            return None
        data = session.changeset()
        budget = limits.max_fraction * links[0].size_bytes
        if sum(m.size_bytes for m in links[1:]) + len(data) > budget:
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        manifest = Manifest(
            id=new_id(),
            label=label,
            kind=kind,
            created_at=utc_now(),
            generation=int(row[0]) if row else 0,
            schema_version=parent.schema_version,
            size_bytes=len(data),
            sha256="",
            storage="incremental",
            parent=links[-1].id,
            base=links[0].id,
        )
        # The next changeset builds on this one; should writing it fail,
        # the next snapshot finds no parent on disk and is full.
        self._restart(conn, manifest, budget)
        return Pending(lambda: _write_changeset(directory, data, manifest), _nothing)

    def _restart(
        self, conn: apsw.Connection, parent: Manifest | None, budget: float
    ) -> apsw.Session:
        self.forget()
        session = apsw.Session(conn, "main")
        session.attach()  # every table, present and future
        self._session, self._parent = session, parent
        self._budget = budget + _SLACK_BYTES
        return session


def _nothing() -> None:
    pass


def _write_changeset(
    directory: SnapshotDir, data: bytes, manifest: Manifest
) -> Manifest:
    """Store `data` as the incremental snapshot `manifest` (temporary name,
    fsync, rename, then the manifest with its SHA-256: the commit point)."""
    directory.ensure()
    final = directory.data_of(manifest)
    temporary = final.with_name(final.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.replace(temporary, final)
        fsync_path(directory.directory)
        manifest = msgspec.structs.replace(manifest, sha256=sha256_of(final))
        directory.commit(manifest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return manifest
