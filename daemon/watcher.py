"""Follows one workspace's files with watchfiles and feeds its indexer.

* **Watch budget.** watchfiles registers recursive watches before any
  filter runs (watchfiles#341), so watching the root recursively would
  spend inotify watches on ignored trees like node_modules. We watch the
  root itself non-recursively (its files, and new top-level directories)
  and each kept top-level directory recursively; an ignored top-level
  directory costs nothing.
* **Fallback.** When native watching fails (inotify limits, an error
  mid-stream) the workspace switches to polling, schedules a reconciling
  stat pass, and reports DEGRADED with the reason. It never silently stops
  following a workspace.
* **Version-control storms.** While `.git/index.lock` (or another git
  lock) exists, changed paths are held back, then queued together once the
  operation ends, so the index never mirrors half a checkout.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.abc
import structlog
from watchfiles import Change, awatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from .config import WatchConfig
    from .indexer import Indexer

log = structlog.get_logger()

WatchMode = Literal["native", "polling", "stopped", "none"]
# Locks git holds while it rewrites the work tree.
GIT_LOCKS = (".git/index.lock", ".git/HEAD.lock", ".git/MERGE_HEAD.lock")
# The longest a storm may hold changes back (a stuck lock must not freeze us).
STORM_LIMIT_S = 60.0
# Changes held at most during a storm; past that, they are queued anyway.
STORM_MAX_PATHS = 200_000


@dataclass(slots=True)
class WatchState:
    """What health and metrics report about one workspace's watcher."""

    mode: WatchMode = "none"
    reason: str | None = None
    watched_dirs: int = 0
    fallbacks: int = 0
    events: int = 0
    storm: bool = False


def inotify_limits() -> dict[str, int]:
    """fs.inotify limits (Linux), empty elsewhere."""
    limits = {}
    for name in ("max_user_watches", "max_user_instances", "max_queued_events"):
        try:
            limits[name] = int(Path(f"/proc/sys/fs/inotify/{name}").read_text())
        except (OSError, ValueError):
            pass
    return limits


