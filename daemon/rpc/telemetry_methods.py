"""The telemetry.* methods, and the start of local telemetry behind them.

`register` is called once by `assemble.start_services`, after the flags
(exposures are one of the recorded events) and the workspace manager
(index runs are another).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.daemon.telemetry.service import Telemetry
from axd.protocol import methods as m
from axd.protocol import telemetry as tm
from axd.protocol import types as t

if TYPE_CHECKING:
    import anyio.abc

    from axd.daemon.config import Config
    from axd.daemon.flags.service import FlagService
    from axd.daemon.lifecycle import Daemon
    from axd.daemon.rpc.dispatch import RequestContext
    from axd.daemon.workspaces import WorkspaceManager


async def register(
    daemon: Daemon,
    tg: anyio.abc.TaskGroup,
    *,
    flags: FlagService | None = None,
    manager: WorkspaceManager | None = None,
) -> Telemetry:
    """Start telemetry (recording only with consent) and route telemetry.*."""
    telemetry = Telemetry(daemon.state_dir, daemon.config.telemetry, daemon.env)
    daemon.registry.observers.append(telemetry)
    if flags is not None:
        flags.exposure_listeners.append(telemetry)
    if manager is not None:
        manager.on_batch.append(telemetry.batch_done)

    def reconfigure(config: Config) -> None:
        telemetry.configure(config.telemetry)

    daemon.config_listeners.append(reconfigure)
    daemon.on_stop(telemetry.close)
    await tg.start(telemetry.run)
    TelemetryMethods(telemetry).register(daemon)
    return telemetry


class TelemetryMethods:
    """Handlers of the telemetry.* methods."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def register(self, daemon: Daemon) -> None:
        """Route every telemetry.* method."""
        r = daemon.registry.register
        r(m.TELEMETRY_STATUS, self.status)
        r(m.TELEMETRY_CONSENT, self.consent)
        r(m.TELEMETRY_STATS, self.stats)
        r(m.TELEMETRY_ERRORS, self.errors)
        r(m.TELEMETRY_PERFORMANCE, self.performance)
        r(m.TELEMETRY_EXPORT, self.export)
        r(m.TELEMETRY_CLEAR, self.clear)

    async def status(self, p: t.Empty, ctx: RequestContext) -> tm.TelemetryStatus:
        return await self.telemetry.status()

    async def consent(
        self, p: tm.TelemetryConsentParams, ctx: RequestContext
    ) -> tm.TelemetryStatus:
        return await self.telemetry.set_consent(p.enabled)

    async def stats(self, p: tm.SinceParams, ctx: RequestContext) -> tm.TelemetryStats:
        return await self.telemetry.report("stats", p.since)  # type: ignore[return-value]

    async def errors(
        self, p: tm.SinceParams, ctx: RequestContext
    ) -> tm.TelemetryErrors:
        return await self.telemetry.report("errors", p.since)  # type: ignore[return-value]

    async def performance(
        self, p: tm.SinceParams, ctx: RequestContext
    ) -> tm.TelemetryPerformance:
        return await self.telemetry.report("performance", p.since)  # type: ignore[return-value]

    async def export(
        self, p: tm.SinceParams, ctx: RequestContext
    ) -> tm.TelemetryExport:
        return await self.telemetry.export(p.since)

    async def clear(self, p: t.Empty, ctx: RequestContext) -> tm.TelemetryCleared:
        return await self.telemetry.clear()
