"""The per-workspace indexing pipeline: one task that keeps an index equal
to its files on disk.

    reconcile (planner: crawl + diff) ─┐
    watcher messages (bounded stream) ─┼─▶ work queue (bounded, de-duplicated)
    index.reindex ─────────────────────┘        │ batches
                                                ▼
                 planner.split ─▶ worker pool (parse) ─▶ the one writer
                 (committer: one transaction per batch, then BatchCommitted)

The indexer owns the queue and the state others read (`busy`, `ready`,
`failed`, `progress`); the planner decides, the committer does. A file is
re-parsed only when its size, mtime or extractor version changed (the stat
pass) and its content hash differs (decided in the worker).

Warm start (#16): a complete first index (no `FIRST_INDEX_PENDING` in its
`meta`) is `ready` at once; the stat pass runs in the background while the
watches go in, then a re-stat (`Planner.recheck`) finds what changed
meanwhile. The watcher's messages wait in their stream until it is done.

First index (#16): parsing and writing run while the first stat pass still
crawls (it hands out what it finds) and while the watches go in; the last
paths are split evenly over the workers (`_batch_size`).

Size: one state machine (queue, paths in flight, stat pass, readiness)
whose loops share its fields; split apart they would reach into each other.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import structlog

from axd.daemon.events import WorkspaceReady
from axd.daemon.index.changes import Changed, RescanNeeded, RootBack, RootGone
from axd.daemon.index.planner import Batch, Plan
from axd.daemon.index.queue import WorkQueue
from axd.daemon.store.meta import read_meta

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyio.streams.memory import MemoryObjectReceiveStream

    from axd.daemon.config import IndexConfig
    from axd.daemon.index.changes import WatchMessage
    from axd.daemon.index.committer import Committer
    from axd.daemon.index.planner import Planner
    from axd.daemon.records import FileOutcome
    from axd.daemon.store.store import Store

log = structlog.get_logger()

# A parsed batch on its way to the writer, with its records' bytes.
Parsed = tuple[Batch, list["FileOutcome"], int]
# `meta` key present while an index's first full index is not complete: a
# restart then resumes it as `indexing`; without it, the index is served as
# `ready` at once.
FIRST_INDEX_PENDING = "first_index_pending"
WATCHES_WAIT_S = 120.0  # the longest a first stat pass waits for the watches
# The smallest batch the end of a first index is split into (`_batch_size`):
# below this, per-batch costs (a transaction, a round trip) dominate.
MIN_TAIL_BATCH = 16
# Bytes of parsed records (`FileOutcome.shipped`) that may wait for the
# writer: past it, no new batch is taken until the writer catches up. A
# 128-file batch ships 3-5 MB of records on a mixed corpus and up to ~20 MB
# for large generated files; bounding by files alone let a writer behind
# the workers hold ~6 of them (#16 target 2: memory bounded by bytes).
PARSED_BYTES_LIMIT = 32 << 20
# Bytes of files one worker job parses at most (`Batch.parts`): records are
# ~2.5x their source and the daemon briefly holds a batch's twice while it
# decodes them. An average 128-file batch is ~1 MB of source; only batches
# of large files are cut (#16 target 2: the daemon's short peaks).
BATCH_SOURCE_BYTES = 4 << 20


class Indexer:
    """Keeps one workspace's index equal to its files on disk."""

    def __init__(
        self,
        planner: Planner,
        committer: Committer,
        config: IndexConfig,
        *,
        warm: bool = False,
    ) -> None:  # warm: a complete first index (`is_complete`), ready at once
        self.planner = planner
        self.committer = committer
        self.config = config
        self.root = planner.root
        self.progress = committer.progress
        self.queue = WorkQueue()
        self.ready = warm  # the first full index has been committed
        self.failed: str | None = None
        self._expanding = False  # a watcher message is being turned into paths
        self._changes: MemoryObjectReceiveStream[WatchMessage] | None = None
        self._wakeup = anyio.Event()
        self._changed = anyio.Event()  # replaced after every state change
        self._rescan_requested = False
        self._reconciling = False
        self._pending_mark = False  # FIRST_INDEX_PENDING is in the store
        self._linking = anyio.Lock()
        self._crawling = False  # a stat pass is handing out what it finds
        self._together = False  # a git operation's changes are queued (`_batch_size`)
        self._parsed_bytes = 0  # records parsed, not yet committed
        self._writer_caught_up = anyio.Event()

    # -- what others ask ----------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether anything is queued, on its way in, or being processed."""
        return self._has_work() or self._reconciling

    @property
    def reconciling(self) -> bool:
        """A stat pass is running."""
        return self._reconciling

    @property
    def serving(self) -> bool:
        """Ready with no path queued or on its way: at most a stat pass runs
        (a warm start's `ready` with the `reconciling` detail)."""
        return self.ready and not self._has_work()

    def _has_work(self) -> bool:
        waiting = (
            self._changes.statistics().current_buffer_used
            if self._changes is not None
            else 0
        )
        return (
            bool(self.queue)
            or self.queue.in_flight > 0
            or waiting > 0
            or self._expanding
            or self._rescan_requested
        )

    @property
    def queue_depth(self) -> int:
        """Paths queued or in a batch being processed."""
        return len(self.queue) + self.queue.in_flight

    def oldest_age_s(self) -> float:
        """Age of the oldest queued path (0 when the queue is empty)."""
        return self.queue.oldest_age_s()

    def queue_position(self, path: str) -> int | None:
        """1-based position of `path` in the queue, or None."""
        return self.queue.position(path)

    def change_event(self) -> anyio.Event:
        """An event set at the next state change (a commit, the queue emptying...).

        Take it before checking the state, then wait on it: no change is missed.
        """
        return self._changed

    def enqueue(
        self,
        paths: Iterable[str],
        *,
        event_time: float | None = None,
        force: bool = False,
    ) -> int:
        """Queue workspace-relative paths (de-duplicated); returns how many."""
        count = self.queue.add(paths, event_time=event_time, force=force)
        if count:
            self._wakeup.set()
            self._notify()
        return count

    def request_rescan(self) -> None:
        """Reconcile with the disk again (ignore rules changed, overflow...)."""
        self._rescan_requested = True
        self._wakeup.set()

    def fail(self, reason: str) -> None:
        """Mark the workspace failed (root gone...); health says why."""
        if self.failed != reason:
            self.failed = reason
            self.progress.last_error = reason
            log.error("workspace_failed", root=str(self.root), reason=reason)
            self._notify()

    def recover(self) -> None:
        """The cause of `fail` is gone: reconcile with the disk again."""
        if self.failed is not None:
            log.info("workspace_recovered", root=str(self.root))
        self.failed = None
        self.progress.last_error = None
        self.request_rescan()
        self._notify()

    # -- the pipeline -------------------------------------------------------------

    async def run(
        self,
        changes: MemoryObjectReceiveStream[WatchMessage],
        *,
        watching: anyio.Event | None = None,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Reconcile, then index what is queued and what `changes` bring,
        until cancelled. Started once the first stat pass has queued
        everything that differs from the disk.

        `watching` is set once the watcher's watches are in place; the first
        stat pass runs meanwhile and then re-checks what it saw (module
        docstring). None: they already are.
        """
        self._changes = changes
        await self._resume()
        failure: Exception | None = None
        parsed_tx, parsed_rx = anyio.create_memory_object_stream[Parsed](2)
        with parsed_tx, parsed_rx:  # even if a loop is cancelled before it began
            async with anyio.create_task_group() as tg:
                # Parsing and writing run during the first stat pass: it hands
                # out what it finds as it crawls (#16: no serial start).
                tg.start_soon(self._write_loop, parsed_rx)
                tg.start_soon(self._dispatch_loop, tg, parsed_tx)
                try:
                    await self._reconcile(watching, stream=True)
                except Exception as exc:  # noqa: BLE001 - re-raised below
                    self.fail(f"initial crawl failed: {exc}")
                    failure = exc
                    tg.cancel_scope.cancel()
                else:
                    # Everything it handed out may be committed already.
                    await self._link_if_due()
                    self._maybe_ready()
                    # An upgraded axd's import rules, behind the writes queued.
                    tg.start_soon(self._refresh_links)
                    # The watcher's messages only after the stat pass.
                    tg.start_soon(self._intake_loop, changes)
                    tg.start_soon(self._clear_pending_mark)
                    if self.ready:  # warm: the first saves need their grammars
                        tg.start_soon(self._preload_languages)
                    task_status.started()
        if failure is not None:
            raise failure

    async def _intake_loop(
        self, changes: MemoryObjectReceiveStream[WatchMessage]
    ) -> None:
        """The watcher's messages, in order. A full queue stops the intake,
        so the watcher's bounded stream fills and its `send()` waits."""
        async with changes:
            async for message in changes:
                if isinstance(message, Changed):
                    await self.queue.wait_for_room()
                    self._expanding = True
                    touched = list(message.paths)
                    # Files of a batch on its way, below a path of the event
                    # (a directory moved away): queued behind it, so that
                    # they leave the index if its read came before the move.
                    touched += self.queue.flying_under(touched)
                    try:
                        paths = await anyio.to_thread.run_sync(
                            self.planner.expand, touched, message.created
                        )
                    except Exception as exc:  # noqa: BLE001 - logged; a stat pass recovers
                        # The store could not answer: a stat pass finds the
                        # change instead.
                        log.warning(
                            "expand_failed", root=str(self.root), error=str(exc)
                        )
                        self.request_rescan()
                        continue
                    finally:
                        self._expanding = False
                    if message.together:
                        self._together = True  # `_batch_size`
                    self.enqueue(paths, event_time=message.event_time)
                elif isinstance(message, RescanNeeded):
                    self.request_rescan()
                elif isinstance(message, RootGone):
                    self.fail(message.reason)
                elif isinstance(message, RootBack):
                    self.recover()

    async def _resume(self) -> None:
        """A warm start says it is ready; a first index is marked pending
        until it is complete (`FIRST_INDEX_PENDING`)."""
        writer = self.committer.writer
        if self.ready:
            self.committer.end_bulk()
            log.info("workspace_ready", root=str(self.root), warm=True)
            self.committer.events.publish(
                WorkspaceReady(str(self.root), self.committer.workspace_id)
            )
        elif writer.store.generation == 0 or await anyio.to_thread.run_sync(
            writer.store.is_empty
        ):
            await writer.write_meta(FIRST_INDEX_PENDING, "1")
            self._pending_mark = True
        else:  # a first index cut short: resumed, and marked as before
            self._pending_mark = True

    async def _reconcile(
        self, watching: anyio.Event | None = None, *, stream: bool = False
    ) -> None:
        """The stat pass: queue what differs from the index, drop the vanished.
        `stream`: queue what it finds while it crawls (the dispatch loop runs
        meanwhile); a rescan runs in the dispatch loop itself, so it does not."""
        # Cleared before the crawl: a request made while it runs (an ignore
        # file written in two steps) gets a pass of its own.
        self._rescan_requested = False
        self._reconciling = True
        self._notify()
        try:
            await self._reconcile_once(watching, stream=stream)
        finally:
            self._reconciling = False
            if self._rescan_requested:  # asked for during this pass
                self._wakeup.set()
            self._maybe_ready()
            self._notify()

    async def _reconcile_once(
        self, watching: anyio.Event | None, *, stream: bool = False
    ) -> None:
        started = time.perf_counter()
        since_ns = time.time_ns()
        unwatched = watching is not None and not watching.is_set()
        done_before = self.progress.files_done

        def found(paths: list[str], seen: int) -> None:  # the planner's thread
            anyio.from_thread.run_sync(self._found, paths, seen)

        self._crawling = stream
        # A rescan: a file read by a batch in flight during the crawl, then
        # deleted (or now ignored) before the crawl got to it, is neither
        # seen by the crawl nor in the index it compares with.
        recording = self.ready
        if recording:
            self.queue.record_taken()
        try:
            plan = await anyio.to_thread.run_sync(
                self.planner.reconcile, found if stream else None
            )
        finally:
            self._crawling = False
            taken = self.queue.recorded() if recording else set()
        if not await anyio.to_thread.run_sync(self.root.is_dir):
            # A vanished root crawls as empty: that is no reason to empty the
            # index. The watcher reports it and says when it is back.
            self.fail(f"workspace root {self.root} no longer exists")
            return
        if not self.ready:
            # Before anything below waits (a commit, the watches): batches
            # committed meanwhile must not count past a stale total.
            self.progress.files_total = plan.total
            # + what was committed of the paths handed out during the crawl
            committed = self.progress.files_done - done_before
            self.progress.files_done = plan.total - len(plan.changed) + committed
        # A path in a batch on its way would be written after this: queued
        # behind that batch instead, its split decides again (`WorkQueue`).
        flying = self.queue.flying
        deleted = [p for p in plan.deleted if not flying(p)]
        skipped = [o for o in plan.skipped if not flying(o.path)]
        if len(deleted) < len(plan.deleted) or len(skipped) < len(plan.skipped):
            self.enqueue([p for p in plan.deleted if flying(p)])
            self.enqueue([o.path for o in plan.skipped if flying(o.path)])
        if deleted or skipped:
            await self.committer.commit(deleted, skipped)
        self.enqueue(plan.changed[plan.streamed :])
        self.enqueue(_in_flight_unseen(taken, plan))
        crawled_ms = (time.perf_counter() - started) * 1000
        rechecked = 0
        if unwatched and watching is not None:
            # Files stat'ed before their directory was watched. Bounded: a
            # watcher whose start failed must not hold the pass for ever.
            with anyio.move_on_after(WATCHES_WAIT_S):
                await watching.wait()
            late = await anyio.to_thread.run_sync(self.planner.recheck, plan, since_ns)
            rechecked = self.enqueue(late)
        if self.ready:  # a warm start or a rescan: nothing left to split
            self._forget_rules()
        log.info(
            "reconciled",
            root=str(self.root),
            files=plan.total,
            changed=len(plan.changed),
            deleted=len(plan.deleted),
            rechecked=rechecked,
            crawl_ms=round(crawled_ms, 1),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        self._maybe_ready()

    def _found(self, paths: list[str], seen: int) -> None:
        """Paths to parse the first stat pass found so far (on the loop)."""
        if not self.ready:  # a count for `index.progress` until the total is known
            self.progress.files_total = max(self.progress.files_total, seen)
        self.enqueue(paths)

    async def _dispatch_loop(
        self,
        tg: anyio.abc.TaskGroup,
        parsed: anyio.abc.ObjectSendStream[Parsed],
    ) -> None:
        # A batch per worker in flight, plus one parsed batch waiting for the
        # writer: the pool never idles while the writer commits.
        slots = anyio.Semaphore(self.committer.pool.size + 1)
        async with parsed:
            while True:
                if self._rescan_requested and not self._reconciling:
                    try:
                        await self._reconcile()
                    except Exception as exc:
                        log.exception("reconcile_failed", root=str(self.root))
                        self.progress.last_error = f"stat pass failed: {exc}"
                        self._notify()
                if not self.queue:
                    self._wakeup = anyio.Event()
                    if self.queue or (self._rescan_requested and not self._reconciling):
                        continue
                    await self._wakeup.wait()
                    continue
                while self._parsed_bytes >= PARSED_BYTES_LIMIT:
                    self._writer_caught_up = anyio.Event()
                    await self._writer_caught_up.wait()
                await slots.acquire()
                taken = self.queue.take(self._batch_size())
                if taken is None:
                    slots.release()
                    if self.queue:  # all in flight: until one lands or more comes
                        self._wakeup = anyio.Event()
                        await self._wakeup.wait()
                    continue
                batch = Batch(taken.paths, taken.forced, taken.event_times)
                tg.start_soon(self._parse, batch, parsed, slots)

    def _batch_size(self) -> int:
        """`batch_files`, except when fewer paths are queued than the
        workers (and the batch waiting for one) can take at that size: at
        the end of a first index the queue is split evenly over them, so no
        worker idles while another parses the last full batch (#16: both
        cores busy to the end). Live changes (a burst of saves, a small
        checkout) are split in twice as many: the writer commits the first
        half while the workers parse the second, instead of waiting for a
        whole batch per worker and then writing them all at the end (#16: a
        200-file burst queryable soon after its last write). But a git
        operation's held changes go out together, in full batches."""
        full = max(1, self.config.batch_files)
        if self._together:
            self._together = len(self.queue) > full  # until the group is taken
            return full
        if self._crawling:  # more paths are on their way
            return full
        lanes = self.committer.pool.size + 1
        if self.ready:
            lanes *= 2
        return min(full, max(MIN_TAIL_BATCH, -(-len(self.queue) // lanes)))

    async def _parse(
        self,
        batch: Batch,
        parsed: anyio.abc.ObjectSendStream[Parsed],
        slots: anyio.Semaphore,
    ) -> None:
        sent: set[str] = set()  # paths of the parts on their way to the writer
        try:
            await anyio.to_thread.run_sync(self.planner.split, batch)
            # Large files go in parts, one after the other (`Batch.parts`).
            for part in batch.parts(BATCH_SOURCE_BYTES):
                outcomes = await self.committer.parse(part) + part.skipped
                weight = sum(len(o.shipped) for o in outcomes if o.shipped is not None)
                self._parsed_bytes += weight
                try:
                    await parsed.send((part, outcomes, weight))
                except BaseException:
                    self._parsed_done(weight)
                    raise
                sent.update(part.paths)
                del outcomes  # not held while the next part parses
        except Exception as exc:
            # The batch is lost, not the workspace: the files stay as the
            # index had them until their next change or stat pass.
            self._batch_lost([p for p in batch.paths if p not in sent])
            log.exception(
                "batch_parse_failed", root=str(self.root), files=len(batch.paths)
            )
            self.progress.last_error = (
                f"batch of {len(batch.paths)} files failed: {type(exc).__name__}: {exc}"
            )
        except BaseException:
            self._batch_lost([p for p in batch.paths if p not in sent])
            raise
        finally:
            slots.release()

    def _land(self, paths: list[str]) -> None:
        """Taken `paths` are written or lost: a copy of one of them queued
        meanwhile may be taken now (`WorkQueue`)."""
        self.queue.land(paths)
        self._wakeup.set()

    def _batch_lost(self, paths: list[str]) -> None:
        """`paths` taken from the queue will never reach the writer."""
        self._land(paths)
        self._maybe_ready()
        self._notify()

    async def _write_loop(self, parsed: anyio.abc.ObjectReceiveStream[Parsed]) -> None:
        async with parsed:
            async for batch, outcomes, weight in parsed:
                try:
                    committed = await self.committer.commit(
                        batch.deleted, outcomes, batch.event_times
                    )
                finally:
                    self._land(batch.paths)
                    del outcomes  # the records go before the next batch's
                    self._parsed_done(weight)
                if committed and not self.ready:
                    self.progress.files_done += len(batch.paths)
                await self._link_if_due()
                self._maybe_ready()
                self._notify()

    def _parsed_done(self, weight: int) -> None:
        """Records of `weight` bytes left the pipeline (committed or lost)."""
        self._parsed_bytes -= weight
        if self._parsed_bytes < PARSED_BYTES_LIMIT:
            self._writer_caught_up.set()

    async def _link_if_due(self) -> None:
        """A bulk first index with nothing left to parse or crawl: resolve
        its imports (once; the write loop and the end of the first stat
        pass may both find it due)."""
        async with self._linking:
            if self.committer.linking_pending and not self.busy:
                await self.committer.link_imports()

    def _maybe_ready(self) -> None:
        if self.committer.linking_pending:
            return  # the write loop links imports first, then calls again
        if not self.ready and not self.busy:
            self.committer.end_bulk()
            self._forget_rules()
            self.ready = True
            self.progress.files_done = self.progress.files_total
            generation = self.committer.writer.store.generation
            log.info("workspace_ready", root=str(self.root), generation=generation)
            self.committer.events.publish(
                WorkspaceReady(str(self.root), self.committer.workspace_id)
            )
            self._notify()

    def _forget_rules(self) -> None:
        """Drop the ignore rules' caches once a stat pass's files are all
        planned: an entry per directory of the tree (27,569 at 100k files),
        made while the first index's batches churned, would otherwise pin
        that memory for the daemon's life (#16 target 2). A live change
        rebuilds what its directory needs (a few small reads)."""
        self.planner.rules.reload()

    async def _preload_languages(self) -> None:
        store = self.committer.writer.store
        counts = await anyio.to_thread.run_sync(store.counts)
        await self.committer.pool.preload(sorted(counts.languages))

    async def _clear_pending_mark(self) -> None:
        """Once the first index is complete, say so in the store: the next
        start serves it at once (`_resume`)."""
        while True:
            changed = self.change_event()
            if self.ready and not self.busy:
                break
            await changed.wait()
        if self._pending_mark:
            try:
                await self.committer.writer.write_meta(FIRST_INDEX_PENDING, None)
            except Exception:  # the next start re-checks as `indexing`: no harm
                log.exception("first_index_mark_failed", root=str(self.root))
            else:
                self._pending_mark = False

    async def _refresh_links(self) -> None:
        """`Committer.refresh_links`, then wake `index.wait`: the relink may
        have moved the generation."""
        await self.committer.refresh_links()
        self._notify()

    def _notify(self) -> None:
        event, self._changed = self._changed, anyio.Event()
        event.set()


def is_complete(store: Store) -> bool:
    """Whether `store` holds a complete first index (blocking: a thread's)."""
    try:
        return (
            store.generation > 0
            and read_meta(store, FIRST_INDEX_PENDING) is None
            and not store.is_empty()  # a rebuild starts above 0 with no files
        )
    except Exception:  # noqa: BLE001 - unreadable: not served until re-indexed
        log.warning("first_index_state_unreadable", path=str(store.path))
        return False


def _in_flight_unseen(taken: set[str], plan: Plan) -> list[str]:
    """Of the paths in flight during a stat pass, those it did not find:
    queued behind their batch, their split drops them (`WorkQueue`)."""
    if not taken:
        return []
    kept = set(plan.seen.paths)
    return [path for path in taken if path not in kept]


__all__ = ["FIRST_INDEX_PENDING", "Indexer", "is_complete"]
