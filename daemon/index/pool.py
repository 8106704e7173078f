"""A pool of chunking worker processes with crash isolation.

tree-sitter holds the GIL while parsing, so parallelism comes from
processes. A worker that dies (segfault, OOM kill, `kill -9`) breaks the
executor; the pool then starts a fresh one and re-runs the failed batch one
file at a time on a one-process executor of its own, so only the file that
crashes a worker again, alone, is recorded as `parse_failed` — never retried
forever, never taking its batch (or another batch) with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import sys
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeoutError
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import msgspec
import structlog

from axd.daemon.events import WorkerRestarted
from axd.daemon.index.languages import LANGUAGES, detect_language
from axd.daemon.index.worker import (
    WorkerSettings,
    WorkItem,
    exit_with,
    log_shortfalls,
    preload,
    process_batch,
    warm_up,
)
from axd.daemon.records import FileOutcome

if TYPE_CHECKING:
    import threading
    from collections.abc import Sequence

    from axd.daemon.events import Events

log = structlog.get_logger()

_items_encoder = msgspec.msgpack.Encoder()
_outcomes_decoder = msgspec.msgpack.Decoder(list[FileOutcome])


def _result(future: Future[bytes], executor: ProcessPoolExecutor) -> bytes:
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
            shut_down = bool(getattr(executor, "_shutdown_thread", False))
            if shut_down or any(
                p.exitcode is not None for p in list(processes.values())
            ):
                dead_checks += 1
                if dead_checks >= 2:
                    raise BrokenProcessPool(
                        "a worker died; its batch is lost"
                    ) from None
            else:
                dead_checks = 0


def _kill_workers(executor: ProcessPoolExecutor) -> None:
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


def _shut_down(executor: ProcessPoolExecutor) -> Retired:
    """`shutdown(wait=False)`, keeping what `_retire` joins later (shutdown
    forgets the executor's thread and processes)."""
    retired = Retired(
        executor,
        getattr(executor, "_executor_manager_thread", None),
        list((getattr(executor, "_processes", None) or {}).values()),
    )
    executor.shutdown(wait=False, cancel_futures=True)
    return retired


@dataclass(frozen=True, slots=True)
class Retired:
    """A shut-down executor with its thread and worker processes."""

    executor: ProcessPoolExecutor
    thread: threading.Thread | None
    processes: list[multiprocessing.process.BaseProcess]


def _retire(retired: Retired) -> bool:
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


def _crashed_outcome(root: str, path: str) -> FileOutcome:
    """`parse_failed` for a file that crashes a worker, with its size and
    mtime: a warm restart must see it unchanged and not crash on it again."""
    language = detect_language(path, b"")
    spec = LANGUAGES.get(language) if language else None
    try:
        info = os.stat(os.path.join(root, path))
    except OSError:
        size = mtime_ns = 0
    else:
        size, mtime_ns = info.st_size, info.st_mtime_ns
    return FileOutcome(
        path=path,
        status="skipped",
        language=language,
        size=size,
        mtime_ns=mtime_ns,
        skip_reason="parse_failed",
        detail="a worker process crashed while parsing this file, in its batch and again alone",
        extractor_version=spec.extractor_version if spec else 0,
    )


class PoolClosedError(Exception):
    """The pool was shut down."""


def _context() -> multiprocessing.context.BaseContext:
    # fork() from a process with threads (ours has the event loop's helper
    # threads) is unsafe; forkserver forks from a clean single-threaded server.
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


# glibc's mallopt parameter for the number of malloc arenas.
_M_ARENA_MAX = -8
_ARENAS = 2


def cap_malloc_arenas() -> bool:
    """Limit this process to `_ARENAS` glibc malloc arenas; False elsewhere.

    The daemon decodes worker results in up to ``4 x size`` waiter threads
    and writes and reads in others; glibc gives each thread its own arena,
    and each arena keeps its high-water mark after the memory is freed
    (by another thread, later). On a 100k-file cold index that was ~250 MB
    of the daemon's RSS in ~13 arenas, growing with the run; with two
    arenas the freed memory is reused (#16, perf/RESULTS.md). Threads that
    already have an arena keep it, so call this before starting threads.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, _ARENAS))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False


class WorkerPool:
    """Batches of paths in, `FileOutcome`s out, on `size` processes."""

    def __init__(self, size: int, events: Events) -> None:
        # One pool per daemon, made while it is assembled (before its
        # threads): the decode threads below are what multiplies arenas.
        cap_malloc_arenas()
        self.size = max(1, size)
        # Told of every replaced worker (`WorkerRestarted`); metrics count them.
        self.events = events
        self.restarts = 0
        self.recent_crashes: list[float] = []  # monotonic times, for health
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0  # which executor a job ran on
        self._closed = False
        # Jobs waiting on futures each hold a thread; bound them.
        self._waiters = anyio.CapacityLimiter(self.size * 4)
        # A one-process executor for re-running a broken batch file by file.
        self._isolation: ProcessPoolExecutor | None = None
        self._isolating = anyio.Lock()
        # Executors shut down while running (broken ones): `close` joins
        # what they left (their threads end on their own, normally).
        self._retired: list[Retired] = []

    def _ensure(self) -> ProcessPoolExecutor:
        if self._closed:
            raise PoolClosedError("worker pool is closed")
        if self._executor is None:
            self._executor = self._new_executor(self.size)
            self._generation += 1
        return self._executor

    @staticmethod
    def _new_executor(size: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=size,
            mp_context=_context(),
            initializer=exit_with,
            initargs=(os.getpid(),),
        )

    @property
    def started(self) -> bool:
        """Whether worker processes have been started."""
        return self._executor is not None

    async def start(self) -> None:
        """Start the processes now, so the first batch does not pay for it."""
        executor = self._ensure()
        generation = self._generation
        try:
            futures = [executor.submit(warm_up) for _ in range(self.size)]
            await anyio.to_thread.run_sync(
                lambda: [f.result() for f in futures], limiter=self._waiters
            )
        except (BrokenProcessPool, CancelledError, RuntimeError) as exc:
            # A worker died at start: the first batch starts a fresh executor.
            # Never fatal to the daemon this runs in.
            if self._closed:
                return
            log.warning("worker_pool_start_failed", error=str(exc))
            self._replace(generation)

    async def preload(self, languages: list[str]) -> None:
        """Have the workers build these languages' parsers and queries now
        (`worker.preload`), one task per worker; best effort."""
        if self._closed or not languages:
            return
        executor = self._ensure()
        try:
            futures = [executor.submit(preload, languages) for _ in range(self.size)]
            await anyio.to_thread.run_sync(
                lambda: [f.result() for f in futures], limiter=self._waiters
            )
        except (BrokenProcessPool, CancelledError, RuntimeError) as exc:
            log.debug("worker_preload_failed", error=str(exc))

    def alive(self) -> tuple[int, int]:
        """(live worker processes, expected)."""
        executor = self._executor
        processes = getattr(executor, "_processes", None) or {}
        live = sum(1 for p in processes.values() if p.is_alive())
        return live, self.size

    async def run(
        self, settings: WorkerSettings, items: Sequence[WorkItem]
    ) -> list[FileOutcome]:
        """Process a batch; a worker crash costs only the file that caused it."""
        settings_blob = msgspec.msgpack.encode(settings)
        try:
            batch = await self._submit(settings_blob, items)
        except BrokenProcessPool:
            pass
        else:
            log_shortfalls(batch)
            return batch
        # Isolate the culprit: every file alone, on a one-process executor of
        # its own. A crash there can only be that file's (on the shared
        # executor, another batch's crasher would take an innocent file down
        # with it). One isolation at a time keeps that executor to itself.
        outcomes: list[FileOutcome] = []
        async with self._isolating:
            try:
                for item in items:
                    try:
                        outcomes += await self._solo(settings_blob, item)
                    except BrokenProcessPool:
                        log.error("worker_crashed_on_file", path=item.path)
                        outcomes.append(_crashed_outcome(settings.root, item.path))
            finally:
                self._close_isolation()
        log_shortfalls(outcomes)
        return outcomes

    async def _solo(self, settings_blob: bytes, item: WorkItem) -> list[FileOutcome]:
        """One file on the isolation executor.

        :raises BrokenProcessPool: its worker died (the executor is replaced).
        """
        if self._closed:
            raise PoolClosedError("worker pool is closed")
        if self._isolation is None:
            self._isolation = self._new_executor(1)
        executor = self._isolation
        try:
            future: Future[bytes] = executor.submit(
                process_batch, settings_blob, _items_encoder.encode([item])
            )
            blob = await anyio.to_thread.run_sync(
                _result, future, executor, limiter=self._waiters, abandon_on_cancel=True
            )
        except (BrokenProcessPool, CancelledError, RuntimeError) as exc:
            if self._closed:
                raise PoolClosedError("worker pool is closed") from exc
            self._close_isolation()
            self._crashed()
            raise BrokenProcessPool(str(exc)) from exc
        return _outcomes_decoder.decode(blob)

    def _close_isolation(self) -> None:
        executor, self._isolation = self._isolation, None
        if executor is not None:
            self._retired.append(_shut_down(executor))

    async def _submit(
        self, settings_blob: bytes, items: Sequence[WorkItem]
    ) -> list[FileOutcome]:
        executor = self._ensure()
        generation = self._generation
        try:
            future: Future[bytes] = executor.submit(
                process_batch, settings_blob, _items_encoder.encode(list(items))
            )
        except (BrokenProcessPool, RuntimeError) as exc:
            if self._closed:
                raise PoolClosedError("worker pool is closed") from exc
            self._replace(generation)
            raise BrokenProcessPool(str(exc)) from exc
        try:
            # Decoded in the waiter thread too: a batch's records are large,
            # and the event loop has queries to answer.
            return await anyio.to_thread.run_sync(
                lambda: _outcomes_decoder.decode(_result(future, executor)),
                limiter=self._waiters,
                abandon_on_cancel=True,
            )
        except (BrokenProcessPool, CancelledError) as exc:
            # CancelledError: another job saw the breakage first and shut
            # this executor down with our job still queued.
            if self._closed:
                raise PoolClosedError("worker pool is closed") from exc
            self._replace(generation)
            raise BrokenProcessPool(str(exc)) from exc

    def _replace(self, generation: int) -> None:
        # Several jobs may see the same breakage; replace the executor once.
        if generation == self._generation and self._executor is not None:
            old, self._executor = self._executor, None
            _kill_workers(old)
            self._retired.append(_shut_down(old))
            self._crashed()

    def _crashed(self) -> None:
        # Once per broken executor, however many batches it took down.
        self.restarts += 1
        self.events.publish(WorkerRestarted())
        now = time.monotonic()
        self.recent_crashes = [t for t in self.recent_crashes if now - t < 600] + [now]

    def pids(self) -> list[int]:
        """Worker process ids (for tests and `axd doctor`)."""
        pids = []
        for executor in (self._executor, self._isolation):
            processes = getattr(executor, "_processes", None) or {}
            pids += [p.pid for p in processes.values() if p.pid is not None]
        return pids

    def close(self) -> bool:
        """Stop the workers (running batches are abandoned), leaving no
        process or thread behind: blocks at most a few seconds per executor
        (`_retire`). True when every executor's thread ended."""
        self._closed = True
        retiring = [
            _shut_down(executor)
            for executor in (self._executor, self._isolation)
            if executor is not None
        ]
        retiring += self._retired
        self._executor = self._isolation = None
        self._retired = []
        ended = [_retire(retired) for retired in retiring]  # every one, no short cut
        return all(ended)
