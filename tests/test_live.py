"""The live index end to end: real files change under a real daemon, the index
follows (checked with `index.wait` + a generation), and subscribers hear of
it (`index.changed`, `index.progress`), including the ones too slow to read."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import apsw
import msgspec
import pytest
from support import running, with_config

from axd.client.aio import AsyncClient
from axd.daemon.config import IndexConfig
from axd.daemon.workspaces import workspace_id
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon

# A hang guard for whole waits; each index.wait has its own timeout too.
GUARD_S = 45


class Live:
    """A workspace under a running daemon, seen through one client."""

    def __init__(self, client: AsyncClient, config: Config, root: Path) -> None:
        self.client = client
        self.config = config
        self.root = root
        self.seen: list[t.IndexChanged] = []

    async def add(self) -> int:
        """Add the workspace and wait for its first index; its generation."""
        await self.client.call(
            m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(self.root))
        )
        status = await self.client.call(
            m.INDEX_WAIT, t.IndexWaitParams(root=str(self.root), timeout_s=GUARD_S)
        )
        assert status.state == "ready", status
        return status.generation

    async def status(self) -> t.IndexStatus:
        return await self.client.call(m.INDEX_STATUS, t.RootParams(root=str(self.root)))

    async def generation(self) -> int:
        return (await self.status()).generation

    async def until(self, since: int, done: Callable[[], bool]) -> int:
        """Wait for commits after `since` until `done()`; the last generation."""
        with anyio.fail_after(GUARD_S):
            while True:
                status = await self.client.call(
                    m.INDEX_WAIT,
                    t.IndexWaitParams(
                        root=str(self.root), generation=since + 1, timeout_s=GUARD_S
                    ),
                )
                since = status.generation
                if done():
                    return since

    async def subscribe(self, *events: t.EventName) -> str:
        result = await self.client.call(
            m.SUBSCRIBE, t.SubscribeParams(root=str(self.root), events=list(events))
        )
        return result.subscription

    async def changes_until(
        self, expected: set[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        """Read `index.changed` until every (path, change) in `expected` came."""
        seen: set[tuple[str, str]] = set()
        with anyio.fail_after(GUARD_S):
            while not expected <= seen:
                method, params = await self.client.notifications.receive()
                if method != "index.changed":
                    continue
                note = msgspec.json.decode(params, type=t.IndexChanged)
                self.seen.append(note)
                seen |= {(c.path, c.change) for c in note.changes}
        return seen

    def indexed(self) -> set[str]:
        """Paths the index holds as indexed, read from its SQLite file."""
        return {p for p, status in self.rows().items() if status == "indexed"}

    def rows(self) -> dict[str, str]:
        """Every path in the index and its status."""
        return dict(self._query("SELECT path, status FROM files"))

    def symbols(self) -> set[str]:
        """Every symbol name in the index."""
        return {row[0] for row in self._query("SELECT name FROM symbols")}

    def _query(self, sql: str) -> list[tuple[str, str]]:
        db = (
            Path(self.config.state_dir or "")
            / "workspaces"
            / workspace_id(str(self.root))
            / "index.db"
        )
        conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            return [(str(row[0]), str(row[-1])) for row in conn.execute(sql)]
        finally:
            conn.close()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def function(name: str) -> str:
    return f"def {name}():\n    return {name!r}\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = (tmp_path / "repo").resolve()
    write(root / "src" / "app.py", function("app_main"))
    write(root / "src" / "util.py", function("util_helper"))
    write(root / "src" / "pkg" / "deep.py", function("deep_thing"))
    write(root / "README.md", "# repo\n")
    return root


@pytest.fixture
async def live(
    daemon: Daemon, client: AsyncClient, config: Config, repo: Path
) -> AsyncIterator[Live]:
    workspace = Live(client, config, repo)
    await workspace.add()
    await workspace.subscribe("index.changed")
    yield workspace


ALL = {"src/app.py", "src/util.py", "src/pkg/deep.py", "README.md"}


# -- each kind of change -------------------------------------------------------------


async def test_create_is_added(live: Live) -> None:
    before = await live.generation()
    write(live.root / "src" / "new.py", function("brand_new"))
    await live.until(before, lambda: "src/new.py" in live.indexed())
    await live.changes_until({("src/new.py", "added")})
    assert live.indexed() == ALL | {"src/new.py"}


async def test_create_in_new_nested_directories(live: Live) -> None:
    before = await live.generation()
    write(live.root / "src" / "a" / "b" / "c" / "leaf.py", function("leaf"))
    await live.until(before, lambda: "src/a/b/c/leaf.py" in live.indexed())
    await live.changes_until({("src/a/b/c/leaf.py", "added")})


async def test_modify_is_modified(live: Live) -> None:
    before = await live.generation()
    write(live.root / "src" / "app.py", function("app_renamed"))
    after = await live.until(before, lambda: True)
    seen = await live.changes_until({("src/app.py", "modified")})
    assert ("src/app.py", "deleted") not in seen
    result = await live.client.call(
        m.SYMBOLS_DEFINITION,
        {"root": str(live.root), "name": "app_renamed", "min_generation": after},
    )
    assert [d.path for d in result.definitions] == ["src/app.py"]


async def test_delete_is_deleted(live: Live) -> None:
    before = await live.generation()
    (live.root / "src" / "util.py").unlink()
    await live.until(before, lambda: "src/util.py" not in live.indexed())
    await live.changes_until({("src/util.py", "deleted")})
    assert live.indexed() == ALL - {"src/util.py"}


async def test_rename_file(live: Live) -> None:
    before = await live.generation()
    os.rename(live.root / "src" / "util.py", live.root / "src" / "tools.py")
    await live.until(
        before,
        lambda: live.indexed() == ALL - {"src/util.py"} | {"src/tools.py"},
    )
    await live.changes_until({("src/util.py", "deleted"), ("src/tools.py", "added")})


async def test_move_directory_within_workspace(live: Live) -> None:
    before = await live.generation()
    os.rename(live.root / "src", live.root / "lib")
    expected = {"README.md", "lib/app.py", "lib/util.py", "lib/pkg/deep.py"}
    await live.until(before, lambda: live.indexed() == expected)
    await live.changes_until(
        {("src/pkg/deep.py", "deleted"), ("lib/pkg/deep.py", "added")}
    )


async def test_move_nested_directory_within_workspace(live: Live) -> None:
    before = await live.generation()
    write(live.root / "other" / "keep.py", function("keep"))
    before = await live.until(before, lambda: "other/keep.py" in live.indexed())
    os.rename(live.root / "src" / "pkg", live.root / "other" / "moved")
    await live.until(
        before,
        lambda: (
            {"other/moved/deep.py", "other/keep.py"} <= live.indexed()
            and "src/pkg/deep.py" not in live.indexed()
        ),
    )


async def test_directory_moved_in_from_outside(live: Live, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "tree"
    for i in range(30):
        write(outside / f"m{i % 3}" / f"f{i}.py", function(f"moved_in_{i}"))
    write(outside / "node_modules" / "dep.js", "module.exports = 1;\n")
    (outside / ".gitignore").write_text("node_modules/\n")
    expected = {f"tree/m{i % 3}/f{i}.py" for i in range(30)}
    before = await live.generation()
    # One rename: inotify reports the directory only, never its files.
    os.rename(outside, live.root / "tree")
    await live.until(before, lambda: expected <= live.indexed())
    assert "tree/node_modules/dep.js" not in live.rows()
    await live.changes_until({(p, "added") for p in expected})


async def test_directory_moved_in_below_top_level(live: Live, tmp_path: Path) -> None:
    outside = tmp_path / "outside2"
    for i in range(10):
        write(outside / "x" / f"f{i}.py", function(f"nested_in_{i}"))
    before = await live.generation()
    os.rename(outside, live.root / "src" / "inner")
    expected = {f"src/inner/x/f{i}.py" for i in range(10)}
    await live.until(before, lambda: expected <= live.indexed())


async def test_directory_moved_out_and_deleted(live: Live, tmp_path: Path) -> None:
    before = await live.generation()
    os.rename(live.root / "src" / "pkg", tmp_path / "gone")
    before = await live.until(before, lambda: "src/pkg/deep.py" not in live.indexed())
    await live.changes_until({("src/pkg/deep.py", "deleted")})
    shutil.rmtree(live.root / "src")
    await live.until(before, lambda: live.indexed() == {"README.md"})
    await live.changes_until({("src/app.py", "deleted"), ("src/util.py", "deleted")})


async def test_file_replaced_by_directory_and_back(live: Live) -> None:
    before = await live.generation()
    target = live.root / "src" / "util.py"
    target.unlink()
    write(target / "inner.py", function("inside_a_dir"))
    before = await live.until(
        before,
        lambda: (
            "src/util.py/inner.py" in live.indexed()
            and "src/util.py" not in live.indexed()
        ),
    )
    await live.changes_until(
        {("src/util.py", "deleted"), ("src/util.py/inner.py", "added")}
    )
    shutil.rmtree(target)
    write(target, function("a_file_again"))
    await live.until(
        before,
        lambda: (
            "src/util.py" in live.indexed()
            and "src/util.py/inner.py" not in live.rows()
        ),
    )
    await live.changes_until(
        {("src/util.py/inner.py", "deleted"), ("src/util.py", "added")}
    )


async def test_atomic_save_is_a_modification(live: Live) -> None:
    """An editor writes a temp file and renames it onto the original."""
    before = await live.generation()
    target = live.root / "src" / "app.py"
    for round_ in range(3):
        temporary = target.with_name(f".app.py.{round_}.tmp")
        temporary.write_text(function(f"saved_{round_}"), encoding="utf-8")
        os.replace(temporary, target)
        before = await live.until(
            before,
            lambda: (
                "src/app.py" in live.indexed()
                and not any(".tmp" in p for p in live.rows())
            ),
        )
        result = await live.client.call(
            m.SYMBOLS_DEFINITION, {"root": str(live.root), "name": f"saved_{round_}"}
        )
        assert [d.path for d in result.definitions] == ["src/app.py"]
    await live.changes_until({("src/app.py", "modified")})
    kinds = {
        c.change for note in live.seen for c in note.changes if c.path == "src/app.py"
    }
    assert kinds == {"modified"}, kinds
    assert live.indexed() == ALL


# -- progress, subscriptions, slow subscribers -----------------------------------


async def test_progress_during_first_index(
    daemon: Daemon, client: AsyncClient, config: Config, tmp_path: Path
) -> None:
    root = (tmp_path / "big").resolve()
    for i in range(3000):
        write(root / f"d{i % 30}" / f"f{i}.py", function(f"f{i}") * 3)
    workspace = Live(client, config, root)
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(root)))
    await workspace.subscribe("index.progress")
    notes: list[t.IndexProgress] = []
    with anyio.fail_after(GUARD_S):
        while True:
            method, params = await client.notifications.receive()
            assert method == "index.progress"
            note = msgspec.json.decode(params, type=t.IndexProgress)
            notes.append(note)
            if note.state == "ready":
                break
    assert notes[-1].files_indexed == notes[-1].files_total == 3000
    indexing = [n for n in notes if n.state == "indexing"]
    assert indexing, "no progress while indexing"
    done = [n.files_indexed for n in notes]
    assert done == sorted(done), done
    # Parsing starts while the first crawl runs: `files_total` is what the
    # crawl has kept so far (docs/protocol.md), so it only grows, never past
    # the tree, and nothing is counted indexed before it was counted found.
    totals = [n.files_total for n in notes]
    assert totals == sorted(totals), totals
    assert all(n.files_indexed <= n.files_total <= 3000 for n in notes), notes


async def test_unsubscribe_and_close_end_subscriptions(
    live: Live, daemon: Daemon
) -> None:
    async def subscribers() -> float:
        return await subscriber_count(live.client)

    assert await subscribers() == 1
    async with await AsyncClient.connect(daemon.socket_path) as other:
        for _ in range(3):
            await other.call(
                m.SUBSCRIBE,
                t.SubscribeParams(root=str(live.root), events=["index.changed"]),
            )
        ident = (
            await other.call(
                m.SUBSCRIBE,
                t.SubscribeParams(root=str(live.root), events=["health.changed"]),
            )
        ).subscription
        assert await subscribers() == 5
        await other.call(m.UNSUBSCRIBE, t.UnsubscribeParams(subscription=ident))
        assert await subscribers() == 4
    with anyio.fail_after(GUARD_S):  # the daemon sees the close asynchronously
        while await subscribers() != 1:  # noqa: ASYNC110 - nothing to wait on from outside
            await anyio.sleep(0.01)


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def test_slow_subscriber_is_dropped(config: Config, tmp_path: Path) -> None:
    """A subscriber that never reads is disconnected once its buffer fills;
    everyone else is still served and the daemon's memory stays bounded."""
    # One file per batch: every file is one commit, so one notification.
    config = with_config(config, index=IndexConfig(workers=2, batch_files=1))
    root = (tmp_path / "slow").resolve()
    write(root / "seed.py", function("seed"))
    async with running(config) as (daemon, client):
        live = Live(client, config, root)
        await live.add()
        await live.subscribe("index.changed")
        slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow.connect(str(daemon.socket_path))
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "subscribe",
            "params": {"root": str(root), "events": ["index.changed"]},
        }
        slow.sendall(json.dumps(request).encode() + b"\n")
        # (The daemon runs in this process: block a thread, not the loop.)
        first = await anyio.to_thread.run_sync(_read_line, slow)
        assert b'"subscription"' in first, first
        assert await subscriber_count(client) == 2
        rss_before = _rss_kib()
        # Long paths make big notifications, so the socket's own buffer holds
        # few of them and the daemon's bounded outbox fills.
        deep = "/".join(["d" * 200] * 4)
        files = [f"{deep}/f{i}.py" for i in range(1600)]
        before = await live.generation()
        for i, path in enumerate(files):
            write(root / path, function(f"many_{i}"))
        # Our client keeps being served while the slow one is dropped.
        await live.until(before, lambda: set(files) <= live.indexed())
        assert await subscriber_count(client) == 1
        growth_mib = (_rss_kib() - rss_before) / 1024
        assert growth_mib < 200, f"RSS grew {growth_mib:.0f} MiB"
        # The slow connection was closed: after what was buffered comes EOF.
        received = await anyio.to_thread.run_sync(_drain, slow)
        slow.close()
        assert received < len(files), received
        # Still serving: a change made now is indexed and announced to us.
        before = await live.generation()
        write(root / "after_drop.py", function("after_drop"))
        await live.until(before, lambda: "after_drop.py" in live.indexed())
        await live.changes_until({("after_drop.py", "added")})


