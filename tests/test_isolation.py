"""Nothing a client sends can stop the daemon (issue #12).

Each test sends something hostile or careless over a real socket to a real
daemon and then checks that the daemon, the same connection where the
framing allows, a new connection and the indexer all carry on.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from support import environment_for, with_config

from axd.client.aio import AsyncClient
from axd.client.connection import RemoteError
from axd.daemon.config import Config, ServerConfig
from axd.daemon.lifecycle import Daemon
from axd.daemon.rpc.dispatch import Observers
from axd.daemon.rpc.server import SocketPathError
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.jsonrpc import nesting_depth, parse_message
from axd.protocol.methods import Method

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from axd.daemon.rpc.dispatch import RequestContext

GUARD_S = 30  # hang guard only: every wait below is on an event or a state

INFO = b'{"jsonrpc":"2.0","method":"server.info","id":"after"}'


class Raw:
    """A raw socket client: send bytes, read framed replies."""

    def __init__(self, stream: anyio.abc.SocketStream, framing: str) -> None:
        self.stream = stream
        self.framing = framing
        self.buffer = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def send_message(self, body: bytes) -> None:
        if self.framing == "ndjson":
            await self.send(body + b"\n")
        else:
            await self.send(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    async def reply(self) -> object:
        """The next message; raises EndOfStream when the daemon closed."""
        with anyio.fail_after(GUARD_S):
            while True:
                message = self._take()
                if message is not None:
                    return json.loads(message)
                self.buffer += await self.stream.receive(1 << 20)

    def _take(self) -> bytes | None:
        if self.framing == "ndjson":
            line, sep, rest = self.buffer.partition(b"\n")
            if not sep:
                return None
            self.buffer = rest
            return line
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return None
        length = int(head.split(b":")[1])
        if len(rest) < length:
            return None
        self.buffer = rest[length:]
        return rest[:length]

    async def end_of_stream(self) -> bytes:
        """Everything until the daemon's clean end of stream (no reset)."""
        data = b""
        with anyio.fail_after(GUARD_S):
            try:
                while True:
                    data += await self.stream.receive(1 << 20)
            except anyio.EndOfStream:
                return data


async def connect_raw(path: Path, framing: str = "ndjson") -> Raw:
    return Raw(await anyio.connect_unix(str(path)), framing)


def error_of(reply: object) -> dict[str, object]:
    assert isinstance(reply, dict) and "error" in reply, reply
    error = reply["error"]
    assert isinstance(error, dict)
    return error


