"""`health` and `metrics`: the daemon's own view of itself (`daemon/ops/`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.daemon.ops.supervisor import Ops
    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods."""
    handlers = _Ops(services.ops)
    registry.register(m.HEALTH, handlers.health)
    registry.register(m.METRICS, handlers.metrics)


class _Ops:
    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    async def health(self, params: t.Empty, ctx: RequestContext) -> t.HealthReport:
        return await self.ops.health.check()

    async def metrics(self, params: t.Empty, ctx: RequestContext) -> t.MetricsText:
        text = await anyio.to_thread.run_sync(self.ops.metrics.text)
        return t.MetricsText(text=text)
