"""Wires the services behind the wire methods into a running daemon."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import anyio.abc

    from .app import Daemon


async def start_services(
    daemon: Daemon, tg: anyio.abc.TaskGroup, initial_roots: list[str]
) -> None:
    """Start every service and register its methods on `daemon.registry`."""
    return
