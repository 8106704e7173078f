"""The per-workspace indexing pipeline.

    reconcile (crawl + compare with the index) ─┐
    watcher events ─────────────────────────────┼─▶ queue (de-duplicated)
    index.reindex ──────────────────────────────┘        │ batches
                                                          ▼
                             worker pool (parse) ─▶ single writer (one
                             transaction per batch, generation + 1)

Only the writer writes. A file is re-parsed only when its size, mtime or
extractor version changed (the reconcile stat pass) and its content hash
differs (decided in the worker).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.abc
import structlog

from axd.daemon.index.crawl import crawl
from axd.daemon.index.ignore import IgnoreMatch, IgnoreRules
from axd.daemon.index.languages import LANGUAGES, detect_language
from axd.daemon.index.worker import WorkerSettings, WorkItem
from axd.daemon.records import FileOutcome
from axd.daemon.store.diskspace import DISK_FULL, retry_on_full_disk

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import IndexConfig
    from axd.daemon.index.pool import WorkerPool
    from axd.daemon.store.store import BatchResult, Store

log = structlog.get_logger()
_T = TypeVar("_T")


@dataclass(slots=True)
class Pending:
    """A queued path: when it was queued and when its change happened."""

    queued_at: float  # monotonic
    event_time: float | None  # wall clock of the filesystem event, if any
    force: bool = False


@dataclass(slots=True)
class Progress:
    """What `index.progress` and `index.status` report while indexing."""

    files_total: int = 0
    files_done: int = 0
    last_batch_ms: float | None = None
    last_error: str | None = None
    batches: int = 0
    # Of the last committed batch (for metrics).
    last_skipped: dict[str, int] = field(default_factory=dict)
    last_parse_errors: int = 0


BatchListener = Callable[["BatchResult", list[float]], None]


@dataclass(slots=True)
class _Batch:
    items: list[WorkItem]
    deleted: list[str]
    event_times: list[float] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # as taken from the queue
    forced: set[str] = field(default_factory=set)


class Indexer:
    """Keeps one workspace's index equal to its files on disk."""

    def __init__(
        self,
        root: Path,
        store: Store,
        pool: WorkerPool,
        config: IndexConfig,
        write_limiter: anyio.CapacityLimiter,
    ) -> None:
        self.root = root
        self.store = store
        self.pool = pool
        self.config = config
        self.rules = IgnoreRules.load(root, config.exclude)
        # IgnoreRules caches per directory and is not thread-safe; the crawl,
        # batch planning and files.explain run in different threads.
        self.rules_lock = threading.Lock()
        self.queue: dict[str, Pending] = {}
        self.progress = Progress()
        self.ready = False  # the first full index has been committed
        self.failed: str | None = None
        # "disk_full" while a commit waits for space (#11, store/diskspace.py).
        self.paused: str | None = None
        self.listeners: list[BatchListener] = []
        self._inflight = 0
        self._wakeup = anyio.Event()
        self._changed = anyio.Event()  # replaced after every state change
        self._write_limiter = write_limiter
        self._rescan_requested = False
        self._reconciling = False
        # A cold first index (empty store) writes its batches without
        # resolving imports and resolves them all once before turning ready:
        # per-batch re-resolution grows with the index (perf/RESULTS.md).
        self._bulk = store.generation == 0
        self._deferred_batches = 0

    # -- what others ask ----------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Whether anything is queued or being processed."""
        return (
            bool(self.queue)
            or self._inflight > 0
            or self._rescan_requested
            or self._reconciling
        )

    @property
    def queue_depth(self) -> int:
        """Paths queued or in a batch being processed."""
        return len(self.queue) + self._inflight

    def oldest_age_s(self) -> float:
        """Age of the oldest queued path (0 when the queue is empty)."""
        if not self.queue:
            return 0.0
        first = next(iter(self.queue.values()))
        return time.monotonic() - first.queued_at

    def queue_position(self, path: str) -> int | None:
        """1-based position of `path` in the queue, or None."""
        for position, queued in enumerate(self.queue, start=1):
            if queued == path:
                return position
        return None

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
        now = time.monotonic()
        count = 0
        for path in paths:
            existing = self.queue.get(path)
            if existing is None:
                self.queue[path] = Pending(now, event_time, force)
            else:
                existing.force = existing.force or force
            count += 1
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
            self._fail(reason)

    def recover(self) -> None:
        """The cause of `fail` is gone: reconcile with the disk again."""
        if self.failed is not None:
            log.info("workspace_recovered", root=str(self.root))
        self.failed = None
        self.progress.last_error = None
        self.request_rescan()
        self._notify()

    def is_ignored(self, path: str, *, is_dir: bool) -> bool:
        """Whether the ignore rules exclude `path` (thread-safe)."""
        return self.ignore_match(path, is_dir=is_dir) is not None

    def ignore_match(self, path: str, *, is_dir: bool) -> IgnoreMatch | None:
        """The rule excluding `path`, or None (thread-safe)."""
        try:
            with self.rules_lock:
                return self.rules.match(path, is_dir=is_dir)
        except ValueError:
            return None

    @staticmethod
    def is_ignore_file(path: str) -> bool:
        """Whether editing `path` changes the ignore rules."""
        return IgnoreRules.is_ignore_file(path)

    def reload_rules(self) -> None:
        """Forget cached ignore rules (an ignore file changed)."""
        with self.rules_lock:
            self.rules.reload()

    async def enqueue_changes(
        self,
        paths: Iterable[str],
        *,
        event_time: float | None = None,
        created: Iterable[str] = (),
    ) -> None:
        """Queue what the watcher saw: files as they are, a new directory's
        files (a moved-in tree sends one event), a vanished directory's
        indexed files. `created`: paths whose event was a creation."""
        expanded = await anyio.to_thread.run_sync(
            self._expand, list(paths), set(created)
        )
        self.enqueue(expanded, event_time=event_time)

    def _expand(self, paths: list[str], created: set[str] | None = None) -> list[str]:
        """In a thread: the files an event on each path may have changed.

        The path itself is always queued (a file that became a directory
        leaves the index that way), and so is whatever the index holds
        under it (a directory that became a file, or vanished).
        """
        created = created or set()
        out: list[str] = []
        for path in paths:
            absolute = self.root / path
            out.append(path)
            known = self.store.paths_under(path)
            out += known
            try:
                is_dir = absolute.is_dir() and not absolute.is_symlink()
            except OSError:
                is_dir = False
            if not is_dir or self.is_ignored(path, is_dir=True):
                continue
            # A directory whose files we index sends events for them itself;
            # one created, moved in or unknown to us arrives as one event.
            if path in created or not known:
                out += self._files_under(path)
        return out

    def _files_under(self, directory: str) -> list[str]:
        found: list[str] = []
        stack = [directory]
        while stack:
            current = stack.pop()
            try:
                entries = list(os.scandir(self.root / current))
            except OSError:
                continue
            for entry in entries:
                relative = f"{current}/{entry.name}"
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if self.is_ignored(relative, is_dir=is_dir):
                    continue
                if is_dir:
                    stack.append(relative)
                else:
                    found.append(relative)
        return found

    # -- the pipeline -------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Reconcile, then index whatever is queued, until cancelled."""
        task_status.started()
        try:
            await self._reconcile()
        except Exception as exc:
            self._fail(f"initial crawl failed: {exc}")
            raise
        results_tx, results_rx = anyio.create_memory_object_stream[
            tuple[_Batch, list[FileOutcome]]
        ](2)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write_loop, results_rx)
            await self._dispatch_loop(tg, results_tx)

    async def _reconcile(self) -> None:
        """The stat pass: queue what differs from the index, drop the vanished."""
        # Cleared before the crawl: a request made while it runs (an ignore
        # file written in two steps) gets a pass of its own.
        self._rescan_requested = False
        self._reconciling = True
        try:
            await self._reconcile_once()
        finally:
            self._reconciling = False
            self._maybe_ready()
            self._notify()

    async def _reconcile_once(self) -> None:
        started = time.perf_counter()
        self.reload_rules()

        def plan() -> tuple[list[str], list[str], list[FileOutcome], int]:
            known = self.store.file_states()
            changed: list[str] = []
            outside: list[FileOutcome] = []
            seen: set[str] = set()
            with self.rules_lock:
                entries = list(
                    crawl(
                        self.root,
                        self.rules,
                        follow_symlinks=self.config.follow_symlinks,
                    )
                )
            for entry in entries:
                if not _utf8(entry.path):
                    # SQLite text and JSON need UTF-8; such names are left out.
                    log.warning(
                        "non_utf8_file_name",
                        path=entry.path.encode("utf-8", "backslashreplace").decode(),
                    )
                    continue
                seen.add(entry.path)
                if entry.skip_reason is not None:
                    state = known.get(entry.path)
                    if state is None or state.status != "skipped":
                        outside.append(
                            FileOutcome(
                                path=entry.path,
                                status="skipped",
                                skip_reason=entry.skip_reason,
                                detail=entry.detail,
                            )
                        )
                    continue
                state = known.get(entry.path)
                if (
                    state is None
                    or state.size != entry.size
                    or state.mtime_ns != entry.mtime_ns
                ) or (
                    state.language
                    and _version_of(state.language) != state.extractor_version
                ):
                    changed.append(entry.path)
            deleted = [path for path in known if path not in seen]
            return changed, deleted, outside, len(seen)

        changed, deleted, outside, total = await anyio.to_thread.run_sync(plan)
        if not await anyio.to_thread.run_sync(self.root.is_dir):
            # A vanished root crawls as empty: that is no reason to empty the
            # index. The watcher reports it and asks again when it is back.
            self.fail(f"workspace root {self.root} no longer exists")
            return
        if deleted or outside:
            await self._commit(_Batch([], deleted), outside)
        self.enqueue(changed)
        if not self.ready:
            self.progress.files_total = total
            self.progress.files_done = total - len(changed)
        log.info(
            "reconciled",
            root=str(self.root),
            files=total,
            changed=len(changed),
            deleted=len(deleted),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        self._maybe_ready()

    async def _dispatch_loop(
        self,
        tg: anyio.abc.TaskGroup,
        results: anyio.abc.ObjectSendStream[tuple[_Batch, list[FileOutcome]]],
    ) -> None:
        # A batch per worker in flight, plus one parsed batch waiting for the
        # writer: the pool never idles while the writer commits.
        slots = anyio.Semaphore(self.pool.size + 1)
        async with results:
            while True:
                if self._rescan_requested:
                    try:
                        await self._reconcile()
                    except Exception as exc:
                        log.exception("reconcile_failed", root=str(self.root))
                        self.progress.last_error = f"stat pass failed: {exc}"
                        self._notify()
                if not self.queue:
                    self._wakeup = anyio.Event()
                    if self.queue or self._rescan_requested:
                        continue
                    await self._wakeup.wait()
                    continue
                await slots.acquire()
                batch = self._take_batch()
                if batch is None:
                    slots.release()
                    continue
                tg.start_soon(self._parse, batch, results, slots)

    def _take_batch(self) -> _Batch | None:
        """Pop up to `batch_files` queued paths (no I/O on the event loop)."""
        paths: list[str] = []
        forced: set[str] = set()
        times: list[float] = []
        limit = max(1, self.config.batch_files)
        while self.queue and len(paths) < limit:
            path, pending = next(iter(self.queue.items()))
            del self.queue[path]
            paths.append(path)
            if pending.force:
                forced.add(path)
            if pending.event_time is not None:
                times.append(pending.event_time)
        if not paths:
            return None
        self._inflight += len(paths)
        batch = _Batch([], [], times)
        batch.paths = paths
        batch.forced = forced
        return batch

    def _plan_batch(self, batch: _Batch) -> None:
        """In a thread: split paths into work items and deletions."""
        states = self.store.file_states_of(batch.paths)
        for path in batch.paths:
            absolute = self.root / path
            try:
                is_file = absolute.is_file()
            except OSError:
                is_file = False
            if not is_file or self.is_ignored(path, is_dir=False) or not _utf8(path):
                if path in states:
                    batch.deleted.append(path)
                continue
            state = states.get(path)
            batch.items.append(
                WorkItem(
                    path=path,
                    known_hash=state.content_hash if state else None,
                    known_version=state.extractor_version if state else 0,
                    force=path in batch.forced,
                )
            )

    async def _parse(
        self,
        batch: _Batch,
        results: anyio.abc.ObjectSendStream[tuple[_Batch, list[FileOutcome]]],
        slots: anyio.Semaphore,
    ) -> None:
        try:
            await anyio.to_thread.run_sync(self._plan_batch, batch)
            outcomes = (
                await self.pool.run(self._settings(), batch.items)
                if batch.items
                else []
            )
            await results.send((batch, outcomes))
        except Exception as exc:
            # The batch is lost, not the workspace: the files stay as the
            # index had them until their next change or stat pass.
            self._batch_lost(batch)
            log.exception(
                "batch_parse_failed", root=str(self.root), files=len(batch.paths)
            )
            self.progress.last_error = (
                f"batch of {len(batch.paths)} files failed: {type(exc).__name__}: {exc}"
            )
        except BaseException:
            self._batch_lost(batch)
            raise
        finally:
            slots.release()

    def _batch_lost(self, batch: _Batch) -> None:
        """A batch taken from the queue will never reach the writer."""
        self._inflight -= len(batch.paths)
        self._maybe_ready()
        self._notify()

    def _settings(self) -> WorkerSettings:
        return WorkerSettings(
            root=str(self.root),
            max_file_bytes=self.config.max_file_bytes,
            max_line_bytes=self.config.max_line_bytes,
            max_chunk_bytes=self.config.max_chunk_bytes,
            parse_timeout_ms=self.config.parse_timeout_ms,
        )

    async def _write_loop(
        self, results: anyio.abc.ObjectReceiveStream[tuple[_Batch, list[FileOutcome]]]
    ) -> None:
        async with results:
            async for batch, outcomes in results:
                try:
                    await self._commit(batch, outcomes)
                finally:
                    self._inflight -= len(batch.paths)
                if self._bulk and self._deferred_batches and not self.busy:
                    await self._link_imports()
                self._maybe_ready()
                self._notify()

    async def _link_imports(self) -> None:
        """End of a bulk first index: resolve every import in one pass."""
        started = time.perf_counter()
        try:
            count = await self._write(self.store.relink_all)
        except Exception as exc:
            log.exception("import_linking_failed", root=str(self.root))
            self.progress.last_error = f"resolving imports failed: {exc}"
            return  # stays in bulk mode: retried after the next batch
        self._bulk = False
        log.info(
            "imports_linked",
            root=str(self.root),
            imports=count,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _commit(self, batch: _Batch, outcomes: list[FileOutcome]) -> None:
        started = time.perf_counter()
        missing = [o.path for o in outcomes if o.status == "missing"]
        kept = [o for o in outcomes if o.status != "missing"]
        deleted = batch.deleted + missing
        try:
            defer = self._bulk and any(o.status == "indexed" for o in kept)
            result = await self._write(
                lambda: self.store.apply_batch(kept, deleted, defer_links=defer)
            )
            if defer:
                self._deferred_batches += 1
        except Exception as exc:
            # The transaction rolled back: the index is still the last
            # committed generation. Record why; the files stay unindexed.
            log.exception("batch_failed", root=str(self.root), files=len(outcomes))
            self.progress.last_error = (
                f"batch of {len(outcomes)} files failed to commit: {exc}"
            )
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        skipped: dict[str, int] = {}
        for outcome in kept:
            if outcome.status == "skipped" and outcome.skip_reason:
                skipped[outcome.skip_reason] = skipped.get(outcome.skip_reason, 0) + 1
        self.progress.last_skipped = skipped
        self.progress.last_parse_errors = sum(
            o.extraction.parse_errors for o in kept if o.extraction is not None
        )
        self.progress.last_batch_ms = round(elapsed_ms, 2)
        self.progress.batches += 1
        if not self.ready:
            self.progress.files_done += len(batch.paths)
        now = time.time()
        freshness = [max(0.0, now - t) for t in batch.event_times]
        for listener in self.listeners:
            try:
                listener(result, freshness)
            except Exception:
                log.exception("batch_listener_failed")

    async def _write(self, write: Callable[[], _T]) -> _T:
        """A store write in a thread; on a full disk it is rolled back, the
        workspace is degraded and the same write retried when space is back
        (#11): nothing is lost and nothing partial turns the index ready."""

        def pause(reason: str) -> None:
            self.paused, self.progress.last_error = DISK_FULL, reason
            log.error("indexing_paused", root=str(self.root), reason=reason)
            self._notify()

        def resume() -> None:
            self.paused = self.progress.last_error = None
            log.info("indexing_resumed", root=str(self.root))
            self._notify()

        return await retry_on_full_disk(
            write,
            state_path=self.store.path.parent,
            min_free_bytes=self.config.min_free_bytes,
            retry_s=self.config.disk_retry_s,
            limiter=self._write_limiter,
            on_pause=pause,
            on_resume=resume,
        )

    def _maybe_ready(self) -> None:
        if self._bulk and self._deferred_batches:
            return  # the write loop links imports first, then calls again
        if (
            not self.ready
            and not self.queue
            and self._inflight == 0
            and not self._rescan_requested
            and not self._reconciling
        ):
            self._bulk = False
            self.ready = True
            self.progress.files_done = self.progress.files_total
            log.info(
                "workspace_ready", root=str(self.root), generation=self.store.generation
            )
            self._notify()

    def _fail(self, reason: str) -> None:
        self.failed = reason
        self.progress.last_error = reason
        log.error("workspace_failed", root=str(self.root), reason=reason)
        self._notify()

    def _notify(self) -> None:
        event, self._changed = self._changed, anyio.Event()
        event.set()


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _version_of(language: str) -> int:
    spec = LANGUAGES.get(language)
    return spec.extractor_version if spec else 0


def relative_path(root: Path, path: str) -> str:
    """`path` (absolute or relative to `root`) as a workspace-relative path."""
    joined = os.path.normpath(os.path.join(root, path))
    return os.path.relpath(joined, root).replace(os.sep, "/")


__all__ = ["Indexer", "Pending", "Progress", "detect_language", "relative_path"]
