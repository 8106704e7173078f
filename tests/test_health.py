"""Health: each check's transitions, aggregation, caching, HealthChanged events."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest

from axd.daemon.config import Config, HealthConfig
from axd.daemon.events import ConfigReloaded, HealthChanged
from axd.daemon.ops.health import (
    HealthMonitor,
    NoEngine,
    QueueState,
    StoreProbe,
    WatcherState,
    WorkerState,
    worst,
)
from axd.daemon.ops.metrics import Metrics

if TYPE_CHECKING:
    from pathlib import Path

    from anyio.streams.memory import MemoryObjectReceiveStream

    from axd.daemon.events import Event
    from axd.daemon.lifecycle import Daemon

HUGE = 1 << 62  # more free bytes than any disk has


@dataclass
class FakeFacts:
    """A `HealthFacts` whose answers a test sets."""

    probes: list[StoreProbe] = field(default_factory=list)
    watchers: list[WatcherState] = field(default_factory=list)
    workers: WorkerState = field(default_factory=lambda: WorkerState(4, 4, 0))
    queues: list[QueueState] = field(default_factory=list)
    probe_delay_s: float = 0.0
    probe_calls: int = 0
    release: threading.Event = field(default_factory=threading.Event)

    def store_probe(self, timeout_s: float) -> list[StoreProbe]:
        self.probe_calls += 1
        if self.probe_delay_s:
            self.release.wait(self.probe_delay_s)  # a stuck database
        return list(self.probes)

    def watcher_state(self) -> list[WatcherState]:
        return list(self.watchers)

    def worker_state(self) -> WorkerState:
        return self.workers

    def queue_state(self) -> list[QueueState]:
        return list(self.queues)


class Broken(NoEngine):
    def watcher_state(self) -> list[WatcherState]:
        raise RuntimeError("watcher table is gone")


def published(stream: MemoryObjectReceiveStream[Event]) -> list[tuple[str, str]]:
    """The (status, previous) of every HealthChanged published so far."""
    changes = []
    while True:
        try:
            event = stream.receive_nowait()
        except anyio.WouldBlock:
            return changes
        if isinstance(event, HealthChanged):
            changes.append((event.status, event.previous))


async def next_status(stream: MemoryObjectReceiveStream[Event]) -> str:
    """The status of the next HealthChanged published."""
    with anyio.fail_after(5):
        async for event in stream:
            if isinstance(event, HealthChanged):
                return event.status
    raise AssertionError("the events ended")


def monitor_for(
    tmp_path: Path, facts: object | None = None, **health: float
) -> HealthMonitor:
    config = HealthConfig(cache_s=0, **health)  # type: ignore[arg-type]
    return HealthMonitor(config, tmp_path / "state", facts, metrics=None)  # type: ignore[arg-type]


@pytest.fixture
def facts() -> FakeFacts:
    return FakeFacts(
        probes=[StoreProbe("ws1", True)],
        watchers=[WatcherState("ws1", "native")],
        queues=[QueueState("ws1", 0, 0.0)],
    )


async def test_unknown_before_the_first_check(tmp_path: Path) -> None:
    metrics = Metrics(process=False)
    monitor = HealthMonitor(HealthConfig(), tmp_path, NoEngine(), metrics=metrics)
    assert monitor.status == "UNKNOWN" and monitor.report is None
    assert metrics.health_status.labels("overall")._value.get() == 3
    assert metrics.health_status.labels("disk")._value.get() == 3
    report = await monitor.check()
    after: str = monitor.status  # a property: mypy keeps the narrowing above
    assert report.status == "HEALTHY" and after == "HEALTHY"
    assert metrics.health_status.labels("disk")._value.get() == 0


async def test_no_workspaces_is_healthy(tmp_path: Path) -> None:
    report = await monitor_for(tmp_path).check()
    assert report.status == "HEALTHY"
    assert {"store", "watcher", "workers", "queue", "disk"} <= set(report.checks)
    for name in ("store", "watcher", "queue"):
        assert report.checks[name].detail == "no workspaces", name
    for check in report.checks.values():
        assert check.latency_ms >= 0
    assert report.checked_at.endswith("Z")


async def test_disk_thresholds_degrade_then_fail(tmp_path: Path) -> None:
    monitor = monitor_for(tmp_path)
    with monitor.events.subscribed() as stream:
        assert (await monitor.check()).status == "HEALTHY"
        monitor.configure(HealthConfig(cache_s=0, disk_degraded_free_bytes=HUGE))
        report = await monitor.check()
        assert (
            report.status == "DEGRADED" and report.checks["disk"].status == "DEGRADED"
        )
        assert "free" in report.checks["disk"].detail
        await monitor.check()  # no change, no call
        monitor.configure(
            HealthConfig(
                cache_s=0, disk_degraded_free_bytes=HUGE, disk_unhealthy_free_bytes=HUGE
            )
        )
        assert (await monitor.check()).status == "UNHEALTHY"
        monitor.configure(HealthConfig(cache_s=0))
        assert (await monitor.check()).status == "HEALTHY"
        assert published(stream) == [
            ("HEALTHY", "UNKNOWN"),
            ("DEGRADED", "HEALTHY"),
            ("UNHEALTHY", "DEGRADED"),
            ("HEALTHY", "UNHEALTHY"),
        ]


async def test_all_good_facts_are_healthy(tmp_path: Path, facts: FakeFacts) -> None:
    report = await monitor_for(tmp_path, facts).check()
    assert report.status == "HEALTHY", report
    assert report.checks["workers"].detail == "4/4 alive"


async def test_stopped_watcher_degrades(tmp_path: Path, facts: FakeFacts) -> None:
    monitor = monitor_for(tmp_path, facts)
    facts.watchers = [
        WatcherState("ws1", "native"),
        WatcherState("ws2", "stopped", "inotify watch limit reached"),
    ]
    report = await monitor.check()
    assert report.status == "DEGRADED"
    assert "inotify watch limit" in report.checks["watcher"].detail
    # Polling still follows changes, late: degraded, with the reason.
    facts.watchers = [WatcherState("ws2", "polling", "fell back")]
    report = await monitor.check()
    assert report.checks["watcher"].status == "DEGRADED"
    assert "polling (fell back)" in report.checks["watcher"].detail
    facts.watchers = [WatcherState("ws2", "native")]
    report = await monitor.check()
    assert report.checks["watcher"].status == "HEALTHY"


async def test_workers(tmp_path: Path, facts: FakeFacts) -> None:
    monitor = monitor_for(tmp_path, facts, worker_crashes_degraded=3)
    facts.workers = WorkerState(alive=0, expected=4, recent_crashes=5)
    report = await monitor.check()
    assert (
        report.status == "UNHEALTHY" and report.checks["workers"].status == "UNHEALTHY"
    )
    facts.workers = WorkerState(alive=3, expected=4, recent_crashes=0)
    assert (await monitor.check()).checks["workers"].status == "DEGRADED"
    facts.workers = WorkerState(alive=4, expected=4, recent_crashes=3)
    assert (await monitor.check()).checks["workers"].status == "DEGRADED"
    facts.workers = WorkerState(alive=4, expected=4, recent_crashes=2)
    assert (await monitor.check()).status == "HEALTHY"


async def test_queue_age_and_depth(tmp_path: Path, facts: FakeFacts) -> None:
    monitor = monitor_for(
        tmp_path,
        facts,
        queue_degraded_age_s=120,
        queue_unhealthy_age_s=900,
        queue_degraded_depth=100,
    )
    facts.queues = [QueueState("ws1", 2, 300.0)]
    report = await monitor.check()
    assert report.status == "DEGRADED" and "ws1" in report.checks["queue"].detail
    facts.queues = [QueueState("ws1", 2, 1000.0)]
    assert (await monitor.check()).status == "UNHEALTHY"
    facts.queues = [QueueState("ws1", 500, 1.0)]
    assert (await monitor.check()).status == "DEGRADED"
    facts.queues = [QueueState("ws1", 5, 1.0)]
    assert (await monitor.check()).status == "HEALTHY"


async def test_store_failure_and_timeout(tmp_path: Path, facts: FakeFacts) -> None:
    monitor = monitor_for(tmp_path, facts, store_timeout_s=0.2)
    facts.probes = [StoreProbe("ws1", True), StoreProbe("ws2", False, "disk I/O error")]
    report = await monitor.check()
    assert report.status == "UNHEALTHY"
    assert "ws2: disk I/O error" in report.checks["store"].detail
    facts.probes = [StoreProbe("ws1", True)]
    facts.probe_delay_s = 30
    try:
        # The probe hangs for 30 s; the monitor must give up on its own long
        # before that (a hang guard, not a speed threshold).
        with anyio.fail_after(20):
            report = await monitor.check()
    finally:
        facts.release.set()
    assert report.checks["store"].status == "UNHEALTHY"
    assert "timed out" in report.checks["store"].detail


async def test_a_crashing_check_is_unknown(tmp_path: Path) -> None:
    report = await monitor_for(tmp_path, Broken()).check()
    assert report.checks["watcher"].status == "UNKNOWN"
    assert "RuntimeError" in report.checks["watcher"].detail
    assert report.status == "UNKNOWN"


def test_worst_of_ranking() -> None:
    assert worst([]) == "HEALTHY"
    assert worst(["HEALTHY", "UNKNOWN"]) == "UNKNOWN"
    assert worst(["UNKNOWN", "DEGRADED"]) == "DEGRADED"
    assert worst(["DEGRADED", "UNHEALTHY", "UNKNOWN"]) == "UNHEALTHY"


async def test_a_storm_of_calls_runs_the_checks_once(
    tmp_path: Path, facts: FakeFacts
) -> None:
    monitor = HealthMonitor(HealthConfig(cache_s=5), tmp_path, facts)
    facts.probe_delay_s = 0.1
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(monitor.check)
    assert facts.probe_calls == 1
    await monitor.check(max_age_s=0)
    assert facts.probe_calls == 2


async def test_background_loop_and_reconfigure(
    tmp_path: Path, facts: FakeFacts
) -> None:
    monitor = monitor_for(tmp_path, facts, interval_s=3600)
    with monitor.events.subscribed() as stream:
        async with anyio.create_task_group() as tg:
            await tg.start(monitor.run)
            assert await next_status(stream) == "HEALTHY"
            # New thresholds (a SIGHUP's ConfigReloaded event) take effect
            # without waiting out the hour.
            health = HealthConfig(interval_s=3600, disk_degraded_free_bytes=HUGE)
            monitor.events.publish(ConfigReloaded(Config(health=health)))
            assert await next_status(stream) == "DEGRADED"
            tg.cancel_scope.cancel()


async def test_a_blocked_event_loop_is_noticed(tmp_path: Path) -> None:
    monitor = monitor_for(tmp_path, interval_s=0.2)
    with monitor.events.subscribed() as stream:
        async with anyio.create_task_group() as tg:
            await tg.start(monitor.run)
            assert await next_status(stream) == "HEALTHY"
            # The monitor now sleeps out its interval; hold the loop well past it.
            time.sleep(1.5)  # noqa: ASYNC251 - the point of the test
            assert await next_status(stream) == "DEGRADED"
            tg.cancel_scope.cancel()
    assert monitor.report is not None
    assert "blocks the event loop" in monitor.report.checks["event_loop"].detail


# -- through the daemon: the RPC and a SIGHUP reload -------------------------------


async def test_reload_applies_new_thresholds(daemon: Daemon) -> None:
    from axd.client.aio import AsyncClient
    from axd.protocol import methods as m

    async with await AsyncClient.connect(daemon.socket_path) as client:
        report = await client.call(m.HEALTH)
        assert report.status == "HEALTHY"
        assert {"store", "watcher", "workers", "queue", "disk"} <= set(report.checks)
        with daemon.events.subscribed() as stream:
            fresh = msgspec.structs.replace(
                daemon.config,
                health=msgspec.structs.replace(
                    daemon.config.health, disk_unhealthy_free_bytes=HUGE
                ),
            )
            assert isinstance(fresh, Config)
            # What Daemon.apply_config publishes after a SIGHUP, without
            # re-configuring the process-wide logging.
            daemon.events.publish(ConfigReloaded(fresh))
            # The monitor re-checks at once with the new thresholds.
            assert await next_status(stream) == "UNHEALTHY"
        report = await client.call(m.HEALTH)
        assert report.status == "UNHEALTHY"
        assert report.checks["disk"].status == "UNHEALTHY"
