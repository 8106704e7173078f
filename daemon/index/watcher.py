"""Follows one workspace's files with watchfiles and tells its indexer.

The watcher holds no indexer: it sends `WatchMessage`s (changed paths, "a
stat pass is needed", "the root is gone / back") down a bounded memory
object stream the indexer reads, so a lagging indexer blocks the watcher's
`send()` (ARCHITECTURE.md, backpressure). What it needs of the ignore rules
it asks the workspace's `WorkspaceRules`, which the indexer is given too.

* **Watch budget.** watchfiles registers recursive watches before any
  filter runs (watchfiles#341), so watching the root recursively would
  spend inotify watches on ignored trees like node_modules. We watch the
  root itself non-recursively (its files, and new top-level directories)
  and each kept top-level directory recursively; an ignored top-level
  directory costs nothing.
* **Fallback.** When native watching fails (inotify limits, an error
  mid-stream) the workspace switches to polling, schedules a reconciling
  stat pass, and reports DEGRADED with the reason. It never silently stops
  following a workspace. Running out of inotify watches is predicted, and
  detected after, by `index/inotify.py`; the reason says how to raise it.
* **Out of process.** The watches themselves live in a child process
  (`index/notifyproc.py`): watchfiles adds them holding the GIL, which
  stopped the whole daemon for seconds on a large tree. A child that dies
  is replaced (natively, with a rescan), not taken for a system limit.
* **Version-control storms.** While `.git/index.lock` (or another git
  lock) exists, changed paths are held back, then queued together once the
  operation ends, so the index never mirrors half a checkout
  (`index/storms.py`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.abc
import structlog
from watchfiles import Change

from axd.daemon.events import WatcherFellBack
from axd.daemon.index import inotify
from axd.daemon.index.changes import Changed, RescanNeeded, RootBack, RootGone
from axd.daemon.index.notifyproc import (
    NotifyProcess,
    WatchGroup,
    WatchProcessLost,
    WatchSpec,
)
from axd.daemon.index.sorting import sort_changes
from axd.daemon.index.storms import Storms

if TYPE_CHECKING:
    from pathlib import Path

    from anyio.streams.memory import MemoryObjectSendStream

    from axd.daemon.config import WatchConfig
    from axd.daemon.events import Events
    from axd.daemon.index.changes import WatchMessage
    from axd.daemon.index.rules import WorkspaceRules

log = structlog.get_logger()

WatchMode = Literal["native", "polling", "stopped", "none"]
# How often a vanished root's return is checked.
ROOT_POLL_S = 0.5
WATCH_TIMEOUT_MS = 5_000  # one wait for events, then simply another
# After the watch process died: a pause, so one that dies at once cannot spin,
# and past LOST_LIMIT deaths within LOST_WINDOW_S, polling instead.
WATCH_RESTART_S = 0.5
LOST_LIMIT = 5
LOST_WINDOW_S = 60.0


@dataclass(slots=True)
class WatchState:
    """What health and metrics report about one workspace's watcher."""

    mode: WatchMode = "none"
    reason: str | None = None
    watched_dirs: int = 0
    fallbacks: int = 0
    events: int = 0
    storm: bool = False


