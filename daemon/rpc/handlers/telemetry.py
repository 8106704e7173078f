"""The telemetry.* methods (recording: `daemon/telemetry/service.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.protocol import methods as m
from axd.protocol import telemetry as tm
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services
    from axd.daemon.telemetry.service import Telemetry


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods."""
    TelemetryMethods(services.telemetry).register(registry)


class TelemetryMethods:
    """Handlers of the telemetry.* methods."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def register(self, registry: Registry) -> None:
        """Route every telemetry.* method."""
        r = registry.register
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
