"""`graph.*`: the import graph (`daemon/query/graph.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.daemon.query import graph
from axd.daemon.rpc.handlers.reads import check_limit, since
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.errors import invalid_params

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods."""
    handlers = _Graph(services)
    r = registry.register
    r(m.GRAPH_IMPORTS, handlers.imports)
    r(m.GRAPH_IMPORTERS, handlers.importers)
    r(m.GRAPH_DEPENDENCIES, handlers.dependencies)
    r(m.GRAPH_DEPENDENTS, handlers.dependents)
    r(m.GRAPH_CYCLES, handlers.cycles)


class _Graph:
    def __init__(self, services: Services) -> None:
        self.reads = services.reads

    async def imports(self, p: t.PathParams, ctx: RequestContext) -> t.ImportsResult:
        found, generation, took = await self.reads.on_file(p, graph.imports)
        return t.ImportsResult(imports=found, generation=generation, took_ms=took)

    async def importers(
        self, p: t.PathParams, ctx: RequestContext
    ) -> t.ImportersResult:
        found, generation, took = await self.reads.on_file(p, graph.importers)
        return t.ImportersResult(importers=found, generation=generation, took_ms=took)

    async def dependencies(
        self, p: t.GraphWalkParams, ctx: RequestContext
    ) -> t.GraphWalkResult:
        return await self._walk(p, graph.dependencies)

    async def dependents(
        self, p: t.GraphWalkParams, ctx: RequestContext
    ) -> t.GraphWalkResult:
        return await self._walk(p, graph.dependents)

    async def _walk(
        self, p: t.GraphWalkParams, walk: Callable[..., list[t.GraphPath]]
    ) -> t.GraphWalkResult:
        if p.depth is not None and p.depth < 1:
            raise invalid_params("depth must be >= 1 (omit it for no limit)", "$.depth")
        found, generation, took = await self.reads.on_file(
            p, lambda c, path: walk(c, path, depth=p.depth)
        )
        return t.GraphWalkResult(paths=found, generation=generation, took_ms=took)

    async def cycles(self, p: t.CyclesParams, ctx: RequestContext) -> t.CyclesResult:
        check_limit(p.limit, "$.limit", maximum=100_000)
        ws, started = await self.reads.prepare(p)
        found, generation = await self.reads.query(
            ws, lambda c: graph.cycles(c, limit=p.limit)
        )
        return t.CyclesResult(
            cycles=found, generation=generation, took_ms=since(started)
        )
