"""A pool of chunking worker processes with crash isolation.

tree-sitter holds the GIL while parsing, so parallelism comes from
processes. A worker that dies (segfault, OOM kill, `kill -9`) breaks the
executor; the pool then starts a fresh one and re-runs the failed batch one
file at a time on a one-process executor of its own, so only the file that
crashes a worker again, alone, is recorded as `parse_failed` — never retried
forever, never taking its batch (or another batch) with it.

Each worker is a one-process executor of its own (a lane), and runs one
batch at a time: a batch goes to a lane without a job, a running worker
first, and waits in the daemon while every lane has one (never queued in a
worker's executor). Memory (#16 target 2): workers fork from a forkserver
that has built every language's parser and query (`prebuild`), so a fresh
worker is ~10 MB (Pss) and ready at once, and replacing one costs a fork.
A worker whose Pss is above `max_worker_pss` after a batch (what it parsed
leaves caches, freed trees and fragments behind: ~20 KB per file) is
recycled alone before its lane takes another batch: it exits, and the
lane's next batch starts a fresh one (nothing is lost, and it is not a
crash). So no more workers parse at once than there are lanes. Workers
idle for `idle_s` after a batch are retired the same way and one fresh
worker is started in their place: an idle daemon holds one small worker (a
save goes to it at once), and the other lanes fork theirs when batches
overlap again. The daemon's own heap is trimmed every `BUSY_TRIM_S` while
many batches run (a first index) and once more when they stop. Process
starts (a `submit` that forks) run in worker threads, never on the event
loop: the first one waits for the forkserver's build.

Size: one class, because crash restarts, recycling, draining, idle refreshes
and heap trims all act on the same executor generations and job counts;
split, each part would need the others' state.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

import anyio
import msgspec
import structlog

from axd.daemon.events import WorkerRestarted
from axd.daemon.index import forkserver, heap
from axd.daemon.index.executors import (
    Retired,
    kill_workers,
    result,
    retire,
    shut_down,
)
from axd.daemon.index.languages import LANGUAGES, detect_language
from axd.daemon.index.worker import (
    WorkerSettings,
    WorkItem,
    exit_with,
    languages_built,
    log_shortfalls,
    preload,
    process_batch,
    warm_up,
)
from axd.daemon.records import FileOutcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from axd.daemon.events import Events

log = structlog.get_logger()

_items_encoder = msgspec.msgpack.Encoder()
_outcomes_decoder = msgspec.msgpack.Decoder(list[FileOutcome])


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


def _call(
    executor: ProcessPoolExecutor, settings_blob: bytes, items_blob: bytes
) -> bytes:
    """Run one batch on `executor` and wait for its encoded outcomes (in a
    waiter thread: the submit may fork a worker, waiting for the forkserver).

    :raises BrokenProcessPool: a worker died, or the executor was shut down
        before the batch could be submitted (another job saw it break).
    """
    try:
        future: Future[bytes] = executor.submit(
            process_batch, settings_blob, items_blob
        )
    except RuntimeError as exc:  # "cannot schedule new futures after shutdown"
        raise BrokenProcessPool(str(exc)) from exc
    return result(future, executor)


def _run_each(
    executor: ProcessPoolExecutor,
    function: Callable[..., int],
    args: tuple[object, ...],
    count: int,
) -> list[int]:
    """`function(*args)` as `count` tasks (one a worker: each starts one),
    waited for together (in a waiter thread, like `_call`)."""
    futures = [executor.submit(function, *args) for _ in range(count)]
    return [future.result() for future in futures]


def _pids(executor: ProcessPoolExecutor | None) -> list[int]:
    processes = getattr(executor, "_processes", None) or {}
    return [p.pid for p in processes.values() if p.pid is not None]


# After the last batch, the daemon's heap is trimmed once this much later.
QUIET_TRIM_S = 2.0
# While batches keep coming (a first index), the daemon's heap is trimmed
# every BUSY_TRIM_S once BUSY_TRIM_JOBS batches ended since the last trim
# and batches have kept running for BUSY_RUN_S without a pause (#16): a trim
# of a fragmented 200 MB heap costs 20-40 ms of CPU holding glibc's arena
# locks, which a save, a run of saves or a small checkout must not wait for.
BUSY_TRIM_S = 5.0
BUSY_TRIM_JOBS = 8
BUSY_RUN_S = 5.0


class WorkerPool:
    """Batches of paths in, `FileOutcome`s out, on `size` processes."""

    def __init__(
        self,
        size: int,
        events: Events,
        *,
        max_worker_pss: int = 0,
        idle_s: float = 0.0,
    ) -> None:
        """`max_worker_pss` bytes (0: no bound) and `idle_s` (0: never) as
        in the module docstring."""
        # One pool per daemon, made while it is assembled (before its
        # threads): the decode threads below are what multiplies arenas.
        heap.cap_malloc_arenas()
        heap.keep_large_blocks_mapped()
        self.size = max(1, size)
        self.max_worker_pss = max(0, max_worker_pss)  # negative: off, like 0
        self.idle_s = max(0.0, idle_s)
        self.recycles = 0  # executors retired for size or idleness, not crashes
        # Languages of the files the workers saw: fresh workers preload them.
        self.languages: set[str] = set()
        self._used = False  # a batch ran since the workers were last fresh
        # Told of every replaced worker (`WorkerRestarted`); metrics count them.
        self.events = events
        self.restarts = 0
        self.recent_crashes: list[float] = []  # monotonic times, for health
        # One single-process executor per worker ("lane"), so that one
        # worker is recycled (or crashes) alone: the other keeps working and
        # no idle worker lingers while a sibling finishes its batch.
        self._lanes: list[ProcessPoolExecutor | None] = [None] * self.size
        self._lane_generations = [0] * self.size  # each lane's current one
        self._generation = 0  # the last executor generation handed out
        self._closed = False
        # Jobs waiting on futures each hold a thread; bound them.
        self._waiters = anyio.CapacityLimiter(self.size * 4)
        # A one-process executor for re-running a broken batch file by file.
        self._isolation: ProcessPoolExecutor | None = None
        self._isolating = anyio.Lock()
        # Executors shut down while running (broken ones): `close` joins
        # what they left (their threads end on their own, normally).
        self._retired: list[Retired] = []
        # Jobs running per executor generation; a recycled executor is shut
        # down when its last job ends (`_draining`: generation -> executor).
        self._jobs: dict[int, int] = {}
        self._draining: dict[int, ProcessPoolExecutor] = {}
        self._last_job = time.monotonic()
        self._trimmed = True  # the daemon's heap, since the last job
        self._last_trim = time.monotonic()
        self._jobs_since_trim = 0
        self._busy_since = time.monotonic()  # batches running without a pause
        self._paused = True  # no batch ran or waited since the last one ended
        self._queued = 0  # batches waiting for a free lane (`_free_lane`)
        self.trims = 0  # of the daemon's heap (for tests and diagnostics)
        self._job_ended = anyio.Event()
        # Set (and replaced) whenever a job ends: batches waiting for a lane.
        self._lane_freed = anyio.Event()

    def _ensure(self, lane: int) -> tuple[ProcessPoolExecutor, int]:
        """Lane `lane`'s executor (started if it has none) and generation."""
        if self._closed:
            raise PoolClosedError("worker pool is closed")
        executor = self._lanes[lane]
        if executor is None:
            executor = self._lanes[lane] = self._new_executor(1)
            self._generation += 1
            self._lane_generations[lane] = self._generation
        return executor, self._lane_generations[lane]

    def _lane_jobs(self, lane: int) -> int:
        """Jobs on lane `lane`'s current executor."""
        if self._lanes[lane] is None:
            return 0
        return self._jobs.get(self._lane_generations[lane], 0)

    async def _free_lane(self) -> int:
        """A lane with no job, once there is one. A batch is never queued
        behind another in a worker's executor: a worker recycled after a
        batch would still parse the batch queued behind it while its lane's
        fresh worker parsed the next, three parsers on two cores, each up
        to ~65 MB (the 100k-file peak, #16 target 2). The batch waits here
        instead, for a few ms of the event loop per batch."""
        self._queued += 1
        try:
            while True:
                lane = self._pick()
                if not self._lane_jobs(lane):
                    return lane  # taken by the caller before its next await
                freed = self._lane_freed
                await freed.wait()
        finally:
            self._queued -= 1

    def _pick(self) -> int:
        """The lane with the fewest jobs (a lane without a worker has none),
        a running worker first among equals: a save after a recycle goes to
        the idle worker that is there, not to a fork."""
        return min(
            range(self.size),
            key=lambda lane: (self._lane_jobs(lane), self._lanes[lane] is None),
        )

    def _lane_of(self, generation: int) -> int | None:
        """The lane whose current executor is `generation`, if any."""
        for lane, executor in enumerate(self._lanes):
            if executor is not None and self._lane_generations[lane] == generation:
                return lane
        return None

    @staticmethod
    def _new_executor(size: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=size,
            mp_context=forkserver.context(),
            initializer=exit_with,
            initargs=(os.getpid(),),
        )

    @property
    def started(self) -> bool:
        """Whether worker processes have been started."""
        return any(executor is not None for executor in self._lanes)

    async def start(self) -> None:
        """Start the processes now, so the first batch does not pay for it."""
        async with anyio.create_task_group() as tg:
            for lane in range(self.size):
                tg.start_soon(self._start_lane, lane)

    async def _start_lane(self, lane: int) -> None:
        if self._closed:
            return
        executor, generation = self._ensure(lane)
        try:
            with self._job(generation):
                await anyio.to_thread.run_sync(
                    _run_each, executor, warm_up, (), 1, limiter=self._waiters
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
        async with anyio.create_task_group() as tg:
            for lane in range(self.size):
                tg.start_soon(self._preload_lane, lane, languages)

    async def _preload_lane(self, lane: int, languages: list[str]) -> None:
        if self._closed:
            return
        executor, generation = self._ensure(lane)
        try:
            with self._job(generation):
                await anyio.to_thread.run_sync(
                    _run_each, executor, preload, (languages,), 1, limiter=self._waiters
                )
        except (BrokenProcessPool, CancelledError, RuntimeError) as exc:
            log.debug("worker_preload_failed", error=str(exc))

    async def languages_built(self) -> list[int]:
        """Languages each worker has a parser and query for (diagnostics:
        every registry language when workers fork from the prebuilt
        forkserver, so that a fresh worker compiles nothing)."""
        built = []
        for lane in range(self.size):
            executor, generation = self._ensure(lane)
            with self._job(generation):
                built += await anyio.to_thread.run_sync(
                    _run_each, executor, languages_built, (), 1, limiter=self._waiters
                )
        return built

    def alive(self) -> tuple[int, int]:
        """(live worker processes, expected). A lane whose worker was
        retired (recycled, or replaced after a crash: `recent_crashes` says
        so) starts one with its next batch, and one whose process is being
        started has none yet: both count as alive, as the whole pool did
        before its first batch. A process that ended is not."""
        live = 0
        for executor in self._lanes:
            if executor is None:
                live += self.started
                continue
            processes = getattr(executor, "_processes", None) or {}
            if not processes:
                live += 1  # being started (in the waiter thread): not dead
                continue
            live += sum(1 for p in processes.values() if p.is_alive())
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
            blob = await anyio.to_thread.run_sync(
                _call,
                executor,
                settings_blob,
                _items_encoder.encode([item]),
                limiter=self._waiters,
                abandon_on_cancel=True,
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
            self._retired.append(shut_down(executor))

    async def _submit(
        self, settings_blob: bytes, items: Sequence[WorkItem]
    ) -> list[FileOutcome]:
        items_blob = _items_encoder.encode(list(items))
        executor, generation = self._ensure(await self._free_lane())
        try:
            # Submitted (a submit may fork a worker) in the waiter thread.
            # The lane is free again as soon as the reply is in: the next
            # batch parses while this one is decoded.
            with self._job(generation):
                blob = await anyio.to_thread.run_sync(
                    _call,
                    executor,
                    settings_blob,
                    items_blob,
                    limiter=self._waiters,
                    abandon_on_cancel=True,
                )
                # Before the lane takes its next batch: a worker too large
                # is retired with nothing queued behind this batch.
                self._recycle_if_large(generation)
        except (BrokenProcessPool, CancelledError) as exc:
            # CancelledError: another job saw the breakage first and shut
            # this executor down with our job still queued. BrokenProcessPool
            # also stands for a submit refused by an executor shut down
            # meanwhile (`_call`).
            if self._closed:
                raise PoolClosedError("worker pool is closed") from exc
            self._replace(generation)
            raise BrokenProcessPool(str(exc)) from exc
        # Decoded in a worker thread too: a batch's records are large, and
        # the event loop has queries to answer.
        outcomes = await anyio.to_thread.run_sync(
            _outcomes_decoder.decode, blob, limiter=self._waiters
        )
        self._used = True
        self.languages.update(o.language for o in outcomes if o.language)
        return outcomes

    def _replace(self, generation: int) -> None:
        # Several jobs may see the same breakage; replace the executor once.
        lane = self._lane_of(generation)
        if lane is not None:
            old = self._lanes[lane]
            self._lanes[lane] = None
            assert old is not None
            kill_workers(old)
            self._retired.append(shut_down(old))
            self._crashed()

    def _crashed(self) -> None:
        # Once per broken executor, however many batches it took down.
        self.restarts += 1
        self.events.publish(WorkerRestarted())
        now = time.monotonic()
        self.recent_crashes = [t for t in self.recent_crashes if now - t < 600] + [now]

    @contextlib.contextmanager
    def _job(self, generation: int) -> Iterator[None]:
        """Count a job on executor `generation` while it runs."""
        if self._paused:
            self._paused = False
            self._busy_since = time.monotonic()
        self._jobs[generation] = self._jobs.get(generation, 0) + 1
        try:
            yield
        finally:
            left = self._jobs[generation] - 1
            if left:
                self._jobs[generation] = left
            else:
                del self._jobs[generation]
                draining = self._draining.pop(generation, None)
                if draining is not None:  # its last job: let it go now
                    self._retired.append(shut_down(draining))
            self._last_job = time.monotonic()
            self._jobs_since_trim += 1
            self._trimmed = False
            # Batches waiting for this lane keep the pool busy.
            self._paused = not self._jobs and not self._queued
            self._job_ended.set()
            self._lane_freed.set()
            self._lane_freed = anyio.Event()

    def _recycle_if_large(self, generation: int) -> None:
        """Recycle the executor a batch ran on if a worker of it grew past
        `max_worker_pss` (caches, a large file's tree, a fragmented heap).
        Pss, not RSS: RSS counts the forkserver's pages every worker shares."""
        lane = self._lane_of(generation) if self.max_worker_pss else None
        if lane is None:
            return
        pss = max(map(heap.pss_bytes, _pids(self._lanes[lane])), default=0)
        if pss > self.max_worker_pss:
            self._recycle(lane, "worker_pss", pss=pss)

    def _recycle(self, lane: int, reason: str, **detail: float) -> None:
        """Retire lane `lane`'s executor without losing a job: its running
        jobs finish first (`_job`), new ones go to a fresh executor."""
        old = self._lanes[lane]
        if old is None:
            return
        self._lanes[lane] = None
        generation = self._lane_generations[lane]
        self.recycles += 1
        log.info("workers_recycled", reason=reason, **detail)
        if self._jobs.get(generation):
            self._draining[generation] = old
        else:
            self._retired.append(shut_down(old))
        # Retired executors whose thread and processes ended: nothing to join.
        self._retired = [r for r in self._retired if not r.finished()]

    async def idle_loop(self) -> None:
        """Run for the daemon's life: while batches keep coming (at least
        `BUSY_TRIM_JOBS` since the last trim, running without a pause for
        `BUSY_RUN_S`; batches waiting for a lane count), trim the daemon's
        heap every `BUSY_TRIM_S`; once no batch ran for `QUIET_TRIM_S`, trim
        it (once); after `idle_s`, retire the workers and start one fresh
        one (once per period of use)."""
        while not self._closed:
            now = time.monotonic()
            quiet = now - self._last_job
            waits = []
            busy = bool(self._jobs) or self._queued > 0
            if busy and self._jobs_since_trim >= BUSY_TRIM_JOBS:
                wait = max(
                    BUSY_TRIM_S - (now - self._last_trim),
                    BUSY_RUN_S - (now - self._busy_since),
                )
                if wait <= 0:
                    await self._trim()
                    continue
                waits.append(wait)
            elif not busy:
                if not self._trimmed:
                    if quiet >= QUIET_TRIM_S:
                        self._trimmed = True
                        await self._trim()
                        continue
                    waits.append(QUIET_TRIM_S - quiet)
                if self.idle_s and self._used:
                    if quiet >= self.idle_s:
                        self._used = False
                        for lane in range(self.size):
                            self._recycle(lane, "idle", idle_s=round(quiet, 1))
                        # One fresh worker waits for the next save; the
                        # others fork when batches overlap (`_pick`).
                        await self._preload_lane(0, sorted(self.languages))
                        continue
                    waits.append(self.idle_s - quiet)
            self._job_ended = anyio.Event()
            with anyio.move_on_after(min(waits, default=math.inf)):
                await self._job_ended.wait()

    async def _trim(self) -> None:
        self._last_trim = time.monotonic()
        self._jobs_since_trim = 0
        self.trims += 1
        await anyio.to_thread.run_sync(heap.trim)

    def pids(self) -> list[int]:
        """Worker process ids (for tests and `axd doctor`)."""
        pids = []
        for executor in (*self._lanes, self._isolation):
            pids += _pids(executor)
        return pids

    def close(self) -> bool:
        """Stop the workers (running batches are abandoned), leaving no
        process or thread behind: blocks at most a few seconds per executor
        (`retire`). True when every executor's thread ended."""
        self._closed = True
        executors = [*self._lanes, self._isolation, *self._draining.values()]
        retiring = [shut_down(e) for e in executors if e is not None]
        retiring += self._retired
        self._lanes = [None] * self.size
        self._isolation = None
        self._draining = {}
        self._retired = []
        ended = [retire(retired) for retired in retiring]  # every one, no short cut
        return all(ended)