class Watcher:
    """Watches one workspace root and sends what changed to its indexer."""

    def __init__(
        self,
        root: Path,
        workspace_id: str,
        rules: WorkspaceRules,
        config: WatchConfig,
        events: Events,
    ) -> None:
        self.root = root
        self.workspace_id = workspace_id
        self.rules = rules
        self.config = config
        self.events = events
        self.state = WatchState()
        self.storms = Storms(root, self.state)
        self._restart = anyio.Event()
        self._tops: frozenset[str] = frozenset()
        self._out: MemoryObjectSendStream[WatchMessage] | None = None
        self._counted: dict[Path, int] = {}  # directories under each top
        self._lost: list[float] = []  # when watch processes were lost (monotonic)

    async def run(
        self,
        out: MemoryObjectSendStream[WatchMessage],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Watch until cancelled, sending to `out`; re-plans when top-level
        directories change. Started once the first watches are in place."""
        async with out:
            self._out = out
            await self._run(task_status)

    async def _send(self, message: WatchMessage) -> None:
        assert self._out is not None, "run() first"
        await self._out.send(message)

    async def _run(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        started = False
        planned = False
        force_polling = self.config.force_polling
        while True:
            if not self.root.is_dir():
                reason = f"workspace root {self.root} no longer exists"
                self._set_mode("stopped", reason)
                await self._send(RootGone(reason))
                if not started:
                    task_status.started()
                    started = True
                await self._wait_for_root()
                # The indexer's pass for the root's return ran before the new
                # watches were in: a rescan once they are in sees what
                # changed in between.
                planned = True
                continue
            if force_polling:
                self._set_mode(
                    "polling",
                    "force_polling is set in [watch]"
                    if self.config.force_polling
                    else self.state.reason,
                )
            tops = await anyio.to_thread.run_sync(self._top_level_dirs)
            if not force_polling:
                too_many = await anyio.to_thread.run_sync(self._predict, tops)
                if too_many is not None:
                    force_polling = True
                    await self._fall_back(too_many)
            failure = await self._watch_until_replan(
                tops,
                force_polling,
                task_status if not started else None,
                rescan=planned,
            )
            started = True
            planned = True
            if failure is None:
                continue
            if isinstance(failure, WatchProcessLost) and self._lost_again():
                # Not a limit of the system: watch natively again, and the
                # re-plan's rescan finds what changed meanwhile.
                log.warning(
                    "watch_process_lost", root=str(self.root), error=str(failure)
                )
                await anyio.sleep(WATCH_RESTART_S)
                continue
            if force_polling:
                log.error(
                    "polling_watch_failed", root=str(self.root), error=str(failure)
                )
                await anyio.sleep(1)
                continue
            force_polling = True
            which = inotify.is_limit_error(failure)
            await self._fall_back(
                inotify.limit_reason(which, inotify.limits())
                if which is not None
                else f"native watching failed ({failure}); polling instead"
            )
            # Changes may have been missed while the watch broke.
            await self._request_rescan()

    def _lost_again(self) -> bool:
        """Whether to start another watch process after losing one: not
        when `LOST_LIMIT` were lost within `LOST_WINDOW_S` (then polling)."""
        now = time.monotonic()
        self._lost = [t for t in self._lost if now - t < LOST_WINDOW_S] + [now]
        return len(self._lost) <= LOST_LIMIT

    def _predict(self, tops: list[str]) -> str | None:
        """Why the plan cannot be watched natively, or None. In a thread."""
        needed, reason = inotify.claim(
            self.workspace_id, self.root, [self.root / n for n in tops], self._counted
        )
        self.state.watched_dirs = needed if reason is None else 0
        return reason

    async def _fall_back(self, reason: str) -> None:
        """Switch to polling (the caller re-plans with `force_polling`)."""
        inotify.release(self.workspace_id)
        self._set_mode("polling", reason)
        self.state.watched_dirs = 0
        self.state.fallbacks += 1
        self.events.publish(WatcherFellBack(str(self.root), self.workspace_id))

    async def _watch_until_replan(
        self,
        tops: list[str],
        force_polling: bool,
        task_status: anyio.abc.TaskStatus[None] | None,
        *,
        rescan: bool = False,
    ) -> BaseException | None:
        """Watch until the top-level directories change; the failure, if any.

        With `rescan`, reconcile once the new watches are in place: changes
        made while the watches were being replaced were seen by nobody.
        """
        self._restart = anyio.Event()
        self._tops = frozenset(tops)
        # awatch's thread only notices cancellation at its rust timeout
        # (5 s); setting its stop event ends it within one step.
        stop = anyio.Event()
        failure: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._stop_on_cancel, stop)
                # The root's own entries, and each kept top-level directory
                # with everything below it.
                groups = [WatchGroup([str(self.root)], recursive=False)]
                if tops:
                    groups.append(
                        WatchGroup([str(self.root / n) for n in tops], recursive=True)
                    )
                await tg.start(self._watch, groups, force_polling, stop)
                tg.start_soon(self.storms.clock, self._send)
                tg.start_soon(self._root_guard)
                # A top-level directory made between listing them and the
                # root's watch going in sent no event: nothing would ever
                # watch it. Look again now that the root is watched.
                if await anyio.to_thread.run_sync(self._top_level_dirs) != tops:
                    self._restart.set()
                if not force_polling:
                    self._set_mode("native", None)
                if task_status is not None:
                    task_status.started()
                if rescan:
                    await self._request_rescan()
                await self._restart.wait()
                stop.set()
                tg.cancel_scope.cancel()
        except* (OSError, RuntimeError) as group:
            failure = group.exceptions[0]
        finally:
            inotify.release(self.workspace_id)
        return failure

    async def _root_guard(self) -> None:
        """Re-plan when the root goes (a moved root may send no event)."""
        while await anyio.to_thread.run_sync(self.root.is_dir):  # noqa: ASYNC110 - a moved root may send no event to wait on
            await anyio.sleep(ROOT_POLL_S)
        self._restart.set()

    @staticmethod
    async def _stop_on_cancel(stop: anyio.Event) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            stop.set()

    def _set_mode(self, mode: WatchMode, reason: str | None) -> None:
        if (mode, reason) != (self.state.mode, self.state.reason):
            log.info("watch_mode", root=str(self.root), mode=mode, reason=reason)
        self.state.mode = mode
        self.state.reason = reason

    async def _wait_for_root(self) -> None:
        while not self.root.is_dir():  # noqa: ASYNC110 - a deleted root sends no events to wait on
            await anyio.sleep(ROOT_POLL_S)
        log.info("workspace_root_back", root=str(self.root))
        await self._send(RootBack())

    async def _request_rescan(self) -> None:
        """Reconcile now, or when the running git operation ends."""
        if self.storms.active:
            self.storms.rescan_after = True
        else:
            await self._send(RescanNeeded())

    def _top_level_dirs(self) -> list[str]:
        names = []
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if entry.name == ".git":
                names.append(entry.name)  # storms and ignore-file changes live here
            elif not self.rules.is_ignored(entry.name, is_dir=True):
                names.append(entry.name)
        return sorted(names)

    async def _watch(
        self,
        groups: list[WatchGroup],
        force_polling: bool,
        stop: anyio.Event,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Follow `groups` (started once watched): `watchfiles.awatch`, but
        the watches (~27k for 100k files: seconds) go in in a child process,
        where they cannot hold this process's GIL (`notifyproc`)."""
        spec = WatchSpec(
            groups=groups,
            force_polling=force_polling,
            poll_delay_ms=self.config.poll_interval_ms,
            debounce_ms=max(self.config.debounce_ms, 1),
            step_ms=max(self.config.step_ms, 1),
        )
        notify = await anyio.to_thread.run_sync(NotifyProcess, spec)
        task_status.started()
        with notify:
            while True:
                try:
                    raw = await anyio.to_thread.run_sync(
                        notify.watch, WATCH_TIMEOUT_MS, stop
                    )
                except anyio.get_cancelled_exc_class():
                    stop.set()  # ends the thread's wait within one step
                    raise
                if raw == "stop":
                    return
                if raw == "timeout":
                    continue
                group, paths = raw
                changes = {(Change(change), path) for change, path in paths}
                await self._handle(changes, top_level=not groups[group].recursive)

    async def _handle(
        self, changes: set[tuple[Change, str]], *, top_level: bool
    ) -> None:
        now = time.time()
        self.state.events += len(changes)
        sorted_ = await anyio.to_thread.run_sync(
            sort_changes, self.root, self._tops, self.rules, changes, top_level
        )
        if sorted_.new_dirs and self.state.mode == "native" and not top_level:
            # notify drops a new directory's ENOSPC: raise it (then we poll)
            await anyio.to_thread.run_sync(inotify.check_watch_left, self.root)
        if sorted_.rules_changed:
            self.rules.reload()
            await self._request_rescan()
        if sorted_.lock_touched or sorted_.paths:
            # Until `Storms.clock` releases a storm, late events join it.
            storm = self.storms.check() or self.storms.active
        else:
            storm = False
        if sorted_.paths:
            if storm:
                self.storms.hold(sorted_.paths, sorted_.created, now)
            else:
                await self._send(
                    Changed(frozenset(sorted_.paths), now, frozenset(sorted_.created))
                )
        if sorted_.replan:
            self._restart.set()
