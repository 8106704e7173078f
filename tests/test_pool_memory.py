"""Worker memory (#16 target 2): recycling, idle stop, bounded caches.

Real worker processes parse real files; the only knobs turned are the
pool's own bounds (an RSS bound of one byte recycles after every batch, an
idle time of a few milliseconds stops the workers as soon as they are idle).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
import msgspec

from axd.daemon.events import Events
from axd.daemon.index import heap, worker
from axd.daemon.index.pool import WorkerPool
from axd.daemon.index.worker import WorkerSettings, WorkItem, process_batch
from axd.daemon.records import FileOutcome
from axd.daemon.store import fts

if TYPE_CHECKING:
    from pathlib import Path

import pytest

GUARD_S = 60  # hang guard only: every wait below is on a state


def settings(root: Path) -> WorkerSettings:
    return WorkerSettings(
        root=str(root),
        max_file_bytes=1 << 20,
        max_line_bytes=5000,
        max_chunk_bytes=4096,
        parse_timeout_ms=5000,
    )


def write_tree(root: Path, files: int) -> list[WorkItem]:
    items = []
    for index in range(files):
        name = f"mod_{index}.py"
        (root / name).write_text(
            f"class Widget{index}:\n"
            f"    def parseFile{index}(self, httpServer):\n"
            f"        return httpServer.readAll{index}()\n",
            encoding="utf-8",
        )
        items.append(WorkItem(name))
    return items


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


async def until(condition: object, what: str) -> None:
    """Wait (bounded) for `condition()`: a process state, polled."""
    assert callable(condition)
    with anyio.fail_after(GUARD_S):
        while not condition():  # noqa: ASYNC110 - process states have no event
            await anyio.sleep(0.01)


async def test_an_oversized_worker_is_recycled_without_losing_a_batch(
    tmp_path: Path,
) -> None:
    items = write_tree(tmp_path, 24)
    events = Events()
    # Every worker is "too large": each batch's executor is retired after it.
    pool = WorkerPool(2, events, max_worker_pss=1)
    try:
        await pool.start()
        first = pool.pids()
        results: list[list[str]] = []

        async def batch(part: list[WorkItem]) -> None:
            outcomes = await pool.run(settings(tmp_path), part)
            results.append([o.status for o in outcomes])

        # Batches in flight together: the ones still running on a retired
        # executor finish there, the next ones start a fresh executor.
        async with anyio.create_task_group() as tg:
            for start in range(0, len(items), 4):
                tg.start_soon(batch, items[start : start + 4])
        assert sorted(len(r) for r in results) == [4] * 6
        assert {s for r in results for s in r} == {"indexed"}
        assert pool.recycles >= 1
        assert pool.restarts == 0, "a recycle is not a crash (no WorkerRestarted)"
        # The retired workers exit once their batches are done.
        await until(lambda: not any(alive(pid) for pid in first), "old workers gone")
        # And the pool goes on, on fresh workers.
        again = await pool.run(settings(tmp_path), items[:2])
        assert [o.status for o in again] == ["indexed"] * 2
    finally:
        assert pool.close() is True


async def test_no_batch_waits_behind_another_in_a_worker(tmp_path: Path) -> None:
    """Batches wait for a free lane in the daemon, not queued in a worker's
    executor: a worker retired after its batch never goes on parsing a batch
    queued behind it beside its lane's fresh worker (#16 target 2, peak)."""
    items = write_tree(tmp_path, 16)
    pool = WorkerPool(1, Events(), max_worker_pss=1)  # retired after each batch
    try:
        async with anyio.create_task_group() as tg:
            for start in range(0, len(items), 4):
                tg.start_soon(pool.run, settings(tmp_path), items[start : start + 4])
        # Queued behind the first in its executor, the other three would have
        # run on the retired worker: one recycle in all.
        assert pool.recycles == 4
    finally:
        assert pool.close() is True


async def test_idle_workers_are_replaced_by_fresh_ones(tmp_path: Path) -> None:
    items = write_tree(tmp_path, 4)
    pool = WorkerPool(2, Events(), idle_s=0.01)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.idle_loop)
            outcomes = await pool.run(settings(tmp_path), items)
            assert [o.status for o in outcomes] == ["indexed"] * 4
            assert pool.languages == {"python"}
            pids = pool.pids()
            assert pids
            await until(lambda: not set(pool.pids()) & set(pids), "replaced")
            await until(lambda: not any(alive(pid) for pid in pids), "exited")
            # One fresh worker, started by the refresh's preload (in a
            # waiter thread: wait for it to end, or the next batch would go
            # to the free lane); the other lane has none until needed.
            await until(lambda: not pool._jobs, "the refresh's preload done")
            fresh = pool.pids()
            assert len(fresh) == 1
            # Counted per worker: the one that ran the batch (the other lane
            # had not started a worker yet).
            assert pool.recycles == 1
            assert pool.restarts == 0
            # The fresh worker serves the next batch: no fork for a save.
            outcomes = await pool.run(settings(tmp_path), items)
            assert [o.status for o in outcomes] == ["indexed"] * 4
            assert pool.pids() == fresh
            # Used again: refreshed again, once, one worker again.
            await until(lambda: not set(pool.pids()) & set(fresh), "replaced")
            await until(lambda: len(pool.pids()) == 1, "a fresh worker started")
            assert pool.recycles == 2
            tg.cancel_scope.cancel()
    finally:
        assert pool.close() is True


