"""Component health: checks, worst-of aggregation, transitions.

Each check turns facts into a `HealthCheck` (status, detail, latency). The
facts that belong to the index engine (databases, watchers, workers, queues)
come through the `HealthFacts` protocol, which the workspace manager
implements; the disk and event-loop checks need nothing from it.

The aggregate is the worst check, ranked UNHEALTHY > DEGRADED > UNKNOWN >
HEALTHY: a check that could not decide does not make the daemon look
broken, but it does stop it from claiming to be healthy. Before the first
run the status is UNKNOWN.

Checks run every `health.interval_s` in a background task and on demand
(the `health` RPC, `/healthz`), behind a short cache so a burst of callers
shares one run. Blocking probes run in worker threads under a deadline.

A transition is published as a `HealthChanged` event (subscriptions turn it
into `health.changed`); new thresholds arrive as a `ConfigReloaded` event,
and a `WatcherFellBack` or `WorkerRestarted` event triggers a re-check.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

import anyio
import anyio.abc
import structlog

from axd.daemon.clock import utc_now
from axd.daemon.events import (
    ConfigReloaded,
    Events,
    HealthChanged,
    WatcherFellBack,
    WorkerRestarted,
    WorkspaceAdded,
    WorkspaceStateChanged,
)
from axd.protocol.types import HealthCheck, HealthReport, HealthStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from axd.daemon.config import HealthConfig
    from axd.daemon.events import Event
    from axd.daemon.ops.metrics import Metrics

log = structlog.get_logger()

WatcherMode = Literal["native", "polling", "stopped", "none"]

# Worst first, for aggregation (not the numbers of `axd_health_status`).
_RANK: dict[HealthStatus, int] = {
    "HEALTHY": 0,
    "UNKNOWN": 1,
    "DEGRADED": 2,
    "UNHEALTHY": 3,
}
NO_WORKSPACES = "no workspaces"
# The event loop is late by more than this → DEGRADED (something blocks it).
LOOP_LAG_DEGRADED_S = 1.0


class StoreProbe(NamedTuple):
    """The result of `SELECT 1` on one workspace database."""

    workspace: str
    ok: bool
    detail: str = ""
    degraded: bool = False  # serving, with a reason (quarantine, disk full)


class WatcherState(NamedTuple):
    """How one workspace is watched; `reason` explains polling or stopped."""

    workspace: str
    mode: WatcherMode
    reason: str = ""


class WorkerState(NamedTuple):
    """The parser worker pool."""

    alive: int
    expected: int
    recent_crashes: int  # within the last few minutes


class QueueState(NamedTuple):
    """One workspace's pending changes.

    `progress_age_s`: seconds since the workspace last made progress on its
    queue (committed a batch), or since work started waiting if it has not
    yet; None when unknown. A deep or old queue that keeps moving is busy as
    expected (a first index, a re-index after a checkout), not a fault.
    """

    workspace: str
    depth: int
    oldest_age_s: float
    progress_age_s: float | None = None


class HealthFacts(Protocol):
    """What the health checks need to know about the index engine.

    `store_probe` is called in a worker thread and may block (it runs
    `SELECT 1` on each workspace database, giving up after `timeout_s`); the
    others are called on the event loop and must only read in-memory state.
    """

    def store_probe(self, timeout_s: float) -> list[StoreProbe]:
        """`SELECT 1` per workspace database; one entry per workspace."""
        ...

    def watcher_state(self) -> list[WatcherState]:
        """One entry per workspace."""
        ...

    def worker_state(self) -> WorkerState:
        """Alive and expected workers, recent crashes."""
        ...

    def queue_state(self) -> list[QueueState]:
        """One entry per workspace."""
        ...


class NoEngine:
    """`HealthFacts` of a daemon with no workspaces and no workers."""

    def store_probe(self, timeout_s: float) -> list[StoreProbe]:
        """Nothing to probe."""
        return []

    def watcher_state(self) -> list[WatcherState]:
        """Nothing watched."""
        return []

    def worker_state(self) -> WorkerState:
        """No workers expected."""
        return WorkerState(alive=0, expected=0, recent_crashes=0)

    def queue_state(self) -> list[QueueState]:
        """Nothing queued."""
        return []


@dataclass(frozen=True, slots=True)
class _Verdict:
    status: HealthStatus
    detail: str


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The aggregate status: the worst one, HEALTHY when there are none."""
    return max(statuses, key=_RANK.__getitem__, default="HEALTHY")


def _free_bytes(path: Path) -> int:
    while not path.exists() and path != path.parent:
        path = path.parent  # not created yet: its filesystem is the parent's
    return shutil.disk_usage(path).free


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


