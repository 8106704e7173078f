"""One workspace's indexer failing for real leaves the others serving.

A real daemon with two workspaces. Another process takes the write lock of
one workspace's database (`BEGIN EXCLUSIVE`, as a user's `sqlite3` shell or
a backup tool would), so that workspace's commits genuinely fail
(`BusyError: database is locked`). Meanwhile the other workspace answers
queries and follows edits; the locked one keeps answering reads from what it
has, reports the failure in `index.status` and `health`, and once the lock
is gone commits what it held back and is `ready` again with no error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from support import call, with_config

from axd.client.aio import AsyncClient
from axd.daemon.config import IndexConfig
from axd.daemon.lifecycle import Daemon

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from axd.daemon.config import Config

GUARD_S = 60  # hang guard for each wait

# Holds the write lock of the database named by argv[1] until stdin closes.
LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.fixture
async def running(config: Config) -> AsyncIterator[tuple[Daemon, AsyncClient]]:
    """A daemon retrying failed writes quickly."""
    cfg = with_config(config, index=IndexConfig(workers=1, disk_retry_s=0.05))
    instance = Daemon(cfg)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        async with await AsyncClient.connect(instance.socket_path) as client:
            yield instance, client
        instance.request_stop()


async def until(check: Callable[[], Any], what: str) -> Any:
    """Poll the daemon's state (`check` is a coroutine function) until it
    returns something true; that value."""
    with anyio.fail_after(GUARD_S):
        while True:
            value = await check()
            if value:
                return value
            await anyio.sleep(0.05)
    raise AssertionError(what)  # pragma: no cover - fail_after raises first


async def defined(client: AsyncClient, root: Path, name: str) -> list[Any]:
    answer = await call(client, "symbols.definition", root=str(root), name=name)
    return list(answer["definitions"])


@pytest.mark.slow
@pytest.mark.timeout(240)  # a hang guard; each wait has its own
async def test_a_locked_database_fails_one_workspace_only(
    running: tuple[Daemon, AsyncClient], tmp_path: Path, config: Config
) -> None:
    daemon, client = running
    healthy, locked = tmp_path / "healthy", tmp_path / "locked"
    for root in (healthy, locked):
        root.mkdir()
        (root / "base.py").write_text(f"def base_of_{root.name}(): pass\n")
        added = await call(client, "workspace.add", root=str(root))
        await call(client, "index.wait", root=str(root), timeout_s=GUARD_S)
        if root == locked:
            database = Path(config.state_dir) / "workspaces" / added["id"] / "index.db"
    holder = subprocess.Popen(  # noqa: ASYNC220 - a quick start, then waited on in a thread
        [sys.executable, "-c", LOCKER, str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdin is not None
        with anyio.fail_after(GUARD_S):
            line = await anyio.to_thread.run_sync(holder.stdout.readline)
        assert line == "locked\n", line
        (locked / "held.py").write_text("def held_back(): pass\n")
        (healthy / "fresh.py").write_text("def fresh_in_healthy(): pass\n")

        async def locked_status() -> Any:
            status = await call(client, "index.status", root=str(locked))
            return status if status["state"] == "degraded" else None

        status = await until(locked_status, "the locked workspace reports it")
        assert "locked" in status["last_error"], status
        health = await call(client, "health")
        assert health["checks"]["store"]["status"] == "DEGRADED", health
        assert str(locked) in health["checks"]["store"]["detail"], health
        assert str(healthy) not in health["checks"]["store"]["detail"], health
        # The other workspace follows edits and answers; the locked one
        # still answers reads from what it has.
        await until(
            lambda: defined(client, healthy, "fresh_in_healthy"), "healthy follows"
        )
        assert await defined(client, locked, "base_of_locked")
        assert not await defined(client, locked, "held_back")
        healthy_status = await call(client, "index.status", root=str(healthy))
        assert healthy_status["state"] == "ready", healthy_status
        assert healthy_status["last_error"] is None, healthy_status
        # The lock goes: what was held back is committed, the error clears.
        holder.stdin.close()
        with anyio.fail_after(GUARD_S):
            await anyio.to_thread.run_sync(holder.wait)
        await until(lambda: defined(client, locked, "held_back"), "recovered")

        async def ready_again() -> Any:
            status = await call(client, "index.wait", root=str(locked), timeout_s=5)
            return status if status["state"] == "ready" else None

        status = await until(ready_again, "the locked workspace is ready again")
        assert status["last_error"] is None, status
        (locked / "after.py").write_text("def after_the_lock(): pass\n")
        await until(lambda: defined(client, locked, "after_the_lock"), "follows")
        assert daemon.server is not None
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()


@pytest.mark.slow
@pytest.mark.timeout(240)  # a hang guard; each wait has its own
async def test_a_hostile_ignore_file_does_not_stop_its_workspace(
    running: tuple[Daemon, AsyncClient], tmp_path: Path
) -> None:
    """A `.gitignore` line no regex engine accepts (`[z-a]`, a reversed
    range: git matches nothing with it) once made every lookup under its
    directory raise, which ended the workspace's crawl and watcher."""
    _, client = running
    other, hostile = tmp_path / "other", tmp_path / "hostile"
    for root in (other, hostile):
        (root / "pkg").mkdir(parents=True)
        (root / "pkg" / "base.py").write_text(f"def base_of_{root.name}(): pass\n")
    (hostile / "pkg" / ".gitignore").write_bytes(
        b"[z-a]\n\xff\xfe binary \x00 line\n*.log\n"
    )
    (hostile / "pkg" / "noise.log").write_text("def not_indexed(): pass\n")
    for root in (other, hostile):
        await call(client, "workspace.add", root=str(root))
        status = await call(client, "index.wait", root=str(root), timeout_s=GUARD_S)
        assert status["state"] == "ready" and status["last_error"] is None, status
    assert await defined(client, hostile, "base_of_hostile")
    explained = await call(
        client, "files.explain", root=str(hostile), path="pkg/noise.log"
    )
    assert explained["rule"]["pattern"] == "*.log", explained  # later lines apply
    # Edits are followed in the directory of the hostile file, and elsewhere.
    (hostile / "pkg" / "later.py").write_text("def later_in_hostile(): pass\n")
    (other / "pkg" / "later.py").write_text("def later_in_other(): pass\n")
    await until(lambda: defined(client, hostile, "later_in_hostile"), "hostile")
    await until(lambda: defined(client, other, "later_in_other"), "other")
    health = await call(client, "health")
    assert health["checks"]["watcher"]["status"] == "HEALTHY", health