async def test_busy_workers_are_not_stopped_as_idle(tmp_path: Path) -> None:
    # idle_s far longer than the test: the loop must leave them alone.
    items = write_tree(tmp_path, 2)
    pool = WorkerPool(1, Events(), idle_s=3600)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(pool.idle_loop)
            await pool.run(settings(tmp_path), items)
            pids = pool.pids()
            await pool.run(settings(tmp_path), items)
            assert pool.pids() == pids
            assert pool.recycles == 0
            tg.cancel_scope.cancel()
    finally:
        assert pool.close() is True


def test_bounded_term_caches_give_the_same_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = write_tree(tmp_path, 30)
    # Non-ASCII text takes the other cache (`_token_terms`).
    (tmp_path / "maße.py").write_text(
        "def größeBerechnen(breiteWert):\n    return breiteWert  # Größe\n",
        encoding="utf-8",
    )
    items.append(WorkItem("maße.py"))
    blob_settings = msgspec.msgpack.encode(settings(tmp_path))
    blob_items = msgspec.msgpack.encode(items)
    fts.clear_term_caches()
    unbounded = process_batch(blob_settings, blob_items)
    assert all(fts.term_cache_entries()), "every cache was used"
    fts.clear_term_caches()
    monkeypatch.setattr(worker, "TERM_CACHE_BYTES", 10)
    bounded = process_batch(blob_settings, blob_items)
    assert fts.term_cache_bytes() == 0, "cleared after the batch"
    assert fts.term_cache_entries() == (0, 0, 0, 0)
    assert records(bounded) == records(unbounded)
    assert len(records(bounded)) == 31


def test_term_caches_are_bounded_after_every_file_not_only_after_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One batch of files with names of their own (a directory of generated
    # tables): the caches must not grow through the whole batch.
    items = write_tree(tmp_path, 12)
    clears: list[int] = []
    real_clear = fts.clear_term_caches

    def counted_clear() -> None:  # observes, then does the real work
        clears.append(fts.term_cache_bytes())
        real_clear()

    fts.clear_term_caches()
    monkeypatch.setattr(fts, "clear_term_caches", counted_clear)
    monkeypatch.setattr(worker, "TERM_CACHE_BYTES", 10)
    blob = process_batch(
        msgspec.msgpack.encode(settings(tmp_path)), msgspec.msgpack.encode(items)
    )
    assert [o.status for o in records(blob)] == ["indexed"] * len(items)
    # Emptied once per file: each file alone passes a 10-byte bound.
    assert len(clears) == len(items)
    assert max(clears) < 2 * min(clears), "never more than about one file's worth"


def records(blob: bytes) -> list[FileOutcome]:
    """The outcomes, without the one field that differs run to run."""
    outcomes = msgspec.msgpack.decode(blob, type=list[FileOutcome])
    return [msgspec.structs.replace(o, parse_ms=0.0) for o in outcomes]


def test_heap_helpers() -> None:
    assert heap.rss_bytes(os.getpid()) > 1 << 20
    assert 1 << 20 < heap.pss_bytes(os.getpid()) <= heap.rss_bytes(os.getpid())
    # A pid that cannot exist (above the kernel's pid_max limit).
    assert heap.rss_bytes(1 << 23) == 0
    assert heap.pss_bytes(1 << 23) == 0
    assert isinstance(heap.trim(), bool)
    assert heap.cap_malloc_arenas() is heap.cap_malloc_arenas()


# Run in a fresh interpreter: whether a 1 MiB block gets its own mapping
# after a 4 MiB one was freed. glibc's default raises its mmap threshold to
# 4 MiB on that free, so the 1 MiB block comes from the heap; with the
# threshold fixed it is mapped. With ``fork`` the check runs in a child forked
# after the setup, as workers fork from the forkserver.
_MAPPED_PROBE = """
import ctypes, ctypes.util, os, sys

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
        "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.mallinfo2.restype = Info
setup, fork = sys.argv[1], sys.argv[2] == "fork"
if setup == "heap":
    from axd.daemon.index import heap
    assert heap.keep_large_blocks_mapped()
elif setup == "forkserver":
    import axd.daemon.index.prebuild as prebuild
    assert prebuild.MALLOC_TUNED

def probe():
    large = bytearray(4 << 20)
    del large
    before = libc.mallinfo2().hblks
    block = bytearray(1 << 20)
    print(libc.mallinfo2().hblks - before, flush=True)
    del block

if fork:
    pid = os.fork()
    if pid == 0:
        probe()
        os._exit(0)
    os.waitpid(pid, 0)
else:
    probe()
"""


def mapped_blocks_gained(setup: str, fork: bool = False) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _MAPPED_PROBE, setup, "fork" if fork else "no"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(
    not hasattr(os, "fork") or not heap.keep_large_blocks_mapped(),
    reason="glibc's mallopt",
)
def test_large_blocks_stay_mapped_in_the_daemon_and_in_forked_workers() -> None:
    # glibc's default: after a large free, a 1 MiB block is in the heap
    # (where, freed, it would stay resident).
    assert mapped_blocks_gained("none") == 0
    assert mapped_blocks_gained("heap") == 1
    # The forkserver sets it before it builds anything; its children
    # inherit it.
    assert mapped_blocks_gained("forkserver", fork=True) == 1


def test_forked_workers_leave_the_prebuilt_objects_to_no_collection() -> None:
    # As the forkserver does: its preload modules, then a fork per worker.
    from axd.daemon.index import forkserver

    code = (
        "import gc, os, sys\n"
        f"for name in {forkserver.PRELOAD_MODULES!r}:\n"
        "    __import__(name)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    print(gc.get_freeze_count(), gc.get_threshold()[0], flush=True)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    frozen, threshold = map(int, done.stdout.split())
    assert frozen > 10_000  # every module and built language
    assert threshold == 10_000