def _read_line(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    data = b""
    while b"\n" not in data:
        data += sock.recv(1)
    return data


def _drain(sock: socket.socket) -> int:
    """Read to EOF (a hang guard of 30 s); how many notifications came."""
    sock.settimeout(30)
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    return data.count(b'"method":"index.changed"')


async def subscriber_count(client: AsyncClient) -> float:
    """The `axd_subscribers` gauge (Subscriptions.count) from `metrics`."""
    text = (await client.call(m.METRICS)).text
    line = next(x for x in text.splitlines() if x.startswith("axd_subscribers "))
    return float(line.split()[1])


# -- the CLI -------------------------------------------------------------------


async def test_cli_watch_json(live: Live, daemon: Daemon) -> None:
    command = [
        sys.executable,
        "-c",
        "from axd.client.cli import run; run()",
        "--socket",
        str(daemon.socket_path),
        "--no-start",
        "watch",
        "--json",
        "--root",
        str(live.root),
    ]
    process = await anyio.open_process(command, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    lines = _Lines(process.stdout)
    try:
        # The subscription is live once the daemon counts it.
        with anyio.fail_after(GUARD_S):
            while await subscriber_count(live.client) != 2:
                assert process.returncode is None
                await anyio.sleep(0.02)
        before = await live.generation()
        write(live.root / "src" / "watched.py", function("watched"))
        after = await live.until(before, lambda: "src/watched.py" in live.indexed())
        with anyio.fail_after(GUARD_S):
            note = json.loads(await lines.next())
        assert note["method"] == "index.changed"
        assert note["params"]["root"] == str(live.root)
        assert note["params"]["generation"] == after
        assert {"path": "src/watched.py", "change": "added"} in note["params"][
            "changes"
        ]
        (live.root / "src" / "watched.py").unlink()
        with anyio.fail_after(GUARD_S):
            note = json.loads(await lines.next())
        assert note["params"]["changes"] == [
            {"path": "src/watched.py", "change": "deleted"}
        ]
    finally:
        process.kill()
        await process.wait()


class _Lines:
    """Lines from a byte stream."""

    def __init__(self, stream: anyio.abc.ByteReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def next(self) -> bytes:
        while b"\n" not in self.buffer:
            self.buffer += await self.stream.receive()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line
