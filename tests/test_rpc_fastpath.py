"""The small-request fast path: direct socket reads and writes (socketio.py).

Replies written straight to the socket must keep every guarantee of the
outbox: a reply the socket cannot take at once arrives whole, in order with
what follows it; a pipelined flood is answered in full; a socket nobody is
reading from is not polled on every loop turn.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel
import msgspec
import pytest

from axd.daemon.rpc.socketio import SocketIO
from axd.protocol.methods import Method

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.lifecycle import Daemon
    from axd.daemon.rpc.dispatch import RequestContext


class _Params(msgspec.Struct):
    size: int


class _Blob(msgspec.Struct):
    text: str


BLOB: Method[_Params, _Blob] = Method("test.blob", _Params, _Blob, "a large reply")
# Far more than a Unix socket's send buffer (~200 KiB by default).
BIG = 4 * 1024 * 1024


def _exchange(path: Path, payload: bytes, expect: int) -> list[dict[str, object]]:
    """Send everything first, read only then: the daemon's writes fill up."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        sock.sendall(payload)
        data = b""
        replies: list[dict[str, object]] = []
        while len(replies) < expect:
            chunk = sock.recv(1 << 20)
            assert chunk, f"end of stream after {len(replies)} replies"
            data += chunk
            *lines, data = data.split(b"\n")
            replies += [json.loads(line) for line in lines if line.strip()]
        assert not data.strip()
        return replies


def _call(
    method: str, request_id: int, params: dict[str, object] | None = None
) -> bytes:
    message: dict[str, object] = {"jsonrpc": "2.0", "method": method, "id": request_id}
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode() + b"\n"


async def test_a_reply_larger_than_the_socket_buffer_arrives_whole_and_in_order(
    daemon: Daemon,
) -> None:
    async def blob(params: _Params, ctx: RequestContext) -> _Blob:
        return _Blob(text=str(ctx.request_id % 10) * params.size)

    daemon.registry.register(BLOB, blob, instant=True)
    payload = b"".join(
        [
            _call("test.blob", 1, {"size": BIG}),
            _call("server.info", 2),
            _call("test.blob", 3, {"size": BIG}),
            _call("server.info", 4),
        ]
    )
    with anyio.fail_after(60):
        replies = await anyio.to_thread.run_sync(
            _exchange, daemon.socket_path, payload, 4
        )
    # Answered inline one after the other: the second reply waits behind the
    # first one's unwritten rest, never in the middle of it.
    assert [r["id"] for r in replies] == [1, 2, 3, 4]
    assert replies[0]["result"] == {"text": "1" * BIG}
    assert replies[2]["result"] == {"text": "3" * BIG}
    assert "pid" in replies[1]["result"]  # type: ignore[operator]


async def test_a_pipelined_flood_is_answered_in_full(daemon: Daemon) -> None:
    count = 5000
    payload = b"".join(_call("server.info", i) for i in range(count))
    with anyio.fail_after(120):
        replies = await anyio.to_thread.run_sync(
            _exchange, daemon.socket_path, payload, count
        )
    assert [r["id"] for r in replies] == list(range(count))
    assert all("result" in r for r in replies)


async def test_an_unread_socket_is_no_longer_polled() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        io = SocketIO(ours, loop)
        async with anyio.create_task_group() as tg:
            tg.start_soon(io.receive, 100)  # waits: the socket gets watched
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        assert io.watching  # kept for the next read
        # Readable with nobody reading: the first callback stops the polling
        # (level-triggered, it would otherwise run on every loop turn).
        theirs.sendall(b"unread")
        for _ in range(100):  # a few loop turns (hang guard only)
            await anyio.lowlevel.checkpoint()
            if not io.watching:
                break
        assert not io.watching
        # The next read gets what was waiting.
        assert await io.receive(100) == b"unread"
    finally:
        ours.close()
        theirs.close()


async def test_close_end_of_stream_and_a_gone_peer() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    try:
        io = SocketIO(ours, loop)
        result: list[bytes | None] = []

        async def read() -> None:
            result.append(await io.receive(100))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await anyio.wait_all_tasks_blocked()
            assert io.watching
            io.close()  # wakes the waiting read
        assert result == [None]
        assert not io.watching
        assert not loop.remove_reader(ours.fileno())  # unwatched by close
        with pytest.raises(OSError):
            io.try_send(b"x")  # closed

        io = SocketIO(ours, loop)
        theirs.shutdown(socket.SHUT_WR)
        assert await io.receive(100) is None  # end of stream
        theirs.close()
        with pytest.raises(OSError):
            io.try_send(b"x")  # EPIPE: the peer is gone
    finally:
        ours.close()
