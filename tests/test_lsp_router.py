"""`axd lsp`'s router: LSP's rules for the requests it answers without pygls.

An editor-like client (plain JSON over the server's stdin/stdout, Content-Length
framing) drives `axd lsp --no-start` as a subprocess: requests before
`initialize`, bad params, a cancelled request, requests after `shutdown`.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from lsp_support import AXD_LSP, uri, write_tree
from support import environment_for

from axd.protocol import methods as m
from axd.protocol.framing import ContentLengthDecoder, Message, encode

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from anyio.abc import Process, SocketStream

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon

HANG_GUARD_S = 60


class RawClient:
    """Sends JSON-RPC messages and reads the server's replies, as editors do."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._decoder = ContentLengthDecoder(1 << 30)
        self._ready: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(
            encode("content-length", json.dumps(message).encode())
        )

    async def request(self, method: str, params: Any) -> int:
        """Send a request; its id."""
        msg_id = next(self._ids)
        await self.send(
            {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}
        )
        return msg_id

    async def notify(self, method: str, params: Any) -> None:
        await self.send({"jsonrpc": "2.0", "method": method, "params": params})

    async def reply(self, msg_id: int) -> dict[str, Any]:
        """The server's answer to request `msg_id` (other messages skipped)."""
        with anyio.fail_after(HANG_GUARD_S):
            while True:
                for i, message in enumerate(self._ready):
                    if message.get("id") == msg_id and "method" not in message:
                        return self._ready.pop(i)
                assert self.process.stdout is not None
                data = await self.process.stdout.receive()
                for frame in self._decoder.feed(data):
                    assert isinstance(frame, Message)
                    self._ready.append(json.loads(frame.body))

    async def call(self, method: str, params: Any) -> dict[str, Any]:
        return await self.reply(await self.request(method, params))


@asynccontextmanager
async def raw_server(config: Config) -> AsyncIterator[RawClient]:
    async with await anyio.open_process(
        [*AXD_LSP, "--no-start"], env=environment_for(config)
    ) as process:
        try:
            yield RawClient(process)
        finally:
            # End of input ends the server (its coverage data is saved too);
            # terminate only one that does not stop.
            assert process.stdin is not None
            await process.stdin.aclose()
            with anyio.move_on_after(HANG_GUARD_S):
                await process.wait()
            if process.returncode is None:
                process.terminate()


def initialize_params(root: Path) -> dict[str, Any]:
    return {
        "processId": None,
        "rootUri": root.as_uri(),
        "capabilities": {},
        "workspaceFolders": [{"uri": root.as_uri(), "name": "repo"}],
    }


def at(root: Path, rel: str, line: int, character: int) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri(root, rel)},
        "position": {"line": line, "character": character},
    }


async def test_lsp_rules_before_initialize_bad_params_and_after_shutdown(
    config: Config, daemon: Daemon, client: AsyncClient, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "repo")
    async with raw_server(config) as lsp:
        early = await lsp.call("textDocument/definition", at(repo, "py/util.py", 0, 5))
        assert early["error"]["code"] == -32002  # ServerNotInitialized
        init = await lsp.call("initialize", initialize_params(repo))
        capabilities = init["result"]["capabilities"]
        for provider in ("definition", "declaration", "references", "hover"):
            assert capabilities[f"{provider}Provider"], provider
        assert capabilities["documentSymbolProvider"]
        assert capabilities["workspaceSymbolProvider"]
        await lsp.notify("initialized", {})
        bad = await lsp.call(
            "textDocument/definition",
            {"textDocument": {"uri": uri(repo, "py/util.py")}},  # no position
        )
        assert bad["error"]["code"] == -32602  # InvalidParams
        assert "position" in bad["error"]["message"]
        kinds = await lsp.call("workspace/symbol", {"query": "helper"})
        assert "error" not in kinds, kinds
        # an unknown method still gets pygls' MethodNotFound
        unknown = await lsp.call("textDocument/noSuchThing", {})
        assert unknown["error"]["code"] == -32601
        assert (await lsp.call("shutdown", None))["result"] is None
        late = await lsp.call("workspace/symbol", {"query": "helper"})
        assert late["error"]["code"] == -32600  # InvalidRequest
        await lsp.notify("exit", None)
        with anyio.fail_after(HANG_GUARD_S):
            assert await lsp.process.wait() == 0


