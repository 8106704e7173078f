"""What supervisors and scrapers see: metrics, health, the HTTP listener
(`/metrics`, `/healthz`, `/readyz`) and sd_notify (READY, STATUS, WATCHDOG,
STOPPING).

`Ops` is built once from the config and its sources of facts, then run as
one task (`Ops.run`): the health loop, metrics following the daemon's
events, the HTTP listener, the watchdog pings. `announce_readiness` turns
`WorkspaceReady` events into systemd's READY=1 (with STATUS progress lines
from `BatchCommitted` events meanwhile). The `health` and `metrics` methods
are registered by `rpc/handlers/ops.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.abc
import msgspec
import structlog

from axd.daemon.config import ConfigError, parse_addr
from axd.daemon.events import BatchCommitted, WorkspaceReady
from axd.daemon.ops.health import HealthMonitor
from axd.daemon.ops.http import HttpServer, Response
from axd.daemon.ops.metrics import Metrics

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from anyio.streams.memory import MemoryObjectReceiveStream

    from axd.daemon.config import Config
    from axd.daemon.events import Event, Events
    from axd.daemon.ops.facts import EngineFacts
    from axd.daemon.ops.health import HealthFacts
    from axd.daemon.ops.metrics import WorkspaceStatsSource
    from axd.daemon.ops.systemd import Notifier

log = structlog.get_logger()

_JSON = msgspec.json.Encoder()


class Ops:
    """Metrics, health, the HTTP listener and sd_notify of one daemon."""

    def __init__(
        self,
        config: Config,
        state_dir: Path,
        events: Events,
        *,
        facts: HealthFacts,
        stats: WorkspaceStatsSource,
        ready: Callable[[], bool],
        connections: Callable[[], int],
        notifier: Notifier,
    ) -> None:
        self.config = config
        self.events = events
        self.notifier = notifier
        self.metrics = Metrics(stats=stats, connections=connections)
        self.health = HealthMonitor(
            config.health, state_dir, facts, metrics=self.metrics, events=events
        )
        self.http = self._http_server(ready)

    def _http_server(self, ready: Callable[[], bool]) -> HttpServer | None:
        """The listener's routes (bound by `run`); None when disabled."""
        try:
            address = parse_addr(self.config.metrics.addr)
        except ConfigError as exc:
            log.error("metrics_listener_disabled", error=str(exc))
            return None
        if address is None:
            return None
        metrics, health = self.metrics, self.health

        async def metrics_page(accept: str | None) -> Response:
            body, content_type = await anyio.to_thread.run_sync(metrics.render, accept)
            return Response(200, body, content_type)

        async def healthz(accept: str | None) -> Response:
            report = await health.check()
            code = 503 if report.status == "UNHEALTHY" else 200
            return Response(code, _JSON.encode(report), "application/json")

        async def readyz(accept: str | None) -> Response:
            if ready():
                return Response(200, b"ready\n")
            return Response(503, b"not ready: workspaces are still indexing\n")

        return HttpServer(
            {"/metrics": metrics_page, "/healthz": healthz, "/readyz": readyz}
        )

    @property
    def metrics_url(self) -> str | None:
        """The full URL of the metrics page; None with the listener off or
        not (yet) bound."""
        return f"{self.http.url}/metrics" if self.http and self.http.url else None

    def notify_ready(self, status: str | None = None) -> None:
        """Tell systemd start-up is complete (READY=1), with a STATUS line."""
        lines = ["READY=1"]
        if status:
            lines.append(f"STATUS={_one_line(status)}")
        self.notifier.notify(*lines)

    def notify_status(self, text: str) -> None:
        """Show `text` in `systemctl status` (STATUS=...)."""
        self.notifier.notify(f"STATUS={_one_line(text)}")

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run health, metrics, the listener and the watchdog until cancelled;
        STOPPING=1 on the way out. A metrics address that cannot be bound is
        logged and leaves the listener off: the socket is what editors need,
        scrapes are secondary."""
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(self.events.follow, self.metrics.record)
                await tg.start(self.health.run)
                await self._start_http(tg)
                interval = self.notifier.watchdog_interval_s
                if interval is not None:
                    tg.start_soon(_watchdog, self.notifier, interval)
                task_status.started()
        finally:
            self.notifier.notify("STOPPING=1", "STATUS=stopping")

    async def _start_http(self, tg: anyio.abc.TaskGroup) -> None:
        if self.http is None:
            return
        host, port = parse_addr(self.config.metrics.addr) or ("127.0.0.1", 0)
        try:
            await self.http.bind(host, port)
        except OSError as exc:
            log.error(
                "metrics_listener_failed",
                addr=self.config.metrics.addr,
                error=exc.strerror or str(exc),
            )
            return
        await tg.start(self.http.run)
        log.info("metrics_listening", url=self.metrics_url)


async def announce_readiness(
    ops: Ops, facts: EngineFacts, events: MemoryObjectReceiveStream[Event]
) -> None:
    """READY=1 once every workspace finished its first index; STATUS= lines
    with progress after each committed batch meanwhile (systemd shows them).

    `events` must be subscribed before the workspaces start, so no
    `WorkspaceReady` is missed."""
    with events:
        while not facts.ready():
            event = await events.receive()
            if isinstance(event, BatchCommitted) and not facts.ready():
                done, total, _ = facts.progress()
                ops.notify_status(f"indexing: {done}/{total} files")
            elif not isinstance(event, WorkspaceReady):
                continue
    count = facts.progress()[2]
    ops.notify_ready(f"serving {count} workspace{'s' if count != 1 else ''}")
    log.info("all_workspaces_ready", workspaces=count)


def _one_line(text: str) -> str:
    # sd_notify is newline-separated KEY=VALUE: a newline would start a key.
    return " ".join(text.split())


async def _watchdog(notifier: Notifier, interval: float) -> None:
    # Sent from the event loop on purpose: if the loop hangs, the pings stop
    # and systemd restarts the daemon (WatchdogSec=).
    while True:
        notifier.notify("WATCHDOG=1")
        await anyio.sleep(interval)
