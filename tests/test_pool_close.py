"""Closing the worker pool leaves no process and no thread behind.

A management thread left running by `shutdown(wait=False)` is joined by the
interpreter at exit without a bound: the process (a test run, a daemon)
could hang after its work was done.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures.process import _ExecutorManagerThread

from axd.daemon.events import Events
from axd.daemon.index.pool import WorkerPool


def manager_threads() -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, _ExecutorManagerThread) and thread.is_alive()
    ]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): it is dead once reaped or a zombie.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


async def test_close_joins_the_executor_thread_and_ends_the_workers() -> None:
    before = manager_threads()
    pool = WorkerPool(2, Events())
    await pool.start()
    pids = pool.pids()
    assert len(pids) == 2
    started = [t for t in manager_threads() if t not in before]
    assert started, "a started pool has a management thread"

    assert pool.close() is True
    assert [t for t in started if t.is_alive()] == []
    assert [pid for pid in pids if alive(pid)] == []


async def test_close_after_a_worker_crash_leaves_no_thread() -> None:
    before = manager_threads()
    events = Events()
    pool = WorkerPool(2, events)
    await pool.start()
    first = pool.pids()
    os.kill(first[0], signal.SIGKILL)
    # The next use may see the broken executor and replace it (the old
    # one retired, a new one started), or run on before it noticed.
    await pool.start()
    threads = [t for t in manager_threads() if t not in before]

    assert pool.close() is True
    assert [t for t in threads if t.is_alive()] == []
    assert [t for t in manager_threads() if t not in before] == []


async def test_a_worker_leaves_a_ctrl_c_to_the_daemon() -> None:
    """SIGINT (Ctrl-C to the daemon's process group) does not end a worker:
    the daemon stops them itself. A worker that took it would die of a
    KeyboardInterrupt before it read its next job."""
    pool = WorkerPool(1, Events())
    try:
        await pool.start()
        [pid] = pool.pids()
        os.kill(pid, signal.SIGINT)
        await pool.start()  # a job on the same lane, after the signal
        assert pool.pids() == [pid]
        assert alive(pid)
    finally:
        assert pool.close() is True
