"""`subscribe` and `unsubscribe` (delivery: `daemon/rpc/subscriptions.py`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.protocol import methods as m

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Registry
    from axd.daemon.rpc.handlers.services import Services


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods."""
    registry.register(m.SUBSCRIBE, services.subscriptions.subscribe)
    registry.register(m.UNSUBSCRIBE, services.subscriptions.unsubscribe)
