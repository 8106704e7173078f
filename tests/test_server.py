"""The socket server with a real daemon: conformance, limits, lifecycle."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest
from support import environment_for, with_config

from axd.client.aio import AsyncClient
from axd.client.connection import RemoteError
from axd.daemon.config import Config, ServerConfig
from axd.daemon.lifecycle import Daemon
from axd.daemon.rpc.server import AlreadyRunningError, SocketPathError
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.methods import Method

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import RequestContext


def raw_exchange(
    path: Path, payload: bytes, *, expect: int = 1, timeout: float = 5.0
) -> list[object]:
    """Send raw bytes; read `expect` NDJSON replies (or until silence)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        if payload:
            sock.sendall(payload)
        data = b""
        replies: list[object] = []
        while len(replies) < expect:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            *lines, data = data.split(b"\n")
            replies += [json.loads(line) for line in lines if line.strip()]
        return replies


async def exchange(path: Path, payload: bytes, expect: int = 1) -> list[object]:
    return await anyio.to_thread.run_sync(
        lambda: raw_exchange(path, payload, expect=expect)
    )


def error_of(reply: object) -> dict[str, object]:
    assert isinstance(reply, dict) and "error" in reply, reply
    error = reply["error"]
    assert isinstance(error, dict)
    return error


# -- every JSON-RPC error path ------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code", "echoed"),
    [
        (b"{nope\n", -32700, None),
        (b"garbage\n", -32700, None),
        (b"[]\n", -32600, None),
        (b'{"jsonrpc":"2.0","method":1,"id":5}\n', -32600, 5),
        (b'{"jsonrpc":"2.0","method":"server.info","params":null,"id":6}\n', -32600, 6),
        (b'{"jsonrpc":"2.0","method":"server.info","id":true}\n', -32600, None),
        (b'{"jsonrpc":"2.0","method":"nope","id":"x"}\n', -32601, "x"),
        (b'{"jsonrpc":"2.0","method":"nope","params":[1],"id":"y"}\n', -32601, "y"),
        (b'{"jsonrpc":"2.0","method":"server.info","params":[1],"id":7}\n', -32602, 7),
        (b'{"jsonrpc":"2.0","method":"workspace.add","params":{},"id":8}\n', -32602, 8),
    ],
)
async def test_error_paths(
    daemon: Daemon, payload: bytes, code: int, echoed: object
) -> None:
    (reply,) = await exchange(daemon.socket_path, payload)
    assert isinstance(reply, dict) and reply["id"] == echoed
    error = error_of(reply)
    assert error["code"] == code
    assert isinstance(error["data"], dict) and error["data"]["kind"]


async def test_invalid_params_names_the_field(client: AsyncClient) -> None:
    with pytest.raises(RemoteError) as caught:
        await client.call_raw("workspace.add", {"root": 42})
    assert caught.value.code == -32602 and caught.value.data["field"] == "$.root"
    with pytest.raises(RemoteError) as missing:
        await client.call_raw("workspace.add", {})
    assert missing.value.data["field"] == "$.root"


async def test_handler_exception_is_internal_error_for_that_request_only(
    daemon: Daemon,
) -> None:
    boom: Method[t.Empty, t.Ok] = Method("test.boom", t.Empty, t.Ok, "always fails")

    async def fail(params: t.Empty, ctx: RequestContext) -> t.Ok:
        raise RuntimeError("secret internals")

    daemon.registry.register(boom, fail)
    async with await AsyncClient.connect(daemon.socket_path) as client:
        with pytest.raises(RemoteError) as caught:
            await client.call_raw("test.boom")
        assert caught.value.code == -32603
        assert "secret" not in caught.value.message  # no internals leak
        info = await client.call(m.SERVER_INFO)
        assert info.pid == os.getpid()


async def test_batch_and_notifications(daemon: Daemon) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "server.info", "id": 1},
        {"jsonrpc": "2.0", "method": "server.info"},
        {"jsonrpc": "2.0", "method": "nope", "id": 2},
        5,
    ]
    (reply,) = await exchange(daemon.socket_path, json.dumps(batch).encode() + b"\n")
    assert isinstance(reply, list) and len(reply) == 3
    notes_only = b'[{"jsonrpc":"2.0","method":"server.info"}]\n{"jsonrpc":"2.0","method":"server.info","id":9}\n'
    (answer,) = await exchange(daemon.socket_path, notes_only)
    assert isinstance(answer, dict) and answer["id"] == 9


