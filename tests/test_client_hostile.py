"""`axd` against a daemon that answers wrongly: one clear line, exit code 1.

A fake daemon on the real socket path answers each request line with a
canned reply (the real daemon never sends these; a version mismatch or a
corrupted stream could). Also the shared wording helpers of `exchange`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from support import environment_for

from axd.client import exchange
from axd.client.aio import AsyncClient
from axd.protocol import methods as m

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from axd.daemon.config import Config

AXD = [sys.executable, "-c", "from axd.client.cli import run; run()"]
GUARD_S = 60  # hang guard only

# the request -> the reply (None: close the connection instead)
Reply = Callable[[dict[str, Any]], bytes | None]


@pytest.fixture
def fake_daemon(config: Config) -> Iterator[Callable[[Reply], None]]:
    """Serve `reply(request_id)` to every request on the config's socket."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(config.socket_path))
    listener.listen()
    replies: list[Reply] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # closed: the test is over
            with conn, conn.makefile("rb") as lines:
                for line in lines:
                    reply = replies[0](json.loads(line))
                    if reply is None:
                        break
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield replies.append
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(GUARD_S)


def axd(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AXD, "--no-start", *args],
        env=environment_for(config),
        capture_output=True,
        text=True,
        timeout=GUARD_S,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def response(request: dict[str, Any], **fields: object) -> bytes:
    reply = {"jsonrpc": "2.0", "id": request["id"], **fields}
    return json.dumps(reply).encode() + b"\n"


def test_an_unreadable_answer_is_one_line_exit_1(
    config: Config, fake_daemon: Callable[[Reply], None]
) -> None:
    fake_daemon(lambda _request: b"\n<html>not json-rpc</html>\n")
    done = axd(config, "status")
    assert done.returncode == 1
    assert done.stderr.startswith("axd: the daemon sent an unreadable message")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_result_of_the_wrong_shape_is_one_line_exit_1(
    config: Config, fake_daemon: Callable[[Reply], None]
) -> None:
    fake_daemon(lambda i: response(i, result={"version": 3}))
    done = axd(config, "status")
    assert done.returncode == 1
    assert done.stderr.startswith("axd: unexpected result for server.info")
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        ({"code": -31999, "message": "odd"}, "axd: odd [-31999]"),  # unknown code
        ({"code": -32601, "message": "no"}, "axd: no [method_not_found]"),
        (
            {"code": -32602, "message": "bad", "data": {"kind": "mine", "field": "x"}},
            "axd: bad (field x) [mine]",
        ),
    ],
)
def test_an_error_names_its_kind(
    config: Config,
    fake_daemon: Callable[[Reply], None],
    error: dict[str, object],
    shown: str,
) -> None:
    fake_daemon(lambda i: response(i, error=error))
    done = axd(config, "status")
    assert done.returncode == 1
    assert done.stderr == shown + "\n"


def test_notification_params_are_typed_when_known() -> None:
    known = next(iter(exchange.NOTIFICATIONS))
    with pytest.raises(exchange.ProtocolError, match=f"unexpected {known}"):
        exchange.decode_notification(known, b'{"root": 7}')
    assert exchange.decode_notification("x.custom", b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(exchange.ProtocolError, match="unexpected x.custom"):
        exchange.decode_notification("x.custom", b"{")


def test_wording_of_a_broken_connection() -> None:
    closed = exchange.connection_lost("/run/axd.sock")
    assert str(closed) == "the daemon at /run/axd.sock closed the connection"
    broke = exchange.connection_lost("/run/axd.sock", ConnectionResetError(104, "x"))
    assert str(broke).startswith("connection to /run/axd.sock broke: ")
    with pytest.raises(exchange.ProtocolError, match="unexpected result for"):
        exchange.decode_result(m.SERVER_INFO, b"[]")


async def test_axd_lsp_tells_the_editor_once_and_answers_empty(
    config: Config, fake_daemon: Callable[[Reply], None], tmp_path: Path
) -> None:
    # Every answer unreadable: the connection is dropped, one reconnect is
    # tried, then the editor is told and requests answer empty, not fail.
    from lsp_support import write_tree
    from test_lsp_router import initialize_params, raw_server

    fake_daemon(lambda _request: b"\n\n<html>not json-rpc</html>\n")
    repo = write_tree(tmp_path / "repo")
    async with raw_server(config) as lsp:
        assert "result" in await lsp.call("initialize", initialize_params(repo))
        await lsp.notify("initialized", {})
        found = await lsp.call("workspace/symbol", {"query": "helper"})
        assert found["result"] == [], found
        told = [
            message["params"]["message"]
            for message in lsp._ready
            if message.get("method") == "window/showMessage"
        ]
        assert len(told) == 1, told
        assert told[0].startswith("axd: no daemon at ")
        assert told[0].endswith("answers stay empty")


def status(root: str, state: str) -> dict[str, object]:
    return {
        "root": root,
        "state": state,
        "generation": 1,
        "files_total": 1,
        "files_indexed": 1,
        "files_skipped": {},
        "queue_depth": 0,
        "languages": {},
        "last_error": None,
        "last_batch_ms": None,
    }


def slow_index(root: str, wait_error: dict[str, object]) -> Reply:
    """A daemon whose first `index.wait` fails with `wait_error`."""
    waits: list[int] = []

    def reply(request: dict[str, Any]) -> bytes:
        if request["method"] == "workspace.add":
            added = {"root": root, "id": "w1", "state": "indexing"}
            return response(request, result=added)
        assert request["method"] == "index.wait", request
        waits.append(1)
        if len(waits) == 1:
            return response(request, error=wait_error)
        if len(waits) == 2:
            return response(request, result=status(root, "indexing"))
        return response(request, result=status(root, "ready"))

    return reply


def test_add_wait_asks_again_until_the_index_is_ready(
    config: Config, fake_daemon: Callable[[Reply], None], tmp_path: Path
) -> None:
    timeout = {"code": -32008, "message": "not yet", "data": {"kind": "timeout"}}
    fake_daemon(slow_index(str(tmp_path), timeout))
    done = axd(config, "add", str(tmp_path), "--wait")
    assert (done.returncode, done.stdout) == (0, f"{tmp_path}: ready\n"), done.stderr


def test_add_wait_stops_at_another_error(
    config: Config, fake_daemon: Callable[[Reply], None], tmp_path: Path
) -> None:
    gone = {"code": -32003, "message": "removed", "data": {"kind": "not_found"}}
    fake_daemon(slow_index(str(tmp_path), gone))
    done = axd(config, "add", str(tmp_path), "--wait")
    assert (done.returncode, done.stderr) == (1, "axd: removed [not_found]\n")


async def test_the_async_client_names_a_missing_and_a_closing_daemon(
    config: Config, fake_daemon: Callable[[Reply], None], tmp_path: Path
) -> None:
    with pytest.raises(exchange.DaemonUnavailableError, match="^no daemon at "):
        await AsyncClient.connect(tmp_path / "nobody.sock")
    fake_daemon(lambda _request: None)
    async with await AsyncClient.connect(str(config.socket_path)) as client:
        with pytest.raises(
            exchange.DaemonUnavailableError, match="closed the connection"
        ):
            await client.call(m.SERVER_INFO)
