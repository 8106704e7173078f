"""A damaged index is moved aside to `quarantine/` with a reason, and the
workspace keeps answering from its newest good snapshot while it re-indexes
what differs; without a snapshot, queries say "not ready", never -32603."""

from __future__ import annotations

import os
import shutil
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import apsw
import pytest
from support import with_config
from test_snapshots import (
    GUARD_S,
    HeldCopy,
    add,
    db_of,
    definitions,
    function,
    raw,
    run_daemon,
    until_snapshot,
    wait_ready,
)

from axd.client import doctor
from axd.client.connection import RemoteError
from axd.daemon.config import HealthConfig, SnapshotsConfig
from axd.daemon.store import snapshots
from axd.daemon.store.quarantine import listing
from axd.daemon.store.writer import Writer

if TYPE_CHECKING:
    from axd.daemon.config import Config
    from axd.daemon.store.store import BatchResult


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


def doctor_lists(config: Config) -> list[dict[str, str]]:
    report = doctor.Report()  # what `axd doctor` prints
    doctor.check_state_dir(report, Path(config.state_dir or ""))
    (check,) = [c for c in report.checks if c.name == "quarantine"]
    return list(check.data["files"])


async def store_check(client) -> dict:  # type: ignore[no-untyped-def]
    return dict((await raw(client, "health"))["checks"]["store"])


@pytest.mark.parametrize("how", ["middle", "truncated"])
async def test_degraded_naming_the_quarantine_until_reconciled(
    config: Config, tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At open: from the first answer until the reconcile is in place the
    workspace is `degraded` with a reason naming the quarantine, `health`
    says so, queries answer (from the snapshot), `axd doctor` lists the
    file; then `ready` with every change in. The reconcile's writes wait
    until the test has looked once: on a loaded machine it could otherwise
    be over before the first answer."""
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    for index in range(150):
        (repo / "src" / f"m{index}.py").write_text(function(f"fn_{index}") * 10)
    async with run_daemon(config) as client:
        await add(client, repo)
        await raw(client, "snapshot.create", root=str(repo), label="good")
    for index in range(100, 150):  # a reconcile with some work in it
        (repo / "src" / f"m{index}.py").write_text(function(f"new_{index}"))
    damage(db_of(config, repo), how)
    degraded = 0
    config = with_config(config, health=HealthConfig(cache_s=0))  # fresh each time
    looked = anyio.Event()
    apply_batch = Writer.apply_batch

    async def after_a_look(self: Writer, *args: Any, **kwargs: Any) -> BatchResult:
        with anyio.fail_after(GUARD_S):
            await looked.wait()
        return await apply_batch(self, *args, **kwargs)

    monkeypatch.setattr(Writer, "apply_batch", after_a_look)
    async with run_daemon(config) as client:
        with anyio.fail_after(GUARD_S):
            while True:
                # Degraded only ever ends: checked last, it held for the others.
                store = await store_check(client)
                found = await definitions(client, repo, "fn_7")
                status = await raw(client, "index.status", root=str(repo))
                if status["state"] != "degraded":
                    break
                degraded += 1
                assert "index quarantined to " in status["last_error"]
                assert "quarantine" in store["detail"] and store["status"] == "DEGRADED"
                assert set(found) == {"src/m7.py"}  # from the snapshot meanwhile
                listed = doctor_lists(config)
                assert len(listed) == 1 and listed[0]["path"] in status["last_error"]
                looked.set()
                await anyio.sleep(0.01)
        # Never `ready` before every change is in.
        assert status["state"] == "ready", status
        assert await definitions(client, repo, "new_149") == ["src/m149.py"]
        assert await definitions(client, repo, "fn_149") == []
        assert (await store_check(client))["status"] == "HEALTHY"
    assert degraded > 0, "the reconcile was over before the first answer"
    assert len(doctor_lists(config)) == 1


async def test_damage_while_serving_answers_every_request(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Damage found while serving: `degraded` with the reason at once,
    `health` says why; requests meanwhile wait for the replacement (held
    here behind a snapshot being copied) and are answered from it, never
    with an error; `ready` again once recovered, `axd doctor` lists it."""
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    for index in range(60):
        (repo / "src" / f"m{index}.py").write_text(function(f"fn_{index}") * 30)
    # Every snapshot full (so the next one copies); the periodic
    # quick_check reads the file afresh (the page cache can hide damage).
    snaps = SnapshotsConfig(quick_check_interval_s=0.2, chain_max=0)
    config = with_config(config, snapshots=snaps, health=HealthConfig(cache_s=0))
    async with run_daemon(config) as client:
        await add(client, repo)
        await until_snapshot(client, repo, "auto")  # no copy runs from here on
        await raw(client, "snapshot.create", root=str(repo), label="good")
        checkpoint = apsw.Connection(str(db_of(config, repo)))
        checkpoint.set_busy_timeout(10_000)
        checkpoint.pragma("journal_mode")  # reads the header: WAL
        # Every page into the file (none left in the WAL).
        done = checkpoint.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_TRUNCATE)
        assert done == (0, 0)
        checkpoint.close()
        held = HeldCopy()
        monkeypatch.setattr(snapshots, "COPY_STEP_PAGES", 1)
        monkeypatch.setattr(snapshots, "copy_progress", held)
        answers: list[Any] = []
        async with anyio.create_task_group() as tg:

            async def ask(method: str, **params: Any) -> None:
                answers.append(await raw(client, method, **params))

            async def snapshot_meanwhile() -> None:
                try:  # copied from a damaged file: refused, or a good copy
                    await raw(client, "snapshot.create", root=str(repo))
                except RemoteError as exc:
                    assert exc.code == -32002 and "damaged" in exc.message

            tg.start_soon(snapshot_meanwhile)
            with anyio.fail_after(GUARD_S):
                await held.entered.wait()
            damage(db_of(config, repo), "middle")
            with anyio.fail_after(GUARD_S):
                while (store := await store_check(client))["status"] != "DEGRADED":  # noqa: ASYNC110
                    await anyio.sleep(0.02)  # (the daemon is polled: no event here)
            assert store["status"] == "DEGRADED" and "quarantined" in store["detail"]
            for index in range(0, 60, 6):  # some meet damage: they wait
                tg.start_soon(
                    partial(ask, "search", root=str(repo), query=f"fn_{index}")
                )
            tg.start_soon(partial(ask, "index.status", root=str(repo)))
            tg.start_soon(partial(ask, "workspace.list"))
            held.release.set()
        monkeypatch.setattr(snapshots, "copy_progress", None)
        searches = [a for a in answers if "results" in a]
        assert len(searches) == 10 and all(a["results"] for a in searches)
        assert len(answers) == 12  # and no error
        await wait_ready(client, repo)
        found = await raw(client, "search", root=str(repo), query="fn_5")
        assert {r["path"] for r in found["results"]} >= {"src/m5.py"}
        assert (await store_check(client))["status"] == "HEALTHY"
    assert len(doctor_lists(config)) == 1


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
