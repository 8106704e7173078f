"""Workspaces: which roots the daemon indexes, their state, and persistence.

A workspace is an absolute, resolved root. Its state lives under
``<state_dir>/workspaces/<id>/`` (`index.db`, `snapshots/`), `id` being a
hash of the root. The list of roots is kept in ``workspaces.json``
(written atomically), so a restarted daemon resumes every workspace it had.

Each workspace is a store with its one writer, its ignore rules, an indexer
and a watcher joined by a bounded stream; the manager runs them, publishes
`WorkspaceAdded` / `WorkspaceRemoved`, and reads `BatchCommitted` events for
each workspace's `last_indexed_at`.

Size: one manager, because adding, opening, reopening a damaged index (#11)
and removing share its lock, its task group and the open sequence.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
from axd.daemon.index.indexer import Indexer
from axd.daemon.index.planner import Planner
from axd.daemon.index.rules import WorkspaceRules
from axd.daemon.index.watcher import Watcher
from axd.daemon.permissions import private_dir, private_file
from axd.daemon.store.diskspace import is_disk_full
from axd.daemon.store.recovery import open_checked, recover
from axd.daemon.store.writer import Writer
from axd.daemon.supervise import describe, supervised, unwrap
from axd.protocol.errors import ErrorCode, RpcError, invalid_path

if TYPE_CHECKING:
    from axd.daemon.config import Config
    from axd.daemon.events import Event, Events
    from axd.daemon.index.pool import WorkerPool
    from axd.daemon.store.recovery import Fallback
    from axd.daemon.store.store import Store

log = structlog.get_logger()


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
        """indexing | ready | degraded | error."""
        if self.error or self.indexer.failed:
            return "error"
        if self.degraded_reason:
            return "degraded"
        return "ready" if self.indexer.ready and not self.indexer.busy else "indexing"

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
            check = self.config.snapshots.quick_check_at_open
            opened = await anyio.to_thread.run_sync(
                lambda: (
                    recover(directory, root, damaged, fallback)
                    if damaged
                    else open_checked(directory, root, check=check)
                )
            )
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
            indexer=Indexer(planner, committer, index),
            watcher=Watcher(Path(root), ident, rules, watch, events),
            added_at=utc_now(),
            degraded=opened.degraded,
            rebuilding=bool(opened.degraded) and opened.from_snapshot is None,
        )

    async def _run(self, workspace: Workspace) -> None:
        """Index and watch `workspace` until removed. A crash there ends this
        workspace only: `error` with the reason, the others keep serving."""

        def crashed(exc: BaseException) -> None:
            workspace.error = describe(unwrap(exc))
            workspace.indexer.fail(workspace.error)  # wakes index.wait callers

        with workspace.scope:
            run = partial(self._index_and_watch, workspace)
            await supervised("workspace", run, on_crash=crashed, root=workspace.root)

    async def _index_and_watch(self, workspace: Workspace) -> None:
        changes = anyio.create_memory_object_stream[WatchMessage](STREAM_DEPTH)
        changes_tx, changes_rx = changes
        # Closed here too: a task cancelled before it began leaves its end open.
        with changes_tx, changes_rx:
            async with anyio.create_task_group() as tg:
                # The watcher starts first: a change made while the first
                # crawl runs waits in the stream, never lost.
                await tg.start(workspace.watcher.run, changes_tx)
                await tg.start(workspace.indexer.run, changes_rx)

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
