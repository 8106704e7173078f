"""The daemon's memory bounds (#16 target 2), on real parts.

* parsed records waiting for the writer are bounded by bytes
  (`indexer.PARSED_BYTES_LIMIT`): a bound of one byte still indexes every
  file, and the accounting returns to zero;
* the end-of-first-index relink resolves in steps (`linker.RELINK_STEP`)
  with the same edges as in one step;
* the work queue shares one `Pending` per `add`, and a later forced add
  keeps the path's place; drained from the front, it keeps its order and
  gives back its table;
* the pool trims the daemon's heap while batches run.
"""

from __future__ import annotations

import random
import sys
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest
from store_records import all_edges, importing
from support import call, running, with_config, without_live_events

from axd.daemon.events import Events
from axd.daemon.index import indexer as indexer_module
from axd.daemon.index import pool as pool_module
from axd.daemon.index.pool import WorkerPool
from axd.daemon.index.queue import WorkQueue
from axd.daemon.index.worker import WorkerSettings, WorkItem
from axd.daemon.store import linker
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config

GUARD_S = 120  # hang guard only: every wait below is on a state


def write_modules(root: Path, count: int, *, tag: str = "") -> None:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        (root / f"mod_{index}.py").write_text(
            f"from mod_{(index + 1) % count} import helper{tag}\n\n"
            f"def helper{tag}{index}(value):\n    return value + {index}\n",
            encoding="utf-8",
        )


