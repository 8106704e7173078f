"""Incremental snapshots end to end: a real daemon, real SQLite files.

A chain of changesets rebuilds exactly the index a full copy taken at the
same generation holds (every table, FTS5's own integrity check); retention
keeps what a kept snapshot is built on; deleting a base makes its dependents
full; a chain ends at `chain_max`; restore and export read through chains.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw
import pytest
from support import with_config
from test_snapshots import (
    add,
    definitions,
    function,
    raw,
    run_daemon,
    snapshots,
    until_snapshot,
    wait_ready,
)

from axd.daemon.config import SnapshotsConfig
from axd.daemon.store.snapshots import SnapshotDir
from axd.daemon.workspaces import workspace_id

if TYPE_CHECKING:
    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = (tmp_path / "repo").resolve()
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(function("app_main"))
    (root / "src" / "util.py").write_text(function("util_helper"))
    return root


def snapshot_dir(config: Config, root: Path) -> SnapshotDir:
    state = Path(config.state_dir or "")
    return SnapshotDir(state / "workspaces" / workspace_id(str(root)) / "snapshots")


def contents(db: Path) -> dict[str, str]:
    """A digest of every row of every ordinary table (FTS5 shadow tables
    included), and FTS5's own integrity check."""
    conn = apsw.Connection(str(db))
    try:
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
        ]
        found = {}
        for name in names:
            digest = hashlib.sha256()
            for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY 1'):
                digest.update(repr(row).encode())
            found[name] = digest.hexdigest()
        return found
    finally:
        conn.close()


async def edit_and_snapshot(
    client: AsyncClient, root: Path, step: int, label: str | None = None
) -> dict[str, Any]:
    """Add a file, change one, delete the previous step's; then a snapshot."""
    # The generation before the edits: read after them, the watcher may
    # already have committed them (a loaded machine), and the reindex of
    # unchanged content then makes no new generation to wait for.
    status = await raw(client, "index.status", root=str(root))
    (root / "src" / f"new{step}.py").write_text(function(f"new_{step}"))
    (root / "src" / "app.py").write_text(function(f"app_{step}"))
    (root / "src" / f"new{step - 1}.py").unlink(missing_ok=True)
    # Asked for rather than left to the watcher: these tests are about what
    # the writer records, not about when file events arrive.
    paths = [f"src/new{step}.py", "src/app.py", f"src/new{step - 1}.py"]
    await raw(client, "index.reindex", root=str(root), paths=paths)
    await wait_ready(client, root, status["generation"] + 1)
    assert await definitions(client, root, f"new_{step}") == [f"src/new{step}.py"]
    return await raw(client, "snapshot.create", root=str(root), label=label)  # type: ignore[no-any-return]


async def test_a_chain_rebuilds_what_a_full_copy_holds(
    config: Config, repo: Path, tmp_path: Path
) -> None:
    async with run_daemon(config) as client:
        await add(client, repo)
        base = await until_snapshot(client, repo, "auto")
        assert base["storage"] == "full"
        parent = base
        for step in range(1, 4):
            snap = await edit_and_snapshot(client, repo, step)
            assert snap["storage"] == "incremental"
            assert (snap["parent"], snap["base"]) == (parent["id"], base["id"])
            assert 0 < snap["size_bytes"] < base["size_bytes"]
            parent = snap
        full = tmp_path / "full.db"  # a full copy at the same generation
        await raw(client, "db.backup", root=str(repo), path=str(full))
        status = await raw(client, "index.status", root=str(repo))
        assert status["generation"] == snap["generation"]
        directory = snapshot_dir(config, repo)
        rebuilt = tmp_path / "rebuilt.db"
        directory.materialise(snap["id"], rebuilt)
        assert contents(rebuilt) == contents(full)

        # A restore reads through the chain (then reconciles with the disk).
        await edit_and_snapshot(client, repo, 4)
        restored = await raw(client, "snapshot.restore", root=str(repo), id=snap["id"])
        assert restored["id"] == snap["id"]
        await wait_ready(client, repo, restored["generation"])
        assert await definitions(client, repo, "new_4") == ["src/new4.py"]
        # export writes the one full database the chain stands for
        out = tmp_path / "out.axdsnap"
        await raw(
            client, "snapshot.export", root=str(repo), id=snap["id"], path=str(out)
        )
        assert out.stat().st_size > base["size_bytes"] // 2


async def test_retention_keeps_bases_and_delete_makes_dependents_full(
    config: Config, repo: Path
) -> None:
    config = with_config(config, snapshots=SnapshotsConfig(keep=1, chain_max=20))
    async with run_daemon(config) as client:
        await add(client, repo)
        base = await until_snapshot(client, repo, "auto")
        mine = await edit_and_snapshot(client, repo, 1, label="mine")
        assert (mine["storage"], mine["parent"]) == ("incremental", base["id"])
        # Two restores, each taking an automatic snapshot first: keep = 1
        # prunes the older one, but never the base `mine` is built on.
        for _ in range(2):
            await raw(client, "snapshot.restore", root=str(repo), id=mine["id"])
        listed = {s["id"]: s for s in await snapshots(client, repo)}
        automatic = [s for s in listed.values() if s["kind"] == "pre-restore"]
        assert base["id"] in listed and mine["id"] in listed
        assert len(automatic) == 1

        # Deleting the base first makes `mine` a full snapshot, same id.
        await raw(client, "snapshot.delete", root=str(repo), id=base["id"])
        listed = {s["id"]: s for s in await snapshots(client, repo)}
        assert base["id"] not in listed
        promoted = listed[mine["id"]]
        assert (promoted["storage"], promoted["parent"]) == ("full", None)
        assert promoted["generation"] == mine["generation"]
        for entry in listed.values():  # nothing points at what is gone
            assert base["id"] not in (entry["parent"], entry["base"])
        restored = await raw(client, "snapshot.restore", root=str(repo), id=mine["id"])
        await wait_ready(client, repo, restored["generation"])
        assert await definitions(client, repo, "new_1") == ["src/new1.py"]


async def test_a_chain_ends_at_chain_max(config: Config, repo: Path) -> None:
    config = with_config(config, snapshots=SnapshotsConfig(chain_max=2))
    async with run_daemon(config) as client:
        await add(client, repo)
        await until_snapshot(client, repo, "auto")
        kinds = [
            (await edit_and_snapshot(client, repo, step))["storage"]
            for step in range(1, 5)
        ]
        assert kinds == ["incremental", "incremental", "full", "incremental"]
