"""The one writer of one workspace's index.

ARCHITECTURE.md: only the writer writes. `Writer` is that writer for one
`Store`: every write the daemon makes to an index database (a batch, the
bulk import linking, a generation bump, a restore, a migration or rollback,
the shutdown checkpoint and close) goes through it, each in one transaction
on the store's write connection, in a worker thread, one at a time (its
`CapacityLimiter(1)` is the write slot). `Store`'s write methods are the
bodies it runs; nothing else in the daemon calls them.

It also decides when a committed generation may be shown to clients
(`announced`): SQLite makes a commit visible to readers at COMMIT, but a
query reply from it must not leave before the commit's `index.changed`
(#16). So each write ends, still in the writer thread and holding the slot,
with one hop onto the event loop that runs the commit's announcement
(`apply_batch`'s `on_commit`) and then raises `announced` to the new
generation, in one step; rpc/handlers/reads.py holds a reply from a newer
generation until then (`wait_announced`).

It also keeps the record of changes since the last snapshot
(`incremental.Chain`): batches, linking and generation bumps are recorded
by the session on its connection; restores, migrations and rollbacks end
the record, so the snapshot after them is full.
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.from_thread
import structlog

from axd.daemon.store import generations, incremental, maintenance, meta
from axd.daemon.store.errors import StoreClosedError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from axd.daemon.records import FileOutcome
    from axd.daemon.store.snapshots import Manifest, SnapshotDir
    from axd.daemon.store.store import BatchResult, Store
    from axd.protocol.snapshots import DbStatus, Migration

log = structlog.get_logger()
_T = TypeVar("_T")


class Writer:
    """Serialises every write to one workspace's index (async side)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._slot = anyio.CapacityLimiter(1)
        self._chain = incremental.Chain()
        # Kept ahead of every generation committed, beside the database: what
        # replaces a lost index starts above it (`generations`).
        self._floor = generations.Floor(store.path.parent)
        # The newest generation clients may see (module docstring); only
        # changed on the event loop. Infinite once closed: nothing to hold.
        self._announced: float = store.generation
        self._announced_changed = anyio.Event()

    @property
    def announced(self) -> float:
        """The newest generation whose announcement has been made."""
        return self._announced

    async def wait_announced(self, generation: int) -> None:
        """Until `generation` has been announced (at once if it has)."""
        while self._announced < generation:
            await self._announced_changed.wait()

    def _announce(
        self, generation: float, hook: Callable[[], None] | None = None
    ) -> None:
        """On the loop: run the commit's announcement, then release its
        generation to replies. The hook's failure must not hold replies."""
        try:
            if hook is not None:
                hook()
        finally:
            if generation > self._announced:
                self._announced = generation
                changed = self._announced_changed
                self._announced_changed = anyio.Event()
                changed.set()

    def _announce_from_thread(self, hook: Callable[[], None] | None = None) -> None:
        """In the writer thread after a write: `_announce` on the loop."""
        generation = self.store.generation
        if hook is None and generation <= self._announced:
            return
        try:
            anyio.from_thread.run_sync(self._announce, generation, hook)
        except Exception:  # the loop is going away: nobody left to order for
            log.exception("generation_announce_failed", path=str(self.store.path))

    def _catch_up_wal(self) -> None:
        """`Store.catch_up_wal` after a write and its announcement; its
        failure is not the write's (the next write meets real damage)."""
        try:
            self.store.catch_up_wal()
        except StoreClosedError:
            pass
        except Exception:
            log.exception("wal_catch_up_failed", path=str(self.store.path))

    async def _run(self, fn: Callable[[], _T]) -> _T:
        def run() -> _T:
            self._floor.cover(self.store.generation + 1)  # a write adds 1 at most
            try:
                return fn()
            finally:  # ... but a restore may jump ahead: covered before the next
                with contextlib.suppress(OSError):
                    self._floor.cover(self.store.generation)
                # Any write that moved the generation without announcing it
                # (a bump, the linking, a restore) releases it here.
                self._announce_from_thread()
                self._catch_up_wal()

        return await anyio.to_thread.run_sync(run, limiter=self._slot)

    async def _recorded(self, fn: Callable[[], _T]) -> _T:
        """A write the snapshot session records."""

        def run() -> _T:
            try:
                return fn()
            finally:
                self._chain.after_write()

        return await self._run(run)

    async def _unrecorded(self, fn: Callable[[], _T]) -> _T:
        """A write the session cannot record: the next snapshot is full."""

        def run() -> _T:
            self._chain.forget()
            return fn()

        return await self._run(run)

    async def snapshot(
        self,
        directory: SnapshotDir,
        *,
        label: str | None,
        kind: str,
        limits: incremental.Limits,
    ) -> Manifest:
        """A snapshot between writes: a changeset on the previous one when
        the chain allows, else a full copy (`incremental.Chain.begin`). Only
        its start holds the write slot; the copy runs beside the writes."""

        def begin() -> incremental.Pending:
            with self.store.exclusive() as conn:
                return self._chain.begin(
                    directory,
                    conn,
                    self.store.path,
                    label=label,
                    kind=kind,
                    limits=limits,
                )

        pending = await self._run(begin)
        try:
            return await anyio.to_thread.run_sync(pending.finish)
        finally:
            pending.abandon()  # closes its read transaction (idempotent)

    async def apply_batch(
        self,
        outcomes: Sequence[FileOutcome],
        deleted: Sequence[str],
        *,
        defer_links: bool = False,
        on_commit: Callable[[BatchResult], None] | None = None,
    ) -> BatchResult:
        """One batch in one transaction (`Store.apply_batch`), recorded for
        the next incremental snapshot.

        `on_commit` runs on the event loop as soon as the transaction has
        committed, while the writer thread waits holding the write slot: what
        it announces goes out in commit (generation) order, and in the same
        loop step that releases the generation to query replies (`announced`).
        """

        def apply() -> BatchResult:
            if self.store.changes_schema(defer_links=defer_links):
                # The first batch of a bulk first index drops indexes and
                # creates the table it stages references in (store/indexes.py):
                # not for a snapshot's session to follow; the next one is full.
                self._chain.forget()
            result = self.store.apply_batch(outcomes, deleted, defer_links=defer_links)
            hook = None if on_commit is None else (lambda: on_commit(result))
            self._announce_from_thread(hook)
            return result

        return await self._recorded(apply)

    async def relink_all(self) -> int:
        """Resolve every import once (`Store.relink_all`), the end of a bulk
        first index. Unrecorded: it drops the table the index staged its
        references in (store/indexes.py), a schema change a snapshot's
        session cannot follow, so the next snapshot is full."""
        return await self._unrecorded(self.store.relink_all)

    async def bump_generation(self, at_least: int | None = None) -> int:
        """A new generation with no data change (`Store.bump_generation`)."""
        return await self._recorded(lambda: self.store.bump_generation(at_least))

    async def write_meta(self, key: str, value: str | None) -> None:
        """Set (or, with None, delete) a `meta` key (`Store.write_meta`)."""
        await self._recorded(lambda: meta.write_meta(self.store, key, value))

    async def restore(
        self,
        src: str | Path,
        *,
        announcement: Callable[[int], Callable[[], None]] | None = None,
    ) -> int:
        """Replace the index with a verified database file; the new
        generation (`maintenance.restore`).

        `announcement(generation)` runs in the writer thread once the new
        file is live and returns what the loop runs in the step that releases
        the generation to replies, as `apply_batch`'s `on_commit` does: a
        restore's `index.changed` too leaves before any reply that read it.
        """

        def run() -> int:
            generation = maintenance.restore(self.store, src)
            if announcement is not None:
                self._announce_from_thread(announcement(generation))
            return generation

        return await self._unrecorded(run)

    async def migrate(self, target: int | None = None) -> list[Migration]:
        """Apply pending migrations in one transaction (`maintenance.migrate`)."""
        return await self._unrecorded(lambda: maintenance.migrate(self.store, target))

    async def rollback(self, to_version: int) -> list[Migration]:
        """Run down migrations in one transaction (`maintenance.rollback`)."""
        return await self._unrecorded(
            lambda: maintenance.rollback(self.store, to_version)
        )

    async def db_status(self) -> DbStatus:
        """The migration status, read on the write connection between
        writes (`maintenance.db_status`)."""
        return await self._run(lambda: maintenance.db_status(self.store))

    async def checkpoint(self) -> None:
        """Fold the WAL into the database (`Store.checkpoint`)."""
        await self._run(self.store.checkpoint)

    async def close(self, *, checkpoint: bool = True) -> None:
        """Checkpoint (unless told not to: a damaged file), then close every
        connection of the store."""

        def close() -> None:
            self._chain.forget()
            try:
                if checkpoint:
                    self.store.checkpoint()
            finally:
                self.store.close()

        try:
            await self._run(close)
        finally:  # a closed store answers nothing newer: hold no reply
            self._announce(math.inf)
