"""Operations wiring: metrics, health, the HTTP listener and sd_notify.

`start_ops` is called once by `services.start_services`, before the
workspaces load; it registers the `health` and `metrics` methods and returns
an `Ops` the rest of the daemon reports through (`ops.metrics` for the
indexer's recordings, `ops.health.on_change` for `health.changed`,
`ops.notify_ready()` once the workspaces are loaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import msgspec
import structlog

from axd.daemon.config import ConfigError, parse_addr
from axd.daemon.ops.health import HealthFacts, HealthMonitor
from axd.daemon.ops.http import HttpServer, Response
from axd.daemon.ops.metrics import Metrics, WorkspaceStatsSource
from axd.daemon.ops.systemd import Notifier
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon
    from axd.daemon.rpc.dispatch import RequestContext

log = structlog.get_logger()

_JSON = msgspec.json.Encoder()


@dataclass(slots=True)
class Ops:
    """What the rest of the daemon uses of operations."""

    metrics: Metrics
    health: HealthMonitor
    notifier: Notifier
    http: HttpServer | None = None

    @property
    def metrics_url(self) -> str | None:
        """The full URL of the metrics page, None with the listener off."""
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


def _one_line(text: str) -> str:
    # sd_notify is newline-separated KEY=VALUE: a newline would start a key.
    return " ".join(text.split())


async def start_ops(
    daemon: Daemon,
    tg: anyio.abc.TaskGroup,
    *,
    facts: HealthFacts,
    stats: WorkspaceStatsSource,
    ready: Callable[[], bool],
    notifier: Notifier | None = None,
) -> Ops:
    """Start metrics, health, the HTTP listener and sd_notify in `tg`.

    Sets `daemon.metrics_url`; registers `health` and `metrics`. A metrics
    address that cannot be bound is logged and leaves the listener off: the
    socket is what editors need, scrapes are secondary.
    `notifier` defaults to one reading NOTIFY_SOCKET/WATCHDOG_USEC.
    """
    server = daemon.server
    metrics = Metrics(stats=stats, connections=lambda: server.connection_count)
    daemon.registry.observers.append(metrics)
    server.on_connection_error.append(metrics.connection_failed)
    health = HealthMonitor(
        daemon.config.health, daemon.state_dir, facts, metrics=metrics
    )
    ops = Ops(metrics=metrics, health=health, notifier=notifier or Notifier())

    await tg.start(health.run)
    ops.http = await _start_http(daemon, tg, ops, ready)
    daemon.metrics_url = ops.metrics_url

    async def health_rpc(params: t.Empty, ctx: RequestContext) -> t.HealthReport:
        return await health.check()

    async def metrics_rpc(params: t.Empty, ctx: RequestContext) -> t.MetricsText:
        text = await anyio.to_thread.run_sync(metrics.text)
        return t.MetricsText(text=text)

    daemon.registry.register(m.HEALTH, health_rpc)
    daemon.registry.register(m.METRICS, metrics_rpc)

    def reconfigure(config: Config) -> None:
        health.configure(config.health)

    daemon.config_listeners.append(reconfigure)

    interval = ops.notifier.watchdog_interval_s
    if interval is not None:
        tg.start_soon(_watchdog, ops.notifier, interval)

    async def stopping() -> None:
        ops.notifier.notify("STOPPING=1", "STATUS=stopping")

    daemon.on_stop(stopping)
    return ops


async def _start_http(
    daemon: Daemon,
    tg: anyio.abc.TaskGroup,
    ops: Ops,
    ready: Callable[[], bool],
) -> HttpServer | None:
    try:
        address = parse_addr(daemon.config.metrics.addr)
    except ConfigError as exc:
        log.error("metrics_listener_disabled", error=str(exc))
        return None
    if address is None:
        return None
    metrics, health = ops.metrics, ops.health

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

    http = HttpServer(
        {"/metrics": metrics_page, "/healthz": healthz, "/readyz": readyz}
    )
    host, port = address
    try:
        await http.bind(host, port)
    except OSError as exc:
        log.error(
            "metrics_listener_failed",
            addr=daemon.config.metrics.addr,
            error=exc.strerror or str(exc),
        )
        return None
    await tg.start(http.run)
    log.info("metrics_listening", url=f"{http.url}/metrics")
    return http


async def _watchdog(notifier: Notifier, interval: float) -> None:
    # Sent from the event loop on purpose: if the loop hangs, the pings stop
    # and systemd restarts the daemon (WatchdogSec=).
    while True:
        notifier.notify("WATCHDOG=1")
        await anyio.sleep(interval)
