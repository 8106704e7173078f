"""Prometheus metrics: one registry per daemon, rendered for HTTP and the RPC.

Counters and histograms are recorded as things happen: requests through the
dispatch `RequestObserver` protocol (`request_done`), everything else from
the daemon's events (`record`: committed batches, worker restarts, watcher
fallbacks, removed workspaces).
Gauges that mirror live state (queue depth, files per workspace, connections)
are read at scrape time from a `WorkspaceStatsSource`, so they can never go
stale and nothing has to remember to update them.

Labels stay bounded: `method` is a registered method name or "(unknown)",
`workspace` is a workspace id (a short hash, one per added workspace), skip
`reason` is one of PROTOCOL.md's reasons, `component` a health check name.
Never a path, a query or a client-supplied string.

`axd_health_status{component}` encodes a status as a number so it can be
alerted on: 0 HEALTHY, 1 DEGRADED, 2 UNHEALTHY, 3 UNKNOWN; `component` is a
check name (`store`, `watcher`, ...) or `overall` for the aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from axd.daemon.events import (
    BatchCommitted,
    Lagged,
    WatcherFellBack,
    WorkerRestarted,
    WorkspaceRemoved,
)
from axd.daemon.records import SKIP_REASONS
from axd.protocol import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from axd.daemon.events import Event
    from axd.protocol.types import HealthStatus

log = structlog.get_logger()

# Skip reasons outside PROTOCOL.md's list are counted as "other", so a
# new reason in the indexer cannot mint series nobody documented.
_SKIP_REASONS = frozenset(SKIP_REASONS)

HEALTH_VALUES: Mapping[str, int] = {
    "HEALTHY": 0,
    "DEGRADED": 1,
    "UNHEALTHY": 2,
    "UNKNOWN": 3,
}

# Request latencies: sub-millisecond lookups up to the 60 s request deadline.
# 1-2.5-5 steps from 10 ms to a minute, shared by both histograms.
_DECADES = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# The first two resolve the answers given from memory (flags.evaluate's
# 0.3 ms round-trip target needs to show where the daemon's share ends).
REQUEST_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, *_DECADES)
# Index batches and edit-to-queryable latency: the debounce alone is ~50 ms,
# a cold batch of large files can take tens of seconds.
INDEX_BUCKETS = (*_DECADES, 120.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkspaceStats:
    """Live figures of one workspace, read at scrape time."""

    workspace_id: str
    files: int = 0
    chunks: int = 0
    symbols: int = 0
    generation: int = 0
    queue_depth: int = 0
    queue_oldest_seconds: float = 0.0  # age of the oldest queued change; 0 if none
    db_size_bytes: int = 0


class WorkspaceStatsSource(Protocol):
    """Live state behind the gauges (the workspace manager implements it).

    Both methods are called from a worker thread on every scrape: they must
    be cheap, must not block on I/O other than a `stat`, and must only read
    in-memory state (attribute reads are safe under the GIL).
    """

    def workspace_stats(self) -> list[WorkspaceStats]:
        """One entry per added workspace."""
        ...

    def subscriber_count(self) -> int:
        """Open `subscribe` subscriptions, across connections."""
        ...


class NoWorkspaces:
    """A `WorkspaceStatsSource` (and nothing else) before workspaces exist."""

    def workspace_stats(self) -> list[WorkspaceStats]:
        """Always empty."""
        return []

    def subscriber_count(self) -> int:
        """Always zero."""
        return 0


_WORKSPACE_GAUGES: tuple[tuple[str, str, str], ...] = (
    ("axd_index_queue_depth", "queue_depth", "Changes waiting to be indexed."),
    (
        "axd_index_queue_oldest_seconds",
        "queue_oldest_seconds",
        "Age in seconds of the oldest change waiting to be indexed (0 if none).",
    ),
    ("axd_workspace_files", "files", "Files in the index."),
    ("axd_workspace_chunks", "chunks", "Chunks in the index."),
    ("axd_workspace_symbols", "symbols", "Symbols in the index."),
    (
        "axd_workspace_generation",
        "generation",
        "Last committed index generation.",
    ),
    ("axd_db_size_bytes", "db_size_bytes", "Size in bytes of the index database."),
)


class _LiveCollector(Collector):
    """Per-workspace gauges and the subscriber count, pulled at scrape time."""

    def __init__(self, source: Callable[[], WorkspaceStatsSource]) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        source = self._source()
        stats = source.workspace_stats()
        for name, attribute, documentation in _WORKSPACE_GAUGES:
            family = GaugeMetricFamily(name, documentation, labels=["workspace"])
            for item in stats:
                family.add_metric([item.workspace_id], float(getattr(item, attribute)))
            yield family
        yield GaugeMetricFamily(
            "axd_subscribers",
            "Open event subscriptions.",
            value=float(source.subscriber_count()),
        )


class _WithoutCreated(Collector):
    """A registry view without `_created` samples, for the 0.0.4 text format.

    That format has no place for them, so prometheus_client prints each as an
    extra `*_created` gauge family: noise on every counter and histogram.
    OpenMetrics has a place for them and keeps them.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            if family.type in ("counter", "histogram", "summary", "gaugehistogram"):
                family.samples = [
                    s for s in family.samples if not s.name.endswith("_created")
                ]
            yield family


