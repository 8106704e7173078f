"""Metrics: the families on a real HTTP listener, the RPC, the recordings."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import msgspec
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from axd.client.aio import AsyncClient
from axd.daemon.events import (
    BatchCommitted,
    Events,
    WatcherFellBack,
    WorkerRestarted,
    WorkspaceRemoved,
)
from axd.daemon.lifecycle import Daemon
from axd.daemon.ops.health import NoEngine
from axd.daemon.ops.metrics import Metrics, WorkspaceStats
from axd.daemon.ops.supervisor import Ops
from axd.daemon.ops.systemd import Notifier
from axd.protocol import methods as m

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from prometheus_client.metrics_core import Metric

    from axd.daemon.config import Config

# Family names as the text parser reports them (counters without `_total`).
DOCUMENTED: dict[str, str] = {
    "axd_requests": "counter",
    "axd_request_seconds": "histogram",
    "axd_connections": "gauge",
    "axd_files_indexed": "counter",
    "axd_files_skipped": "counter",
    "axd_parse_errors": "counter",
    "axd_index_batch_seconds": "histogram",
    "axd_index_queue_depth": "gauge",
    "axd_index_queue_oldest_seconds": "gauge",
    "axd_workspace_files": "gauge",
    "axd_workspace_chunks": "gauge",
    "axd_workspace_symbols": "gauge",
    "axd_workspace_generation": "gauge",
    "axd_worker_restarts": "counter",
    "axd_watcher_fallbacks": "counter",
    "axd_db_size_bytes": "gauge",
    "axd_subscribers": "gauge",
    "axd_health_status": "gauge",
    "axd_edit_to_queryable_seconds": "histogram",
    "axd_build_info": "gauge",
}


@dataclass
class FakeStats:
    """A `WorkspaceStatsSource` whose figures a test sets."""

    stats: list[WorkspaceStats] = field(default_factory=list)
    subscribers: int = 0

    def workspace_stats(self) -> list[WorkspaceStats]:
        return list(self.stats)

    def subscriber_count(self) -> int:
        return self.subscribers


@dataclass
class Readiness:
    ready: bool = False

    def __call__(self) -> bool:
        return self.ready


@pytest.fixture
def stats() -> FakeStats:
    return FakeStats()


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
async def ops(
    config: Config, tmp_path: Path, stats: FakeStats, readiness: Readiness
) -> AsyncIterator[Ops]:
    """Operations on their own, fed by fakes (the daemon's are `daemon.ops`)."""
    standalone = Ops(
        config,
        tmp_path / "state",
        Events(),
        facts=NoEngine(),
        stats=stats,
        ready=readiness,
        connections=lambda: 0,
        notifier=Notifier(env={}),
    )
    async with anyio.create_task_group() as tg:
        await tg.start(standalone.run)
        yield standalone
        tg.cancel_scope.cancel()


def _get(url: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


async def get(url: str, accept: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET `url` with urllib in a thread (a real HTTP client, off the loop)."""
    return await anyio.to_thread.run_sync(_get, url, accept)


async def raw_http(url: str, request: bytes) -> bytes:
    """Send `request` bytes as they are; everything the server answers."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname and parts.port
    async with await anyio.connect_tcp(parts.hostname, parts.port) as stream:
        await stream.send(request)
        answer = b""
        with anyio.fail_after(10):
            while True:
                try:
                    answer += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    return answer


def families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


async def test_metrics_url_is_the_bound_listener(daemon: Daemon) -> None:
    url = daemon.metrics_url
    assert url is not None and url == daemon.ops.metrics_url
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.path) == (
        "http",
        "127.0.0.1",
        "/metrics",
    )
    assert parts.port and parts.port != 9464  # port 0 picked a free one


async def test_every_documented_family_has_help_and_type(ops: Ops) -> None:
    assert ops.metrics_url
    status, headers, body = await get(ops.metrics_url)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    found = families(body.decode())
    for name, kind in DOCUMENTED.items():
        assert name in found, f"{name} missing"
        assert found[name].type == kind, (name, found[name].type)
        assert found[name].documentation, f"{name} has no HELP"
    assert "process_resident_memory_bytes" in found  # process collector
    build = found["axd_build_info"].samples[0]
    assert build.labels.keys() == {"version"} and build.value == 1
    # The 0.0.4 text format gets no `_created` pseudo-families.
    assert not [name for name in found if name.endswith("_created")]


async def test_openmetrics_when_the_accept_header_asks(ops: Ops) -> None:
    assert ops.metrics_url
    accept = "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"
    status, headers, body = await get(ops.metrics_url, accept)
    assert status == 200
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n")
    # The OpenMetrics parser has no annotations.
    parsed = {f.name: f.type for f in openmetrics_families(text)}  # type: ignore[no-untyped-call]
    assert parsed["axd_requests"] == "counter"
    assert parsed["axd_build"] == "info"
    assert parsed["axd_health_status"] == "gauge"


async def test_rpc_text_has_the_same_families_as_http(
    daemon: Daemon, client: AsyncClient
) -> None:
    ops = daemon.ops
    assert ops.metrics_url
    rpc = (await client.call(m.METRICS)).text
    _, _, body = await get(ops.metrics_url)
    assert set(families(rpc)) == set(families(body.decode()))
    assert {n for n in families(rpc) if n.startswith("axd_")} >= set(DOCUMENTED)


async def test_observer_counts_requests_with_bounded_labels(
    daemon: Daemon, client: AsyncClient
) -> None:
    ops = daemon.ops
    for _ in range(3):
        await client.call(m.SERVER_INFO)
    with pytest.raises(Exception, match="method not found"):
        await client.call_raw("no.such/method/at/all")
    text = ops.metrics.text()
    assert sample(text, "axd_requests_total", method="server.info", outcome="ok") == 3
    unknown = sample(
        text, "axd_requests_total", method="(unknown)", outcome="method_not_found"
    )
    assert unknown == 1
    assert "no.such" not in text
    count = sample(text, "axd_request_seconds_count", method="server.info")
    assert count == 3
    assert sample(text, "axd_connections") == 1  # the client's connection


async def test_live_gauges_are_read_at_scrape_time(ops: Ops, stats: FakeStats) -> None:
    before = ops.metrics.text()
    assert sample(before, "axd_workspace_files", workspace="a1b2c3") is None
    stats.stats = [
        WorkspaceStats(
            workspace_id="a1b2c3",
            files=12,
            chunks=40,
            symbols=90,
            generation=7,
            queue_depth=3,
            queue_oldest_seconds=1.5,
            db_size_bytes=4096,
        )
    ]
    stats.subscribers = 2
    text = ops.metrics.text()
    expected = {
        "axd_workspace_files": 12,
        "axd_workspace_chunks": 40,
        "axd_workspace_symbols": 90,
        "axd_workspace_generation": 7,
        "axd_index_queue_depth": 3,
        "axd_index_queue_oldest_seconds": 1.5,
        "axd_db_size_bytes": 4096,
    }
    for name, value in expected.items():
        assert sample(text, name, workspace="a1b2c3") == value, name
    assert sample(text, "axd_subscribers") == 2


async def test_recordings_follow_the_events(ops: Ops) -> None:
    """Metrics count what the daemon's events tell, from their own stream."""
    for event in (
        BatchCommitted("/r", "ws1", 3, (), seconds=0.2, files_indexed=4),
        WorkerRestarted(),
        WatcherFellBack("/r", "ws1"),
    ):
        ops.events.publish(event)
    fallbacks = "axd_watcher_fallbacks_total"
    with anyio.fail_after(5):
        while not sample(ops.metrics.text(), fallbacks, workspace="ws1"):  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.01)
    text = ops.metrics.text()
    assert sample(text, "axd_files_indexed_total", workspace="ws1") == 4
    assert sample(text, "axd_index_batch_seconds_count", workspace="ws1") == 1
    assert sample(text, "axd_worker_restarts_total") == 1
    assert sample(text, "axd_watcher_fallbacks_total", workspace="ws1") == 1
    ops.events.publish(WorkspaceRemoved("/r", "ws1"))
    with anyio.fail_after(5):
        while 'workspace="ws1"' in ops.metrics.text():  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.01)