class HealthMonitor:
    """Runs the checks, keeps the latest report, tells listeners of changes."""

    def __init__(
        self,
        config: HealthConfig,
        state_dir: Path,
        facts: HealthFacts | None = None,
        *,
        metrics: Metrics | None = None,
        events: Events | None = None,
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.facts: HealthFacts = facts or NoEngine()
        self.metrics = metrics
        # Where transitions are published (a private fan-out by default).
        self.events = events or Events()
        self.report: HealthReport | None = None
        self._checked_monotonic = float("-inf")
        self._lock = anyio.Lock()
        self._wake = anyio.Event()
        self._loop_lag_s = 0.0
        self._checks: dict[str, Callable[[], Awaitable[_Verdict]]] = {
            "store": self._check_store,
            "watcher": self._check_watcher,
            "workers": self._check_workers,
            "queue": self._check_queue,
            "disk": self._check_disk,
            "event_loop": self._check_event_loop,
        }
        if metrics is not None:
            for name in self._checks:
                metrics.set_health(name, "UNKNOWN")

    @property
    def status(self) -> HealthStatus:
        """The latest aggregate; UNKNOWN before the first run."""
        return self.report.status if self.report else "UNKNOWN"

    def configure(self, config: HealthConfig) -> None:
        """Take new thresholds (SIGHUP) and re-check with them promptly."""
        self.config = config
        self._checked_monotonic = float("-inf")
        self._wake.set()

    async def check(self, *, max_age_s: float | None = None) -> HealthReport:
        """A report no older than `max_age_s` (default `health.cache_s`)."""
        max_age = self.config.cache_s if max_age_s is None else max_age_s
        # Callers that queue behind a run in progress get its fresh report.
        async with self._lock:
            age = time.monotonic() - self._checked_monotonic
            if self.report is not None and age <= max_age:
                return self.report
            return await self._run_checks()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Check now, then every `interval_s` (sooner after `configure`);
        take new thresholds from `ConfigReloaded` events."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.events.follow, self._on_event)
            task_status.started()
            await self._check_loop()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConfigReloaded):
            self.configure(event.config.health)
        elif isinstance(
            event,
            (WatcherFellBack, WorkerRestarted, WorkspaceAdded, WorkspaceStateChanged),
        ):
            # A component just broke (or a workspace is degraded, e.g. its
            # index quarantined, #11): re-check now, not at the next interval.
            # (Not on BatchCommitted: a store probe per commit would cost
            # more than it tells.)
            self._wake.set()

    async def _check_loop(self) -> None:
        while True:
            try:
                await self.check(max_age_s=0)
            except Exception:
                log.exception("health_check_failed")
            self._wake = anyio.Event()
            interval = self.config.interval_s
            due = time.monotonic() + interval
            with anyio.move_on_after(interval):
                await self._wake.wait()
            # Oversleeping a timer means something held the event loop.
            now = time.monotonic()
            self._loop_lag_s = max(0.0, now - due) if not self._wake.is_set() else 0.0

    # -- running --------------------------------------------------------------------

    async def _run_checks(self) -> HealthReport:
        results: dict[str, HealthCheck] = {}

        async def run_one(name: str, check: Callable[[], Awaitable[_Verdict]]) -> None:
            started = time.perf_counter()
            try:
                verdict = await check()
            except Exception as exc:
                log.exception("health_check_crashed", check=name)
                verdict = _Verdict("UNKNOWN", f"check failed: {type(exc).__name__}")
            latency_ms = round((time.perf_counter() - started) * 1000, 3)
            results[name] = HealthCheck(
                status=verdict.status, detail=verdict.detail, latency_ms=latency_ms
            )

        async with anyio.create_task_group() as tg:
            for name, check in self._checks.items():
                tg.start_soon(run_one, name, check)
        checks = {name: results[name] for name in self._checks}
        status = worst([c.status for c in checks.values()])
        report = HealthReport(status=status, checks=checks, checked_at=utc_now())
        previous = self.status
        self.report = report
        self._checked_monotonic = time.monotonic()
        if self.metrics is not None:
            for name, result in checks.items():
                self.metrics.set_health(name, result.status)
            self.metrics.set_health("overall", status)
        if status != previous:
            self._announce(status, previous, checks)
        return report

    def _announce(
        self,
        status: HealthStatus,
        previous: HealthStatus,
        checks: dict[str, HealthCheck],
    ) -> None:
        failing = {n: c.detail for n, c in checks.items() if c.status != "HEALTHY"}
        event = log.info if status == "HEALTHY" else log.warning
        event("health_changed", status=status, previous=previous, failing=failing)
        self.events.publish(HealthChanged(status=status, previous=previous))

    # -- the checks -----------------------------------------------------------------

    async def _check_store(self) -> _Verdict:
        timeout = self.config.store_timeout_s
        probes: list[StoreProbe] | None = None
        # The thread is abandoned (not killed) on timeout; the probe's own
        # busy timeout of `timeout` seconds makes it end soon after.
        with anyio.move_on_after(timeout + 0.5):
            probes = await anyio.to_thread.run_sync(
                self.facts.store_probe, timeout, abandon_on_cancel=True
            )
        if probes is None:
            return _Verdict("UNHEALTHY", f"store probe timed out after {timeout:g} s")
        if not probes:
            return _Verdict("HEALTHY", NO_WORKSPACES)
        bad = [p for p in probes if not p.ok]
        if bad:
            details = "; ".join(f"{p.workspace}: {p.detail or 'failed'}" for p in bad)
            if all(p.degraded for p in bad):
                return _Verdict("DEGRADED", f"{len(bad)}/{len(probes)}: {details}")
            return _Verdict("UNHEALTHY", f"{len(bad)}/{len(probes)} failing: {details}")
        return _Verdict("HEALTHY", f"{len(probes)} database(s) answer")

    async def _check_watcher(self) -> _Verdict:
        states = self.facts.watcher_state()
        if not states:
            return _Verdict("HEALTHY", NO_WORKSPACES)
        stopped = [s for s in states if s.mode == "stopped"]
        polling = [s for s in states if s.mode == "polling"]
        if stopped:
            details = "; ".join(
                f"{s.workspace}: stopped ({s.reason or 'no reason given'})"
                for s in stopped
            )
            return _Verdict("DEGRADED", details)
        native = len(states) - len(polling)
        parts = [f"{native} native"] if native else []
        parts += [
            f"{s.workspace}: polling ({s.reason or 'configured'})" for s in polling
        ]
        # Polling follows changes, but late and at a cost (a full scan every
        # interval): degraded until native watching is back.
        return _Verdict("DEGRADED" if polling else "HEALTHY", "; ".join(parts))

    async def _check_workers(self) -> _Verdict:
        state = self.facts.worker_state()
        summary = f"{state.alive}/{state.expected} alive"
        if state.recent_crashes:
            summary += f", {state.recent_crashes} recent crash(es)"
        if state.expected == 0:
            return _Verdict("HEALTHY", "no workers expected")
        if state.alive == 0:
            return _Verdict("UNHEALTHY", summary)
        if (
            state.alive < state.expected
            or state.recent_crashes >= self.config.worker_crashes_degraded
        ):
            return _Verdict("DEGRADED", summary)
        return _Verdict("HEALTHY", summary)

    async def _check_queue(self) -> _Verdict:
        queues = self.facts.queue_state()
        if not queues:
            return _Verdict("HEALTHY", NO_WORKSPACES)
        verdicts: list[HealthStatus] = []
        notes: list[str] = []
        busy: list[str] = []
        for q in queues:
            verdict, note = self._queue_verdict(q)
            if verdict is None:
                if note:
                    busy.append(note)
                continue
            verdicts.append(verdict)
            notes.append(note)
        if not notes:
            depth = sum(q.depth for q in queues)
            oldest = max(q.oldest_age_s for q in queues)
            detail = f"{depth} queued, oldest {oldest:.1f} s"
            return _Verdict("HEALTHY", "; ".join([detail, *busy]))
        return _Verdict(worst(verdicts), "; ".join(notes))

    def _queue_verdict(self, q: QueueState) -> tuple[HealthStatus | None, str]:
        """(None, busy note) for a queue that is fine; else (status, why)."""
        config = self.config
        if q.progress_age_s is None:
            # No progress facts: judge by age and depth alone.
            stalled = q.oldest_age_s
            deep = q.depth >= config.queue_degraded_depth
        else:
            # Stuck means no progress for that long, however old the backlog.
            stalled = min(q.oldest_age_s, q.progress_age_s)
            deep = False
        if stalled >= config.queue_unhealthy_age_s:
            status: HealthStatus = "UNHEALTHY"
        elif stalled >= config.queue_degraded_age_s or deep:
            status = "DEGRADED"
        else:
            busy = q.depth and q.progress_age_s is not None
            note = (
                f"{q.workspace}: busy, {q.depth} queued, last progress "
                f"{q.progress_age_s:.0f} s ago"
                if busy
                else ""
            )
            return None, note
        if q.progress_age_s is None:
            return (
                status,
                f"{q.workspace}: {q.depth} queued, oldest {q.oldest_age_s:.0f} s",
            )
        return status, (
            f"{q.workspace}: stuck, {q.depth} queued and no progress for "
            f"{q.progress_age_s:.0f} s"
        )

    async def _check_disk(self) -> _Verdict:
        free = await anyio.to_thread.run_sync(_free_bytes, self.state_dir)
        detail = f"{_bytes(free)} free on the state directory's filesystem"
        if free < self.config.disk_unhealthy_free_bytes:
            limit = _bytes(self.config.disk_unhealthy_free_bytes)
            return _Verdict("UNHEALTHY", f"{detail} (below {limit})")
        if free < self.config.disk_degraded_free_bytes:
            limit = _bytes(self.config.disk_degraded_free_bytes)
            return _Verdict("DEGRADED", f"{detail} (below {limit})")
        return _Verdict("HEALTHY", detail)

    async def _check_event_loop(self) -> _Verdict:
        lag = self._loop_lag_s
        detail = f"last timer {lag * 1000:.0f} ms late"
        if lag > LOOP_LAG_DEGRADED_S:
            return _Verdict("DEGRADED", f"{detail}: something blocks the event loop")
        return _Verdict("HEALTHY", detail)
