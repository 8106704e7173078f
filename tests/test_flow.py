"""One-way data flow: the event fan-out, the bounded work queue, request
observers, and readiness as an event (a real daemon, a real tree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from axd.client.aio import AsyncClient
from axd.daemon.events import (
    BatchCommitted,
    Events,
    Lagged,
    WorkerRestarted,
    WorkspaceReady,
)
from axd.daemon.index.queue import WorkQueue
from axd.daemon.lifecycle import Daemon
from axd.daemon.rpc.dispatch import Observers, Registry
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config
    from axd.daemon.rpc.dispatch import RequestContext


def _batch(generation: int) -> BatchCommitted:
    return BatchCommitted("/r", "ws", generation, ())


async def test_every_subscriber_gets_every_event_in_order() -> None:
    events = Events()
    with events.subscribed() as first, events.subscribed() as second:
        for generation in (1, 2, 3):
            events.publish(_batch(generation))
        for stream in (first, second):
            got = [stream.receive_nowait() for _ in range(3)]
            assert [e.generation for e in got if isinstance(e, BatchCommitted)] == [
                1,
                2,
                3,
            ]
    assert events.subscriber_count == 0  # leaving the block unsubscribed


async def test_a_full_subscriber_is_told_it_lagged_and_never_blocks() -> None:
    events = Events()
    with events.subscribed(depth=2) as slow, events.subscribed() as fast:
        for generation in range(1, 6):
            events.publish(_batch(generation))  # returns at once, every time
        assert [slow.receive_nowait() for _ in range(2)] == [_batch(1), _batch(2)]
        events.publish(WorkerRestarted())
        assert slow.receive_nowait() == Lagged(missed=3)
        assert slow.receive_nowait() == WorkerRestarted()
        assert len([fast.receive_nowait() for _ in range(6)]) == 6


async def test_closed_events_close_every_stream() -> None:
    events = Events()
    stream = events.subscribe()
    events.close()
    with pytest.raises(anyio.ClosedResourceError):
        await stream.receive()
    events.publish(WorkerRestarted())  # nobody left: a no-op, not an error
    assert events.subscriber_count == 0


async def test_the_queue_is_deduplicated_and_bounded() -> None:
    queue = WorkQueue(limit=3)
    assert queue.add(["a.py", "b.py", "a.py"]) == 3
    assert queue.paths() == ["a.py", "b.py"]
    queue.add(["c.py"], force=True)
    room = anyio.Event()

    async def intake() -> None:
        await queue.wait_for_room()  # full: the watcher's stream backs up
        room.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(intake)
        await anyio.wait_all_tasks_blocked()
        assert not room.is_set()
        taken = queue.take(2)
        assert taken is not None and taken.paths == ["a.py", "b.py"]
        with anyio.fail_after(5):
            await room.wait()
    taken = queue.take(10)
    assert taken is not None and taken.forced == {"c.py"}
    assert queue.take(10) is None and len(queue) == 0


class Counting:
    """A RequestObserver that remembers what it was told."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.sizes: list[int] = []

    def request_done(
        self, method: str, outcome: str, seconds: float, size: int = 0
    ) -> None:
        self.seen.append((method, outcome))
        self.sizes.append(size)


async def test_two_observers_compose() -> None:
    first, second = Counting(), Counting()
    registry = Registry(Observers(first, second))
    registry.register(m.SERVER_SHUTDOWN, _ok)
    replies = [
        await registry.handle(
            b'{"jsonrpc":"2.0","id":1,"method":"server.shutdown"}', None
        ),
        await registry.handle(b'{"jsonrpc":"2.0","id":2,"method":"nope"}', None),
    ]
    expected = [("server.shutdown", "ok"), ("(unknown)", "method_not_found")]
    assert first.seen == second.seen == expected
    # Each observer is told the size of the reply it answered (telemetry).
    assert first.sizes == second.sizes == [len(r or b"") for r in replies]
    assert all(size > 0 for size in first.sizes)


async def _ok(params: t.Empty, ctx: RequestContext) -> t.Ok:
    return t.Ok(ok=True)


async def test_a_commit_is_published_once_and_readiness_is_an_event(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    instance = Daemon(config, initial_roots=[str(root)])
    with instance.events.subscribed() as stream:
        async with anyio.create_task_group() as tg:
            await tg.start(instance.run)
            seen: list[object] = []
            with anyio.fail_after(30):
                async for event in stream:
                    seen.append(event)
                    if isinstance(event, WorkspaceReady):
                        break
            commits = [e for e in seen if isinstance(e, BatchCommitted)]
            assert [c.changes[0].path for c in commits if c.changes] == ["a.py"]
            async with await AsyncClient.connect(instance.socket_path) as client:
                status = await client.call(
                    m.INDEX_STATUS, m.INDEX_STATUS.params(root=str(root))
                )
                # Ready was published after the commit it depends on.
                assert status.state == "ready"
                assert status.generation == commits[-1].generation
            instance.request_stop()