class Metrics:
    """The daemon's metrics registry and the recording methods fed into it."""

    def __init__(
        self,
        *,
        stats: WorkspaceStatsSource | None = None,
        connections: Callable[[], int] | None = None,
        process: bool = True,
    ) -> None:
        self.registry = CollectorRegistry()
        self.stats: WorkspaceStatsSource = stats or NoWorkspaces()
        registry = self.registry
        if process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
        self.requests = Counter(
            "axd_requests",
            "JSON-RPC requests answered, by method and outcome (ok or error kind).",
            ["method", "outcome"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "axd_request_seconds",
            "Time in seconds to answer a JSON-RPC request.",
            ["method"],
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        # The labelled children by (method, outcome): `labels()` takes a lock
        # and builds a key on every call, and it runs once per request.
        self._request_children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}
        self.connection_errors = Counter(
            "axd_connection_errors",
            "Connections ended by an unexpected error, by the stage it came from "
            "(read, decode, dispatch, write, internal); the daemon went on serving.",
            ["kind"],
            registry=registry,
        )
        self.connections = Gauge(
            "axd_connections", "Open client connections.", registry=registry
        )
        counting = connections
        self.connections.set_function(lambda: float(counting() if counting else 0))
        self.files_indexed = Counter(
            "axd_files_indexed",
            "Files (re)indexed.",
            ["workspace"],
            registry=registry,
        )
        self.files_skipped = Counter(
            "axd_files_skipped",
            "Files kept by the crawl but not indexed, by reason.",
            ["workspace", "reason"],
            registry=registry,
        )
        self.parse_errors = Counter(
            "axd_parse_errors",
            "Files indexed from a tree with syntax errors.",
            ["workspace"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "axd_index_batch_seconds",
            "Time in seconds to index and commit one batch of changes.",
            ["workspace"],
            buckets=INDEX_BUCKETS,
            registry=registry,
        )
        self.edit_to_queryable = Histogram(
            "axd_edit_to_queryable_seconds",
            "Seconds from a file-system event to the generation that makes it "
            "queryable.",
            ["workspace"],
            buckets=INDEX_BUCKETS,
            registry=registry,
        )
        self.worker_restarts = Counter(
            "axd_worker_restarts",
            "Parser worker processes restarted after a crash or hang.",
            registry=registry,
        )
        self.watcher_fallbacks = Counter(
            "axd_watcher_fallbacks",
            "Times a workspace's watcher fell back from native events to polling.",
            ["workspace"],
            registry=registry,
        )
        self.health_status = Gauge(
            "axd_health_status",
            "Health by component (or overall): 0 HEALTHY, 1 DEGRADED, "
            "2 UNHEALTHY, 3 UNKNOWN.",
            ["component"],
            registry=registry,
        )
        self.health_status.labels("overall").set(HEALTH_VALUES["UNKNOWN"])
        Info("axd_build", "The running axd version.", registry=registry).info(
            {"version": __version__}
        )
        registry.register(_LiveCollector(lambda: self.stats))

    # -- dispatch.RequestObserver ---------------------------------------------------

    def request_done(
        self, method: str, outcome: str, seconds: float, size: int = 0
    ) -> None:
        """Count one answered request (dispatch passes "(unknown)" for strays)."""
        children = self._request_children.get((method, outcome))
        if children is None:
            children = (
                self.requests.labels(method, outcome),
                self.request_seconds.labels(method),
            )
            self._request_children[(method, outcome)] = children
        children[0].inc()
        children[1].observe(seconds)

    def connection_failed(self, kind: str) -> None:
        """Count a connection the server ended on an unexpected error."""
        self.connection_errors.labels(kind).inc()

    # -- recorded from the daemon's events -------------------------------------------

    def record(self, event: Event) -> None:
        """Count what one of the daemon's events tells (`Events.follow`)."""
        if isinstance(event, BatchCommitted):
            self.batch_committed(
                event.workspace_id,
                event.seconds,
                event.files_indexed,
                event.skipped,
                event.parse_errors,
                event.freshness_s,
            )
        elif isinstance(event, WorkerRestarted):
            self.worker_restarted()
        elif isinstance(event, WatcherFellBack):
            self.watcher_fallback(event.workspace_id)
        elif isinstance(event, WorkspaceRemoved):
            self.forget_workspace(event.workspace_id)
        elif isinstance(event, Lagged):
            log.warning("metrics_missed_events", missed=event.missed)

    def batch_committed(
        self,
        workspace_id: str,
        seconds: float,
        files_indexed: int,
        skipped_by_reason: Mapping[str, int],
        parse_errors: int,
        edit_to_queryable: Iterable[float],
    ) -> None:
        """One committed index batch and the edits it made queryable."""
        self.batch_seconds.labels(workspace_id).observe(seconds)
        if files_indexed:
            self.files_indexed.labels(workspace_id).inc(files_indexed)
        else:
            self.files_indexed.labels(workspace_id)  # the series exists at 0
        for reason, count in skipped_by_reason.items():
            if count:
                label = reason if reason in _SKIP_REASONS else "other"
                self.files_skipped.labels(workspace_id, label).inc(count)
        child = self.parse_errors.labels(workspace_id)
        if parse_errors:
            child.inc(parse_errors)
        latency = self.edit_to_queryable.labels(workspace_id)
        for value in edit_to_queryable:
            latency.observe(max(0.0, value))

    def worker_restarted(self) -> None:
        """A parser worker process was replaced."""
        self.worker_restarts.inc()

    def watcher_fallback(self, workspace_id: str) -> None:
        """A workspace's watcher switched to polling."""
        self.watcher_fallbacks.labels(workspace_id).inc()

    def forget_workspace(self, workspace_id: str) -> None:
        """Drop a removed workspace's series, so labels stay bounded."""
        for metric in (
            self.files_indexed,
            self.parse_errors,
            self.batch_seconds,
            self.edit_to_queryable,
            self.watcher_fallbacks,
        ):
            try:
                metric.remove(workspace_id)
            except KeyError:
                pass
        for reason in (*SKIP_REASONS, "other"):
            try:
                self.files_skipped.remove(workspace_id, reason)
            except KeyError:
                pass

    # -- health ----------------------------------------------------------------------

    def set_health(self, component: str, status: HealthStatus) -> None:
        """Record a component's (or `overall`) health status."""
        self.health_status.labels(component).set(HEALTH_VALUES[status])

    # -- exposition ------------------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition and its content type, OpenMetrics if `accept` asks.

        Blocking (reads /proc, calls the stats source): run it in a thread.
        """
        encoder, content_type = choose_encoder(accept or "")
        if content_type.startswith("text/plain"):
            return encoder(_WithoutCreated(self.registry)), content_type
        return encoder(self.registry), content_type

    def text(self) -> str:
        """The Prometheus text exposition (what the `metrics` RPC returns)."""
        return self.render(None)[0].decode()
