"""The daemon's typed events and their one fan-out.

A stage that finishes something publishes one event; whoever cares holds its
own bounded receive stream from `Events.subscribe`. Publishing never blocks
and never fails because of a subscriber: a subscriber whose buffer is full
misses events and is told so once by a `Lagged` marker on its next receive
(it then re-reads state, as a Watchman client does after a fresh instance).
Nothing reaches back into the object that created it.

One consumer needs more than a stream: `index.changed` must be queued to its
subscribers before any query reply that read the commit (#16: a client must
never see a generation before its notification). A stream's consumer runs a
loop turn after `publish`, so it would race the replies; `Events.listen`
instead runs a callback inside `publish` itself, on the loop, in publish
order. A listener must be quick and is isolated: one that raises is logged
and the others still run. Subscriptions (rpc/subscriptions.py) is the one
listener.

`publish` is called on the event loop (the writer announces a commit there,
`Writer.apply_batch`'s `on_commit`); from a worker thread use
`publish_threadsafe`, which hops onto the loop first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import anyio
import anyio.abc
import anyio.from_thread
import structlog

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from anyio.streams.memory import (
        MemoryObjectReceiveStream,
        MemoryObjectSendStream,
    )

    from axd.daemon.config import Config
    from axd.protocol.flags import FlagsChangeReason

log = structlog.get_logger()

ChangeKind = Literal["added", "modified", "deleted"]


@dataclass(frozen=True, slots=True)
class FileChange:
    """One path a committed batch touched."""

    path: str
    change: ChangeKind


@dataclass(frozen=True, slots=True)
class BatchCommitted:
    """A workspace committed a generation that readers can now see."""

    root: str
    workspace_id: str
    generation: int
    changes: tuple[FileChange, ...]
    seconds: float = 0.0
    files_indexed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    parse_errors: int = 0
    freshness_s: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkspaceAdded:
    """A workspace was opened (added by a client or resumed at start)."""

    root: str
    workspace_id: str


@dataclass(frozen=True, slots=True)
class WorkspaceRemoved:
    """A workspace was removed; its state may have been purged."""

    root: str
    workspace_id: str


@dataclass(frozen=True, slots=True)
class WorkspaceReady:
    """A workspace finished its first index (or its warm-start reconcile)."""

    root: str
    workspace_id: str


@dataclass(frozen=True, slots=True)
class WorkspaceStateChanged:
    """A workspace's state or its reason changed (ready, degraded, error...)."""

    root: str
    workspace_id: str
    state: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class HealthChanged:
    """The overall health status moved."""

    status: str
    previous: str


@dataclass(frozen=True, slots=True)
class WatcherFellBack:
    """A workspace's watcher lost native events and polls instead."""

    root: str
    workspace_id: str


@dataclass(frozen=True, slots=True)
class WorkerRestarted:
    """The worker pool replaced a crashed worker process."""


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """A flag definition was set, deleted, reloaded or killed."""

    names: tuple[str, ...]
    reason: FlagsChangeReason


@dataclass(frozen=True, slots=True)
class ConfigReloaded:
    """SIGHUP: the daemon took a new config (the settings that may change)."""

    config: Config


@dataclass(frozen=True, slots=True)
class Lagged:
    """Marker: this subscriber missed `missed` events (its buffer was full)."""

    missed: int


Event = (
    BatchCommitted
    | WorkspaceAdded
    | WorkspaceRemoved
    | WorkspaceReady
    | WorkspaceStateChanged
    | HealthChanged
    | WatcherFellBack
    | WorkerRestarted
    | FlagsChanged
    | ConfigReloaded
    | Lagged
)


class _Subscriber:
    __slots__ = ("missed", "rx", "tx")

    def __init__(self, depth: int) -> None:
        self.tx: MemoryObjectSendStream[Event]
        self.rx: MemoryObjectReceiveStream[Event]
        self.tx, self.rx = anyio.create_memory_object_stream[Event](depth)
        self.missed = 0


class Events:
    """Fan-out of daemon events: publish never blocks on a subscriber."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self._listeners: list[Callable[[Event], None]] = []

    @contextlib.contextmanager
    def listening(self, handle: Callable[[Event], None]) -> Iterator[None]:
        """Run `handle` inside every `publish` for the length of a ``with``
        block (see the module docstring: for output that must be ordered
        against other work on the loop)."""
        self._listeners.append(handle)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):
                self._listeners.remove(handle)

    def subscribe(self, depth: int = 1024) -> MemoryObjectReceiveStream[Event]:
        """A new bounded stream of every event published from now on.

        Closing the returned stream unsubscribes.
        """
        subscriber = _Subscriber(depth)
        self._subscribers.append(subscriber)
        return subscriber.rx

    @contextlib.contextmanager
    def subscribed(
        self, depth: int = 1024
    ) -> Iterator[MemoryObjectReceiveStream[Event]]:
        """`subscribe` for the length of a ``with`` block; both ends of the
        stream are closed and the subscriber dropped on the way out."""
        subscriber = _Subscriber(depth)
        self._subscribers.append(subscriber)
        try:
            yield subscriber.rx
        finally:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(subscriber)
            subscriber.tx.close()
            subscriber.rx.close()

    async def follow(
        self,
        handle: Callable[[Event], None],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `handle` on every event published from now on, in order, until
        cancelled: a consumer's loop (`await tg.start(events.follow, ...)`
        returns once it is subscribed)."""
        with self.subscribed() as stream:
            task_status.started()
            async for event in stream:
                try:
                    handle(event)
                except Exception:
                    # One bad event must not end the consumer for good.
                    log.exception("event_handler_failed", kind=type(event).__name__)

    def close(self) -> None:
        """Close every subscriber's stream, both ends: the daemon stopped and
        its consumers with it (one that had not started yet leaves no open
        stream behind)."""
        subscribers, self._subscribers = self._subscribers, []
        self._listeners = []
        for subscriber in subscribers:
            subscriber.tx.close()
            subscriber.rx.close()

    @property
    def subscriber_count(self) -> int:
        """How many subscribers are attached (for tests and metrics)."""
        return len(self._subscribers)

    def publish(self, event: Event) -> None:
        """Deliver `event` to every listener and subscriber now (call on the
        event loop)."""
        for handle in list(self._listeners):
            try:
                handle(event)
            except Exception:
                # One bad listener must not stop the others or the publisher.
                log.exception("event_listener_failed", kind=type(event).__name__)
        for subscriber in list(self._subscribers):
            try:
                if subscriber.missed:
                    subscriber.tx.send_nowait(Lagged(subscriber.missed))
                    subscriber.missed = 0
                subscriber.tx.send_nowait(event)
            except anyio.WouldBlock:
                subscriber.missed += 1
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.remove(subscriber)
                subscriber.tx.close()

    def publish_threadsafe(self, event: Event) -> None:
        """`publish` from a worker thread started by `anyio.to_thread`."""
        anyio.from_thread.run_sync(self.publish, event)
