"""Everything a method handler may use, built once by `daemon/assemble.py`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from axd.daemon.clock import utc_now

if TYPE_CHECKING:
    from axd.daemon.flags.service import FlagService
    from axd.daemon.ops.supervisor import Ops
    from axd.daemon.rpc.handlers.reads import Reads
    from axd.daemon.rpc.subscriptions import Subscriptions
    from axd.daemon.snapshotting import IndexSafety
    from axd.daemon.telemetry.service import Telemetry
    from axd.daemon.workspaces import WorkspaceManager


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """This daemon process: when it started, and how to ask it to stop."""

    started_at: str = field(default_factory=utc_now)
    started_monotonic: float = field(default_factory=time.monotonic)
    # Set to begin a graceful shutdown; `lifecycle.Daemon` waits on it.
    stop: anyio.Event = field(default_factory=anyio.Event)

    @property
    def uptime_s(self) -> float:
        """Seconds since the daemon started."""
        return time.monotonic() - self.started_monotonic


@dataclass(frozen=True, slots=True)
class Services:
    """The daemon's parts the handlers call into (nothing calls back)."""

    process: ProcessInfo
    workspaces: WorkspaceManager
    reads: Reads
    safety: IndexSafety
    subscriptions: Subscriptions
    ops: Ops
    flags: FlagService
    telemetry: Telemetry
