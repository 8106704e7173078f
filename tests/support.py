"""Helpers shared by the test modules (imported as `support`)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import msgspec
from hypothesis import HealthCheck, given, settings

from axd.client.aio import AsyncClient
from axd.daemon.lifecycle import Daemon
from axd.daemon.workspaces import workspace_id
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from hypothesis.strategies import SearchStrategy

    from axd.daemon.config import Config


def with_config(config: Config, **changes: object) -> Config:
    """`config` with top-level fields replaced."""
    return msgspec.structs.replace(config, **changes)


def without_live_events(config: Config) -> Config:
    """`config` whose watcher reports nothing within a test's run: it polls
    once an hour. For tests that drive every change with `index.reindex`
    and then inspect the indexer, where the same change reported again by
    the watcher would be queued at a moment the test cannot wait for."""
    watch = msgspec.structs.replace(
        config.watch, force_polling=True, poll_interval_ms=3_600_000
    )
    return with_config(config, watch=watch)


def environment_for(config: Config) -> dict[str, str]:
    """An environment for a subprocess daemon/CLI isolated like `config`."""
    env = dict(os.environ)
    env.update(
        AXD_SOCKET=str(config.socket_path),
        AXD_STATE_DIR=str(config.state_dir),
        AXD_METRICS_ADDR="127.0.0.1:0",
        XDG_CONFIG_HOME=str(Path(str(config.state_dir)) / "xdg-config"),
        XDG_RUNTIME_DIR=str(Path(str(config.socket_path)).parent),
    )
    env.pop("AXD_CONFIG", None)
    return env


async def call(client: AsyncClient, method: str, **params: Any) -> Any:
    """A request by method name, its result decoded as plain JSON values."""
    return msgspec.json.decode(await client.call_raw(method, params))


async def add_and_wait(
    client: AsyncClient, root: Path, timeout_s: float = 50
) -> dict[str, Any]:
    """Add `root` as a workspace and wait for its index: `index.wait`'s
    status, with the workspace's ``id``."""
    added = await call(client, "workspace.add", root=str(root))
    status = await call(client, "index.wait", root=str(root), timeout_s=timeout_s)
    status["id"] = added["id"]
    return status  # type: ignore[no-any-return]


_Drawn = TypeVar("_Drawn")


async def drawn(strategy: SearchStrategy[_Drawn], examples: int) -> list[_Drawn]:
    """`examples` values Hypothesis draws from `strategy`, for an async test
    to run one by one through a live daemon (Hypothesis drives a synchronous
    function: it runs in a thread)."""
    values: list[_Drawn] = []

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: _Drawn) -> None:
        values.append(value)

    await anyio.to_thread.run_sync(collect)
    return values


def index_db(config: Config, root: Path) -> Path:
    """The index database of workspace `root` in `config`'s state directory."""
    return (
        Path(str(config.state_dir))
        / "workspaces"
        / workspace_id(str(root))
        / "index.db"
    )


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[tuple[Daemon, AsyncClient]]:
    """An in-process daemon with `config` (for a config the `daemon` fixture
    lacks) and a client of it; the client disconnects before the daemon
    drains."""
    instance = Daemon(config)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        try:
            async with await AsyncClient.connect(instance.socket_path) as client:
                yield instance, client
        finally:
            instance.request_stop()


def run_python(code: str, timeout_s: float = 120) -> str:
    """`code` run by a fresh interpreter (``-P``: no script directory on
    its path), its stripped stdout; raises if it fails. `timeout_s` is a
    hang guard only."""
    done = subprocess.run(
        [sys.executable, "-P", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout_s,
    )
    return done.stdout.strip()


_IN_CLOSE_NOWRITE = 0x10


@contextlib.contextmanager
def read_watch(path: Path) -> Iterator[Callable[[float], bool]]:
    """While in the block, `wait(timeout_s)` returns once a process has read
    `path` (opened it for reading and closed it: inotify's
    IN_CLOSE_NOWRITE), False on the hang guard. A worker parsing the file
    does; the watcher does not read what it watches."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = int(libc.inotify_init1(os.O_CLOEXEC))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    try:
        if libc.inotify_add_watch(fd, os.fsencode(path), _IN_CLOSE_NOWRITE) < 0:
            raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")

        def wait(timeout_s: float) -> bool:
            return bool(select.select([fd], [], [], timeout_s)[0])

        yield wait
    finally:
        os.close(fd)


_GUARD_S = 60  # hang guard per wait


async def settled_after(client: AsyncClient, root: Path, *lasts: str) -> None:
    """Until every file of `lasts` (new to the index, each written after
    every other change of a test in its part of the tree) is indexed and
    nothing is queued or in flight. The watcher reports the changes of one
    watched set in order (the root's own files; everything below its
    top-level directories), not across sets: one of `lasts` per set the
    test changed."""
    with anyio.fail_after(_GUARD_S):
        while True:
            status = await client.call(
                m.INDEX_WAIT, t.IndexWaitParams(root=str(root), timeout_s=_GUARD_S)
            )
            seen = [
                (
                    await client.call(
                        m.FILES_EXPLAIN, t.FilesExplainParams(root=str(root), path=last)
                    )
                ).indexed
                for last in lasts
            ]
            if all(seen) and status.state == "ready" and not status.queue_depth:
                return
            # Not seen yet: wait for the next commit, not for a while.
            await client.call(
                m.INDEX_WAIT,
                t.IndexWaitParams(
                    root=str(root), generation=status.generation + 1, timeout_s=_GUARD_S
                ),
            )