@pytest.fixture
async def repo(tmp_path: Path, client: AsyncClient) -> AsyncIterator[Path]:
    """A small indexed workspace of the `daemon` fixture."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "calc.py").write_text("def add_numbers(a, b):\n    return a + b\n")
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(root)))
    status = await client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(root), timeout_s=GUARD_S)
    )
    assert status.state == "ready"
    yield root


async def search_paths(client: AsyncClient, root: Path, query: str) -> list[str]:
    found = await client.call(m.SEARCH, t.SearchParams(root=str(root), query=query))
    return [hit.path for hit in found.results]


# -- the byte scan --------------------------------------------------------------------


def test_nesting_depth_ignores_brackets_inside_strings() -> None:
    assert nesting_depth(b'{"a": [1, {"b": "[[[[{{{{"}], "c": "\\"]]"}') == 3
    assert nesting_depth(b"[" * 100_000) == 100_000
    assert nesting_depth(b'"just a string"') == 0


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"jsonrpc":"2.0","method":"search","params":{"q":'
        + b"[" * 5000
        + b"]" * 5000
        + b'},"id":1}',
        b'[{"jsonrpc":"2.0","method":"x","params":' + b"{}," * 3 + b"[" * 70,
    ],
)
def test_deep_nesting_is_refused_before_decoding(body: bytes) -> None:
    refused = parse_message(body, max_depth=64)
    assert not isinstance(refused, list)
    assert refused.code == -32600 and "64" in refused.message


def test_malformed_tail_after_a_wrong_field_is_a_parse_error() -> None:
    # The envelope decoder stops at `jsonrpc`; the rest is not JSON at all.
    parsed = parse_message(b'{"jsonrpc":1,"method":"x" garbage')
    assert not isinstance(parsed, list) and parsed.code == -32700


# -- hostile messages on a live daemon ---------------------------------------------


@pytest.mark.parametrize("framing", ["ndjson", "content-length"])
@pytest.mark.parametrize("shape", ["arrays", "objects", "in-params"])
async def test_nested_json_is_refused_and_the_daemon_goes_on(
    daemon: Daemon, client: AsyncClient, repo: Path, framing: str, shape: str
) -> None:
    depth = 5000
    body = {
        "arrays": b"[" * depth + b"]" * depth,
        "objects": b'{"a":' * depth + b"1" + b"}" * depth,
        "in-params": b'{"jsonrpc":"2.0","method":"search","params":{"root":"/","query":'
        + b"[" * depth
        + b"]" * depth
        + b'},"id":7}',
    }[shape]
    raw = await connect_raw(daemon.socket_path, framing)
    await raw.send_message(body)
    error = error_of(await raw.reply())
    assert error["code"] == -32600
    assert "max_nesting_depth" in str(error["message"])
    # The same connection answers, and so do the queries of others.
    await raw.send_message(INFO)
    after = await raw.reply()
    assert isinstance(after, dict) and after["result"]["pid"] == os.getpid()
    await raw.stream.aclose()
    assert await search_paths(client, repo, "add_numbers") == ["calc.py"]
    async with await AsyncClient.connect(daemon.socket_path) as fresh:
        assert await search_paths(fresh, repo, "add_numbers") == ["calc.py"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","method":"workspace.add","params":{"root":"\xff"},"id":3}',
        b'{"jsonrpc":"2.0","method":"search","params":{"root":"/x","query":"\xc3("},"id":3}',
        b'{"jsonrpc":"2.0","method":"server.info","params":{"x":"\xed\xa0\x80"},"id":3}',
    ],
)
async def test_invalid_utf8_in_params_is_invalid_params(
    daemon: Daemon, body: bytes
) -> None:
    raw = await connect_raw(daemon.socket_path)
    await raw.send_message(body)
    reply = await raw.reply()
    # Not JSON (RFC 8259 text is UTF-8): a parse error, whatever field.
    assert isinstance(reply, dict) and reply["id"] is None
    assert error_of(reply)["code"] == -32700
    await raw.send_message(INFO)
    assert "result" in await raw.reply()  # type: ignore[operator]
    await raw.stream.aclose()


async def test_invalid_utf8_outside_params_is_a_parse_error(daemon: Daemon) -> None:
    raw = await connect_raw(daemon.socket_path)
    await raw.send_message(b'{"jsonrpc":"2.0","method":"\xff","id":1}')
    assert error_of(await raw.reply())["code"] == -32700
    await raw.send_message(b'{"jsonrpc":1,"method":"x" \xff garbage')
    assert error_of(await raw.reply())["code"] == -32700
    await raw.send_message(INFO)
    assert "result" in await raw.reply()  # type: ignore[operator]
    await raw.stream.aclose()


# -- injected faults ---------------------------------------------------------------------

BOOM: Method[t.Empty, t.Ok] = Method("test.boom", t.Empty, t.Ok, "always fails")
FAULT: Method[t.Empty, t.Ok] = Method("test.fault", t.Empty, t.Ok, "observer fails")


async def test_a_throwing_handler_fails_its_request_only(
    daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    async def fail(params: t.Empty, ctx: RequestContext) -> t.Ok:
        raise RecursionError("deep inside a handler")

    daemon.registry.register(BOOM, fail)
    async with await AsyncClient.connect(daemon.socket_path) as victim:
        with pytest.raises(RemoteError) as caught:
            await victim.call(BOOM)
        assert caught.value.code == -32603
        # Same connection, other connections and the indexer: untouched.
        assert (await victim.call(m.SERVER_INFO)).pid == os.getpid()
    before = (
        await client.call(m.INDEX_STATUS, t.RootParams(root=str(repo)))
    ).generation
    (repo / "more.py").write_text("def multiply_numbers(a, b):\n    return a * b\n")
    await client.call(
        m.INDEX_WAIT,
        t.IndexWaitParams(root=str(repo), generation=before + 1, timeout_s=GUARD_S),
    )
    assert await search_paths(client, repo, "multiply_numbers") == ["more.py"]


class FailingObserver:
    """An observer (like metrics or telemetry) with a bug for one method."""

    def request_done(
        self, method: str, outcome: str, seconds: float, size: int = 0
    ) -> None:
        if method == FAULT.name:
            raise ZeroDivisionError("observer bug")


async def test_a_failing_observer_costs_the_client_nothing(
    daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    async def ok(params: t.Empty, ctx: RequestContext) -> t.Ok:
        return t.Ok()

    daemon.registry.register(FAULT, ok)
    # First: the observers after it (metrics, flags, telemetry) still hear.
    daemon.registry.observer = Observers(FailingObserver(), daemon.registry.observer)
    victim = await connect_raw(daemon.socket_path)
    for request_id in (41, 42):
        body = b'{"jsonrpc":"2.0","method":"test.fault","id":%d}' % request_id
        await victim.send_message(body)
        reply = await victim.reply()
        # The answer arrives, on the same connection, every time.
        assert isinstance(reply, dict) and reply["id"] == request_id
        assert reply["result"] == {"ok": True}
    await victim.send_message(INFO)
    assert "result" in await victim.reply()  # type: ignore[operator]
    await victim.stream.aclose()

    assert daemon.registry.observer_failures == 2
    assert daemon.server.connection_errors == {}
    # Metrics, told after the failing observer, still counted both.
    metrics = await client.call(m.METRICS)
    assert 'axd_requests_total{method="test.fault",outcome="ok"} 2.0' in metrics.text
    assert await search_paths(client, repo, "add_numbers") == ["calc.py"]


NOTE: Method[t.Empty, t.Ok] = Method("test.note", t.Empty, t.Ok, "bad notify")


async def test_a_bad_notification_stays_with_its_subscription(
    daemon: Daemon,
) -> None:
    delivered: list[bool] = []

    async def publish(params: t.Empty, ctx: RequestContext) -> t.Ok:
        # A publisher's bug: params that are not encoded JSON bytes.
        assert ctx.peer is not None
        delivered.append(ctx.peer.notify("index.changed", {"not": "bytes"}))  # type: ignore[arg-type]
        return t.Ok()

    daemon.registry.register(NOTE, publish)
    async with await AsyncClient.connect(daemon.socket_path) as one:
        assert (await one.call(NOTE)).ok  # the publisher was not hurt
        assert delivered == [False]
        assert (await one.call(m.SERVER_INFO)).pid == os.getpid()


# -- batches: the limit, fairness, cancellation ---------------------------------------

HOLD: Method[t.Empty, t.Ok] = Method("test.hold", t.Empty, t.Ok, "waits for a gate")
QUICK: Method[t.Empty, t.Ok] = Method("test.quick", t.Empty, t.Ok, "a short read")


class SharedReaders:
    """Handlers that share a pool of reader slots, as queries share threads.

    `test.hold` takes a slot and waits for the gate; `test.quick` takes a
    slot briefly. One client's batch of holds must not take every slot.
    """

    def __init__(self, slots: int) -> None:
        self.slots = anyio.CapacityLimiter(slots)
        self.gate = anyio.Event()
        self.started = 0
        self.cancelled = 0
        self.peak = 0
        self.active = 0
        self.changed = anyio.Event()

    def _bump(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def hold(self, params: t.Empty, ctx: RequestContext) -> t.Ok:
        async with self.slots:
            self.started += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            self._bump()
            try:
                await self.gate.wait()
            except anyio.get_cancelled_exc_class():
                self.cancelled += 1
                self._bump()
                raise
            finally:
                self.active -= 1
        return t.Ok()

    async def quick(self, params: t.Empty, ctx: RequestContext) -> t.Ok:
        async with self.slots:
            return t.Ok()

    async def until(self, predicate: object) -> None:
        with anyio.fail_after(GUARD_S):
            while not predicate():  # type: ignore[operator]
                await self.changed.wait()


def batch_of(method: str, count: int) -> bytes:
    return json.dumps(
        [{"jsonrpc": "2.0", "method": method, "id": i} for i in range(count)]
    ).encode()


async def test_batch_over_the_limit_is_refused(daemon: Daemon) -> None:
    limit = daemon.config.server.max_batch
    raw = await connect_raw(daemon.socket_path)
    await raw.send_message(batch_of("server.info", limit + 1))
    error = error_of(await raw.reply())
    assert error["code"] == -32600 and f"max_batch ({limit})" in str(error["message"])
    await raw.send_message(batch_of("server.info", limit))
    answers = await raw.reply()
    assert isinstance(answers, list) and len(answers) == limit
    await raw.stream.aclose()


async def test_a_long_batch_does_not_starve_another_client(daemon: Daemon) -> None:
    readers = SharedReaders(slots=8)
    daemon.registry.register(HOLD, readers.hold)
    daemon.registry.register(QUICK, readers.quick)
    share = daemon.config.server.max_concurrent_per_connection
    greedy = await connect_raw(daemon.socket_path)
    await greedy.send_message(batch_of("test.hold", daemon.config.server.max_batch))
    await readers.until(lambda: readers.started >= share)
    # The batch is being processed (its holds wait on the gate) and the
    # other client's request is answered meanwhile.
    async with await AsyncClient.connect(daemon.socket_path) as other:
        with anyio.fail_after(GUARD_S):
            assert (await other.call(QUICK)).ok
    assert not readers.gate.is_set() and readers.peak <= share
    readers.gate.set()
    answers = await greedy.reply()
    assert isinstance(answers, list) and len(answers) == daemon.config.server.max_batch
    await greedy.stream.aclose()


async def test_work_of_a_vanished_client_is_cancelled(daemon: Daemon) -> None:
    readers = SharedReaders(slots=8)
    daemon.registry.register(HOLD, readers.hold)
    share = daemon.config.server.max_concurrent_per_connection
    gone = await connect_raw(daemon.socket_path)
    await gone.send_message(batch_of("test.hold", 50))
    await readers.until(lambda: readers.started >= share)
    await gone.stream.aclose()
    await readers.until(lambda: readers.cancelled >= share)
    assert readers.started == share  # the rest of the batch never started
    async with await AsyncClient.connect(daemon.socket_path) as other:
        assert (await other.call(m.SERVER_INFO)).pid == os.getpid()


async def test_half_closed_client_still_gets_its_answers(daemon: Daemon) -> None:
    raw = await connect_raw(daemon.socket_path)
    await raw.send_message(batch_of("server.info", 3))
    await raw.stream.send_eof()  # as `nc -U` does at the end of its input
    answers = json.loads(await raw.end_of_stream())
    assert len(answers) == 3
    await raw.stream.aclose()


# -- over the connection limit ---------------------------------------------------------


@pytest.fixture
async def one_slot(config: Config) -> AsyncIterator[Daemon]:
    limited = with_config(config, server=ServerConfig(max_connections=1))
    instance = Daemon(limited)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        yield instance
        instance.request_stop()


@pytest.mark.parametrize("framing", ["ndjson", "content-length"])
async def test_refusal_is_in_the_clients_framing_and_ends_cleanly(
    one_slot: Daemon, framing: str
) -> None:
    async with await AsyncClient.connect(one_slot.socket_path) as holder:
        await holder.call(m.SERVER_INFO)
        refused = await connect_raw(one_slot.socket_path, framing)
        # A request already sent: closing on unread input would be a reset.
        await refused.send_message(INFO)
        error = error_of(await refused.reply())
        assert error["code"] == -32006
        assert await refused.end_of_stream() == b""  # EOF, not ECONNRESET
        await refused.stream.aclose()


async def test_a_just_closed_connection_no_longer_counts(one_slot: Daemon) -> None:
    for _ in range(5):
        raw = await connect_raw(one_slot.socket_path)
        await raw.send_message(INFO)
        assert "result" in await raw.reply()  # type: ignore[operator]
        await raw.stream.aclose()
        # Closed: the next client must get the slot at once, not -32006.
    async with await AsyncClient.connect(one_slot.socket_path) as after:
        assert (await after.call(m.SERVER_INFO)).pid == os.getpid()


# -- the socket's directory and the state's modes ------------------------------------


async def test_socket_in_a_sticky_shared_directory_leaves_its_mode(
    config: Config, short_dir: Path
) -> None:
    shared = short_dir / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    instance = Daemon(with_config(config, socket_path=str(shared / "axd.sock")))
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
        assert stat.S_IMODE((shared / "axd.sock").stat().st_mode) == 0o600
        instance.request_stop()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777


async def test_socket_in_a_world_writable_directory_is_refused(
    config: Config, short_dir: Path
) -> None:
    unsafe = short_dir / "unsafe"
    unsafe.mkdir()
    os.chmod(unsafe, 0o777)
    instance = Daemon(with_config(config, socket_path=str(unsafe / "axd.sock")))
    with pytest.raises(SocketPathError, match="sticky bit"):
        await instance.run()
    assert stat.S_IMODE(unsafe.stat().st_mode) == 0o777
    assert not (unsafe / "axd.sock").exists()


async def test_a_missing_socket_directory_is_created_private(
    config: Config, short_dir: Path
) -> None:
    old = os.umask(0o002)  # permissive, as on many desktops
    try:
        instance = Daemon(with_config(config, socket_path=str(short_dir / "r" / "s")))
        async with anyio.create_task_group() as tg:
            await tg.start(instance.run)
            assert stat.S_IMODE((short_dir / "r").stat().st_mode) == 0o700
            instance.request_stop()
    finally:
        os.umask(old)


def test_state_files_are_private(config: Config, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    env = environment_for(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "axd.daemon", "--add", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cli = [str(Path(sys.executable).parent / "axd"), "--no-start", "call"]
        wait = json.dumps({"root": str(root), "timeout_s": GUARD_S})
        deadline = time.monotonic() + 2 * GUARD_S  # hang guard for the start-up
        while True:
            done = subprocess.run(
                [*cli, "index.wait", wait], env=env, capture_output=True, check=False
            )
            if done.returncode == 0 or time.monotonic() > deadline:
                break
        assert done.returncode == 0, done.stderr
        state = Path(str(config.state_dir))
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        made = [path for path in state.rglob("*") if path.is_file()]
        assert any(path.name == "index.db" for path in made)
        for path in made:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        for path in state.rglob("*"):
            if path.is_dir():
                assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    finally:
        proc.terminate()
        proc.wait(GUARD_S)


async def test_long_polls_do_not_hold_back_the_same_clients_queries(
    daemon: Daemon, repo: Path
) -> None:
    share = daemon.config.server.max_concurrent_per_connection
    raw = await connect_raw(daemon.socket_path)
    for ident in range(share + 2):
        wait = {"root": str(repo), "generation": 10_000, "timeout_s": GUARD_S}
        await raw.send_message(
            json.dumps(
                {"jsonrpc": "2.0", "method": "index.wait", "params": wait, "id": ident}
            ).encode()
        )
    query = {"root": str(repo), "query": "add_numbers"}
    await raw.send_message(
        json.dumps(
            {"jsonrpc": "2.0", "method": "search", "params": query, "id": "q"}
        ).encode()
    )
    reply = await raw.reply()  # the waits are still waiting: this is the search
    assert isinstance(reply, dict) and reply["id"] == "q", reply
    assert [hit["path"] for hit in reply["result"]["results"]] == ["calc.py"]
    await raw.stream.aclose()