class Watcher:
    """Watches one workspace root and queues changed paths on its indexer."""

    def __init__(self, root: Path, indexer: Indexer, config: WatchConfig) -> None:
        self.root = root
        self.indexer = indexer
        self.config = config
        self.state = WatchState()
        self._held: dict[str, float] = {}
        self._storm_started: float | None = None
        self._restart = anyio.Event()
        self.on_fallback: list[Callable[[], None]] = []

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Watch until cancelled; re-plans when top-level directories change."""
        started = False
        force_polling = self.config.force_polling
        if force_polling:
            self._set_mode("polling", "force_polling is set in [watch]")
        while True:
            if not self.root.is_dir():
                self._set_mode(
                    "stopped", f"workspace root {self.root} no longer exists"
                )
                self.indexer.fail(f"workspace root {self.root} no longer exists")
                if not started:
                    task_status.started()
                    started = True
                await self._wait_for_root()
                continue
            tops = await anyio.to_thread.run_sync(self._top_level_dirs)
            failure = await self._watch_until_replan(
                tops, force_polling, task_status if not started else None
            )
            started = True
            if failure is None:
                continue
            if force_polling:
                log.error(
                    "polling_watch_failed", root=str(self.root), error=str(failure)
                )
                await anyio.sleep(1)
                continue
            force_polling = True
            self._set_mode(
                "polling", f"native watching failed ({failure}); polling instead"
            )
            self.state.fallbacks += 1
            for callback in self.on_fallback:
                callback()
            # Changes may have been missed while the watch broke.
            self.indexer.request_rescan()

    async def _watch_until_replan(
        self,
        tops: list[str],
        force_polling: bool,
        task_status: anyio.abc.TaskStatus[None] | None,
    ) -> BaseException | None:
        """Watch until the top-level directories change; the failure, if any."""
        self._restart = anyio.Event()
        failure: BaseException | None = None
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch, [str(self.root)], False, force_polling)
                if tops:
                    tg.start_soon(
                        self._watch,
                        [str(self.root / name) for name in tops],
                        True,
                        force_polling,
                    )
                tg.start_soon(self._storm_clock)
                if not force_polling:
                    self._set_mode("native", None)
                self.state.watched_dirs = 1 + len(tops)
                if task_status is not None:
                    task_status.started()
                await self._restart.wait()
                tg.cancel_scope.cancel()
        except* (OSError, RuntimeError) as group:
            failure = group.exceptions[0]
        return failure

    def _set_mode(self, mode: WatchMode, reason: str | None) -> None:
        if (mode, reason) != (self.state.mode, self.state.reason):
            log.info("watch_mode", root=str(self.root), mode=mode, reason=reason)
        self.state.mode = mode
        self.state.reason = reason

    async def _wait_for_root(self) -> None:
        while not self.root.is_dir():  # noqa: ASYNC110 - a deleted root sends no events to wait on
            await anyio.sleep(2)
        log.info("workspace_root_back", root=str(self.root))
        self.indexer.failed = None
        self.indexer.request_rescan()

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
            elif not self.indexer.is_ignored(entry.name, is_dir=True):
                names.append(entry.name)
        return sorted(names)

    async def _watch(
        self, paths: list[str], recursive: bool, force_polling: bool
    ) -> None:
        async for changes in awatch(
            *paths,
            watch_filter=None,
            debounce=max(self.config.debounce_ms, 1),
            step=max(self.config.step_ms, 1),
            recursive=recursive,
            force_polling=force_polling,
            poll_delay_ms=self.config.poll_interval_ms,
            ignore_permission_denied=True,
            raise_interrupt=False,
        ):
            await self._handle(changes, top_level=not recursive)

    async def _handle(
        self, changes: set[tuple[Change, str]], *, top_level: bool
    ) -> None:
        now = time.time()
        self.state.events += len(changes)
        paths, replan, rescan = await anyio.to_thread.run_sync(
            self._sort_changes, changes, top_level
        )
        if rescan:
            self.indexer.reload_rules()
            self.indexer.request_rescan()
        if paths:
            if self._storm_check():
                for path in paths:
                    if len(self._held) < STORM_MAX_PATHS:
                        self._held[path] = now
                    else:  # too many to hold: a full stat pass will find them
                        self.indexer.request_rescan()
                        break
            else:
                await self.indexer.enqueue_changes(paths, event_time=now)
        if replan:
            self._restart.set()

    def _sort_changes(
        self, changes: set[tuple[Change, str]], top_level: bool
    ) -> tuple[set[str], bool, bool]:
        """(paths to queue, re-plan watches?, rules changed?) — in a thread."""
        root = str(self.root)
        replan = False
        rescan = False
        paths: set[str] = set()
        for change, absolute in changes:
            relative = os.path.relpath(absolute, root).replace(os.sep, "/")
            if relative.startswith("..") or relative == ".":
                replan = replan or not self.root.is_dir()
                continue
            # A top-level directory appeared or vanished: watch it (or not).
            if (
                top_level
                and "/" not in relative
                and change != Change.modified
                and (change == Change.deleted or os.path.isdir(absolute))
            ):
                replan = True
            if relative.startswith(".git/"):
                if relative == ".git/info/exclude":
                    rescan = True
                elif relative in GIT_LOCKS:
                    self._storm_check()
                continue
            if self.indexer.is_ignore_file(relative):
                rescan = True
            paths.add(relative)
        return paths, replan, rescan

    def _storm_check(self) -> bool:
        """Whether a git operation is running now; flushes when it ended."""
        locked = any(os.path.exists(self.root / lock) for lock in GIT_LOCKS)
        if locked and self._storm_started is None:
            self._storm_started = time.monotonic()
            self.state.storm = True
            log.info("vcs_storm_started", root=str(self.root))
        if locked and self._storm_started is not None:
            if time.monotonic() - self._storm_started < STORM_LIMIT_S:
                return True
            log.warning(
                "vcs_storm_too_long", root=str(self.root), seconds=STORM_LIMIT_S
            )
        return False

    async def _storm_clock(self) -> None:
        """Release held changes once the git lock is gone."""
        while True:
            await anyio.sleep(0.1)
            if self._storm_started is None:
                continue
            if self._storm_check():
                continue
            held, self._held = self._held, {}
            log.info(
                "vcs_storm_ended",
                root=str(self.root),
                paths=len(held),
                seconds=round(time.monotonic() - self._storm_started, 2),
            )
            self._storm_started = None
            self.state.storm = False
            if held:
                await self.indexer.enqueue_changes(
                    set(held), event_time=min(held.values())
                )
