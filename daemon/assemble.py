"""Builds the daemon from its config, once, in order; then starts it.

`assemble` constructs every long-lived part, each complete when created
(nothing is filled in later), in the order data flows:

1. events: the one fan-out every stage publishes to (`daemon/events.py`);
2. index: the worker pool and the workspaces (each a store, its writer,
   its rules, an indexer and a watcher);
3. ops: metrics, health, the HTTP listener and sd_notify. Built before the
   registry because metrics observes every request the registry answers;
4. telemetry and flags: local opt-in statistics, and the feature flags
   (`flags.db`; the daemon's own behaviours ask them through
   `flags.runtime.flag_on`). Both observe requests too, flags' exposures
   are telemetry events;
5. rpc: subscriptions, the method registry, the socket server, and every
   method's handler (`rpc/handlers/`).

`start` then runs them in a task group in the same order, so a part is
listening to the events before anything can publish one it needs, and the
flags are loaded and installed before the indexers and the server start.
`lifecycle.Daemon` owns the process around this: the socket, signals,
reloads and the shutdown order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import structlog

from axd.daemon.events import Events
from axd.daemon.flags import runtime
from axd.daemon.flags.service import FlagService, kills_counter
from axd.daemon.index.pool import WorkerPool
from axd.daemon.ops.facts import EngineFacts
from axd.daemon.ops.supervisor import Ops, announce_readiness
from axd.daemon.ops.systemd import Notifier
from axd.daemon.rpc.dispatch import Observers, Registry
from axd.daemon.rpc.handlers import register_all
from axd.daemon.rpc.handlers.reads import Reads
from axd.daemon.rpc.handlers.services import ProcessInfo, Services
from axd.daemon.rpc.server import Server
from axd.daemon.rpc.subscriptions import Subscriptions
from axd.daemon.snapshotting import IndexSafety
from axd.daemon.supervise import supervised, supervised_service
from axd.daemon.telemetry.service import Telemetry
from axd.daemon.workspaces import WorkspaceManager

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config


log = structlog.get_logger()

FLAGS_DB = "flags.db"


@dataclass(frozen=True, slots=True)
class Parts:
    """The assembled daemon: every long-lived part, built once."""

    process: ProcessInfo
    events: Events
    pool: WorkerPool
    workspaces: WorkspaceManager
    safety: IndexSafety
    facts: EngineFacts
    ops: Ops
    telemetry: Telemetry
    flags: FlagService
    subscriptions: Subscriptions
    registry: Registry
    server: Server


def assemble(
    config: Config, *, socket_path: Path, state_dir: Path, env: dict[str, str]
) -> Parts:
    """Every part of a daemon serving `config` (nothing runs yet)."""
    process = ProcessInfo()
    events = Events()

    pool = WorkerPool(
        config.index.workers or os.cpu_count() or 2,
        events,
        max_worker_pss=config.index.worker_recycle_bytes(),
        idle_s=config.index.worker_idle_s,
    )
    if config.index.worker_max_rss_mb is not None:
        log.warning(
            "config_key_replaced",
            key="index.worker_max_rss_mb",
            by="index.worker_max_pss_mb",
            detail="ignored (but 0 still turns recycling off)",
        )
    workspaces = WorkspaceManager(config, state_dir, pool, events)
    # Index safety (#11): snapshots, the db tool, recovery from damage.
    safety = IndexSafety(workspaces, config.snapshots, events)

    subscriptions = Subscriptions(workspaces, events)
    facts = EngineFacts(workspaces, pool, subscriptions)
    ops = Ops(
        config,
        state_dir,
        events,
        facts=facts,
        stats=facts,
        ready=facts.ready,
        # Read at scrape time; `server` is bound below, before anything runs.
        connections=lambda: server.connection_count,
        notifier=Notifier(env),
    )

    # Records nothing without consent; reads the consent file only.
    telemetry = Telemetry(state_dir, config.telemetry, env, events)
    flags = FlagService(
        state_dir / FLAGS_DB,
        env=env,
        events=events,
        kills_counter=kills_counter(ops.metrics.registry),
        daemon_flags={flag.name: flag.methods for flag in runtime.DAEMON_FLAGS},
        exposures=telemetry,
    )
    flags.configure(config.flags)

    registry = Registry(
        Observers(ops.metrics, flags, telemetry),
        request_timeout_s=config.server.request_timeout_s,
    )
    server = Server(
        config.server,
        registry,
        socket_path,
        on_connection_error=ops.metrics.connection_failed,
    )
    services = Services(
        process=process,
        workspaces=workspaces,
        reads=Reads(workspaces),
        safety=safety,
        subscriptions=subscriptions,
        ops=ops,
        flags=flags,
        telemetry=telemetry,
    )
    register_all(registry, services)
    return Parts(
        process=process,
        events=events,
        pool=pool,
        workspaces=workspaces,
        safety=safety,
        facts=facts,
        ops=ops,
        telemetry=telemetry,
        flags=flags,
        subscriptions=subscriptions,
        registry=registry,
        server=server,
    )


async def start(
    parts: Parts, tg: anyio.abc.TaskGroup, initial_roots: list[str]
) -> None:
    """Start every part in `tg`; returns once the socket serves.

    Each part reports started only when it is (its event stream subscribed,
    its listener bound, its workspaces added).
    """
    # Supervised (`daemon/supervise.py`): a crash in one part is logged,
    # and a long-lived part restarted, never the end of the daemon. The
    # workspaces supervise each workspace's indexer and watcher themselves
    # (a crash there marks that workspace `error`); the server each
    # connection.
    await tg.start(supervised_service, "ops", parts.ops.run)
    await tg.start(supervised_service, "subscriptions", parts.subscriptions.run)
    await tg.start(supervised_service, "telemetry", parts.telemetry.run)
    await tg.start(supervised_service, "flags", parts.flags.run)  # flags.db loaded
    # `flag_on` answers from these flags in every task started from here on
    # (the indexers, the server's connections) and their worker threads.
    runtime.install(parts.flags)
    tg.start_soon(supervised, "pool_start", parts.pool.start)
    # Trims the daemon's heap after batches, refreshes idle workers (#16).
    tg.start_soon(partial(supervised, "pool_idle", parts.pool.idle_loop, restart=True))
    tg.start_soon(
        partial(supervised, "facts_refresh", parts.facts.refresh_loop, restart=True)
    )
    readiness = parts.events.subscribe()  # before any workspace can be ready
    # Before the workspaces: every one resumed or added is covered.
    await tg.start(supervised_service, "safety", parts.safety.run)
    await tg.start(parts.workspaces.run, initial_roots)
    tg.start_soon(
        supervised,
        "readiness",
        partial(announce_readiness, parts.ops, parts.facts, readiness),
    )
    await tg.start(parts.server.run)


async def stop(parts: Parts) -> None:
    """After the task group ended: flush and close every workspace's store,
    then the worker pool their indexers used, then flags.db and telemetry."""
    await parts.workspaces.close()
    # Bounded, in a thread: ends the workers and joins the pool's threads,
    # so none is left for the interpreter to wait on at exit.
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(parts.pool.close)
    await parts.flags.close()
    await parts.telemetry.close()
    parts.events.close()
