"""Subscriptions: `index.changed`, `index.progress`, `health.changed` and
`flags.changed` notifications pushed to the connections that asked for them.

What to send comes from the daemon's events (`run`), handled inside
`Events.publish` (`Events.listening`), not a loop turn later: a
`BatchCommitted` becomes `index.changed` in the connections' outboxes in the
same step in which the writer releases the commit's generation to query
replies (`Writer.announced`, rpc/handlers/reads.py), so no client gets a
reply from a generation before its notification (#16). A `HealthChanged` becomes `health.changed`, a
`FlagsChanged` (set, deleted, reloaded, auto-killed) becomes
`flags.changed`, and a `WorkspaceRemoved` ends that workspace's
subscriptions. `health.changed` and `flags.changed` are daemon-wide: they
reach every subscriber of them, whatever root it subscribed with. `index.progress`
is sampled from the workspaces every half second while they index.

Delivery goes through each connection's bounded outbox (server.py): a
subscriber that stops reading fills it, is disconnected, and its
subscriptions end — it never grows the daemon's memory or slows the writer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import msgspec
import structlog

from axd.daemon.events import (
    BatchCommitted,
    FlagsChanged,
    HealthChanged,
    WorkspaceRemoved,
)
from axd.protocol import types as t
from axd.protocol.errors import not_found
from axd.protocol.flags import FlagsChangedNote

if TYPE_CHECKING:
    from axd.daemon.events import Event, Events
    from axd.daemon.rpc.dispatch import Peer, RequestContext
    from axd.daemon.workspaces import WorkspaceManager

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

    def __init__(self, manager: WorkspaceManager, events: Events) -> None:
        self.manager = manager
        self.events = events
        self.by_id: dict[str, Subscription] = {}
        self._ids = itertools.count(1)
        # New `index.progress` subscribers get the current progress at once.
        self._fresh: set[str] = set()
        self._wake = anyio.Event()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Turn events into notifications, and sample progress, until cancelled."""
        with self.events.listening(self._on_event):
            task_status.started()
            await self._progress_loop()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BatchCommitted):
            self._batch_committed(event)
        elif isinstance(event, HealthChanged):
            self._health_changed(event)
        elif isinstance(event, FlagsChanged):
            self._flags_changed(event)
        elif isinstance(event, WorkspaceRemoved):
            self._workspace_removed(event.root)

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

    def _batch_committed(self, event: BatchCommitted) -> None:
        """Fan an `index.changed` out for one committed batch."""
        if not event.changes:
            return
        changes = [t.FileChange(path=c.path, change=c.change) for c in event.changes]
        for subscription in self._targets(event.root, "index.changed"):
            params = t.IndexChanged(
                subscription=subscription.id,
                root=event.root,
                generation=event.generation,
                changes=changes,
            )
            self._send(subscription, "index.changed", params)

    def _health_changed(self, event: HealthChanged) -> None:
        """Fan a `health.changed` out to every subscriber of it."""
        for subscription in self._targets(None, "health.changed"):
            params = t.HealthChanged(
                subscription=subscription.id,
                status=event.status,
                previous=event.previous,
            )
            self._send(subscription, "health.changed", params)

    def _flags_changed(self, event: FlagsChanged) -> None:
        """Fan a `flags.changed` out to every subscriber of it."""
        for subscription in self._targets(None, "flags.changed"):
            params = FlagsChangedNote(
                subscription=subscription.id,
                names=list(event.names),
                reason=event.reason,
            )
            self._send(subscription, "flags.changed", params)

    async def _progress_loop(self) -> None:
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

    def _workspace_removed(self, root: str) -> None:
        for ident in [s.id for s in self.by_id.values() if s.root == root]:
            self.by_id.pop(ident, None)
