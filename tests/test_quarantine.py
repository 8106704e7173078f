"""A damaged index is moved aside to `quarantine/` with a reason, and the
workspace keeps answering from its newest good snapshot while it re-indexes
what differs; without a snapshot, queries say "not ready", never -32603."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import apsw
import pytest
from support import with_config
from test_snapshots import (
    GUARD_S,
    add,
    db_of,
    definitions,
    function,
    raw,
    run_daemon,
    wait_ready,
)

from axd.client import doctor
from axd.client.connection import RemoteError
from axd.daemon.config import SnapshotsConfig
from axd.daemon.store.quarantine import listing

if TYPE_CHECKING:
    from axd.daemon.config import Config


def damage(db: Path, how: str) -> None:
    size = db.stat().st_size
    if how == "garbage":
        db.write_bytes(os.urandom(size))
    elif how == "truncated":
        with open(db, "r+b") as handle:
            handle.truncate(size // 3)
    else:  # random bytes over the middle, the header intact
        with open(db, "r+b") as handle:
            handle.seek(4096)
            handle.write(os.urandom(max(4096, size - 8192)))


async def until_state(client, root: Path, state: str) -> dict:  # type: ignore[no-untyped-def]
    with anyio.fail_after(GUARD_S):
        while True:
            status = await raw(client, "index.status", root=str(root))
            if status["state"] == state:
                return status
            await anyio.sleep(0.02)


@pytest.mark.parametrize("how", ["garbage", "truncated", "middle"])
async def test_damaged_index_is_quarantined_and_served_from_snapshot(
    config: Config, tmp_path: Path, how: str
) -> None:
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    for index in range(40):
        (repo / "src" / f"m{index}.py").write_text(function(f"fn_{index}") * 20)
    async with run_daemon(config) as client:
        await add(client, repo)
        await raw(client, "snapshot.create", root=str(repo), label="good")
    (repo / "src" / "m1.py").write_text(function("changed_while_stopped"))
    damage(db_of(config, repo), how)

    async with run_daemon(config) as client:
        # Answers at once, from the snapshot, before anything is re-parsed.
        assert set(await definitions(client, repo, "fn_7")) == {"src/m7.py"}
        generation = await wait_ready(client, repo)
        assert await definitions(client, repo, "changed_while_stopped") == ["src/m1.py"]
        assert await definitions(client, repo, "fn_1") == []
        assert generation > 0
    found = listing(Path(config.state_dir or ""))
    assert len(found) == 1
    assert found[0].path.parent.parent.name == "quarantine"
    assert (found[0].path.parent / "reason.txt").read_text().count("reason:") == 1
    report = doctor.Report()  # `axd doctor` lists it
    doctor.check_state_dir(report, Path(config.state_dir or ""))
    (check,) = [c for c in report.checks if c.name == "quarantine"]
    listed = check.data["files"]
    assert [q["path"] for q in listed] == [str(found[0].path)]
    assert listed[0]["reason"] == found[0].reason


async def test_damage_while_serving_is_quarantined_not_an_internal_error(
    config: Config, tmp_path: Path
) -> None:
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    for index in range(60):
        (repo / "src" / f"m{index}.py").write_text(function(f"fn_{index}") * 30)
    # The page cache can hide damage from queries; the periodic quick_check
    # reads the file afresh.
    config = with_config(config, snapshots=SnapshotsConfig(quick_check_interval_s=0.2))
    async with run_daemon(config) as client:
        await add(client, repo)
        await raw(client, "snapshot.create", root=str(repo), label="good")
        checkpoint = apsw.Connection(str(db_of(config, repo)))
        checkpoint.set_busy_timeout(10_000)
        checkpoint.pragma("journal_mode")  # reads the header: WAL
        # Every page into the file (none left in the WAL), then damage it.
        done = checkpoint.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_TRUNCATE)
        assert done == (0, 0)
        checkpoint.close()
        damage(db_of(config, repo), "middle")
        codes: set[int] = set()
        with anyio.fail_after(GUARD_S):
            while not listing(Path(config.state_dir or "")):  # damage seen
                try:
                    await raw(client, "search", root=str(repo), query="fn_5")
                except RemoteError as exc:
                    codes.add(exc.code)
                await anyio.sleep(0.02)
        assert codes <= {-32002}  # not ready while it is replaced, never -32603
        with anyio.fail_after(GUARD_S):
            while True:  # a wait begun on the replaced index answers -32002
                try:
                    await wait_ready(client, repo)
                    break
                except RemoteError as exc:
                    assert exc.code == -32002, exc
                    await anyio.sleep(0.02)
        found = await raw(client, "search", root=str(repo), query="fn_5")
        assert {r["path"] for r in found["results"]} >= {"src/m5.py"}
        health = await raw(client, "health")
        assert health["checks"]["store"]["status"] == "HEALTHY"
    assert len(listing(Path(config.state_dir or ""))) == 1


async def test_without_a_snapshot_queries_say_not_ready_until_rebuilt(
    config: Config, tmp_path: Path
) -> None:
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    for index in range(40):
        (repo / "src" / f"m{index}.py").write_text(function(f"fn_{index}"))
    async with run_daemon(config) as client:
        await add(client, repo)
    # No snapshot to fall back on (the automatic one may not exist yet).
    shutil.rmtree(db_of(config, repo).parent / "snapshots", ignore_errors=True)
    damage(db_of(config, repo), "garbage")
    async with run_daemon(config) as client:
        try:
            found = await definitions(client, repo, "fn_3")
        except RemoteError as exc:  # while the rebuild runs
            assert exc.code == -32002 and "quarantined" in exc.message
        else:  # the rebuild was already done
            assert found == ["src/m3.py"]
        await wait_ready(client, repo)
        assert await definitions(client, repo, "fn_3") == ["src/m3.py"]
        status = await raw(client, "index.status", root=str(repo))
        assert status["state"] == "ready"
