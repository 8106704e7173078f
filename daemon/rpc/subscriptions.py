"""Subscriptions: `index.changed`, `index.progress` and `health.changed`
notifications pushed to the connections that asked for them.

Delivery goes through each connection's bounded outbox (server.py): a
subscriber that stops reading fills it, is disconnected, and its
subscriptions end — it never grows the daemon's memory or slows the writer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import msgspec
import structlog

from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.errors import not_found

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Peer, Registry, RequestContext
    from axd.daemon.store.store import BatchResult
    from axd.daemon.workspaces import Workspace, WorkspaceManager

log = structlog.get_logger()

PROGRESS_INTERVAL_S = 0.5
FRESH_DELAY_S = 0.05
_encoder = msgspec.json.Encoder()


@dataclass(slots=True)
class Subscription:
    """One `subscribe` call: a peer, a workspace root, the events it wants."""

    id: str
    peer: Peer
    root: str
    events: frozenset[str]


class Subscriptions:
    """Registry of live subscriptions and the fan-out of notifications."""

    def __init__(self, manager: WorkspaceManager) -> None:
        self.manager = manager
        self.by_id: dict[str, Subscription] = {}
        self._ids = itertools.count(1)
        # New `index.progress` subscribers get the current progress at once.
        self._fresh: set[str] = set()
        self._wake = anyio.Event()
        manager.on_batch.append(self.batch_committed)
        manager.on_removed.append(self._workspace_removed)

    def register(self, registry: Registry) -> None:
        """Route `subscribe` and `unsubscribe`."""
        registry.register(m.SUBSCRIBE, self.subscribe)
        registry.register(m.UNSUBSCRIBE, self.unsubscribe)

    @property
    def count(self) -> int:
        """Live subscriptions (the `axd_subscribers` gauge)."""
        return len(self.by_id)

    async def subscribe(
        self, p: t.SubscribeParams, ctx: RequestContext
    ) -> t.Subscribed:
        workspace = self.manager.find(p.root)
        if ctx.peer is None:
            raise not_found("subscriptions need a connection to deliver to")
        peer = ctx.peer
        ident = f"sub-{next(self._ids)}"
        self.by_id[ident] = Subscription(
            ident, peer, workspace.root, frozenset(p.events)
        )
        peer.on_close(lambda: self._forget(ident))
        if "index.progress" in p.events:
            self._fresh.add(ident)
            self._wake.set()
        return t.Subscribed(subscription=ident)

    def _forget(self, ident: str) -> None:
        self.by_id.pop(ident, None)
        self._fresh.discard(ident)

    async def unsubscribe(self, p: t.UnsubscribeParams, ctx: RequestContext) -> t.Ok:
        if self.by_id.pop(p.subscription, None) is None:
            raise not_found(
                f"no subscription {p.subscription!r}", subscription=p.subscription
            )
        return t.Ok(ok=True)

    def _targets(self, root: str | None, event: str) -> list[Subscription]:
        return [
            s
            for s in self.by_id.values()
            if event in s.events and (root is None or s.root == root)
        ]

    def _send(
        self, subscription: Subscription, method: str, params: msgspec.Struct
    ) -> None:
        if not subscription.peer.notify(method, _encoder.encode(params)):
            # Buffer full: the server closed that connection; on_close drops
            # the rest of its subscriptions.
            self.by_id.pop(subscription.id, None)

    def batch_committed(
        self, workspace: Workspace, result: BatchResult, freshness: list[float]
    ) -> None:
        """Fan an `index.changed` out for one committed batch."""
        if not result.changes:
            return
        changes = [
            t.FileChange(path=path, change=kind) for path, kind in result.changes
        ]
        for subscription in self._targets(workspace.root, "index.changed"):
            params = t.IndexChanged(
                subscription=subscription.id,
                root=workspace.root,
                generation=result.generation,
                changes=changes,
            )
            self._send(subscription, "index.changed", params)

    def health_changed(self, status: str, previous: str) -> None:
        """Fan a `health.changed` out to every subscriber of it."""
        for subscription in self._targets(None, "health.changed"):
            params = t.HealthChanged(
                subscription=subscription.id, status=status, previous=previous
            )
            self._send(subscription, "health.changed", params)

    async def progress_loop(self) -> None:
        """While a workspace indexes, send `index.progress` every half second;
        a new subscriber gets the current progress right away."""
        last: dict[str, tuple[int, int, str]] = {}
        while True:
            with anyio.move_on_after(PROGRESS_INTERVAL_S):
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = anyio.Event()
                # Let the `subscribe` reply go out first.
                await anyio.sleep(FRESH_DELAY_S)
            fresh, self._fresh = self._fresh, set()
            for root, workspace in list(self.manager.workspaces.items()):
                targets = self._targets(root, "index.progress")
                if not targets:
                    continue
                progress = workspace.indexer.progress
                snapshot = (progress.files_done, progress.files_total, workspace.state)
                if last.get(root) != snapshot:
                    last[root] = snapshot
                else:
                    targets = [s for s in targets if s.id in fresh]
                for subscription in targets:
                    params = t.IndexProgress(
                        subscription=subscription.id,
                        root=root,
                        files_indexed=progress.files_done,
                        files_total=progress.files_total,
                        state=workspace.state,  # type: ignore[arg-type]
                    )
                    self._send(subscription, "index.progress", params)

    def _workspace_removed(self, workspace: Workspace) -> None:
        for ident in [s.id for s in self.by_id.values() if s.root == workspace.root]:
            self.by_id.pop(ident, None)
