"""The daemon: composes the components and runs them until told to stop.

Shutdown follows ARCHITECTURE.md's order: stop accepting, finish in-flight
requests (bounded by `server.shutdown_grace_s`), flush the writers,
checkpoint WAL, close.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import msgspec
import structlog

from axd.daemon.config import (
    Config,
    ConfigError,
    load,
    runtime_socket_path,
    state_directory,
)
from axd.daemon.permissions import private_dir
from axd.daemon.rpc.dispatch import Registry, RequestContext
from axd.daemon.rpc.server import Server
from axd.daemon.supervise import supervised
from axd.protocol import PROTOCOL_VERSION, __version__
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.openrpc import openrpc_document

if TYPE_CHECKING:
    import socket
    from pathlib import Path

log = structlog.get_logger()

StopHook = Callable[[], Awaitable[None]]


def utc_now() -> str:
    """RFC 3339 UTC timestamp with a Z suffix."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Daemon:
    """One axd process: registry, socket server and the services behind it."""

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
        self.registry = Registry()
        self.registry.request_timeout_s = config.server.request_timeout_s
        self.server = Server(config.server, self.registry, self.socket_path)
        self.started_at = utc_now()
        self._started_monotonic = time.monotonic()
        self._stop = anyio.Event()
        self._initial_roots = list(initial_roots or [])
        self._inherited_socket = inherited_socket
        self.metrics_url: str | None = None
        self.languages: list[str] = []
        self.workspace_roots: Callable[[], list[str]] = list
        self._stop_hooks: list[StopHook] = []
        # Told about a reloaded config (SIGHUP), after the core took it.
        self.config_listeners: list[Callable[[Config], None]] = []
        self._register_server_methods()

    # -- lifecycle ----------------------------------------------------------------

    def request_stop(self) -> None:
        """Begin a graceful shutdown (idempotent)."""
        self._stop.set()

    def on_stop(self, hook: StopHook) -> None:
        """Run `hook` during shutdown, after requests drained (LIFO order)."""
        self._stop_hooks.append(hook)

    @property
    def uptime_s(self) -> float:
        """Seconds since the daemon started."""
        return time.monotonic() - self._started_monotonic

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until `request_stop`, SIGTERM or SIGINT; then stop in order.

        :raises AlreadyRunningError: another daemon serves the socket.
        """
        private_dir(self.state_dir)
        self.server.claim_socket(inherited=self._inherited_socket is not None)
        try:
            await self.server.listen(self._inherited_socket)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_signals)
                await self._start_services(tg)
                await tg.start(self.server.run)
                log.info(
                    "daemon_ready",
                    socket=str(self.socket_path),
                    pid=os.getpid(),
                    version=__version__,
                )
                task_status.started()
                await self._stop.wait()
                await self._drain()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._run_stop_hooks()
                await self.server.stop_accepting()
                self.server.release()
            log.info("daemon_stopped")

    async def _start_services(self, tg: anyio.abc.TaskGroup) -> None:
        """Start the services behind the methods (filled in by `services`)."""
        from axd.daemon.assemble import start_services

        await start_services(self, tg, self._initial_roots)

    async def _drain(self) -> None:
        log.info("daemon_stopping", inflight=self.server.inflight)
        self.registry.shutting_down = True
        await self.server.stop_accepting()
        with anyio.move_on_after(self.config.server.shutdown_grace_s):
            # Polling two counters once at shutdown is cheaper than keeping an
            # Event up to date on every request's hot path.
            while self.server.inflight or self.server.pending_output():  # noqa: ASYNC110
                await anyio.sleep(0.01)

    async def _run_stop_hooks(self) -> None:
        for hook in reversed(self._stop_hooks):
            try:
                with anyio.move_on_after(10):
                    await hook()
            except Exception:
                log.exception("stop_hook_failed")

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(
            signal.SIGTERM, signal.SIGINT, signal.SIGHUP
        ) as signals:
            async for signum in signals:
                if signum == signal.SIGHUP:
                    # A bug in a config listener must not end the daemon.
                    await supervised("reload", self.reload)
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
        """Take the settings that can change at run time."""
        from axd.daemon.ops.logging import configure

        # Read once at start: a change needs a restart. Say so, not silently.
        fixed = [
            name
            for name in ("socket_path", "state_dir", "index", "watch", "metrics")
            if getattr(fresh, name) != getattr(self.config, name)
        ]
        if fixed:
            log.warning("config_needs_restart", sections=fixed)
        self.config = fresh
        self.server.config = fresh.server
        self.registry.request_timeout_s = fresh.server.request_timeout_s
        configure(fresh.log)
        for listener in self.config_listeners:
            listener(fresh)

    # -- server.* methods ---------------------------------------------------------

    def _register_server_methods(self) -> None:
        self.registry.register(m.SERVER_INFO, self._server_info, instant=True)
        self.registry.register(m.SERVER_SHUTDOWN, self._server_shutdown, instant=True)
        self.registry.register(m.RPC_DISCOVER, self._rpc_discover, instant=True)

    async def _server_info(self, params: t.Empty, ctx: RequestContext) -> t.ServerInfo:
        return t.ServerInfo(
            version=__version__,
            protocol_version=PROTOCOL_VERSION,
            pid=os.getpid(),
            started_at=self.started_at,
            uptime_s=round(self.uptime_s, 3),
            languages=self.languages,
            workspaces=self.workspace_roots(),
            metrics_url=self.metrics_url,
        )

    async def _server_shutdown(self, params: t.Empty, ctx: RequestContext) -> t.Ok:
        log.info("shutdown_requested")
        self.request_stop()
        return t.Ok(ok=True)

    _discover_cache: msgspec.Raw | None = None

    async def _rpc_discover(self, params: t.Empty, ctx: RequestContext) -> Any:
        if self._discover_cache is None:
            # What this daemon serves (the registry), not every method of the
            # protocol: a client must not discover methods that answer -32601.
            document = openrpc_document(self.registry.methods())
            self._discover_cache = msgspec.Raw(msgspec.json.encode(document))
        return self._discover_cache
