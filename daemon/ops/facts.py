"""The index engine as health, metrics and readiness see it.

`EngineFacts` implements the `HealthFacts` (health.py) and
`WorkspaceStatsSource` (metrics.py) protocols over the workspace manager,
the worker pool and the subscriptions. Scrapes must not query SQLite, so
per-workspace counts are cached and refreshed in a thread every few seconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import structlog

from axd.daemon.ops.health import QueueState, StoreProbe, WatcherState, WorkerState
from axd.daemon.ops.metrics import WorkspaceStats
from axd.daemon.store.errors import StoreDamagedError

if TYPE_CHECKING:
    from axd.daemon.index.pool import WorkerPool
    from axd.daemon.rpc.subscriptions import Subscriptions
    from axd.daemon.store.store import StoreCounts
    from axd.daemon.workspaces import WorkspaceManager

log = structlog.get_logger()

COUNTS_REFRESH_S = 5.0
# Worker crashes in this window count as "recent" for health.
CRASH_WINDOW_S = 600.0


class EngineFacts:
    """Read-only facts about workspaces, workers and queues."""

    def __init__(
        self, manager: WorkspaceManager, pool: WorkerPool, subscriptions: Subscriptions
    ) -> None:
        # Read-only: nothing here changes the workspaces, the pool or the
        # subscriptions; they never call back into it.
        self.manager = manager
        self.pool = pool
        self.subscriptions = subscriptions
        self._counts: dict[str, StoreCounts] = {}
        self._sizes: dict[str, int] = {}
        # Per workspace: the last progress marker seen and when it changed.
        self._progress: dict[str, tuple[tuple[int, int, int], float]] = {}

    async def refresh_loop(self) -> None:
        """Keep the cached counts fresh (a scrape never touches SQLite)."""
        while True:
            await anyio.to_thread.run_sync(self.refresh)
            await anyio.sleep(COUNTS_REFRESH_S)

    def refresh(self) -> None:
        """Re-read every workspace's counts and database size (blocking)."""
        for workspace in list(self.manager.workspaces.values()):
            try:
                self._counts[workspace.id] = workspace.store.counts()
                self._sizes[workspace.id] = workspace.store.db_size_bytes()
            except Exception as exc:  # noqa: BLE001 - a closed/removed store is not fatal here
                log.debug("counts_refresh_failed", root=workspace.root, error=str(exc))

    # -- WorkspaceStatsSource ----------------------------------------------------------

    def workspace_stats(self) -> list[WorkspaceStats]:
        """One entry per workspace, from cached counts."""
        stats = []
        for workspace in list(self.manager.workspaces.values()):
            counts = self._counts.get(workspace.id)
            stats.append(
                WorkspaceStats(
                    workspace_id=workspace.id,
                    files=counts.files_indexed if counts else 0,
                    chunks=counts.chunks if counts else 0,
                    symbols=counts.symbols if counts else 0,
                    generation=workspace.generation,
                    queue_depth=workspace.indexer.queue_depth,
                    queue_oldest_seconds=workspace.indexer.oldest_age_s(),
                    db_size_bytes=self._sizes.get(workspace.id, 0),
                )
            )
        return stats

    def subscriber_count(self) -> int:
        """Live subscriptions."""
        return self.subscriptions.count

    # -- HealthFacts -------------------------------------------------------------------

    def store_probe(self, timeout_s: float) -> list[StoreProbe]:
        """`SELECT 1` on each workspace database (blocking; in a thread)."""
        probes = []
        for workspace in list(self.manager.workspaces.values()):
            started = time.perf_counter()
            if workspace.degraded_reason:  # index safety (#11): serving, with a reason
                reason = workspace.degraded or workspace.indexer.progress.last_error
                probes.append(StoreProbe(workspace.root, False, str(reason), True))
                continue
            try:
                with workspace.store.reader() as conn:
                    conn.execute("SELECT 1").fetchone()
            except StoreDamagedError as exc:  # being quarantined and recovered (#11)
                probes.append(StoreProbe(workspace.root, False, exc.message, True))
                continue
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                probes.append(
                    StoreProbe(workspace.root, False, f"{type(exc).__name__}: {exc}")
                )
                continue
            elapsed = time.perf_counter() - started
            ok = elapsed <= timeout_s
            detail = "" if ok else f"SELECT 1 took {elapsed:.1f} s"
            probes.append(StoreProbe(workspace.root, ok, detail))
        return probes

    def watcher_state(self) -> list[WatcherState]:
        """How each workspace is watched."""
        states = []
        for workspace in list(self.manager.workspaces.values()):
            state = workspace.watcher.state
            reason = state.reason or ""
            if workspace.indexer.failed:
                states.append(
                    WatcherState(workspace.root, "stopped", workspace.indexer.failed)
                )
            else:
                states.append(WatcherState(workspace.root, state.mode, reason))
        return states

    def worker_state(self) -> WorkerState:
        """Live and expected workers, crashes in the last ten minutes."""
        alive, expected = self.pool.alive()
        now = time.monotonic()
        recent = sum(1 for t in self.pool.recent_crashes if now - t < CRASH_WINDOW_S)
        if alive == 0 and not self.pool.started:
            alive = expected  # not started yet: workers start with the first batch
        return WorkerState(alive=alive, expected=expected, recent_crashes=recent)

    def queue_state(self) -> list[QueueState]:
        """Depth, oldest item and time since the last progress per workspace."""
        now = time.monotonic()
        states = []
        for ws in list(self.manager.workspaces.values()):
            depth = ws.indexer.queue_depth
            progress = ws.indexer.progress
            marker = (progress.files_done, progress.batches, ws.generation)
            seen = self._progress.get(ws.id)
            # An empty queue, or a marker that moved, is progress now.
            if depth == 0 or seen is None or seen[0] != marker:
                seen = (marker, now)
                self._progress[ws.id] = seen
            states.append(
                QueueState(ws.root, depth, ws.indexer.oldest_age_s(), now - seen[1])
            )
        return states

    def ready(self) -> bool:
        """Every workspace finished its first index (`/readyz`)."""
        return all(ws.indexer.ready for ws in list(self.manager.workspaces.values()))

    def progress(self) -> tuple[int, int, int]:
        """Files done and total over the workspaces still indexing, and how
        many workspaces there are (systemd's STATUS line)."""
        workspaces = list(self.manager.workspaces.values())
        done = sum(ws.indexer.progress.files_done for ws in workspaces)
        total = sum(ws.indexer.progress.files_total for ws in workspaces)
        return done, total, len(workspaces)
