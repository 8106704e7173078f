"""Index safety per workspace: snapshots (on demand, automatic, retention),
restores with reconciliation, import/export, the migration tool, and
recovery from damage found while serving. One `anyio.Lock` per workspace
serialises what replaces or copies its database (a restore never races a
migration); restores, migrations and rollbacks are writes, so they go
through the workspace's one `writer` like every batch.

It follows the daemon's events (`run`): a `WorkspaceAdded` starts that
workspace's background work (automatic snapshots, the periodic check), a
`WorkspaceRemoved` ends it. A restore publishes a `BatchCommitted` with the
files it changed (subscribers get `index.changed`).

Size: one class, because every operation here takes the same per-workspace
lock and the same create/install steps; split, that lock would have to be
shared across modules.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.from_thread
import apsw
import msgspec
import structlog

from axd.daemon.events import (
    BatchCommitted,
    FileChange,
    WorkspaceAdded,
    WorkspaceRemoved,
)
from axd.daemon.index import heap
from axd.daemon.store import incremental, maintenance, portable
from axd.daemon.store.diskspace import is_disk_full
from axd.daemon.store.generations import Floor, floor_for
from axd.daemon.store.maintenance import previous_version
from axd.daemon.store.migrator import MigrationError, discover
from axd.daemon.store.quarantine import quarantine
from axd.daemon.store.recovery import INDEX, SNAPSHOTS, prepare_fallback
from axd.daemon.store.rows import changes_between
from axd.daemon.store.snapshots import (
    Manifest,
    SnapshotDir,
    SnapshotError,
    SnapshotInvalidError,
    SnapshotNotFoundError,
    age_s,
    new_id,
    prepare_for_install,
    scratch,
    sha256_of,
)
from axd.daemon.store.store import DAMAGE, StoreError
from axd.daemon.workspaces import workspace_id
from axd.protocol.errors import ErrorCode, RpcError, invalid_params, not_found

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.daemon.config import SnapshotsConfig
    from axd.daemon.events import Event, Events
    from axd.daemon.workspaces import Workspace, WorkspaceManager
    from axd.protocol.snapshots import DbStatus

log = structlog.get_logger()


@dataclass(slots=True)
class _State:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    last_auto: float | None = None  # monotonic
    damaged: bool = False
    held: bool = False  # queries wait: the schema is below what axd serves


class IndexSafety:
    """Snapshots, restores and recovery for the workspaces of one daemon."""

    def __init__(
        self, manager: WorkspaceManager, config: SnapshotsConfig, events: Events
    ) -> None:
        self.manager = manager
        self.config = config
        self.events = events
        self._tg: anyio.abc.TaskGroup | None = None  # run()'s, while it runs
        self._states: dict[str, _State] = {}

    # -- workspace lifecycle ------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Follow the workspaces until cancelled; started once subscribed
        (start it before the workspaces so none is missed)."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                await tg.start(self.events.follow, self._on_event)
                task_status.started()
        finally:
            self._tg = None  # stopped: damage seen now is left for the next start

    def _on_event(self, event: Event) -> None:
        if isinstance(event, WorkspaceAdded):
            ws = self.manager.workspaces.get(event.root)
            if ws is not None and ws.id == event.workspace_id:
                self._added(ws)
        elif isinstance(event, WorkspaceRemoved):
            self._removed(event.root)

    def _state(self, ws: Workspace) -> _State:
        return self._states.setdefault(ws.root, _State())

    def _added(self, ws: Workspace) -> None:
        state = self._state(ws)
        state.damaged = False
        state.scope.cancel()
        state.scope = anyio.CancelScope()
        ws.store.on_damage = lambda reason: self._damage_seen(ws, reason)
        assert self._tg is not None, "run() first"
        self._tg.start_soon(self._guard, ws, state.scope)

    def _removed(self, root: str) -> None:
        state = self._states.pop(root, None)
        if state is not None:
            state.scope.cancel()

    @staticmethod
    def snapshots(ws: Workspace) -> SnapshotDir:
        """The snapshot directory of a workspace."""
        return SnapshotDir(ws.directory / SNAPSHOTS)

    async def _watch(self, ws: Workspace) -> None:
        """Automatic snapshots: after the first index, then when the index
        changed and `interval_s` passed; clears `degraded` once a recovery's
        re-index is done."""
        await anyio.to_thread.run_sync(self.snapshots(ws).sweep)
        while True:
            changed = ws.indexer.change_event()
            settled = ws.indexer.ready and not ws.indexer.busy
            settled = settled and not ws.indexer.committer.paused
            if settled and ws.degraded and not self._state(ws).held:
                log.info("workspace_recovered_from_damage", root=ws.root)
                self.manager.set_degraded(ws, None)
            if settled:
                await self._maybe_auto(ws)
            with anyio.move_on_after(self.config.check_interval_s):
                await changed.wait()

    async def _guard(self, ws: Workspace, scope: anyio.CancelScope) -> None:
        """The background work of one workspace, until it is removed."""
        with scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch, ws)
                if self.config.quick_check_interval_s > 0:
                    tg.start_soon(self._check_loop, ws)

    async def _check_loop(self, ws: Workspace) -> None:
        """``quick_check`` every `quick_check_interval_s` (damage that the
        page cache hides from queries is found here)."""
        while True:
            await anyio.sleep(self.config.quick_check_interval_s)
            try:
                await anyio.to_thread.run_sync(ws.store.quick_check)
            except (apsw.Error, StoreError):  # closed: the workspace is going
                log.debug("quick_check_skipped", root=ws.root)

    async def _maybe_auto(self, ws: Workspace) -> None:
        state = self._state(ws)
        listing = await anyio.to_thread.run_sync(self.snapshots(ws).all)
        autos = [m for m in listing if m.kind == "auto"]
        if autos and autos[-1].generation == ws.generation:
            return  # nothing changed since the last automatic snapshot
        if autos:
            if state.last_auto is None:  # after a restart: age of the newest
                state.last_auto = time.monotonic() - age_s(autos[-1])
            if time.monotonic() - state.last_auto < self.config.interval_s:
                return
        try:
            await self.create(ws, None, kind="auto")
        except Exception:
            log.exception("auto_snapshot_failed", root=ws.root)
        state.last_auto = time.monotonic()
        # The copy ran after the pool's own idle trim (a first index's
        # snapshot starts at `ready`): what it freed (SQLite's pages of the
        # copy, its statements) goes back now, not at the next batch (#16:
        # the daemon idle after a first index).
        await anyio.to_thread.run_sync(heap.trim)

    # -- snapshots ----------------------------------------------------------------------

    async def create(
        self, ws: Workspace, label: str | None, *, kind: str = "manual"
    ) -> Manifest:
        """A consistent snapshot of the live index, then retention."""
        async with self._state(ws).lock:
            return await self._create_locked(ws, label, kind)

    async def _create_locked(
        self, ws: Workspace, label: str | None, kind: str, protect: str = ""
    ) -> Manifest:
        directory = self.snapshots(ws)
        limits = incremental.Limits(
            chain_max=self.config.chain_max,
            max_fraction=self.config.chain_max_fraction,
        )
        try:
            manifest = await ws.writer.snapshot(
                directory, label=label, kind=kind, limits=limits
            )
            await anyio.to_thread.run_sync(
                lambda: directory.prune(
                    self.config.keep, protect={manifest.id, protect}
                )
            )
        except (*DAMAGE, SnapshotInvalidError) as exc:
            # The live index is damaged: never keep a copy of that.
            self._damage_seen(ws, f"snapshot copy failed: {exc}")
            raise RpcError(
                ErrorCode.NOT_READY,
                f"the index is damaged and being recovered ({exc}); try again later",
            ) from exc
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            raise RpcError(
                ErrorCode.CONFLICT, f"no room for a snapshot: {exc}", reason="disk_full"
            ) from exc
        log.info(
            "snapshot_created",
            root=ws.root,
            id=manifest.id,
            kind=kind,
            storage=manifest.storage,
            generation=manifest.generation,
            bytes=manifest.size_bytes,
        )
        return manifest

    async def listing(self, ws: Workspace) -> list[Manifest]:
        """Every snapshot of `ws`, oldest first."""
        return await anyio.to_thread.run_sync(self.snapshots(ws).all)

    async def delete(self, ws: Workspace, ident: str) -> None:
        """Delete one snapshot. :raises RpcError: NOT_FOUND."""
        async with self._state(ws).lock:
            try:
                await anyio.to_thread.run_sync(self.snapshots(ws).delete, ident)
            except SnapshotNotFoundError as exc:
                raise _unknown(ws, ident) from exc

    async def restore(self, ws: Workspace, ident: str) -> int:
        """Replace the index with snapshot `ident`; the new generation.

        A snapshot of the current state is taken first (a restore can be
        undone); `index.changed` goes out for the restore, and the reconcile
        that follows sends its own for the files that differ on disk.

        :raises RpcError: NOT_FOUND for an unknown id, CONFLICT for a
            snapshot that fails verification.
        """
        directory = self.snapshots(ws)
        async with self._state(ws).lock:
            with scratch(directory.directory, "materialise") as work:
                # An incremental snapshot is rebuilt from its chain and
                # checked here, before anything else happens.
                source = await self._readable(ws, directory, ident, work)
                await self._create_locked(
                    ws, f"before restoring {ident}", "pre-restore", protect=ident
                )
                return await self._install(ws, source)

    @staticmethod
    async def _readable(
        ws: Workspace, directory: SnapshotDir, ident: str, work: Path
    ) -> Path:
        """`SnapshotDir.readable` in a thread, with the protocol's errors."""
        try:
            return await anyio.to_thread.run_sync(directory.readable, ident, work)
        except SnapshotNotFoundError as exc:
            raise _unknown(ws, ident) from exc
        except SnapshotInvalidError as exc:
            raise RpcError(ErrorCode.CONFLICT, str(exc), id=ident) from exc

    async def _install(self, ws: Workspace, source: Path) -> int:
        """Install a verified database file as the live index, announce it,
        reconcile with the disk."""
        before = await anyio.to_thread.run_sync(ws.store.file_states)

        def announcement(generation: int) -> Callable[[], None]:
            # In the writer thread, the new file live: what changed, and the
            # restore's index.changed, published before any reply reads it.
            changes = changes_between(before, ws.store.file_states())
            event = BatchCommitted(
                root=ws.root,
                workspace_id=ws.id,
                generation=generation,
                changes=tuple(FileChange(path, kind) for path, kind in changes),
            )
            return lambda: self.events.publish(event)

        try:
            generation = await ws.writer.restore(source, announcement=announcement)
        except SnapshotError as exc:
            raise RpcError(ErrorCode.CONFLICT, str(exc)) from exc
        ws.indexer.request_rescan()  # then reconcile: only what differs
        log.info("index_restored", root=ws.root, generation=generation)
        return generation

    async def export(self, ws: Workspace, ident: str, dest: str) -> tuple[str, int]:
        """Write snapshot `ident` as a portable file; (sha256, size). An
        incremental snapshot is exported as the full database it stands for:
        the file is always one self-describing standalone index."""
        target = _absolute(dest)
        directory = self.snapshots(ws)
        if not directory.directory.is_dir():
            raise _unknown(ws, ident)
        with scratch(directory.directory, "materialise") as work:
            source = await self._readable(ws, directory, ident, work)
            if not target.parent.is_dir():
                raise RpcError(
                    ErrorCode.INVALID_PATH, f"{target.parent} is not a directory"
                )

            def write() -> str:
                full = msgspec.structs.replace(
                    directory.get(ident),
                    storage="full",
                    parent=None,
                    base=None,
                    size_bytes=source.stat().st_size,
                    sha256=sha256_of(source),
                )
                return portable.export(full, source, target)

            digest = await anyio.to_thread.run_sync(write)
        return digest, target.stat().st_size

    async def import_(self, root: str, source: str) -> tuple[str, int]:
        """Verify a portable file, keep it as a snapshot and restore it into
        the workspace at `root`; (snapshot id, generation). A directory that
        is not a workspace yet is added with the imported index in place, so
        its first pass re-parses only the files that differ.

        :raises RpcError: INVALID_PATH for a missing file or root,
            INVALID_PARAMS (``$.path``) for a file that is not a valid
            snapshot or comes from a newer schema.
        """
        path = _absolute(source, must_exist=True)
        try:
            ws = self.manager.find(root)
        except RpcError as exc:
            if exc.code != ErrorCode.UNKNOWN_WORKSPACE:
                raise
            return await self._import_new(root, path)
        directory = self.snapshots(ws)
        async with self._state(ws).lock:
            adopted = await self._adopt(directory, path)
            await self._create_locked(
                ws, "before import", "pre-restore", protect=adopted.id
            )
            generation = await self._install(ws, directory.path_of(adopted.id))
            return adopted.id, generation

    async def _adopt(self, directory: SnapshotDir, path: Path) -> Manifest:
        """Unpack and verify a portable file into `directory` as a snapshot."""
        latest = max((m.version for m in discover()), default=0)
        try:
            return await anyio.to_thread.run_sync(
                portable.adopt, directory, path, latest
            )
        except (SnapshotError, OSError) as exc:
            raise invalid_params(str(exc), "$.path") from exc

    async def _import_new(self, root: str, path: Path) -> tuple[str, int]:
        resolved = await anyio.to_thread.run_sync(os.path.realpath, root)
        if not await anyio.Path(resolved).is_dir():
            raise RpcError(
                ErrorCode.INVALID_PATH, f"{root} is not a directory", path=root
            )
        state = self.manager.state_dir / "workspaces" / workspace_id(resolved)
        created = not state.exists()
        index = state / INDEX
        try:
            state.mkdir(mode=0o700, parents=True, exist_ok=True)
            moved: list[Path] = []
            if index.exists():  # left by a removed workspace: kept, not lost
                gone = await anyio.to_thread.run_sync(
                    quarantine, index, "replaced by import"
                )
                moved.append(gone.path)
            adopted = await self._adopt(SnapshotDir(state / SNAPSHOTS), path)

            def seed() -> None:
                # Above whatever this root's workspace handed out before.
                snaps = SnapshotDir(state / SNAPSHOTS)
                above = floor_for(state, snaps, *moved)
                with scratch(state, "seed") as work:
                    snapshot = snaps.path_of(adopted.id)
                    Floor(state).cover(prepare_for_install(snapshot, work, above=above))
                    os.replace(work, index)

            await anyio.to_thread.run_sync(seed)
            ws = await self.manager.add(resolved)
        except BaseException:
            if created:
                shutil.rmtree(state, ignore_errors=True)
            raise
        log.info("workspace_imported", root=resolved, snapshot=adopted.id)
        return adopted.id, ws.generation

    # -- the migration tool -------------------------------------------------------------

    async def db_status(self, ws: Workspace) -> DbStatus:
        """PROTOCOL.md ``db.status``."""
        return await ws.writer.db_status()

    async def migrate(
        self, ws: Workspace, target: int | None, *, dry_run: bool, down: bool
    ) -> tuple[list[tuple[int, str, str]], str | None]:
        """Migrate up (or roll back when `down`); the steps and the id of
        the automatic snapshot taken first. Dry runs change nothing."""
        async with self._state(ws).lock:
            status = await self.db_status(ws)
            if down:
                goal = target if target is not None else previous_version(status)
                plan = lambda: maintenance.plan_rollback(status, goal)
            else:
                plan = lambda: maintenance.plan(status, target)
            try:
                steps = await anyio.to_thread.run_sync(plan)
            except MigrationError as exc:
                raise RpcError(ErrorCode.CONFLICT, str(exc)) from exc
            if dry_run or not steps:
                return steps, None
            snap = await self._create_locked(ws, "before db change", "pre-migrate")
            try:
                if down:
                    await ws.writer.rollback(goal)
                else:
                    await ws.writer.migrate(target)
            except (MigrationError, Exception) as exc:
                raise RpcError(
                    ErrorCode.CONFLICT,
                    f"the change failed and was rolled back: {exc}",
                    snapshot=snap.id,
                ) from exc
            # This axd serves only the latest schema: below it, queries answer
            # NOT_READY with the way out, until a migrate brings it back.
            status = await self.db_status(ws)
            held = status.current < status.latest
            self._state(ws).held, ws.rebuilding = held, held
            self.manager.set_degraded(
                ws,
                f"schema rolled back to version {status.current}; run `axd db"
                " migrate` to serve again"
                if held
                else None,
            )
            if not held:
                ws.indexer.request_rescan()
            return steps, snap.id

    async def backup(self, ws: Workspace, dest: str | None) -> tuple[int, str, str]:
        """A consistent copy of the live database (default: under backups/ in
        the workspace's state directory); (size, sha256, path)."""
        target = (
            _absolute(dest) if dest else ws.directory / "backups" / f"{new_id()}.db"
        )
        if await anyio.Path(target).exists():
            raise RpcError(ErrorCode.CONFLICT, f"{target} exists; not overwritten")
        return await anyio.to_thread.run_sync(maintenance.backup, ws.store, target)

    async def db_restore(self, ws: Workspace, source: str) -> tuple[int, str]:
        """Replace the database from a file (validated); a snapshot of the
        current state is taken first. (generation, snapshot id)."""
        path = _absolute(source, must_exist=True)
        async with self._state(ws).lock:
            snap = await self._create_locked(ws, "before db restore", "pre-db-restore")
            try:
                generation = await self._install(ws, path)
            except RpcError as exc:
                raise invalid_params(exc.message, "$.path") from exc
            return generation, snap.id

    # -- damage seen while serving ------------------------------------------------------

    def _damage_seen(self, ws: Workspace, reason: str) -> None:
        """From any thread: SQLite reported damage; reopen once."""
        state = self._states.get(ws.root)
        if state is None or state.damaged:
            return
        state.damaged = True
        tg = self._tg
        if tg is None:
            return  # stopping
        try:
            anyio.from_thread.run_sync(self._begin_reopen, ws, reason)
        except RuntimeError:  # already on the event loop
            self._begin_reopen(ws, reason)

    def _begin_reopen(self, ws: Workspace, reason: str) -> None:
        """On the event loop: say why at once, reopen in the background."""
        self.manager.set_degraded(
            ws,
            f"index quarantined ({reason}); recovering from the newest good snapshot",
        )
        if self._tg is not None:
            self._tg.start_soon(self._reopen, ws, reason)

    async def _reopen(self, ws: Workspace, reason: str) -> None:
        """Replace `ws` (`WorkspaceManager.reopen`). Requests that met its
        closed or damaged store wait for the replacement and run there
        (rpc/handlers/reads.py); they, and `index.wait` callers, are woken
        when the old one is marked replaced (its state is `degraded` until
        then, `error` after: nothing sees it any more but a failed reopen)."""
        fresh, fallback = ws, None
        async with self._state(ws).lock:
            try:
                ws.scope.cancel()  # no more batches into the damaged file
                # The snapshot is made ready while the damaged index still
                # answers what it can: then the swap is a rename.
                fallback = await anyio.to_thread.run_sync(
                    prepare_fallback, ws.directory, ws.store.path
                )
                fresh = await self.manager.reopen(ws, reason, fallback)
            except Exception:
                log.exception("reopen_failed", root=ws.root)
            finally:
                if fallback is not None:
                    fallback.discard()  # if it was not installed
                ws.indexer.fail(f"replaced: {reason}" if fresh is not ws else reason)
        if fresh is not ws:
            self._added(fresh)


def _unknown(ws: Workspace, ident: str) -> RpcError:
    return not_found(f"no snapshot {ident!r} in workspace {ws.root}", id=ident)


def _absolute(path: str, *, must_exist: bool = False) -> Path:
    """`path` checked: absolute and (with `must_exist`) an existing file.

    :raises RpcError: INVALID_PATH.
    """
    if not os.path.isabs(path):
        problem = "is not an absolute path"
    elif must_exist and not os.path.isfile(path):
        problem = "does not exist"
    else:
        return Path(os.path.normpath(path))
    raise RpcError(ErrorCode.INVALID_PATH, f"{path} {problem}", path=path)
