"""#16: a client never gets a query reply from a generation before that
generation's `index.changed`.

SQLite shows a commit to readers at COMMIT; the writer then announces it
(`Writer.apply_batch`'s `on_commit`, on the loop) and only after that raises
`Writer.announced`, which query replies wait for (rpc/handlers/reads.py).
Subscriptions queue `index.changed` inside `Events.publish`
(`Events.listening`), so the notification is in a connection's outbox
before any reply that saw its commit.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING

import anyio
from store_records import plain

from axd.daemon.events import Events, WorkspaceReady
from axd.daemon.store import maintenance
from axd.daemon.store.store import BatchResult, Store, read_generation
from axd.daemon.store.writer import Writer
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.events import Event
    from axd.daemon.lifecycle import Daemon

GUARD_S = 60
IN_FLIGHT = 8


async def test_a_generation_is_released_only_after_its_announcement(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "index.db", root=tmp_path)
    writer = Writer(store)
    loop_thread = threading.get_ident()
    released: list[int] = []
    # (generation, visible to a fresh reader, announced, on the loop, released)
    during: list[tuple[int, int, float, bool, bool]] = []

    async def waiter(generation: int) -> None:
        await writer.wait_announced(generation)
        released.append(generation)

    def on_commit(result: BatchResult) -> None:
        with store.reader() as conn:
            visible = read_generation(conn)
        on_loop = threading.get_ident() == loop_thread
        during.append(
            (
                result.generation,
                visible,
                writer.announced,
                on_loop,
                result.generation in released,
            )
        )

    try:
        async with anyio.create_task_group() as tg:
            for generation in (1, 2):
                tg.start_soon(waiter, generation)
            for index in (1, 2):
                await writer.apply_batch(
                    [plain(f"f{index}.py", f"def f{index}(): pass\n")],
                    [],
                    on_commit=on_commit,
                )
                assert writer.announced == index
    finally:
        await writer.close()
    # The commit was visible while its hook ran, not yet announced, and no
    # reply waiting for it had been let go.
    assert during == [(1, 1, 0, True, False), (2, 2, 1, True, False)]
    assert released == [1, 2]


async def test_writes_without_announcement_release_their_generation(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "index.db", root=tmp_path)
    writer = Writer(store)
    try:
        await writer.apply_batch([plain("a.py", "a = 1\n")], [])
        assert writer.announced == 1
        await writer.bump_generation(at_least=10)
        assert writer.announced == store.generation == 11
        with anyio.fail_after(GUARD_S):
            await writer.wait_announced(11)
    finally:
        await writer.close()
    with anyio.fail_after(GUARD_S):  # a closed writer holds no reply
        await writer.wait_announced(12)


async def test_a_restore_is_announced_before_its_generation_is_released(
    tmp_path: Path,
) -> None:
    """A restore's `index.changed` (the announcement snapshotting builds in
    the writer thread) runs on the loop before replies may read it, like a
    batch's."""
    store = Store.open(tmp_path / "index.db", root=tmp_path)
    writer = Writer(store)
    loop_thread = threading.get_ident()
    # (generation, visible to a fresh reader, announced, on the loop)
    during: list[tuple[int, int, float, bool]] = []
    built_in: list[bool] = []

    def announcement(generation: int) -> Callable[[], None]:
        built_in.append(threading.get_ident() == loop_thread)

        def announce() -> None:
            with store.reader() as conn:
                visible = read_generation(conn)
            on_loop = threading.get_ident() == loop_thread
            during.append((generation, visible, writer.announced, on_loop))

        return announce

    try:
        await writer.apply_batch([plain("a.py", "def a(): pass\n")], [])
        saved = tmp_path / "saved.db"
        await anyio.to_thread.run_sync(maintenance.backup, store, saved)
        await writer.apply_batch([plain("b.py", "def b(): pass\n")], [])
        generation = await writer.restore(saved, announcement=announcement)
        assert generation > 2
        assert writer.announced == generation
    finally:
        await writer.close()
    assert built_in == [False]  # the changes are read in the writer thread
    assert during == [(generation, generation, 2, True)]


async def test_a_listener_runs_inside_publish_before_the_streams() -> None:
    events = Events()
    heard: list[str] = []
    with events.subscribed() as stream:

        def listener(event: Event) -> None:
            heard.append(type(event).__name__)
            # Stream subscribers have not been handed the event yet.
            assert stream.statistics().current_buffer_used == 0

        def broken(event: Event) -> None:
            raise RuntimeError("a listener's fault stays its own")

        with events.listening(broken), events.listening(listener):
            events.publish(WorkspaceReady("/r", "w"))
            assert heard == ["WorkspaceReady"]  # before publish returned
        events.publish(WorkspaceReady("/r", "w"))  # no longer listening
        assert heard == ["WorkspaceReady"]
        assert stream.receive_nowait() == WorkspaceReady("/r", "w")


async def test_no_reply_from_a_generation_before_its_notification(
    daemon: Daemon, client: AsyncClient, tmp_path: Path
) -> None:
    """One connection subscribes and keeps queries in flight while files
    change: every reply's generation was notified earlier on that connection
    (one connection: its outbox is first in, first out)."""
    root = (tmp_path / "repo").resolve()
    root.mkdir()
    (root / "seed.py").write_text("def seed(): pass\n")
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(root)))
    status = await client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(root), timeout_s=GUARD_S)
    )
    start = status.generation
    edits = 30
    notified = start
    replies: list[tuple[int, int]] = []  # (reply generation, notified before it)
    stream = await anyio.connect_unix(daemon.socket_path)
    buffer = b""

    async def send(ident: int, method: str, params: dict[str, object]) -> None:
        request = {"jsonrpc": "2.0", "id": ident, "method": method, "params": params}
        await stream.send(json.dumps(request).encode() + b"\n")

    async def frame() -> dict[str, object]:
        nonlocal buffer
        while b"\n" not in buffer:
            buffer += await stream.receive()
        line, _, buffer = buffer.partition(b"\n")
        decoded: dict[str, object] = json.loads(line)
        return decoded

    query = {"root": str(root), "query": "edited_", "limit": 100}
    async with stream:
        await send(0, "subscribe", {"root": str(root), "events": ["index.changed"]})
        assert "result" in await frame()
        # Several queries in flight, so some read right after a COMMIT.
        ident = IN_FLIGHT
        for first in range(1, IN_FLIGHT + 1):
            await send(first, "symbols.search", query)
        with anyio.fail_after(GUARD_S):
            for index in range(edits):
                # Each edit waits for its notification; replies keep coming.
                (root / f"e{index}.py").write_text(f"def edited_{index}(): pass\n")
                target = notified + 1
                while notified < target:
                    message = await frame()
                    if message.get("method") == "index.changed":
                        params = message["params"]
                        assert isinstance(params, dict)
                        notified = max(notified, int(params["generation"]))
                        continue
                    result = message["result"]
                    assert isinstance(result, dict)
                    replies.append((int(result["generation"]), notified))
                    ident += 1
                    await send(ident, "symbols.search", query)
    seen = [(g, n) for g, n in replies if g > start]
    assert seen, "no reply read a generation newer than the first index"
    early = [(g, n) for g, n in seen if g > n]
    assert not early, f"replies before their index.changed: {early}"
    assert notified >= start + edits
