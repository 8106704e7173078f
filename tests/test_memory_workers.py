"""Workers stay small (#16 target 2): bounded by Pss, recycled for a fork.

Real pool, real forkserver, real parsing. A worker forked from the prebuilt
forkserver has every language ready, so recycling it compiles nothing; and a
worker whose Pss passes the bound after a batch is replaced, so none is
left above it. No wall-clock thresholds: every figure is a process state.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest

from axd.daemon.events import Events
from axd.daemon.index import heap
from axd.daemon.index.languages import LANGUAGES
from axd.daemon.index.pool import WorkerPool
from axd.daemon.index.worker import WorkerSettings, WorkItem
from axd.protocol.config import Config

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="forkserver and /proc are Linux's"
)

GUARD_S = 120  # hang guard only


def settings(root: Path) -> WorkerSettings:
    return WorkerSettings(
        root=str(root),
        max_file_bytes=1 << 21,
        max_line_bytes=5000,
        max_chunk_bytes=4096,
        parse_timeout_ms=60_000,
    )


def write_sources(root: Path, files: int, functions: int) -> list[WorkItem]:
    """Python and Go files full of distinct identifiers: what fills a
    worker's identifier caches and leaves its heap larger after a batch."""
    items = []
    for number in range(files):
        lines = [f"class Holder{number}Kind:"]
        lines += [
            f"    def computeValue{number}x{index}(self, inputBuffer{index}):\n"
            f"        return self.readNextItem{number}x{index}(inputBuffer{index})"
            for index in range(functions)
        ]
        (root / f"mod_{number}.py").write_text(
            "\n".join(lines) + "\n", encoding="utf-8"
        )
        go = [f"package pkg{number}"]
        go += [
            f"func HandleRequest{number}x{index}(responseWriter{index} int) int"
            f" {{ return parseHeader{number}x{index}(responseWriter{index}) }}"
            for index in range(functions)
        ]
        (root / f"mod_{number}.go").write_text("\n".join(go) + "\n", encoding="utf-8")
        items += [WorkItem(f"mod_{number}.py"), WorkItem(f"mod_{number}.go")]
    return items


def own_bytes(pid: int) -> int:
    """Pages only `pid` maps (USS: Private_Clean + Private_Dirty)."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
        for line in handle:
            if line.startswith((b"Private_Clean:", b"Private_Dirty:")):
                total += int(line.split()[1]) * 1024
    return total


async def test_fresh_workers_have_every_language_built() -> None:
    pool = WorkerPool(2, Events())
    try:
        with anyio.fail_after(GUARD_S):
            await pool.start()
            assert await pool.languages_built() == [len(LANGUAGES)] * 2
    finally:
        assert pool.close() is True


async def test_workers_above_the_pss_bound_are_recycled_for_a_fork(
    tmp_path: Path,
) -> None:
    items = write_sources(tmp_path, files=24, functions=400)
    pool = WorkerPool(2, Events())
    try:
        with anyio.fail_after(GUARD_S):
            await pool.start()
            fresh = max(map(heap.pss_bytes, pool.pids()))
            assert fresh > 0
            # A little above a fresh worker: every batch of these files
            # leaves a worker above it, so every batch recycles.
            pool.max_worker_pss = fresh + (2 << 20)
            first = set(pool.pids())
            batches = [items[start : start + 6] for start in range(0, len(items), 6)]
            for batch in batches:
                outcomes = await pool.run(settings(tmp_path), batch)
                assert [o.status for o in outcomes] == ["indexed"] * len(batch)
                # Bounded: no worker the pool still uses holds more than the
                # bound. (Its own pages: an idle worker's Pss rises when a
                # sibling sharing pages with it exits, its own pages do not.)
                for pid in pool.pids():
                    assert own_bytes(pid) <= pool.max_worker_pss
            assert pool.recycles >= len(batches) - 1
            assert pool.restarts == 0, "a recycle is not a crash"
            # The worker that ran them is a new process, with every language
            # built from its first instruction: a recycle compiled nothing.
            # (One batch at a time: they all go to the first idle lane.)
            assert first - set(pool.pids())
            assert await pool.languages_built() == [len(LANGUAGES)] * 2
    finally:
        assert pool.close() is True


async def test_without_a_bound_the_same_batches_recycle_nothing(
    tmp_path: Path,
) -> None:
    # The counter-test: the recycles above are the bound's doing.
    items = write_sources(tmp_path, files=6, functions=400)
    pool = WorkerPool(2, Events(), max_worker_pss=0)
    try:
        with anyio.fail_after(GUARD_S):
            await pool.start()
            first = set(pool.pids())
            for start in range(0, len(items), 6):
                await pool.run(settings(tmp_path), items[start : start + 6])
            assert pool.recycles == 0
            assert set(pool.pids()) == first
    finally:
        assert pool.close() is True


def test_the_old_rss_setting_still_loads() -> None:
    def bound(text: str) -> int:
        config = msgspec.toml.decode(text.encode(), type=Config)
        return config.index.worker_recycle_bytes()

    assert bound("") == 32 << 20
    assert bound("[index]\nworker_max_pss_mb = 64\n") == 64 << 20
    # An old config: loads; its RSS bound no longer applies ...
    assert bound("[index]\nworker_max_rss_mb = 200\n") == 32 << 20
    # ... except 0, which still means "never recycle".
    assert bound("[index]\nworker_max_rss_mb = 0\n") == 0
    assert bound("[index]\nworker_max_pss_mb = 0\n") == 0


async def test_a_recycled_worker_does_not_make_the_pool_look_degraded(
    tmp_path: Path,
) -> None:
    items = write_sources(tmp_path, files=2, functions=400)
    pool = WorkerPool(2, Events())
    try:
        with anyio.fail_after(GUARD_S):
            await pool.start()
            assert pool.alive() == (2, 2)
            pool.max_worker_pss = 1  # the next batch's worker is recycled
            await pool.run(settings(tmp_path), items)
            assert pool.recycles == 1
            assert len(pool.pids()) == 1, "one lane waits for its next batch"
            # Health counts it: it starts with that batch, like a new pool.
            assert pool.alive() == (2, 2)
    finally:
        assert pool.close() is True
