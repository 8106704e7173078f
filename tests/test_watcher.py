"""The watcher under stress and in odd situations: ignore-file edits, the
watch budget, git storms (simulated and real), bursts, a vanished or moved
root, unreadable files and the polling fallback."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import pytest
from support import with_config
from test_live import GUARD_S, Live, function, running, write

from axd.daemon.config import IndexConfig, WatchConfig
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon


@pytest.fixture
async def live(
    daemon: Daemon, client: AsyncClient, config: Config, tmp_path: Path
) -> AsyncIterator[Live]:
    root = (tmp_path / "repo").resolve()
    write(root / "src" / "app.py", function("app_main"))
    write(root / "src" / "gen" / "made.py", function("generated"))
    write(root / "lib" / "util.py", function("util"))
    workspace = Live(client, config, root)
    await workspace.add()
    await workspace.subscribe("index.changed")
    yield workspace


# -- ignore files --------------------------------------------------------------------


@pytest.mark.parametrize("ignore_file", [".gitignore", ".axdignore", "src/.gitignore"])
async def test_ignore_file_edits_move_files_out_and_back_in(
    live: Live, ignore_file: str
) -> None:
    pattern = "gen/\n" if ignore_file.startswith("src/") else "src/gen/\n"
    before = await live.generation()
    write(live.root / ignore_file, pattern)
    before = await live.until(before, lambda: "src/gen/made.py" not in live.indexed())
    await live.changes_until({("src/gen/made.py", "deleted")})
    explained = await live.client.call(
        m.FILES_EXPLAIN,
        t.FilesExplainParams(root=str(live.root), path="src/gen/made.py"),
    )
    assert not explained.indexed
    assert explained.rule is not None and explained.rule.source == ignore_file
    # Changes inside the now ignored directory are not indexed.
    write(live.root / "src" / "gen" / "more.py", function("more"))
    (live.root / ignore_file).write_text("# nothing ignored\n")
    await live.until(
        before,
        lambda: {"src/gen/made.py", "src/gen/more.py"} <= live.indexed(),
    )
    await live.changes_until({("src/gen/made.py", "added")})


async def test_git_info_exclude_edit(live: Live) -> None:
    (live.root / ".git" / "info").mkdir(parents=True)
    before = await live.generation()
    # .git appeared: the watcher re-plans to watch it.
    write(live.root / "lib" / "marker.py", function("marker"))
    before = await live.until(before, lambda: "lib/marker.py" in live.indexed())
    (live.root / ".git" / "info" / "exclude").write_text("lib/\n")
    await live.until(before, lambda: "lib/util.py" not in live.indexed())
    assert not any(p.startswith(".git") for p in live.rows())


# -- the watch budget ------------------------------------------------------------


async def test_ignored_top_level_directory_costs_nothing(
    daemon: Daemon, client: AsyncClient, config: Config, tmp_path: Path
) -> None:
    root = (tmp_path / "budget").resolve()
    write(root / ".gitignore", "node_modules/\nbuild/\n")
    write(root / "main.py", function("main"))
    for i in range(20):
        write(root / "node_modules" / f"pkg{i}" / "index.js", "module.exports = 1;\n")
    write(root / "build" / "out.py", function("built"))
    live = Live(client, config, root)
    await live.add()
    await live.subscribe("index.changed")
    before = await live.generation()
    # A change in an ignored top-level directory, then one that is indexed:
    # once the second is committed, the first has had its chance.
    write(root / "node_modules" / "pkg0" / "index.js", "module.exports = 2;\n")
    write(root / "node_modules" / "fresh.py", function("fresh"))
    write(root / "build" / "out.py", function("built_again"))
    write(root / "sentinel.py", function("sentinel"))
    after = await live.until(before, lambda: "sentinel.py" in live.indexed())
    seen = await live.changes_until({("sentinel.py", "added")})
    assert seen == {("sentinel.py", "added")}
    assert after == before + 1
    assert not any(p.startswith(("node_modules/", "build/")) for p in live.rows())


async def test_new_top_level_directory_is_watched(live: Live) -> None:
    before = await live.generation()
    (live.root / "fresh").mkdir()
    (live.root / "fresh" / "sub").mkdir()
    # Once something at the top level is committed, the re-plan has happened.
    write(live.root / "top.py", function("top"))
    before = await live.until(before, lambda: "top.py" in live.indexed())
    for i in range(3):
        write(live.root / "fresh" / "sub" / f"later{i}.py", function(f"later{i}"))
        path = f"fresh/sub/later{i}.py"
        before = await live.until(before, partial(_has, live, path))
    (live.root / "fresh" / "sub" / "later0.py").unlink()
    await live.until(before, lambda: "fresh/sub/later0.py" not in live.indexed())


async def test_deleting_top_level_files_and_directories(live: Live) -> None:
    write(live.root / "top.py", function("top"))
    before = await live.until(
        await live.generation(), lambda: "top.py" in live.indexed()
    )
    (live.root / "top.py").unlink()
    shutil.rmtree(live.root / "lib")
    await live.until(
        before,
        lambda: live.indexed() == {"src/app.py", "src/gen/made.py"},
    )
    # lib/ may come back and is watched again.
    write(live.root / "lib" / "again.py", function("again"))
    before = await live.until(
        await live.generation() - 1, lambda: "lib/again.py" in live.indexed()
    )
    write(live.root / "lib" / "again.py", function("again_changed"))
    await live.changes_until({("lib/again.py", "modified")})


# -- version-control storms ---------------------------------------------------------


async def test_git_lock_holds_changes_until_released(
    live: Live, daemon: Daemon, tmp_path: Path
) -> None:
    (live.root / ".git").mkdir()
    # A second workspace is the clock: once its change is committed, this
    # one's watcher has seen the changes made before it.
    other = Live(live.client, live.config, (tmp_path / "other").resolve())
    write(other.root / "o.py", function("o"))
    await other.add()
    before = await live.generation()
    write(live.root / "src" / "pre.py", function("pre"))  # also re-plans for .git
    before = await live.until(before, lambda: "src/pre.py" in live.indexed())
    lock = live.root / ".git" / "index.lock"
    lock.write_text("")
    # Make sure the watcher saw the lock before the rewrite starts.
    other_gen = await other.generation()
    write(other.root / "clock0.py", function("clock0"))
    other_gen = await other.until(other_gen, lambda: "clock0.py" in other.indexed())
    for i in range(100):
        write(live.root / "src" / f"co{i}.py", function(f"checked_out_{i}"))
    (live.root / "src" / "app.py").unlink()
    write(other.root / "clock1.py", function("clock1"))
    await other.until(other_gen, lambda: "clock1.py" in other.indexed())
    assert await live.generation() == before, "committed during the checkout"
    assert "src/app.py" in live.indexed()
    lock.unlink()
    expected = {f"src/co{i}.py" for i in range(100)} | {"src/pre.py"}
    expected |= {"src/gen/made.py", "lib/util.py"}
    after = await live.until(before, lambda: live.indexed() == expected)
    # Held changes go out together.
    assert after <= before + 2, (before, after)


def _has(live: Live, path: str) -> bool:
    return path in live.indexed()


def _holds(live: Live, files: set[str], symbols: set[str]) -> bool:
    return live.indexed() == files and live.symbols() == symbols


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
async def test_real_git_checkout_leaves_a_consistent_index(
    daemon: Daemon, client: AsyncClient, config: Config, tmp_path: Path
) -> None:
    root = (tmp_path / "gitrepo").resolve()
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    for i in range(500):
        write(root / f"pkg{i % 5}" / f"m{i}.py", function(f"main_{i}"))
    write(root / "only_main.py", function("only_main"))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "main")
    _git(root, "checkout", "-q", "-b", "feature")
    for i in range(500):
        write(root / f"pkg{i % 5}" / f"m{i}.py", function(f"feature_{i}"))
    (root / "only_main.py").unlink()
    write(root / "newdir" / "only_feature.py", function("only_feature"))
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "feature")
    _git(root, "checkout", "-q", "main")
    live = Live(client, config, root)
    await live.add()
    main_files = {f"pkg{i % 5}/m{i}.py" for i in range(500)} | {"only_main.py"}
    assert live.indexed() == main_files
    feature_files = main_files - {"only_main.py"} | {"newdir/only_feature.py"}
    for branch, files, prefix in (
        ("feature", feature_files, "feature"),
        ("main", main_files, "main"),
    ):
        wanted = {f"{prefix}_{i}" for i in range(500)}
        before = await live.generation()
        _git(root, "checkout", "-q", branch)
        await live.until(
            before,
            partial(_holds, live, files, wanted | {f"only_{prefix}"}),
        )
        result = await client.call(
            m.SYMBOLS_DEFINITION, {"root": str(root), "name": f"{prefix}_499"}
        )
        assert [d.path for d in result.definitions] == ["pkg4/m499.py"]


# -- bursts -----------------------------------------------------------------------


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def test_burst_of_5000_files_created_then_deleted(live: Live) -> None:
    burst = 5000
    rss_before = _rss_kib()
    deepest = 0

    async def sample() -> None:
        nonlocal deepest
        while True:
            deepest = max(deepest, (await live.status()).queue_depth)
            await anyio.sleep(0.01)

    base = live.indexed()
    async with anyio.create_task_group() as tg:
        tg.start_soon(sample)
        before = await live.generation()
        for i in range(burst):
            write(live.root / "src" / "burst" / f"b{i // 500}" / f"f{i}.py", "x = 1\n")
        before = await live.until(
            before, lambda: len(live.indexed()) == len(base) + burst
        )
        await anyio.to_thread.run_sync(shutil.rmtree, live.root / "src" / "burst")
        await live.until(before, lambda: live.indexed() == base)
        tg.cancel_scope.cancel()
    # The queue holds each path once; batches taken from it and not yet
    # committed count too (a file changed again while its batch is parsed
    # is queued again): at most a few batches of `batch_files`.
    in_flight = 8 * IndexConfig().batch_files
    assert deepest <= burst + len(base) + in_flight, deepest
    # The directories' own deletions may come a watcher step after the last
    # file's: wait for the queue to drain rather than read it at once.
    status = await live.client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(live.root), timeout_s=GUARD_S)
    )
    assert status.queue_depth == 0
    growth_mib = (_rss_kib() - rss_before) / 1024
    assert growth_mib < 300, f"RSS grew {growth_mib:.0f} MiB over the burst"


# -- the root itself --------------------------------------------------------------


async def _watcher_check(client: AsyncClient, wanted: str = "") -> t.HealthCheck:
    """The watcher check, once its detail mentions `wanted` (reports are
    cached for `health.cache_s`, so a fresh one may take a moment)."""
    with anyio.fail_after(GUARD_S):
        while True:
            check = (await client.call(m.HEALTH)).checks["watcher"]
            if wanted in check.detail:
                return check
            await anyio.sleep(0.05)


async def _state(live: Live) -> str:
    listing = await live.client.call(m.WORKSPACE_LIST)
    return next(w.state for w in listing.workspaces if w.root == str(live.root))


async def test_deleted_root_is_an_error_then_recovers(live: Live) -> None:
    shutil.rmtree(live.root)
    with anyio.fail_after(GUARD_S):
        while await _state(live) != "error":
            await live.client.call(
                m.INDEX_WAIT, t.IndexWaitParams(root=str(live.root), timeout_s=GUARD_S)
            )
    check = await _watcher_check(live.client, "no longer exists")
    assert check.status == "DEGRADED", check
    assert str(live.root) in check.detail
    status = await live.status()
    assert status.state == "error" and "no longer exists" in (status.last_error or "")
    # Queries still answer (from what was indexed).
    await live.client.call(m.SEARCH, {"root": str(live.root), "query": "app_main"})
    write(live.root / "back.py", function("back"))
    with anyio.fail_after(GUARD_S):
        while (await live.status()).state == "error":
            await live.client.call(
                m.INDEX_WAIT, t.IndexWaitParams(root=str(live.root), timeout_s=GUARD_S)
            )
            await anyio.sleep(0.05)  # the root's return is polled
    await live.client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(live.root), timeout_s=GUARD_S)
    )
    assert live.indexed() == {"back.py"}
    assert (await _watcher_check(live.client, "1 native")).status == "HEALTHY"
    before = await live.generation()
    write(live.root / "src" / "later.py", function("later"))
    await live.until(before, lambda: "src/later.py" in live.indexed())


async def test_moved_root_is_an_error_and_moving_it_back_recovers(
    live: Live, tmp_path: Path
) -> None:
    away = tmp_path / "away"
    os.rename(live.root, away)
    with anyio.fail_after(GUARD_S):
        while await _state(live) != "error":  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.05)
    await _watcher_check(live.client, "no longer exists")
    # The index was not emptied while the tree was elsewhere.
    assert live.indexed() == {"src/app.py", "src/gen/made.py", "lib/util.py"}
    write(away / "lib" / "while_away.py", function("while_away"))
    os.rename(away, live.root)
    with anyio.fail_after(GUARD_S):
        while await _state(live) == "error":  # noqa: ASYNC110 - the return is polled
            await anyio.sleep(0.05)
    await live.client.call(
        m.INDEX_WAIT, t.IndexWaitParams(root=str(live.root), timeout_s=GUARD_S)
    )
    assert "lib/while_away.py" in live.indexed()
    before = await live.generation()
    write(live.root / "lib" / "after.py", function("after"))
    await live.until(before, lambda: "lib/after.py" in live.indexed())


# -- unreadable files -------------------------------------------------------------


async def test_chmod_unreadable(live: Live) -> None:
    target = live.root / "src" / "app.py"
    target.chmod(0)
    try:
        readable = os.access(target, os.R_OK)
        if readable:
            pytest.skip("running as root: chmod 000 does not stop reads")
        before = await live.generation()
        write(live.root / "src" / "touch.py", function("touch"))
        await live.until(before, lambda: "src/touch.py" in live.indexed())
    finally:
        target.chmod(0o644)


# -- polling ---------------------------------------------------------------------


async def test_forced_polling_still_follows_changes(
    config: Config, tmp_path: Path
) -> None:
    config = with_config(
        config,
        watch=WatchConfig(
            force_polling=True, debounce_ms=20, step_ms=20, poll_interval_ms=50
        ),
    )
    root = (tmp_path / "polled").resolve()
    write(root / "src" / "a.py", function("polled_a"))
    async with running(config) as (_daemon, client):
        live = Live(client, config, root)
        await live.add()
        check = await _watcher_check(client, "polling")
        assert "force_polling is set" in check.detail, check
        before = await live.generation()
        write(root / "src" / "b.py", function("polled_b"))
        before = await live.until(before, lambda: "src/b.py" in live.indexed())
        (root / "src" / "a.py").unlink()
        write(root / "newtop" / "c.py", function("polled_c"))
        await live.until(
            before,
            lambda: live.indexed() == {"src/b.py", "newtop/c.py"},
        )


async def test_forced_polling_is_degraded(config: Config, tmp_path: Path) -> None:
    config = with_config(
        config, watch=WatchConfig(force_polling=True, poll_interval_ms=50)
    )
    root = (tmp_path / "polled").resolve()
    write(root / "a.py", function("a"))
    async with running(config) as (_daemon, client):
        await Live(client, config, root).add()
        check = await _watcher_check(client, "polling")
        assert check.status == "DEGRADED", check
        assert "force_polling is set" in check.detail, check
