"""Snapshots end to end: a real daemon on a real socket, real SQLite files.

create/list/restore/delete, generations that never go backwards, the two
`index.changed` notifications of a restore, restores under a querying
client, snapshots that survive a restart, retention and automatic snapshots.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import apsw
import msgspec
import pytest
from support import with_config

from axd.client.aio import AsyncClient
from axd.client.connection import RemoteError
from axd.daemon.config import SnapshotsConfig
from axd.daemon.lifecycle import Daemon
from axd.daemon.workspaces import workspace_id
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.daemon.config import Config

GUARD_S = 45


class HeldCopy:
    """`snapshots.copy_progress` that stops the first copy after its first
    step (in the copy's worker thread) until released. `mid_copy`: assert
    the copy still had pages to go when it was stopped."""

    def __init__(self, *, mid_copy: bool = False) -> None:
        self.entered = anyio.Event()
        self.release = threading.Event()
        self.steps = 0
        self._mid_copy = mid_copy

    def __call__(self, remaining: int, total: int) -> None:
        self.steps += 1
        if self.steps == 1:
            if self._mid_copy:
                assert remaining > 0, "the copy must still be under way"
            anyio.from_thread.run_sync(self.entered.set)
            assert self.release.wait(GUARD_S), "never released"


def function(name: str) -> str:
    return f"def {name}():\n    return {name!r}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = (tmp_path / "repo").resolve()
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(function("app_main"))
    (root / "src" / "util.py").write_text(function("util_helper"))
    return root


async def wait_ready(client: AsyncClient, root: Path, generation: int = 0) -> int:
    """Wait for `generation` and a settled index. The watcher may queue the
    same files again after an `index.reindex` commit (state `indexing` in
    the answer): wait for that work too."""
    with anyio.fail_after(GUARD_S):
        while True:
            status = await client.call(
                m.INDEX_WAIT,
                t.IndexWaitParams(
                    root=str(root), generation=generation, timeout_s=GUARD_S
                ),
            )
            if status.state != "indexing":
                break
            generation = status.generation
    assert status.state == "ready", status
    return status.generation


async def add(client: AsyncClient, root: Path) -> int:
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(root)))
    return await wait_ready(client, root)


async def raw(client: AsyncClient, method: str, **params: Any) -> Any:
    return msgspec.json.decode(await client.call_raw(method, params))


async def snapshots(client: AsyncClient, root: Path) -> list[dict[str, Any]]:
    listing = await raw(client, "snapshot.list", root=str(root))
    return list(listing["snapshots"])


async def until_snapshot(client: AsyncClient, root: Path, kind: str) -> dict[str, Any]:
    with anyio.fail_after(GUARD_S):
        while True:
            found = [s for s in await snapshots(client, root) if s["kind"] == kind]
            if found:
                return found[0]
            await anyio.sleep(0.02)


async def definitions(client: AsyncClient, root: Path, name: str) -> list[str]:
    found = await raw(client, "symbols.definition", root=str(root), name=name)
    return [d["path"] for d in found["definitions"]]


async def changed(client: AsyncClient) -> t.IndexChanged:
    with anyio.fail_after(GUARD_S):
        while True:
            method, params = await client.notifications.receive()
            if method == "index.changed":
                return msgspec.json.decode(params, type=t.IndexChanged)


def db_of(config: Config, root: Path) -> Path:
    state = Path(config.state_dir or "")
    return state / "workspaces" / workspace_id(str(root)) / "index.db"


async def test_round_trip_with_generations_and_notifications(
    client: AsyncClient, repo: Path
) -> None:
    await add(client, repo)
    auto = await until_snapshot(client, repo, "auto")  # after the first index
    assert auto["generation"] >= 1 and len(auto["sha256"]) == 64
    snap = await raw(client, "snapshot.create", root=str(repo), label="before")
    assert snap["label"] == "before" and auto["storage"] == "full"
    # Nothing changed since the automatic one: an empty changeset on it.
    assert snap["storage"] == "incremental" and snap["size_bytes"] == 0
    assert snap["parent"] == snap["base"] == auto["id"]
    (repo / "src" / "app.py").write_text(function("app_renamed"))
    g2 = await wait_ready(client, repo, snap["generation"] + 1)
    assert await definitions(client, repo, "app_renamed") == ["src/app.py"]

    await raw(client, "subscribe", root=str(repo), events=["index.changed"])
    restored = await raw(client, "snapshot.restore", root=str(repo), id=snap["id"])
    assert restored == {"id": snap["id"], "generation": restored["generation"]}
    assert restored["generation"] > g2
    first = await changed(client)  # the restore itself
    assert first.generation == restored["generation"]
    assert ("src/app.py", "modified") in {(c.path, c.change) for c in first.changes}
    second = await changed(client)  # the reconcile with the disk
    assert second.generation > first.generation
    assert [(c.path, c.change) for c in second.changes] == [("src/app.py", "modified")]
    assert await definitions(client, repo, "app_renamed") == ["src/app.py"]

    kinds = {s["kind"] for s in await snapshots(client, repo)}
    assert {"auto", "manual", "pre-restore"} <= kinds  # the restore can be undone
    assert await raw(client, "snapshot.delete", root=str(repo), id=snap["id"]) == {
        "ok": True
    }
    for method in ("snapshot.restore", "snapshot.delete"):
        with pytest.raises(RemoteError) as failure:
            await raw(client, method, root=str(repo), id=snap["id"])
        assert failure.value.code == -32003 and snap["id"] in failure.value.message


async def test_restore_while_a_client_keeps_querying(
    daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    for index in range(30):
        (repo / "src" / f"mod{index}.py").write_text(function(f"helper_{index}"))
    await add(client, repo)
    snap = await raw(client, "snapshot.create", root=str(repo))
    answers: list[int] = []
    done = anyio.Event()

    async def query() -> None:
        async with await AsyncClient.connect(daemon.socket_path) as other:
            while not done.is_set():
                found = await raw(
                    other, "symbols.search", root=str(repo), query="helper", limit=100
                )
                answers.append(len(found["symbols"]))

    async with anyio.create_task_group() as tg:
        tg.start_soon(query)
        for _ in range(3):
            await raw(client, "snapshot.restore", root=str(repo), id=snap["id"])
        await wait_ready(client, repo)
        done.set()
    assert answers and set(answers) == {31}  # never an error, never a torn result


async def test_snapshots_survive_a_restart_and_retention_keeps_n(
    config: Config, repo: Path
) -> None:
    config = with_config(config, snapshots=SnapshotsConfig(keep=2))
    async with run_daemon(config) as client:
        await add(client, repo)
        await until_snapshot(client, repo, "auto")
        manual = await raw(client, "snapshot.create", root=str(repo), label="mine")
        for _ in range(3):  # each restore takes an automatic snapshot first
            await raw(client, "snapshot.restore", root=str(repo), id=manual["id"])
        before = await snapshots(client, repo)
        automatic = [s for s in before if s["kind"] != "manual"]
        # The oldest automatic ones were pruned, except the full base the
        # (incremental) manual one is built on.
        assert manual["storage"] == "incremental"
        assert manual["base"] in {s["id"] for s in automatic}
        assert len([s for s in automatic if s["id"] != manual["base"]]) == 2
        assert manual["id"] in {s["id"] for s in before}  # never a manual one
        generation = (await raw(client, "index.status", root=str(repo)))["generation"]
    async with run_daemon(config) as client:
        await wait_ready(client, repo)
        after = {s["id"]: s for s in await snapshots(client, repo)}
        assert after[manual["id"]] == manual | {"kind": "manual"}  # survives a restart
        restored = await raw(
            client, "snapshot.restore", root=str(repo), id=manual["id"]
        )
        assert restored["generation"] > generation  # never backwards


class run_daemon:  # reads as a function at the call site
    """An in-process daemon and a client of it, stopped on exit."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.daemon = Daemon(config)  # its parts (events...) for assertions

    async def __aenter__(self) -> AsyncClient:
        self._daemon = self.daemon
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        await self._tg.start(self._daemon.run)
        self._client = await AsyncClient.connect(self._daemon.socket_path)
        await self._client.__aenter__()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        await self._client.__aexit__(None, None, None)
        self._daemon.request_stop()
        await self._tg.__aexit__(None, None, None)


def integrity(path: Path) -> str:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return "\n".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


async def test_automatic_snapshots_follow_changes(config: Config, repo: Path) -> None:
    config = with_config(
        config, snapshots=SnapshotsConfig(interval_s=0, check_interval_s=0.05)
    )
    async with run_daemon(config) as client:
        await add(client, repo)
        first = await until_snapshot(client, repo, "auto")
        (repo / "src" / "util.py").write_text(function("util_renamed"))
        generation = await wait_ready(client, repo, first["generation"] + 1)
        with anyio.fail_after(GUARD_S):
            while True:
                listed = await snapshots(client, repo)
                if any(
                    s["kind"] == "auto" and s["generation"] == generation
                    for s in listed
                ):
                    break
                await anyio.sleep(0.02)
        autos = [s for s in await snapshots(client, repo) if s["kind"] == "auto"]
        # One per committed state, never two of the same generation.
        assert len({s["generation"] for s in autos}) == len(autos)
