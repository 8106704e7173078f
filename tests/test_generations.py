"""Generations never go backwards (PROTOCOL.md: every generation a client
has seen stays below every later one), on every path that replaces a
workspace's database: recovery of a quarantined index from a snapshot, a
rebuild from scratch, `db.restore`, and `snapshot.import` into a workspace
that exists and into one that was removed. A real daemon each time."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest
from test_quarantine import damage
from test_snapshots import add, db_of, function, raw, run_daemon, wait_ready

from axd.daemon.store import generations

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config


def make_repo(tmp_path: Path) -> Path:
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    for index in range(20):
        (repo / "src" / f"m{index}.py").write_text(function(f"fn_{index}"))
    return repo


async def generation(client: AsyncClient, repo: Path) -> int:
    return int((await raw(client, "index.status", root=str(repo)))["generation"])


async def advance(client: AsyncClient, repo: Path, times: int) -> int:
    """Commit `times` more generations (edits); the last one."""
    seen = await generation(client, repo)
    for step in range(times):
        (repo / "src" / "m0.py").write_text(function(f"edit_{step}"))
        seen = await wait_ready(client, repo, seen + 1)
    return seen


@pytest.mark.parametrize("how", ["garbage", "middle", "truncated"])
@pytest.mark.parametrize("with_snapshot", [True, False])
async def test_recovery_of_a_quarantined_index_goes_forward(
    config: Config, tmp_path: Path, how: str, with_snapshot: bool
) -> None:
    repo = make_repo(tmp_path)
    async with run_daemon(config) as client:
        await add(client, repo)
        if with_snapshot:
            snap = await raw(client, "snapshot.create", root=str(repo))
        seen = await advance(client, repo, 3)  # past the snapshot's
    state = db_of(config, repo).parent
    if with_snapshot:
        assert snap["generation"] < seen
    else:
        shutil.rmtree(state / "snapshots", ignore_errors=True)
    damage(db_of(config, repo), how)
    async with run_daemon(config) as client:
        first = await generation(client, repo)  # from the snapshot, or rebuilding
        assert first > seen
        assert await wait_ready(client, repo) >= first
        assert await advance(client, repo, 1) > first
    assert generations.read_floor(state) > seen


async def test_rebuild_after_damage_without_a_floor_file_goes_forward(
    config: Config, tmp_path: Path
) -> None:
    """A state directory from before the floor file: the snapshots' and the
    damaged file's own generations are the floor."""
    repo = make_repo(tmp_path)
    async with run_daemon(config) as client:
        await add(client, repo)
        snap = await raw(client, "snapshot.create", root=str(repo))
        seen = await advance(client, repo, 2)
    state = db_of(config, repo).parent
    (state / generations.FILE).unlink()
    damage(db_of(config, repo), "middle")
    async with run_daemon(config) as client:
        assert await generation(client, repo) > snap["generation"]
        await wait_ready(client, repo)
        assert await advance(client, repo, 1) > seen


async def test_db_restore_of_an_old_backup_goes_forward(
    config: Config, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path)
    async with run_daemon(config) as client:
        await add(client, repo)
        backup = tmp_path / "old.db"
        await raw(client, "db.backup", root=str(repo), path=str(backup))
        seen = await advance(client, repo, 3)
        restored = await raw(client, "db.restore", root=str(repo), path=str(backup))
        assert restored["generation"] > seen
        assert await generation(client, repo) >= restored["generation"]


async def test_snapshot_import_goes_forward(config: Config, tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    exported = tmp_path / "early.axdsnap"
    async with run_daemon(config) as client:
        await add(client, repo)
        snap = await raw(client, "snapshot.create", root=str(repo))
        await raw(
            client,
            "snapshot.export",
            root=str(repo),
            id=snap["id"],
            path=str(exported),
        )
        seen = await advance(client, repo, 3)
        # Into the workspace that exists.
        imported = await raw(
            client, "snapshot.import", root=str(repo), path=str(exported)
        )
        assert imported["generation"] > seen
        seen = await wait_ready(client, repo)
        # Into the same root once removed (its state kept): still forward.
        await raw(client, "workspace.remove", root=str(repo))
        again = await raw(client, "snapshot.import", root=str(repo), path=str(exported))
        assert again["generation"] > seen
        assert await wait_ready(client, repo) >= again["generation"]
