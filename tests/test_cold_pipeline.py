"""A first index keeps both cores busy from start to end (#16).

At the start, the stat pass hands out what it finds while it crawls, so
parsing starts before the crawl ends; at the end, full `batch_files`
batches while the queue is long, then the last paths split evenly over
the workers and the batch waiting for one, so no worker idles while
another parses the last full batch. A real daemon, a real tree, a real
store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from support import call, with_config

from axd.client.aio import AsyncClient
from axd.daemon.config import IndexConfig
from axd.daemon.events import BatchCommitted, WorkspaceReady
from axd.daemon.index.indexer import MIN_TAIL_BATCH
from axd.daemon.index.planner import STREAM_EVERY, Planner
from axd.daemon.index.rules import WorkspaceRules
from axd.daemon.lifecycle import Daemon
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config

FILES = 200
BATCH = 64


def _tail_sizes(total: int, full: int, lanes: int) -> list[int]:
    """The batch sizes the queue is taken in, worked out by hand: while at
    least `lanes` full batches wait, full ones; then a `lanes`-th of what
    waits (rounded up), never under MIN_TAIL_BATCH."""
    sizes, left = [], total
    while left:
        size = min(left, full, max(MIN_TAIL_BATCH, -(-left // lanes)))
        sizes.append(size)
        left -= size
    return sizes


def _tree(root: Path, files: int) -> None:
    for i in range(files):
        path = root / f"pkg{i % 7}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def f{i}(x):\n    return x + {i}\n")


async def _first_index(
    config: Config, root: Path, batch: int, probe: str = "f0"
) -> tuple[list[list[str]], Any, Any]:
    """The paths of each batch a first index of `root` commits, in order;
    then `index.status` and the definitions of `probe`."""
    cfg = with_config(config, index=IndexConfig(workers=2, batch_files=batch))
    instance = Daemon(cfg, initial_roots=[str(root)])
    batches: list[list[str]] = []
    with instance.events.subscribed() as stream:
        async with anyio.create_task_group() as tg:
            await tg.start(instance.run)
            with anyio.fail_after(120):  # hang guard only
                async for event in stream:
                    if isinstance(event, BatchCommitted) and event.changes:
                        batches.append([c.path for c in event.changes])
                    if isinstance(event, WorkspaceReady):
                        break
            async with await AsyncClient.connect(instance.socket_path) as client:
                status = await call(client, "index.status", root=str(root))
                found = await call(
                    client, "symbols.definition", root=str(root), name=probe
                )
            instance.request_stop()
    return batches, status, found


async def test_a_first_index_ends_in_smaller_batches(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    _tree(root, FILES)
    batches, _, _ = await _first_index(config, root, BATCH)
    sizes = [len(b) for b in batches]
    expected = _tail_sizes(FILES, BATCH, lanes=2 + 1)
    # 64, 46, 30, 20, 16, 16, 8: a worker gets a smaller batch at the end
    # instead of waiting while the other parses a full one.
    assert expected == [64, 46, 30, 20, 16, 16, 8]
    # Parsed batches are committed in the order they finish.
    assert sorted(sizes, reverse=True) == expected, sizes


def test_the_stat_pass_hands_out_what_it_finds_as_it_crawls(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    files = 2 * STREAM_EVERY + 100
    _tree(root, files)
    store = Store.open(tmp_path / "index.db", root=root)
    try:
        planner = Planner(root, store, WorkspaceRules(root), IndexConfig())
        calls: list[tuple[list[str], int]] = []
        plan = planner.reconcile(lambda paths, seen: calls.append((paths, seen)))
        assert [len(paths) for paths, _ in calls] == [STREAM_EVERY, STREAM_EVERY]
        # Handed out in crawl order, each once; the rest is left to the caller.
        handed = [p for paths, _ in calls for p in paths]
        assert handed == plan.changed[: plan.streamed]
        assert plan.streamed == 2 * STREAM_EVERY
        assert len(plan.changed) == files and plan.total == files
        assert all(STREAM_EVERY <= seen <= plan.total for _, seen in calls)
        assert calls[0][1] < calls[1][1]
        # Without a callback, the same plan, nothing handed out.
        again = planner.reconcile()
        assert again.changed == plan.changed and again.streamed == 0
    finally:
        store.close()


async def test_a_streamed_first_index_parses_every_file_once(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    files = 3 * STREAM_EVERY + 37
    _tree(root, files)
    last = files - 1
    batches, status, found = await _first_index(config, root, BATCH, f"f{last}")
    paths = [p for b in batches for p in b]
    assert len(paths) == len(set(paths)) == files  # none lost, none twice
    assert status["files_indexed"] == files and status["queue_depth"] == 0
    assert [d["path"] for d in found["definitions"]] == [f"pkg{last % 7}/mod{last}.py"]
