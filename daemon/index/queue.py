"""The per-workspace work queue: paths waiting to be (re)indexed.

De-duplicated (a path queued twice is indexed once, in its first place) and
bounded (ARCHITECTURE.md): once `limit` paths wait, the indexer stops taking
the watcher's messages, the watcher's bounded stream fills, and its `send()`
blocks until the queue drains. The indexer's own plans (the reconcile stat
pass, `index.reindex`) are added whole: they are already in memory, and a
stat pass that stops half-way would forget what it found.

A path is in at most one batch at a time: from `take` until its batch is in
the index (`land`), a path queued again (saved again, deleted) waits in the
queue. Two batches holding the same file parse it at different moments, and
the writer commits batches in the order their parses end: the older read
could be committed last and leave the index holding content the disk no
longer has, or a deleted file, until that file's next change.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import Iterable

# Paths that may wait before the watcher is held back (~100 bytes each).
QUEUE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Pending:
    """When paths were queued and when their change happened.

    One per `add` call, shared by every path it queued: a first index queues
    100,000 paths in a few calls, and an object per path was ~100 bytes of
    small objects per file held for the whole index (#16 target 2).
    """

    queued_at: float  # monotonic
    event_time: float | None  # wall clock of the filesystem event, if any
    force: bool = False


@dataclass(slots=True)
class Taken:
    """Paths taken from the queue for one batch."""

    paths: list[str]
    forced: set[str]
    event_times: list[float]


class WorkQueue:
    """Paths in arrival order, each once; bounded for the watcher's intake."""

    def __init__(self, limit: int = QUEUE_LIMIT) -> None:
        self.limit = max(1, limit)
        self._pending: dict[str, Pending] = {}
        self._taken = 0  # paths taken since `_pending` was last copied
        self._flying: set[str] = set()  # taken, not landed (module docstring)
        self._recorded: set[str] | None = None  # `record_taken`
        self._room = anyio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self,
        paths: Iterable[str],
        *,
        event_time: float | None = None,
        force: bool = False,
    ) -> int:
        """Queue paths (de-duplicated); returns how many were given."""
        pending = Pending(time.monotonic(), event_time, force)
        count = 0
        for path in paths:
            existing = self._pending.get(path)
            if existing is None:
                self._pending[path] = pending
            elif force and not existing.force:  # keeps its place in the queue
                self._pending[path] = Pending(
                    existing.queued_at, existing.event_time, force=True
                )
            count += 1
        if len(self._pending) >= self.limit and self._room.is_set():
            self._room = anyio.Event()
        return count

    def take(self, limit: int) -> Taken | None:
        """Pop up to `limit` paths, oldest first, and count them in flight
        until they `land`; a path still in flight stays queued, in its
        place. None when nothing can be taken."""
        taken = Taken([], set(), [])
        flying = self._flying
        for path, pending in self._pending.items():
            if len(taken.paths) >= limit:
                break
            if path in flying:
                continue  # its earlier batch is not in the index yet
            taken.paths.append(path)
            if pending.force:
                taken.forced.add(path)
            if pending.event_time is not None:
                taken.event_times.append(pending.event_time)
        flying.update(taken.paths)
        if self._recorded is not None:
            self._recorded.update(taken.paths)
        for path in taken.paths:
            del self._pending[path]
        # A dict's deleted entries stay in its table, where every later
        # iteration steps over them from the start: taking a first index's
        # 100,000 paths from the front cost 2.9 s of the daemon's CPU,
        # quadratic in the queue's length (#16). Copied once as many were
        # taken as remain, it holds only live entries (and shrinks: a dict
        # never does by itself), at a cost linear in what was taken.
        self._taken += len(taken.paths)
        if not self._pending or self._taken > len(self._pending):
            self._pending = dict(self._pending)
            self._taken = 0
        if len(self._pending) < self.limit:
            self._room.set()
        return taken if taken.paths else None

    def land(self, paths: Iterable[str]) -> None:
        """Taken `paths` are in the index, or given up on: no longer in
        flight, so a queued copy of any of them can be taken."""
        self._flying.difference_update(paths)

    def flying(self, path: str) -> bool:
        """Whether `path` was taken and has not landed."""
        return path in self._flying

    def record_taken(self) -> None:
        """From now until `recorded`, remember every path in flight."""
        self._recorded = set(self._flying)

    def recorded(self) -> set[str]:
        """The paths in flight since `record_taken`; stops recording."""
        recorded, self._recorded = self._recorded or set(), None
        return recorded

    def flying_under(self, paths: Iterable[str]) -> list[str]:
        """The paths in flight that are one of `paths` or below one of them.

        An event on a directory (removed, moved away) finds the files to
        drop in the index; a file taken before the event and not committed
        yet is not there, and its batch may have read it before it went.
        """
        if not self._flying:
            return []
        wanted = set(paths)
        found: list[str] = []
        for path in self._flying:
            parts = path.split("/")
            if any("/".join(parts[:end]) in wanted for end in range(1, len(parts) + 1)):
                found.append(path)
        return found

    @property
    def in_flight(self) -> int:
        """Paths taken and not landed."""
        return len(self._flying)

    async def wait_for_room(self) -> None:
        """Until fewer than `limit` paths wait (the watcher's backpressure)."""
        await self._room.wait()

    def oldest_age_s(self) -> float:
        """Age of the oldest queued path (0 when the queue is empty)."""
        if not self._pending:
            return 0.0
        first = next(iter(self._pending.values()))
        return time.monotonic() - first.queued_at

    def position(self, path: str) -> int | None:
        """1-based position of `path` in the queue, or None."""
        for position, queued in enumerate(self._pending, start=1):
            if queued == path:
                return position
        return None

    def paths(self) -> list[str]:
        """The queued paths, oldest first (for tests and diagnostics)."""
        return list(self._pending)
