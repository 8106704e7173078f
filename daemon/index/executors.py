"""Shutting `ProcessPoolExecutor`s down without leaving anything behind.

The worker pool replaces executors (a crashed worker, a worker grown too
large, idle workers); each one it drops must end its processes and its
management thread within a bound, whatever state a killed worker left it in.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeoutError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    import multiprocessing.process
    import threading

log = structlog.get_logger()


def result(future: Future[bytes], executor: ProcessPoolExecutor) -> bytes:
    """`future.result()`, but never forever on an executor with a dead worker.

    The executor notices a dead worker and fails its futures; a worker killed
    at the wrong moment (holding a queue lock) can leave its management
    thread stuck for ever in a read of the half-written result, and every
    batch on that executor would wait for ever. A dead worker (or an
    executor we shut down) seen twice, a second apart, with our job still
    pending: broken.
    """
    # The dict itself: shutdown() drops the executor's reference to it.
    processes = getattr(executor, "_processes", None) or {}
    dead_checks = 0
    while True:
        try:
            return future.result(timeout=1.0)
        except FuturesTimeoutError:
            stopped = bool(getattr(executor, "_shutdown_thread", False))
            if stopped or any(p.exitcode is not None for p in list(processes.values())):
                dead_checks += 1
                if dead_checks >= 2:
                    raise BrokenProcessPool(
                        "a worker died; its batch is lost"
                    ) from None
            else:
                dead_checks = 0


def kill_workers(executor: ProcessPoolExecutor) -> None:
    """End the survivors of a broken executor.

    Their batches are lost anyway, and a survivor keeps the result pipe open,
    so a management thread stuck reading a dead worker's half-written result
    would otherwise never see EOF (nor would the survivor ever exit).
    """
    processes = getattr(executor, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.kill()


# Bounds of a pool's close: workers get this long to exit after SIGTERM
# (then SIGKILL), and an executor's management thread this long to end.
CLOSE_GRACE_S = 2.0
THREAD_JOIN_S = 5.0


def shut_down(executor: ProcessPoolExecutor, *, cancel: bool = True) -> Retired:
    """`shutdown(wait=False)`, keeping what `retire` joins later (shutdown
    forgets the executor's thread and processes). With `cancel` False the
    jobs already submitted still run (and the workers exit after them)."""
    retired = Retired(
        executor,
        getattr(executor, "_executor_manager_thread", None),
        list((getattr(executor, "_processes", None) or {}).values()),
    )
    executor.shutdown(wait=False, cancel_futures=cancel)
    return retired


@dataclass(frozen=True, slots=True)
class Retired:
    """A shut-down executor with its thread and worker processes."""

    executor: ProcessPoolExecutor
    thread: threading.Thread | None
    processes: list[multiprocessing.process.BaseProcess]

    def finished(self) -> bool:
        """Its thread and every process ended (nothing left to join)."""
        thread_done = self.thread is None or not self.thread.is_alive()
        return thread_done and all(p.exitcode is not None for p in self.processes)


def retire(retired: Retired) -> bool:
    """Shut `executor` down leaving no process or thread behind (bounded).

    `shutdown(wait=False)` alone leaves the executor's management thread
    running; the interpreter joins it at exit without a bound, so a thread
    still waiting on a worker (or stuck reading a result a killed worker
    half-wrote) hangs the process's exit. Here the workers are ended
    (SIGTERM, SIGKILL after `CLOSE_GRACE_S`) and the thread joined; one
    stuck in a read is given EOF by closing our end of the result pipe.
    True when the thread ended.
    """
    executor, thread, processes = retired.executor, retired.thread, retired.processes
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            process.terminate()
    deadline = time.monotonic() + CLOSE_GRACE_S
    for process in processes:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join(CLOSE_GRACE_S)
    if thread is None:
        return True
    thread.join(THREAD_JOIN_S)
    if thread.is_alive():
        result_queue = getattr(executor, "_result_queue", None)
        with contextlib.suppress(OSError, AttributeError):
            result_queue._writer.close()  # type: ignore[union-attr]
        thread.join(THREAD_JOIN_S)
    if thread.is_alive():
        log.warning("worker_pool_thread_left", thread=thread.name)
        return False
    return True
