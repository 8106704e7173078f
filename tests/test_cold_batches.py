"""The batches of a first index (#16, both cores busy to the end): full
`batch_files` batches while the queue is long, then the last paths split
evenly over the workers and the batch waiting for one, so no worker idles
while another parses the last full batch. A real daemon, a real tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from support import with_config

from axd.daemon.config import IndexConfig
from axd.daemon.events import BatchCommitted, WorkspaceReady
from axd.daemon.index.indexer import MIN_TAIL_BATCH
from axd.daemon.lifecycle import Daemon

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


async def test_a_first_index_ends_in_smaller_batches(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    for i in range(FILES):
        path = root / f"pkg{i % 7}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def f{i}(x):\n    return x + {i}\n")
    cfg = with_config(config, index=IndexConfig(workers=2, batch_files=BATCH))
    instance = Daemon(cfg, initial_roots=[str(root)])
    sizes: list[int] = []
    with instance.events.subscribed() as stream:
        async with anyio.create_task_group() as tg:
            await tg.start(instance.run)
            with anyio.fail_after(120):  # hang guard only
                async for event in stream:
                    if isinstance(event, BatchCommitted) and event.changes:
                        sizes.append(len(event.changes))
                    if isinstance(event, WorkspaceReady):
                        break
            instance.request_stop()
    expected = _tail_sizes(FILES, BATCH, lanes=2 + 1)
    # 64, 46, 30, 20, 16, 16, 8: a worker gets a smaller batch at the end
    # instead of waiting while the other parses a full one.
    assert expected == [64, 46, 30, 20, 16, 16, 8]
    # Parsed batches are committed in the order they finish.
    assert sorted(sizes, reverse=True) == expected, sizes