async def test_a_cancelled_request_is_answered_request_cancelled(
    config: Config, short_dir: Path, tmp_path: Path
) -> None:
    # A "daemon" that accepts connections and never answers: requests hang
    # until the client cancels them.
    repo = write_tree(tmp_path / "repo")
    silent: list[SocketStream] = []

    async def accept_and_keep() -> None:
        while True:
            silent.append(await listener.accept())

    async with (
        await anyio.create_unix_listener(str(config.socket_path)) as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(accept_and_keep)
        async with raw_server(config) as lsp:
            await lsp.request("initialize", initialize_params(repo))  # hangs too
            hanging = await lsp.request(
                "textDocument/definition", at(repo, "py/util.py", 0, 5)
            )
            await lsp.notify("$/cancelRequest", {"id": hanging})
            cancelled = await lsp.reply(hanging)
            assert cancelled["error"]["code"] == -32800  # RequestCancelled
        tg.cancel_scope.cancel()
    for stream in silent:
        await stream.aclose()


def frame(message: dict[str, Any] | bytes) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return encode("content-length", body)


def replies(stdout: bytes) -> dict[int, dict[str, Any]]:
    """The server's answers in `stdout`, by request id."""
    found: dict[int, dict[str, Any]] = {}
    for message in ContentLengthDecoder(1 << 30).feed(stdout):
        assert isinstance(message, Message)
        decoded = json.loads(message.body)
        if "id" in decoded and "method" not in decoded:
            found[decoded["id"]] = decoded
    return found


def test_stdin_a_file_is_served_to_its_end(config: Config, tmp_path: Path) -> None:
    # Not a pipe (a file, as `axd lsp < session` gives): read in chunks; the
    # end of the file ends the server. Unreadable messages are reported on
    # stderr and do not stop the ones after them.
    repo = write_tree(tmp_path / "repo")
    session = tmp_path / "session.lsp"
    session.write_bytes(
        frame(b"{not json")
        + frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": []}})
        + frame({"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 99}})
        + frame(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "textDocument/hover",
                "params": at(repo, "py/util.py", 0, 5),
            }
        )
    )
    with session.open("rb") as stdin:
        done = subprocess.run(
            [*AXD_LSP, "--no-start"],
            env=environment_for(config),
            stdin=stdin,
            capture_output=True,
            timeout=HANG_GUARD_S,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert replies(done.stdout)[1]["error"]["code"] == -32002  # not initialized
    assert b"cannot handle a message" in done.stderr  # the unparsable body


def test_broken_framing_stops_the_server(config: Config) -> None:
    with subprocess.Popen(
        [*AXD_LSP, "--no-start"],
        env=environment_for(config),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as server:
        assert server.stdin is not None and server.stderr is not None
        server.stdin.write(b"Content-Length 12\r\n\r\n{}")  # no colon
        server.stdin.flush()
        # stdin stays open: the server stops on its own
        assert server.wait(timeout=HANG_GUARD_S) == 0
        assert b"unreadable LSP framing" in server.stderr.read()
        server.stdin.close()


def test_an_oversized_message_is_skipped_and_eof_ends_the_server(
    config: Config,
) -> None:
    huge = 300 << 20  # above the 256 MiB limit; only the header is sent
    done = subprocess.run(
        [*AXD_LSP, "--no-start"],
        env=environment_for(config),
        input=f"Content-Length: {huge}\r\n\r\n{{}}".encode(),
        capture_output=True,
        timeout=HANG_GUARD_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"ignored a message of {huge} bytes".encode() in done.stderr
    assert done.stdout == b""


async def test_a_request_cancelled_before_it_starts_is_answered_once(
    config: Config, daemon: Daemon, client: AsyncClient, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "repo")
    async with raw_server(config) as lsp:
        assert "result" in await lsp.call("initialize", initialize_params(repo))
        await lsp.notify("initialized", {})
        # One write: the cancel is read before the request's task first runs.
        request = {
            "jsonrpc": "2.0",
            "id": 500,
            "method": "textDocument/definition",
            "params": at(repo, "py/shapes.py", 10, 16),
        }
        cancel = {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 500}}
        assert lsp.process.stdin is not None
        await lsp.process.stdin.send(frame(request) + frame(cancel))
        answer = await lsp.reply(500)
        assert answer["error"]["code"] == -32800  # RequestCancelled
        # the server goes on answering
        hover = await lsp.call("textDocument/hover", at(repo, "py/util.py", 0, 5))
        assert "error" not in hover, hover
        assert not any(m.get("id") == 500 for m in lsp._ready)  # answered once


async def roots(client: AsyncClient) -> set[str]:
    listed = await client.call(m.WORKSPACE_LIST)
    return {w.root for w in listed.workspaces}


async def wait_for_root(lsp: RawClient, client: AsyncClient, root: Path) -> None:
    """Until the daemon has `root`: a folder change is handled in its own task,
    so each check waits for one more LSP round trip (the server's loop turns)."""
    with anyio.fail_after(HANG_GUARD_S):  # hang guard only
        while str(root) not in await roots(client):
            await lsp.call("workspace/symbol", {"query": "helper"})


async def test_folders_from_root_uri_root_path_and_folder_changes(
    config: Config, daemon: Daemon, client: AsyncClient, tmp_path: Path
) -> None:
    first = write_tree(tmp_path / "first")
    second = write_tree(tmp_path / "second")
    third = write_tree(tmp_path / "third")
    async with raw_server(config) as lsp:  # no workspaceFolders: the rootUri
        params = {"processId": None, "rootUri": first.as_uri(), "capabilities": {}}
        assert "result" in await lsp.call("initialize", params)
        await lsp.notify("initialized", {})
        assert str(first) in await roots(client)
        await lsp.notify(
            "workspace/didChangeWorkspaceFolders",
            {
                "event": {
                    "added": [{"uri": second.as_uri(), "name": "second"}],
                    "removed": [{"uri": first.as_uri(), "name": "first"}],
                }
            },
        )
        await wait_for_root(lsp, client, second)
        await lsp.call("shutdown", None)
    async with raw_server(config) as lsp:  # only the (deprecated) rootPath
        params = {"processId": None, "rootPath": str(third), "capabilities": {}}
        assert "result" in await lsp.call("initialize", params)
        assert str(third) in await roots(client)
