"""Workspaces: which roots the daemon indexes, their state, and persistence.

A workspace is an absolute, resolved root. Its state lives under
``<state_dir>/workspaces/<id>/`` (`index.db`, `snapshots/`), `id` being a
hash of the root. The list of roots is kept in ``workspaces.json``
(written atomically), so a restarted daemon resumes every workspace it had.

Each workspace is a store with its one writer, its ignore rules, an indexer
and a watcher joined by a bounded stream; the manager runs them, publishes
`WorkspaceAdded` / `WorkspaceRemoved`, and reads `BatchCommitted` events for
each workspace's `last_indexed_at`.

Size: adding, reopening, removing, waiting on and persisting workspaces
share one lock, one task group and one registry file; split, they would
pass all three around.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import structlog

from axd.daemon.clock import utc_now
from axd.daemon.events import (
    BatchCommitted,
    WorkspaceAdded,
    WorkspaceRemoved,
    WorkspaceStateChanged,
)
from axd.daemon.index.changes import STREAM_DEPTH, WatchMessage
from axd.daemon.index.committer import Committer
from axd.daemon.index.indexer import Indexer, is_complete
from axd.daemon.index.planner import Planner
from axd.daemon.index.rules import WorkspaceRules
from axd.daemon.index.watcher import Watcher
from axd.daemon.permissions import private_dir, private_file
from axd.daemon.store.diskspace import is_disk_full
from axd.daemon.store.recovery import INDEX, open_checked, recover
from axd.daemon.store.writer import Writer
from axd.daemon.supervise import describe, supervised, unwrap
from axd.protocol.errors import ErrorCode, RpcError, invalid_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.daemon.config import Config
    from axd.daemon.events import Event, Events
    from axd.daemon.index.pool import WorkerPool
    from axd.daemon.store.recovery import Fallback
    from axd.daemon.store.store import Store

log = structlog.get_logger()

# An index up to this size gets `quick_check_at_open` before it serves
# (~0.3 s here); a larger one right after, in the background (#16: a 2 GB
# index took tens of seconds to check, and queries waited for it).
CHECK_BEFORE_SERVING_BYTES = 64 * 1024 * 1024


def workspace_id(root: str) -> str:
    """A short stable id for a root (the name of its state directory)."""
    return hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass(eq=False)
class Workspace:
    """One indexed root: its store and writer, its indexer, and their lifecycle."""

    root: str
    id: str
    directory: Path
    store: Store
    writer: Writer
    rules: WorkspaceRules
    indexer: Indexer
    watcher: Watcher
    added_at: str
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    error: str | None = None
    last_indexed_at: str | None = None
    # Index safety (#11): why the workspace serves a fallback (quarantined
    # database, snapshot, rolled-back schema) until that is over; a full
    # disk is the committer's own `paused`. Set through the manager's
    # `set_degraded`, which publishes the change.
    degraded: str | None = None
    rebuilding: bool = False  # degraded with no snapshot to serve meanwhile

    @property
    def unservable(self) -> str | None:
        """Why queries must wait (a damaged index rebuilt from scratch)."""
        return self.degraded if self.rebuilding and self.degraded else None

    @property
    def degraded_reason(self) -> str | None:
        """Why the workspace is degraded (damage, rollback, full disk), or None."""
        return self.degraded or self.indexer.committer.paused

    @property
    def state(self) -> str:
        """indexing | ready | degraded | error.

        A warm start is `ready` while its stat pass runs (`detail`
        "reconciling"): nothing is queued, and what the pass finds turns it
        `indexing` like any change.
        """
        if self.error or self.indexer.failed:
            return "error"
        if self.degraded_reason:
            return "degraded"
        return "ready" if self.indexer.serving else "indexing"

    @property
    def detail(self) -> str | None:
        """What a workspace is doing besides its state ("reconciling")."""
        return "reconciling" if self.indexer.reconciling else None

    @property
    def generation(self) -> int:
        """The last committed generation."""
        return self.store.generation

    def contains(self, path: str) -> bool:
        """Whether an absolute path is inside this root."""
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")


class WorkspaceManager:
    """Adds, removes, persists and finds workspaces."""

    def __init__(
        self, config: Config, state_dir: Path, pool: WorkerPool, events: Events
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.pool = pool
        self.events = events
        self.workspaces: dict[str, Workspace] = {}
        self._tg: anyio.abc.TaskGroup | None = None  # run()'s, while it runs
        self._registry_path = state_dir / "workspaces.json"
        self._lock = anyio.Lock()

    # -- lookup -----------------------------------------------------------------

    def roots(self) -> list[str]:
        """Every workspace root, sorted."""
        return sorted(self.workspaces)

    def find(self, root: str) -> Workspace:
        """The workspace containing `root` (any path inside a workspace works).

        :raises RpcError: INVALID_PATH for a relative path, UNKNOWN_WORKSPACE
            when no workspace contains it.
        """
        if not os.path.isabs(root):
            raise invalid_path(f"root must be an absolute path: {root!r}", root)
        candidates = {os.path.normpath(root)}
        try:
            candidates.add(os.path.realpath(root))
        except OSError:
            pass
        best: Workspace | None = None
        for candidate in candidates:
            for workspace in self.workspaces.values():
                if workspace.contains(candidate) and (
                    best is None or len(workspace.root) > len(best.root)
                ):
                    best = workspace
        if best is None:
            raise RpcError(
                ErrorCode.UNKNOWN_WORKSPACE,
                f"{root} is not inside any workspace; add it with workspace.add",
                root=root,
            )
        return best

    # -- lifecycle ----------------------------------------------------------------

    async def run(
        self,
        initial_roots: list[str],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Resume every persisted workspace, add `initial_roots`, then run
        them (each indexes in the background) until cancelled. Started once
        they are all added."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            await tg.start(self.events.follow, self._on_event)
            for root in self._load_registry():
                try:
                    await self.add(root, persist=False)
                except RpcError as exc:
                    log.warning("workspace_not_resumed", root=root, reason=exc.message)
            for root in initial_roots:
                await self.add(root)
            task_status.started()

    def _on_event(self, event: Event) -> None:
        """Each workspace's `last_indexed_at`, from its committed batches."""
        if isinstance(event, BatchCommitted):
            workspace = self.workspaces.get(event.root)
            if workspace is not None:
                workspace.last_indexed_at = utc_now()

    async def add(self, root: str, *, persist: bool = True) -> Workspace:
        """Add (or return the existing) workspace for `root`.

        :raises RpcError: INVALID_PATH when relative, missing or not a directory.
        """
        if not os.path.isabs(root):
            raise invalid_path(f"root must be an absolute path: {root!r}", root)
        resolved, problem = await anyio.to_thread.run_sync(_check_root, root)
        if problem:
            raise invalid_path(f"{root} {problem}", root)
        async with self._lock:
            existing = self.workspaces.get(resolved)
            if existing is not None:
                return existing
            workspace = await self._open(resolved)
            self.workspaces[resolved] = workspace
            if persist:
                self._save_registry()
        assert self._tg is not None, "run() first"
        self._tg.start_soon(self._run, workspace)
        self.events.publish(WorkspaceAdded(workspace.root, workspace.id))
        log.info("workspace_added", root=resolved, id=workspace.id)
        return workspace

    async def _open(
        self, root: str, damaged: str | None = None, fallback: Fallback | None = None
    ) -> Workspace:
        ident = workspace_id(root)
        directory = self.state_dir / "workspaces" / ident
        created = not directory.exists()
        try:
            # State holds indexed source text: the user's alone (0700 / 0600).
            private_dir(directory)
            private_file(directory / "root").write_text(
                root + "\n", encoding="utf-8", errors="surrogateescape"
            )
            # Checked at open; damage is quarantined (store/recovery.py, #11).
            # A large index is checked once it serves (`_check_at_open`).
            check = self.config.snapshots.quick_check_at_open and (
                _size(directory / INDEX) <= CHECK_BEFORE_SERVING_BYTES
            )
            opened = await anyio.to_thread.run_sync(
                lambda: (
                    recover(directory, root, damaged, fallback)
                    if damaged
                    else open_checked(directory, root, check=check)
                )
            )
            warm = await anyio.to_thread.run_sync(is_complete, opened.store)
        except Exception as exc:
            if created:  # a failed add leaves nothing behind
                shutil.rmtree(directory, ignore_errors=True)
            if is_disk_full(exc):
                raise RpcError(
                    ErrorCode.CONFLICT,
                    f"cannot create the index of {root}: the disk is full",
                    reason="disk_full",
                ) from exc
            raise
        store = opened.store
        writer = Writer(store)
        rules = WorkspaceRules(Path(root), self.config.index.exclude)
        index, watch, events = self.config.index, self.config.watch, self.events
        planner = Planner(Path(root), store, rules, index)
        committer = Committer(Path(root), ident, writer, self.pool, index, events)
        return Workspace(
            root=root,
            id=ident,
            directory=directory,
            store=store,
            writer=writer,
            rules=rules,
            indexer=Indexer(planner, committer, index, warm=warm),
            watcher=Watcher(Path(root), ident, rules, watch, events),
            added_at=utc_now(),
            degraded=opened.degraded,
            rebuilding=bool(opened.degraded) and opened.from_snapshot is None,
        )

    async def _run(self, workspace: Workspace) -> None:
        """Index and watch `workspace` until removed. A crash there ends this
        workspace only: `error` with the reason while the others keep
        serving, then a restart with a back-off (a bug met once, e.g. on one
        odd file, must not leave the workspace stale for weeks)."""

        def crashed(exc: BaseException) -> None:
            workspace.error = describe(unwrap(exc))
            workspace.indexer.fail(workspace.error)  # wakes index.wait callers

        with workspace.scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._check_at_open, workspace)
                run = partial(self._index_and_watch, workspace)
                await supervised(
                    "workspace",
                    run,
                    on_crash=crashed,
                    restart=True,
                    root=workspace.root,
                )

    async def _check_at_open(self, workspace: Workspace) -> None:
        """`quick_check_at_open` for an index too large to check before it
        serves (it reads the whole file: seconds per GB): checked in the
        background; damage found goes the way of damage found while serving."""
        if not self.config.snapshots.quick_check_at_open:
            return
        size = await anyio.to_thread.run_sync(_size, workspace.store.path)
        if size <= CHECK_BEFORE_SERVING_BYTES:
            return  # checked by `_open`
        # After the first stat pass: both read a lot, and the pass comes first.
        while True:
            changed = workspace.indexer.change_event()
            if not workspace.indexer.busy or workspace.indexer.failed:
                break
            await changed.wait()
        try:
            result = await anyio.to_thread.run_sync(
                _at_low_priority, workspace.store.quick_check
            )
        except Exception as exc:  # noqa: BLE001 - closed meanwhile: nothing to check
            log.debug("quick_check_skipped", root=workspace.root, error=str(exc))
            return
        log.info("quick_check_at_open", root=workspace.root, ok=result == "ok")
        if result != "ok" and workspace.store.on_damage is None and self._tg:
            # Nobody was told (index safety not following): reopen, outside
            # this workspace's scope, which the reopen cancels.
            self._tg.start_soon(self.reopen, workspace, f"quick_check: {result[:300]}")

    async def _index_and_watch(self, workspace: Workspace) -> None:
        changes = anyio.create_memory_object_stream[WatchMessage](STREAM_DEPTH)
        changes_tx, changes_rx = changes
        # Closed here too: a task cancelled before it began leaves its end open.
        with changes_tx, changes_rx:
            async with anyio.create_task_group() as tg:
                # The watcher starts first, and its watches go in while the
                # first stat pass runs (seconds each on a large tree); the
                # indexer re-checks what the pass saw once they are in, and a
                # change made meanwhile waits in the stream: none is lost.
                watching = anyio.Event()

                async def watch() -> None:
                    await tg.start(workspace.watcher.run, changes_tx)
                    watching.set()

                tg.start_soon(watch)
                await tg.start(
                    partial(workspace.indexer.run, changes_rx, watching=watching)
                )
                if workspace.error is not None:  # restarted after a crash
                    log.info("workspace_restarted", root=workspace.root)
                    workspace.error = None
                    workspace.indexer.recover()

    def set_degraded(self, workspace: Workspace, reason: str | None) -> None:
        """Mark `workspace` degraded (or no longer, with None) and publish
        the state change (call on the event loop)."""
        if workspace.degraded == reason:
            return
        workspace.degraded = reason
        if reason is None:
            workspace.rebuilding = False
        self.events.publish(
            WorkspaceStateChanged(
                workspace.root, workspace.id, workspace.state, workspace.degraded_reason
            )
        )

    async def reopen(
        self, workspace: Workspace, reason: str, fallback: Fallback | None = None
    ) -> Workspace:
        """Replace a workspace whose database was found damaged while serving
        (#11): stop it, quarantine the file, open again (from the newest good
        snapshot if any, `fallback` when prepared beforehand), index what
        differs; the replacement is returned."""
        async with self._lock:
            if self.workspaces.get(workspace.root) is not workspace:
                return self.workspaces.get(workspace.root) or workspace
            workspace.scope.cancel()  # its waiters are woken by the caller, once done
            # No checkpoint: the file is damaged and about to be moved aside.
            await workspace.writer.close(checkpoint=False)
            fresh = await self._open(workspace.root, reason, fallback)
            fresh.added_at = workspace.added_at
            self.workspaces[workspace.root] = fresh
        assert self._tg is not None, "run() first"
        self._tg.start_soon(self._run, fresh)
        self.events.publish(
            WorkspaceStateChanged(fresh.root, fresh.id, fresh.state, fresh.degraded)
        )
        return fresh

    async def remove(self, root: str, *, purge: bool) -> None:
        """Stop indexing `root`; `purge` also deletes its state directory.

        :raises RpcError: as `find`.
        """
        workspace = self.find(root)
        async with self._lock:
            self.workspaces.pop(workspace.root, None)
            self._save_registry()
        workspace.scope.cancel()
        self.events.publish(WorkspaceRemoved(workspace.root, workspace.id))
        await workspace.writer.close()
        if purge:
            await anyio.to_thread.run_sync(
                lambda: shutil.rmtree(workspace.directory, ignore_errors=True)
            )
        log.info("workspace_removed", root=workspace.root, purged=purge)

    async def close(self) -> None:
        """Stop every indexer, checkpoint and close every store."""
        for workspace in list(self.workspaces.values()):
            workspace.scope.cancel()
        for workspace in list(self.workspaces.values()):
            try:
                await workspace.writer.close()
            except Exception:
                log.exception("store_close_failed", root=workspace.root)

    # -- waiting ------------------------------------------------------------------

    async def wait(
        self, workspace: Workspace, generation: int | None, timeout_s: float
    ) -> None:
        """Until the queue is empty and (if given) `generation` is committed.

        :raises RpcError: TIMEOUT after `timeout_s`.
        """
        with anyio.move_on_after(max(0.0, timeout_s)):
            while True:
                workspace = self.workspaces.get(workspace.root, workspace)  # reopened
                changed = workspace.indexer.change_event()
                reached = generation is None or workspace.generation >= generation
                if reached and not workspace.indexer.busy and workspace.indexer.ready:
                    return
                if workspace.state == "error":
                    return
                await changed.wait()
        raise RpcError(
            ErrorCode.TIMEOUT,
            f"index.wait timed out after {timeout_s:g} s (generation {workspace.generation}"
            + (
                f", waiting for {generation})"
                if generation is not None
                else ", queue not empty)"
            ),
            generation=workspace.generation,
            queue_depth=workspace.indexer.queue_depth,
        )

    async def wait_generation(
        self, workspace: Workspace, generation: int, timeout_s: float
    ) -> None:
        """Until `generation` is committed (read-your-writes for queries).

        :raises RpcError: TIMEOUT after `timeout_s`.
        """
        with anyio.move_on_after(max(0.0, timeout_s)):
            while workspace.generation < generation:
                await workspace.indexer.change_event().wait()
                workspace = self.workspaces.get(workspace.root, workspace)  # reopened
            return
        raise RpcError(
            ErrorCode.TIMEOUT,
            f"generation {generation} not reached within {timeout_s:g} s (now {workspace.generation})",
            generation=workspace.generation,
        )

    # -- persistence --------------------------------------------------------------

    def _load_registry(self) -> list[str]:
        try:
            data = json.loads(self._registry_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.error(
                "workspace_registry_unreadable",
                path=str(self._registry_path),
                error=str(exc),
            )
            return []
        return [
            str(entry["root"])
            for entry in data.get("workspaces", [])
            if "root" in entry
        ]

    def _save_registry(self) -> None:
        payload = {
            "version": 1,
            "workspaces": [
                {"root": ws.root, "id": ws.id, "added_at": ws.added_at}
                for ws in self.workspaces.values()
            ],
        }
        private_dir(self.state_dir)
        temporary = private_file(self._registry_path.with_suffix(".json.tmp"))
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._registry_path)


def _at_low_priority(fn: Callable[[], str]) -> str:
    """`fn()` in a thread of its own at the lowest CPU priority (Linux threads
    have their own nice value; it cannot be raised back, hence the thread):
    a minute of checking a large index must not slow down edits meanwhile."""
    outcome: list[str | BaseException] = []

    def run() -> None:
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            outcome.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            outcome.append(exc)

    thread = threading.Thread(target=run, name="axd-quick-check", daemon=True)
    thread.start()
    thread.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _check_root(root: str) -> tuple[str, str | None]:
    """The resolved root, and why it cannot be a workspace (or None)."""
    resolved = os.path.realpath(root)
    if not os.path.exists(resolved):
        return resolved, "does not exist"
    if not os.path.isdir(resolved):
        return resolved, "is not a directory"
    if not os.access(resolved, os.R_OK | os.X_OK):
        return resolved, "is not readable"
    return resolved, None


__all__ = ["Workspace", "WorkspaceManager", "workspace_id"]
