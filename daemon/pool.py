"""A pool of chunking worker processes with crash isolation.

tree-sitter holds the GIL while parsing, so parallelism comes from
processes. A worker that dies (segfault, OOM kill, `kill -9`) breaks the
executor; the pool then starts a fresh one and re-runs the failed batch one
file at a time, so only the file that crashes a worker again is recorded as
`parse_failed` — never retried forever, never taking its batch with it.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import anyio
import msgspec
import structlog

from .records import FileOutcome
from .worker import WorkerSettings, WorkItem, process_batch, warm_up

if TYPE_CHECKING:
    from collections.abc import Sequence

log = structlog.get_logger()

_items_encoder = msgspec.msgpack.Encoder()
_outcomes_decoder = msgspec.msgpack.Decoder(list[FileOutcome])


class PoolClosedError(Exception):
    """The pool was shut down."""


def _context() -> multiprocessing.context.BaseContext:
    # fork() from a process with threads (ours has the event loop's helper
    # threads) is unsafe; forkserver forks from a clean single-threaded server.
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


class WorkerPool:
    """Batches of paths in, `FileOutcome`s out, on `size` processes."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.restarts = 0
        self.recent_crashes: list[float] = []  # monotonic times, for health
        self._executor: ProcessPoolExecutor | None = None
        self._generation = 0  # which executor a job ran on
        self._closed = False
        # Jobs waiting on futures each hold a thread; bound them.
        self._waiters = anyio.CapacityLimiter(self.size * 4)

    def _ensure(self) -> ProcessPoolExecutor:
        if self._closed:
            raise PoolClosedError("worker pool is closed")
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.size, mp_context=_context()
            )
            self._generation += 1
        return self._executor

    @property
    def started(self) -> bool:
        """Whether worker processes have been started."""
        return self._executor is not None

    async def start(self) -> None:
        """Start the processes now, so the first batch does not pay for it."""
        executor = self._ensure()
        futures = [executor.submit(warm_up) for _ in range(self.size)]
        await anyio.to_thread.run_sync(
            lambda: [f.result() for f in futures], limiter=self._waiters
        )

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
            return await self._submit(settings_blob, items)
        except BrokenProcessPool:
            self._crashed()
        # Isolate the culprit: every file alone, on a fresh executor.
        outcomes: list[FileOutcome] = []
        for item in items:
            try:
                outcomes += await self._submit(settings_blob, [item])
            except BrokenProcessPool:
                self._crashed()
                log.error("worker_crashed_on_file", path=item.path)
                outcomes.append(
                    FileOutcome(
                        path=item.path,
                        status="skipped",
                        skip_reason="parse_failed",
                        detail="a worker process crashed while parsing this file",
                    )
                )
        return outcomes

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
            blob = await anyio.to_thread.run_sync(
                future.result, limiter=self._waiters, abandon_on_cancel=True
            )
        except BrokenProcessPool:
            self._replace(generation)
            raise
        return _outcomes_decoder.decode(blob)

    def _replace(self, generation: int) -> None:
        # Several jobs may see the same breakage; replace the executor once.
        if generation == self._generation and self._executor is not None:
            old, self._executor = self._executor, None
            old.shutdown(wait=False, cancel_futures=True)
            self.restarts += 1

    def _crashed(self) -> None:
        now = time.monotonic()
        self.recent_crashes = [t for t in self.recent_crashes if now - t < 600] + [now]

    def pids(self) -> list[int]:
        """Worker process ids (for tests and `axd doctor`)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return [p.pid for p in processes.values() if p.pid is not None]

    def close(self) -> None:
        """Stop the workers (running batches are abandoned)."""
        self._closed = True
        if self._executor is not None:
            for pid in self.pids():
                try:
                    os.kill(pid, 15)
                except ProcessLookupError:
                    pass
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