async def test_parsed_records_bounded_by_bytes_still_index_everything(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One byte: no batch is taken while any parsed record waits for the
    # writer. Small batches, so the bound is hit on every batch.
    monkeypatch.setattr(indexer_module, "PARSED_BYTES_LIMIT", 1)
    config = with_config(
        without_live_events(config),
        index=msgspec.structs.replace(config.index, batch_files=4),
    )
    root = tmp_path / "tree"
    write_modules(root, 60)
    with anyio.fail_after(GUARD_S):
        async with running(config) as (instance, client):
            await call(client, "workspace.add", root=str(root))
            status = await call(client, "index.wait", root=str(root), timeout_s=60)
            assert status["files_indexed"] == 60
            indexer = instance.parts.workspaces.find(str(root)).indexer
            assert indexer._parsed_bytes == 0, "every parsed batch was accounted for"
            hits = await call(
                client, "symbols.definition", root=str(root), name="helper59"
            )
            assert [h["path"] for h in hits["definitions"]] == ["mod_59.py"]
            # Still indexing after the first index: the bound never sticks.
            write_modules(root, 60, tag="_v2_")
            await call(client, "index.reindex", root=str(root))
            await call(client, "index.wait", root=str(root), timeout_s=60)
            hits = await call(
                client, "symbols.definition", root=str(root), name="helper_v2_7"
            )
            assert [h["path"] for h in hits["definitions"]] == ["mod_7.py"]
            assert indexer._parsed_bytes == 0


@pytest.mark.parametrize("step", [1, 3, 1 << 20])
def test_relink_in_steps_gives_the_edges_of_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    rng = random.Random(16)
    names = [f"pkg/m{index}" for index in range(40)]
    outcomes = [
        importing(
            f"{name}.py",
            *(n.replace("/", ".") for n in rng.sample(names, 3)),
            "missing.module",
        )
        for name in names
    ]
    expected_store = Store.open(tmp_path / "one.db", root=tmp_path)
    stepped_store = Store.open(tmp_path / "steps.db", root=tmp_path)
    try:
        # Resolved batch by batch, as live edits do: the reference.
        expected_store.apply_batch(outcomes, [])
        # A bulk first index: links deferred, then resolved in steps.
        monkeypatch.setattr(linker, "RELINK_STEP", step)
        for start in range(0, len(outcomes), 7):
            stepped_store.apply_batch(outcomes[start : start + 7], [], defer_links=True)
        assert stepped_store.relink_all() == 40 * 4
        expected = all_edges(expected_store)
        assert len(expected) == 160
        assert sum(target is not None for _, _, target in expected) == 120
        assert all_edges(stepped_store) == expected
    finally:
        expected_store.close()
        stepped_store.close()


def test_queue_shares_pending_per_add_and_forcing_keeps_the_place() -> None:
    queue = WorkQueue()
    queue.add(["a", "b", "c"], event_time=1.0)
    queue.add(["d"])
    assert queue._pending["a"] is queue._pending["c"]  # one record per add
    assert queue._pending["d"] is not queue._pending["a"]
    queue.add(["b", "e"], force=True)
    assert queue.paths() == ["a", "b", "c", "d", "e"]
    taken = queue.take(10)
    assert taken is not None
    assert taken.paths == ["a", "b", "c", "d", "e"]
    assert taken.forced == {"b", "e"}
    assert taken.event_times == [1.0, 1.0, 1.0]  # b keeps its event's time
    assert queue.take(1) is None


def test_queue_drained_from_the_front_keeps_order_and_gives_back_its_table() -> None:
    # A first index queues every path at once and takes them in batches from
    # the front. Deleted entries stay in a dict's table (every later
    # iteration steps over them: quadratic) and the table never shrinks, so
    # the queue copies itself once as many were taken as remain.
    queue = WorkQueue(limit=1_000_000)
    paths = [f"pkg{index % 97}/file{index}.go" for index in range(100_000)]
    queue.add(paths[:60_000])
    queue.add(paths[60_000:], force=True)
    queue.add(paths[:10], force=True)  # forced again: keep their places
    taken: list[str] = []
    forced: set[str] = set()
    while len(queue) > 1_000:
        batch = queue.take(128)
        assert batch is not None
        taken += batch.paths
        forced |= batch.forced
    assert queue.paths() == paths[len(taken) :]
    assert taken == paths[: len(taken)]
    assert forced == set(paths[:10]) | set(paths[60_000 : len(taken)])
    # Sized for what is left, not for the 100,000 it once held.
    assert sys.getsizeof(queue._pending) < sys.getsizeof(dict.fromkeys(range(10_000)))
    assert queue.take(0) is None
    rest = queue.take(5_000)
    assert rest is not None
    assert rest.paths == paths[len(taken) :]
    assert queue.take(1) is None


@pytest.mark.parametrize(
    ("jobs_per_trim", "busy_run_s", "trimmed"),
    [(1, 0.0, True), (8, 0.0, False), (1, 3600.0, False)],
)
async def test_pool_trims_the_daemon_heap_while_many_batches_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs_per_trim: int,
    busy_run_s: float,
    trimmed: bool,
) -> None:
    # No wait between busy trims, no trim once idle: only busy trims count.
    # With the default (8 batches since the last trim), four batches (a
    # small checkout) never pay for one; nor do batches that have not kept
    # the pool busy for `BUSY_RUN_S` (saves).
    monkeypatch.setattr(pool_module, "BUSY_TRIM_S", 0.0)
    monkeypatch.setattr(pool_module, "BUSY_TRIM_JOBS", jobs_per_trim)
    monkeypatch.setattr(pool_module, "BUSY_RUN_S", busy_run_s)
    monkeypatch.setattr(pool_module, "QUIET_TRIM_S", 3600.0)
    for index in range(32):
        (tmp_path / f"m{index}.py").write_text(f"def f{index}():\n    pass\n")
    settings = WorkerSettings(
        root=str(tmp_path),
        max_file_bytes=1 << 20,
        max_line_bytes=5000,
        max_chunk_bytes=4096,
        parse_timeout_ms=5000,
    )
    pool = WorkerPool(1, Events())
    statuses: list[str] = []

    async def batch(first: int) -> None:
        items = [WorkItem(f"m{index}.py") for index in range(first, first + 8)]
        statuses.extend(o.status for o in await pool.run(settings, items))

    try:
        with anyio.fail_after(GUARD_S):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pool.idle_loop)
                # One worker, four batches at once: three still run when the
                # first ends.
                async with anyio.create_task_group() as batches:
                    for first in range(0, 32, 8):
                        batches.start_soon(batch, first)
                tg.cancel_scope.cancel()
        assert statuses == ["indexed"] * 32
        assert (pool.trims > 0) is trimmed
    finally:
        assert pool.close() is True
