"""The daemon process: assembles the parts once and runs them until told to stop.

Shutdown follows ARCHITECTURE.md's order: stop accepting, finish in-flight
requests (bounded by `server.shutdown_grace_s`), flush the writers,
checkpoint WAL, close.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import structlog

from axd.daemon.assemble import assemble, start, stop
from axd.daemon.config import (
    Config,
    ConfigError,
    load,
    runtime_socket_path,
    state_directory,
)
from axd.daemon.events import ConfigReloaded
from axd.daemon.ops.logging import configure
from axd.protocol import __version__

if TYPE_CHECKING:
    import socket
    from pathlib import Path

    from axd.daemon.events import Events
    from axd.daemon.ops.supervisor import Ops
    from axd.daemon.rpc.dispatch import Registry
    from axd.daemon.rpc.server import Server

log = structlog.get_logger()


class Daemon:
    """One axd process: the assembled parts, the socket, signals and reloads."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        initial_roots: list[str] | None = None,
        inherited_socket: socket.socket | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        # The environment the config was loaded with (with --log-level folded
        # in): a SIGHUP reload must see the same overrides.
        self.env = dict(os.environ) if env is None else env
        self.config_path = config_path
        self.socket_path = runtime_socket_path(config)
        self.state_dir = state_directory(config)
        self.parts = assemble(
            config, socket_path=self.socket_path, state_dir=self.state_dir, env=self.env
        )
        self._initial_roots = list(initial_roots or [])
        self._inherited_socket = inherited_socket

    # -- the parts others use ------------------------------------------------------

    @property
    def registry(self) -> Registry:
        """The method registry."""
        return self.parts.registry

    @property
    def server(self) -> Server:
        """The socket server."""
        return self.parts.server

    @property
    def events(self) -> Events:
        """The daemon's event fan-out."""
        return self.parts.events

    @property
    def ops(self) -> Ops:
        """Metrics, health, the HTTP listener and sd_notify."""
        return self.parts.ops

    @property
    def metrics_url(self) -> str | None:
        """The metrics page's URL once bound; None with the listener off."""
        return self.parts.ops.metrics_url

    @property
    def uptime_s(self) -> float:
        """Seconds since the daemon started."""
        return self.parts.process.uptime_s

    # -- lifecycle ----------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful shutdown (idempotent)."""
        self.parts.process.stop.set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until `request_stop`, SIGTERM or SIGINT; then stop in order.

        :raises AlreadyRunningError: another daemon serves the socket.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        server = self.parts.server
        server.claim_socket(inherited=self._inherited_socket is not None)
        try:
            await server.listen(self._inherited_socket)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_signals)
                await start(self.parts, tg, self._initial_roots)
                log.info(
                    "daemon_ready",
                    socket=str(self.socket_path),
                    pid=os.getpid(),
                    version=__version__,
                )
                task_status.started()
                await self.parts.process.stop.wait()
                await self._drain()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    with anyio.move_on_after(20):
                        await stop(self.parts)
                except Exception:
                    log.exception("stop_failed")
                await server.stop_accepting()
                server.release()
            log.info("daemon_stopped")

    async def _drain(self) -> None:
        server = self.parts.server
        log.info("daemon_stopping", inflight=server.inflight)
        self.parts.registry.shutting_down = True
        await server.stop_accepting()
        with anyio.move_on_after(self.config.server.shutdown_grace_s):
            # Polling two counters once at shutdown is cheaper than keeping an
            # Event up to date on every request's hot path.
            while server.inflight or server.pending_output():  # noqa: ASYNC110
                await anyio.sleep(0.01)

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(
            signal.SIGTERM, signal.SIGINT, signal.SIGHUP
        ) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    await self.reload()
                else:
                    log.info("signal_received", signal=signal.Signals(signum).name)
                    self.request_stop()

    async def reload(self) -> None:
        """SIGHUP: re-read the config; a bad file keeps the old one in force."""
        try:
            explicit = str(self.config_path) if self.config_path else None
            fresh, _ = load(
                explicit,
                socket_path=self.config.socket_path,
                state_dir=self.config.state_dir,
                metrics_addr=self.config.metrics.addr,
                env=self.env,
            )
        except ConfigError as exc:
            log.error("config_reload_rejected", error=str(exc))
            return
        self.apply_config(fresh)
        log.info(
            "config_reloaded", path=str(self.config_path) if self.config_path else None
        )

    def apply_config(self, fresh: Config) -> None:
        """Take the settings that can change at run time; the parts that
        care (health thresholds) hear of it as a `ConfigReloaded` event."""
        # Read once at start: a change needs a restart. Say so, not silently.
        fixed = [
            name
            for name in ("socket_path", "state_dir", "index", "watch", "metrics")
            if getattr(fresh, name) != getattr(self.config, name)
        ]
        if fixed:
            log.warning("config_needs_restart", sections=fixed)
        self.config = fresh
        self.parts.server.config = fresh.server
        self.parts.registry.request_timeout_s = fresh.server.request_timeout_s
        configure(fresh.log)
        self.parts.events.publish(ConfigReloaded(fresh))