def test_recordings_from_the_indexer() -> None:
    metrics = Metrics(process=False)
    metrics.batch_committed(
        "ws1",
        seconds=0.2,
        files_indexed=10,
        skipped_by_reason={"binary": 2, "too_large": 0, "made_up": 1},
        parse_errors=1,
        edit_to_queryable=[0.08, 0.3],
    )
    metrics.batch_committed("ws1", 0.1, 5, {}, 0, [])
    metrics.worker_restarted()
    metrics.watcher_fallback("ws1")
    text = metrics.text()
    assert sample(text, "axd_files_indexed_total", workspace="ws1") == 15
    skipped = "axd_files_skipped_total"
    assert sample(text, skipped, workspace="ws1", reason="binary") == 2
    assert sample(text, skipped, workspace="ws1", reason="other") == 1
    assert sample(text, skipped, workspace="ws1", reason="too_large") is None
    assert sample(text, "axd_parse_errors_total", workspace="ws1") == 1
    assert sample(text, "axd_index_batch_seconds_count", workspace="ws1") == 2
    latency = "axd_edit_to_queryable_seconds_bucket"
    assert sample(text, latency, workspace="ws1", le="0.1") == 1
    assert sample(text, latency, workspace="ws1", le="0.5") == 2
    assert sample(text, "axd_worker_restarts_total") == 1
    assert sample(text, "axd_watcher_fallbacks_total", workspace="ws1") == 1

    metrics.forget_workspace("ws1")
    assert "ws1" not in metrics.text()


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(process=False), Metrics(process=False)
    first.worker_restarted()
    assert sample(second.text(), "axd_worker_restarts_total") == 0


