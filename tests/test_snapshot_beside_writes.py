"""A full snapshot does not hold the index writer while it copies: a commit
lands while the copy is held in the middle (issue #11: "taken while the
daemon keeps serving and indexing"), the snapshot holds the state of its
start, and the incremental snapshot after it records exactly what was
written meanwhile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
from test_incremental import contents, snapshot_dir
from test_snapshots import (
    GUARD_S,
    HeldCopy,
    add,
    db_of,
    function,
    raw,
    run_daemon,
    until_snapshot,
    wait_ready,
)

from axd.daemon.store import maintenance, snapshots
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from axd.daemon.config import Config


def holds(db: Path, text: bytes) -> bool:
    return text in db.read_bytes()


async def test_a_commit_lands_while_a_full_snapshot_copies(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    for index in range(40):  # a few hundred pages: many copy steps
        (repo / "src" / f"m{index}.py").write_text(function(f"fn_{index}") * 40)
    held = HeldCopy(mid_copy=True)
    monkeypatch.setattr(snapshots, "COPY_STEP_PAGES", 1)
    async with run_daemon(config) as client:
        await add(client, repo)
        await until_snapshot(client, repo, "auto")
    # After a start the record of changes is empty: the next one is full
    # (and the automatic one is not due for a day).
    async with run_daemon(config) as client:
        await wait_ready(client, repo)
        before = (await raw(client, "index.status", root=str(repo)))["generation"]
        monkeypatch.setattr(snapshots, "copy_progress", held)
        result: dict[str, Any] = {}

        async def create() -> None:
            result.update(await raw(client, "snapshot.create", root=str(repo)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(create)
            with anyio.fail_after(GUARD_S):
                await held.entered.wait()
            (repo / "src" / "m3.py").write_text(function("written_during_the_copy"))
            # The writer is free: the edit commits while the copy is held.
            during = await wait_ready(client, repo, before + 1)
            assert not result, "the snapshot finished before the commit"
            held.release.set()
        monkeypatch.setattr(snapshots, "copy_progress", None)
        assert held.steps > 2
        full = result
        assert full["storage"] == "full" and full["generation"] == before < during
        # The next snapshot records exactly the writes made during the copy.
        incremental = await raw(client, "snapshot.create", root=str(repo))
        assert incremental["storage"] == "incremental"
        assert incremental["parent"] == full["id"]
        assert incremental["generation"] == during
        backup = tmp_path / "now.db"
        await raw(client, "db.backup", root=str(repo), path=str(backup))
    directory = snapshot_dir(config, repo)
    with directory.materialised(full["id"]) as copy:
        assert not holds(copy, b"written_during_the_copy")
    with directory.materialised(incremental["id"]) as rebuilt:
        assert contents(rebuilt) == contents(backup)
    assert db_of(config, repo).exists()


def test_a_copy_holds_the_state_of_its_read_transaction(tmp_path: Path) -> None:
    from store_records import plain

    store = Store.open(tmp_path / "index.db")
    try:
        store.apply_batch([plain(f"a{i}.py", "x = 1\n" * 500) for i in range(50)])
        maintenance.backup(store, tmp_path / "then.db")
        reader = snapshots.open_read_state(store.path)
        try:
            steps: list[int] = []

            def write_between_steps(remaining: int, total: int) -> None:
                steps.append(remaining)
                if len(steps) == 1:  # a write commits in the middle of the copy
                    store.apply_batch([plain("late.py", "y = 2\n")], ["a1.py"])

            snapshots.copy_progress = write_between_steps
            snapshots.COPY_STEP_PAGES = 2
            snapshots.copy_from(reader, tmp_path / "copy.db")
        finally:
            snapshots.copy_progress = None
            snapshots.COPY_STEP_PAGES = 4096
            reader.close()
        assert len(steps) > 2
        assert contents(tmp_path / "copy.db") == contents(tmp_path / "then.db")
        assert snapshots.inspect(tmp_path / "copy.db").generation == 1
        assert store.generation == 2
    finally:
        store.close()
