"""`server.info`, `server.shutdown` and `rpc.discover`: the daemon itself."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from axd.daemon.index.languages import LANGUAGES
from axd.protocol import PROTOCOL_VERSION, __version__
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.openrpc import openrpc_document

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services

log = structlog.get_logger()


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods (all answered from memory: instant)."""
    handlers = _Server(registry, services)
    registry.register(m.SERVER_INFO, handlers.info, instant=True)
    registry.register(m.SERVER_SHUTDOWN, handlers.shutdown, instant=True)
    registry.register(m.RPC_DISCOVER, handlers.discover, instant=True)


class _Server:
    def __init__(self, registry: Registry, services: Services) -> None:
        self.registry = registry
        self.services = services
        self.languages = sorted(LANGUAGES)
        self._discover_cache: msgspec.Raw | None = None

    async def info(self, params: t.Empty, ctx: RequestContext) -> t.ServerInfo:
        process = self.services.process
        return t.ServerInfo(
            version=__version__,
            protocol_version=PROTOCOL_VERSION,
            pid=os.getpid(),
            started_at=process.started_at,
            uptime_s=round(process.uptime_s, 3),
            languages=self.languages,
            workspaces=self.services.workspaces.roots(),
            metrics_url=self.services.ops.metrics_url,
        )

    async def shutdown(self, params: t.Empty, ctx: RequestContext) -> t.Ok:
        log.info("shutdown_requested")
        self.services.process.stop.set()
        return t.Ok(ok=True)

    async def discover(self, params: t.Empty, ctx: RequestContext) -> Any:
        if self._discover_cache is None:
            # What this daemon serves (the registry), not every method of the
            # protocol: a client must not discover methods that answer -32601.
            document = openrpc_document(self.registry.methods())
            self._discover_cache = msgspec.Raw(msgspec.json.encode(document))
        return self._discover_cache