async def test_health_status_gauge_follows_checks(ops: Ops) -> None:
    await ops.health.check(max_age_s=0)
    text = ops.metrics.text()
    assert sample(text, "axd_health_status", component="overall") == 0
    for name in ("store", "watcher", "workers", "queue", "disk"):
        assert sample(text, "axd_health_status", component=name) == 0, name


async def test_healthz_and_readyz(ops: Ops, readiness: Readiness) -> None:
    base = ops.metrics_url.removesuffix("/metrics") if ops.metrics_url else ""
    status, headers, body = await get(f"{base}/healthz")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert b'"status":"HEALTHY"' in body and b'"disk"' in body
    status, _, body = await get(f"{base}/readyz")
    assert status == 503 and b"not ready" in body
    readiness.ready = True
    status, _, body = await get(f"{base}/readyz")
    assert (status, body) == (200, b"ready\n")


async def test_http_errors(ops: Ops) -> None:
    assert ops.metrics_url
    base = ops.metrics_url.removesuffix("/metrics")
    status, _, _ = await get(f"{base}/nope")
    assert status == 404
    answer = await raw_http(base, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 405 ")
    assert b"\r\nAllow: GET, HEAD\r\n" in answer
    answer = await raw_http(base, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Content-Length: " in head
    assert body == b""
    huge = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = await raw_http(base, huge)
    assert answer.startswith(b"HTTP/1.1 431 ")
    answer = await raw_http(base, b"nonsense\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    # The listener survives all of that.
    status, _, _ = await get(ops.metrics_url)
    assert status == 200


async def test_a_silent_client_does_not_block_others(ops: Ops) -> None:
    assert ops.metrics_url
    parts = urllib.parse.urlsplit(ops.metrics_url)
    assert parts.hostname and parts.port
    async with await anyio.connect_tcp(parts.hostname, parts.port):
        with anyio.fail_after(5):
            status, _, _ = await get(ops.metrics_url)
    assert status == 200


@pytest.mark.parametrize("addr", ["", "in-use"])
async def test_no_listener_when_disabled_or_taken(config: Config, addr: str) -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as taken:
        port = taken.extra(anyio.abc.SocketAttribute.local_port)
        if addr == "in-use":
            addr = f"127.0.0.1:{port}"
        metrics_config = msgspec.structs.replace(config.metrics, addr=addr)
        daemon = Daemon(msgspec.structs.replace(config, metrics=metrics_config))
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
            # No listener, but the daemon and the metrics RPC still work.
            assert daemon.ops.metrics_url is None and daemon.metrics_url is None
            async with await AsyncClient.connect(daemon.socket_path) as client:
                assert (await client.call(m.SERVER_INFO)).metrics_url is None
                text = (await client.call(m.METRICS)).text
                assert "axd_requests_total" in text
            daemon.request_stop()  # run() returns; the task group ends
