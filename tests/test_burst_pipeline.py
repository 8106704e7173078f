"""A burst of live changes is split over the workers (#16 target 5c): 200
files queued at once on a ready workspace go out in batches a sixth of the
queue each (two rounds of two workers and the batch waiting for one), not
one full `batch_files` batch for one worker while the other idles; and
every file is committed once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from support import call, with_config

from axd.client.aio import AsyncClient
from axd.daemon.config import IndexConfig
from axd.daemon.events import BatchCommitted, WorkspaceReady
from axd.daemon.index.indexer import MIN_TAIL_BATCH
from axd.daemon.lifecycle import Daemon

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config

FILES = 200
BATCH = 128


def _tree(root: Path, files: int) -> list[str]:
    paths = []
    for i in range(files):
        path = root / f"pkg{i % 7}" / f"mod{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def f{i}(x):\n    return x + {i}\n")
        paths.append(str(path.relative_to(root)))
    return paths


async def test_a_live_burst_is_split_over_the_workers(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    paths = _tree(root, FILES)
    cfg = with_config(config, index=IndexConfig(workers=2, batch_files=BATCH))
    instance = Daemon(cfg, initial_roots=[str(root)])
    batches: list[list[str]] = []
    with instance.events.subscribed() as stream:
        async with anyio.create_task_group() as tg:
            await tg.start(instance.run)
            with anyio.fail_after(120):  # hang guard only
                async for event in stream:
                    if isinstance(event, WorkspaceReady):
                        break
                async with await AsyncClient.connect(instance.socket_path) as client:
                    # All at once, as a burst lands in the queue; forced so
                    # every file is parsed and committed again.
                    queued = await call(
                        client, "index.reindex", root=str(root), paths=paths, force=True
                    )
                    assert queued["queued"] == FILES
                    done: set[str] = set()
                    async for event in stream:
                        if isinstance(event, BatchCommitted) and event.changes:
                            batches.append([c.path for c in event.changes])
                            done |= {c.path for c in event.changes}
                            if done >= set(paths):
                                break
            instance.request_stop()
    sizes = sorted((len(b) for b in batches), reverse=True)
    # A sixth of what waits each time (never under MIN_TAIL_BATCH): two
    # rounds for the two workers and the batch waiting for one, so the
    # writer commits the first while the second is parsed. Before: 128 + 72.
    assert max(sizes) < BATCH
    assert sizes[0] == -(-FILES // 6)
    assert all(s >= MIN_TAIL_BATCH for s in sizes[:-1])
    assert sum(sizes) == FILES and len({p for b in batches for p in b}) == FILES
