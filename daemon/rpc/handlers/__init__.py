"""Every JSON-RPC method the daemon serves, one handler module per area.

Each area module exposes ``register(registry, services)`` and routes its
methods there, and nowhere else; `AREAS` below is the one list of areas,
in the order `rpc.discover` lists them.

To add a method: write its handler in the module of its area and route it
in that module's `register`. To add an area (snapshots/db, flags,
telemetry...): create ``daemon/rpc/handlers/<area>.py`` with a `register`
function and add it to `AREAS` (one line). What handlers may call is
`services.Services`, built once by `daemon/assemble.py`; a new component
goes there as a field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.daemon.rpc.handlers import (
    flags,
    graph,
    ops,
    queries,
    server,
    snapshots,
    subscriptions,
    telemetry,
    workspaces,
)

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Registry
    from axd.daemon.rpc.handlers.services import Services

AREAS = (
    server,
    workspaces,
    queries,
    graph,
    subscriptions,
    ops,
    flags,
    telemetry,
    snapshots,
)


def register_all(registry: Registry, services: Services) -> None:
    """Route every method of every area."""
    for area in AREAS:
        area.register(registry, services)
