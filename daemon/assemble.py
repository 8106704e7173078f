"""Wires the services behind the wire methods into a running daemon."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import structlog

from axd.daemon.index.languages import LANGUAGES
from axd.daemon.index.pool import WorkerPool
from axd.daemon.ops.probes import EngineView
from axd.daemon.ops.service import start_ops
from axd.daemon.rpc import snapshot_methods
from axd.daemon.rpc.api import Api
from axd.daemon.rpc.subscriptions import Subscriptions
from axd.daemon.snapshotting import IndexSafety
from axd.daemon.workspaces import WorkspaceManager

if TYPE_CHECKING:
    from axd.daemon.lifecycle import Daemon
    from axd.daemon.ops.service import Ops
    from axd.daemon.store.store import BatchResult
    from axd.daemon.workspaces import Workspace

log = structlog.get_logger()


async def start_services(
    daemon: Daemon, tg: anyio.abc.TaskGroup, initial_roots: list[str]
) -> None:
    """Start every service and register its methods on `daemon.registry`."""
    config = daemon.config
    pool = WorkerPool(config.index.workers or os.cpu_count() or 2)
    manager = WorkspaceManager(config, daemon.state_dir, pool)
    subscriptions = Subscriptions(manager)
    engine = EngineView(manager, pool, subscriptions)

    # Stop hooks run last-registered first: workspaces (flush, checkpoint)
    # before the pool their indexers use.
    async def close_pool() -> None:
        pool.close()

    daemon.on_stop(close_pool)
    daemon.on_stop(manager.close)

    Api(manager).register(daemon.registry)
    # Index safety (#11): snapshots, db tool, damage recovery.
    snapshot_methods.register(
        daemon.registry, IndexSafety(manager, config.snapshots, tg)
    )
    subscriptions.register(daemon.registry)
    daemon.languages = sorted(LANGUAGES)
    daemon.workspace_roots = manager.roots

    ops = await start_ops(daemon, tg, facts=engine, stats=engine, ready=engine.ready)
    ops.health.on_change(subscriptions.health_changed)
    _observe(manager, pool, ops)

    tg.start_soon(pool.start)
    tg.start_soon(subscriptions.progress_loop)
    tg.start_soon(engine.refresh_loop)
    await manager.start(tg)
    for root in initial_roots:
        await manager.add(root)
    tg.start_soon(_announce_readiness, manager, ops)


def _observe(manager: WorkspaceManager, pool: WorkerPool, ops: Ops) -> None:
    """Feed index events into metrics."""
    restarts_seen = 0

    def batch_done(
        workspace: Workspace, result: BatchResult, freshness: list[float]
    ) -> None:
        nonlocal restarts_seen
        ops.metrics.batch_committed(
            workspace.id,
            result.ms / 1000,
            result.files_indexed,
            workspace.indexer.progress.last_skipped,
            workspace.indexer.progress.last_parse_errors,
            freshness,
        )
        while restarts_seen < pool.restarts:
            restarts_seen += 1
            ops.metrics.worker_restarted()

    def added(workspace: Workspace) -> None:
        workspace.watcher.on_fallback.append(
            lambda: ops.metrics.watcher_fallback(workspace.id)
        )

    manager.on_batch.append(batch_done)
    manager.on_added.append(added)
    manager.on_removed.append(
        lambda workspace: ops.metrics.forget_workspace(workspace.id)
    )


async def _announce_readiness(manager: WorkspaceManager, ops: Ops) -> None:
    """READY=1 once every resumed workspace finished its first index;
    STATUS= lines with progress meanwhile (systemd shows them)."""
    while not all(ws.indexer.ready for ws in list(manager.workspaces.values())):
        done = sum(ws.indexer.progress.files_done for ws in manager.workspaces.values())
        total = sum(
            ws.indexer.progress.files_total for ws in manager.workspaces.values()
        )
        ops.notify_status(f"indexing: {done}/{total} files")
        await anyio.sleep(1)
    count = len(manager.workspaces)
    ops.notify_ready(f"serving {count} workspace{'s' if count != 1 else ''}")
    log.info("all_workspaces_ready", workspaces=count)
