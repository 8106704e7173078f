"""A request's deadline: `server.request_timeout_s`, plus the time the
request asked to wait on purpose (`index.wait`'s and a `min_generation`
query's `timeout_s`), so a long wait ends with its own TIMEOUT error, not
the server's deadline.

The daemon here has a 1 s request deadline and each wait asks for 3 s: the
error must name the wait (3 s), which it can only do if the 1 s deadline
did not cut it short.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from support import with_config

from axd.client.aio import AsyncClient
from axd.client.connection import RemoteError
from axd.daemon.config import Config, ServerConfig
from axd.daemon.lifecycle import Daemon
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.methods import Method

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from axd.daemon.rpc.dispatch import RequestContext

GUARD_S = 60  # hang guard only
WAIT_S = 3  # what the client asks to wait; > the 1 s request deadline
TIMEOUT = -32008


@pytest.fixture
async def quick(config: Config, tmp_path: Path) -> AsyncIterator[tuple[Daemon, Path]]:
    """A daemon with a 1 s request deadline, indexing a one-file repo."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("def add_numbers(a, b):\n    return a + b\n")
    instance = Daemon(with_config(config, server=ServerConfig(request_timeout_s=1)))
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        async with await AsyncClient.connect(instance.socket_path) as client:
            await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(repo)))
            await client.call(
                m.INDEX_WAIT, t.IndexWaitParams(root=str(repo), timeout_s=GUARD_S)
            )
        yield instance, repo
        instance.request_stop()


async def test_index_wait_may_outlast_the_request_deadline(
    quick: tuple[Daemon, Path],
) -> None:
    daemon, repo = quick
    async with await AsyncClient.connect(daemon.socket_path) as client:
        status = await client.call(m.INDEX_STATUS, t.RootParams(root=str(repo)))
        never = status.generation + 1000  # nothing will commit that many
        with anyio.fail_after(GUARD_S), pytest.raises(RemoteError) as caught:
            await client.call(
                m.INDEX_WAIT,
                t.IndexWaitParams(root=str(repo), generation=never, timeout_s=WAIT_S),
            )
    assert caught.value.code == TIMEOUT
    assert f"index.wait timed out after {WAIT_S} s" in caught.value.message


async def test_a_query_waiting_for_a_generation_may_outlast_it_too(
    quick: tuple[Daemon, Path],
) -> None:
    daemon, repo = quick
    async with await AsyncClient.connect(daemon.socket_path) as client:
        status = await client.call(m.INDEX_STATUS, t.RootParams(root=str(repo)))
        never = status.generation + 1000
        with anyio.fail_after(GUARD_S), pytest.raises(RemoteError) as caught:
            await client.call(
                m.SEARCH,
                t.SearchParams(
                    root=str(repo),
                    query="add_numbers",
                    min_generation=never,
                    timeout_s=WAIT_S,
                ),
            )
    assert caught.value.code == TIMEOUT
    assert f"not reached within {WAIT_S} s" in caught.value.message


STALL: Method[t.Empty, t.Ok] = Method("test.stall", t.Empty, t.Ok, "never answers")


async def test_other_requests_keep_the_request_deadline(
    quick: tuple[Daemon, Path],
) -> None:
    daemon, _ = quick

    async def stall(params: t.Empty, ctx: RequestContext) -> t.Ok:
        await anyio.Event().wait()  # set by nobody: only the deadline ends it
        return t.Ok()

    daemon.registry.register(STALL, stall)
    async with await AsyncClient.connect(daemon.socket_path) as client:
        with anyio.fail_after(GUARD_S), pytest.raises(RemoteError) as caught:
            await client.call(STALL)
    assert caught.value.code == TIMEOUT
    assert "the server's 1 s deadline" in caught.value.message
