"""Version-control storms: a workspace's changes held back while git works.

While `.git/index.lock` (or another lock of `sorting.GIT_LOCKS`) exists,
the watcher's changed paths are held here and sent together once the
operation ends, so the index never mirrors half a checkout. A lock older
than `STORM_LIMIT_S` is taken for stale and ignored until it goes (a stuck
lock must not freeze the index). `Storms.clock` sleeps until a storm starts
(an event, not a timer: a daemon idles for weeks), then looks every
`STORM_POLL_S` whether it is over.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import anyio
import structlog

from axd.daemon.index.changes import Changed, RescanNeeded
from axd.daemon.index.sorting import GIT_LOCKS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from collections.abc import Set as AbstractSet
    from pathlib import Path

    from axd.daemon.index.changes import WatchMessage
    from axd.daemon.index.watcher import WatchState

log = structlog.get_logger()

# The longest a storm may hold changes back.
STORM_LIMIT_S = 60.0
# Changes held at most during a storm; past that, a stat pass finds them.
STORM_MAX_PATHS = 200_000
# How often the end of a running storm is checked.
STORM_POLL_S = 0.1


class Storms:
    """The storm state of one workspace's watcher (module docstring)."""

    def __init__(self, root: Path, state: WatchState) -> None:
        self.root = root
        self.state = state  # its `storm` flag is what health reports
        self._held: dict[str, float] = {}  # path -> when its change happened
        self._held_created: set[str] = set()
        self._started: float | None = None  # monotonic
        self._begun = anyio.Event()
        self._stale_lock = False
        # A rescan asked for during a storm runs when the storm ends.
        self.rescan_after = False

    @property
    def active(self) -> bool:
        """Whether a storm holds changes now (until `clock` releases it)."""
        return self._started is not None

    def check(self) -> bool:
        """Whether a git operation is running now (starts a storm if so)."""
        locked = any(os.path.exists(self.root / lock) for lock in GIT_LOCKS)
        if not locked:
            self._stale_lock = False
            return False
        if self._stale_lock:
            return False
        if self._started is None:
            self._started = time.monotonic()
            self.state.storm = True
            self._begun.set()
            log.info("vcs_storm_started", root=str(self.root))
            return True
        if time.monotonic() - self._started < STORM_LIMIT_S:
            return True
        log.warning("vcs_storm_too_long", root=str(self.root), seconds=STORM_LIMIT_S)
        self._stale_lock = True
        return False

    def hold(self, paths: Iterable[str], created: AbstractSet[str], now: float) -> None:
        """Keep changed paths (changed at wall-clock `now`) until the end."""
        for path in paths:
            if len(self._held) >= STORM_MAX_PATHS:
                self.rescan_after = True  # too many to hold: a stat pass
                return
            self._held.setdefault(path, now)
            if path in created:
                self._held_created.add(path)

    async def clock(self, send: Callable[[WatchMessage], Awaitable[None]]) -> None:
        """Release held changes through `send` once the git lock is gone."""
        while True:
            if self._started is None:
                await self._begun.wait()
                self._begun = anyio.Event()
                continue
            await anyio.sleep(STORM_POLL_S)
            if self.check():
                continue
            held, self._held = self._held, {}
            created, self._held_created = self._held_created, set()
            log.info(
                "vcs_storm_ended",
                root=str(self.root),
                paths=len(held),
                seconds=round(time.monotonic() - self._started, 2),
            )
            self._started = None
            self.state.storm = False
            if self.rescan_after:
                self.rescan_after = False
                await send(RescanNeeded())
            if held:
                await send(
                    Changed(
                        frozenset(held),
                        min(held.values()),
                        frozenset(created),
                        together=True,
                    )
                )