async def test_content_length_framing(daemon: Daemon) -> None:
    body = b'{"jsonrpc":"2.0","method":"server.info","id":1}'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        await anyio.to_thread.run_sync(sock.connect, str(daemon.socket_path))
        sock.sendall(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        data = await anyio.to_thread.run_sync(sock.recv, 65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.lower().startswith(b"content-length:")
    assert json.loads(rest)["result"]["pid"] == os.getpid()


async def test_requests_are_answered_out_of_order(daemon: Daemon) -> None:
    # The first request is answered only once the second one's answer has
    # arrived (an event, not a sleep: a loaded machine cannot reorder them).
    slow: Method[t.Empty, t.Ok] = Method("test.slow", t.Empty, t.Ok, "waits")
    second_answered = anyio.Event()

    async def wait(params: t.Empty, ctx: RequestContext) -> t.Ok:
        await second_answered.wait()
        return t.Ok()

    daemon.registry.register(slow, wait)
    stream = await anyio.connect_unix(str(daemon.socket_path))
    async with stream:
        await stream.send(
            b'{"jsonrpc":"2.0","method":"test.slow","id":1}\n'
            b'{"jsonrpc":"2.0","method":"server.info","id":2}\n'
        )
        data = b""
        with anyio.fail_after(30):  # hang guard
            while data.count(b"\n") < 1:
                data += await stream.receive()
            assert json.loads(data.split(b"\n")[0])["id"] == 2
            second_answered.set()
            while data.count(b"\n") < 2:
                data += await stream.receive()
    assert [json.loads(line)["id"] for line in data.splitlines()] == [2, 1]


# -- limits ------------------------------------------------------------------------------


async def test_oversized_message_then_connection_goes_on(config: Config) -> None:
    small = with_config(config, server=ServerConfig(max_message_bytes=1000))
    instance = Daemon(small)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        big = (
            b'{"jsonrpc":"2.0","method":"server.info","params":{"p":"'
            + b"x" * 5000
            + b'"},"id":1}\n'
        )
        follow = b'{"jsonrpc":"2.0","method":"server.info","id":2}\n'
        first, second = await exchange(instance.socket_path, big + follow, expect=2)
        assert error_of(first)["code"] == -32600
        assert isinstance(second, dict) and second["id"] == 2 and "result" in second
        instance.request_stop()


async def test_max_connections(config: Config) -> None:
    limited = with_config(config, server=ServerConfig(max_connections=2))
    instance = Daemon(limited)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        async with (
            await AsyncClient.connect(instance.socket_path) as one,
            await AsyncClient.connect(instance.socket_path) as two,
        ):
            await one.call(m.SERVER_INFO)
            await two.call(m.SERVER_INFO)
            (refused,) = await exchange(instance.socket_path, b"")
            assert error_of(refused)["code"] == -32006
        # Slots come back as soon as those two have closed (no wait needed).
        async with await AsyncClient.connect(instance.socket_path) as three:
            assert (await three.call(m.SERVER_INFO)).pid == os.getpid()
        instance.request_stop()


async def test_fifty_concurrent_clients(daemon: Daemon) -> None:
    failures: list[str] = []

    async def one_client(index: int) -> None:
        try:
            async with (
                await AsyncClient.connect(daemon.socket_path) as client,
                anyio.create_task_group() as tg,
            ):
                for _ in range(20):
                    tg.start_soon(client.call, m.SERVER_INFO)
        except Exception as exc:  # noqa: BLE001 - collected, asserted below
            failures.append(f"{index}: {exc!r}")

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for index in range(50):
                tg.start_soon(one_client, index)
    assert not failures


# -- socket lifecycle ------------------------------------------------------------------------


async def test_socket_and_directory_permissions(daemon: Daemon) -> None:
    assert stat.S_IMODE(daemon.socket_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(daemon.socket_path.parent.stat().st_mode) == 0o700


async def test_stale_socket_is_replaced(config: Config) -> None:
    path = Path(str(config.socket_path))
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # a socket file nobody listens on, as after a crash
    instance = Daemon(config)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        async with await AsyncClient.connect(path) as client:
            assert (await client.call(m.SERVER_INFO)).pid == os.getpid()
        instance.request_stop()


async def test_second_daemon_is_refused_and_first_keeps_serving(
    daemon: Daemon, config: Config
) -> None:
    with pytest.raises(AlreadyRunningError):
        await Daemon(config).run()
    env = environment_for(config)
    proc = await anyio.run_process(
        [sys.executable, "-m", "axd.daemon", "--socket", str(config.socket_path)],
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert b"another axd daemon" in proc.stderr
    async with await AsyncClient.connect(daemon.socket_path) as client:
        assert (await client.call(m.SERVER_INFO)).pid == os.getpid()


async def test_path_that_is_not_a_socket_is_left_alone(config: Config) -> None:
    path = anyio.Path(str(config.socket_path))
    await path.write_text("precious")
    with pytest.raises(SocketPathError, match="not a socket"):
        await Daemon(config).run()
    assert await path.read_text() == "precious"


async def test_graceful_shutdown_finishes_requests_in_flight(config: Config) -> None:
    instance = Daemon(config)
    slow: Method[t.Empty, t.Ok] = Method("test.slow", t.Empty, t.Ok, "waits")
    started, release = anyio.Event(), anyio.Event()

    async def wait(params: t.Empty, ctx: RequestContext) -> t.Ok:
        started.set()
        await release.wait()
        return t.Ok()

    instance.registry.register(slow, wait)
    results: list[bool] = []
    answered = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        async with await AsyncClient.connect(instance.socket_path) as client:

            async def slow_call() -> None:
                results.append((await client.call(slow)).ok)
                answered.set()

            tg.start_soon(slow_call)
            # In flight for sure (not a guess with a sleep), then the stop.
            with anyio.fail_after(20):
                await started.wait()
            assert (await client.call(m.SERVER_SHUTDOWN)).ok
            assert instance.registry.shutting_down
            release.set()
            with anyio.fail_after(20):
                await answered.wait()
    assert results == [True]
    assert not instance.socket_path.exists()


def test_sigterm_with_requests_in_flight_exits_zero(config: Config) -> None:
    env = environment_for(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "axd.daemon"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        path = Path(str(config.socket_path))
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            # One answer first: the connection is accepted, not in the backlog
            # (a backlog connection is reset when the listener closes).
            sock.sendall(b'{"jsonrpc":"2.0","method":"server.info","id":"first"}\n')
            first = b""
            while not first.endswith(b"\n"):
                first += sock.recv(65536)
            sock.sendall(
                b"".join(
                    b'{"jsonrpc":"2.0","method":"rpc.discover","id":%d}\n' % i
                    for i in range(20)
                )
            )
            proc.terminate()
            data = b""
            while data.count(b"\n") < 20:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        assert proc.wait(15) == 0, proc.stderr.read() if proc.stderr else ""
        answered = [json.loads(line) for line in data.splitlines() if line.strip()]
        # Every request that was read before the stop is answered in full;
        # none is cut off mid-message.
        assert all("result" in r or r["error"]["code"] == -32007 for r in answered)
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def test_openrpc_lists_every_documented_method() -> None:
    from axd.protocol.openrpc import openrpc_document

    document = msgspec.json.decode(msgspec.json.encode(openrpc_document(m.ALL)))
    names = {method["name"] for method in document["methods"]}
    assert names == {method.name for method in m.ALL} - {"rpc.discover"}
    for method in document["methods"]:
        assert isinstance(method["params"], list) and "schema" in method["result"]


async def test_rpc_discover_lists_what_this_daemon_serves(
    daemon: Daemon, client: AsyncClient
) -> None:
    document = json.loads(await client.call_raw("rpc.discover"))
    listed = {method["name"] for method in document["methods"]}
    served = {method.name for method in daemon.registry.methods()}
    assert listed == served - {"rpc.discover"}
    assert {"search", "symbols.definition", "health", "subscribe"} <= listed
