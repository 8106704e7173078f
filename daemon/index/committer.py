"""Turning planned batches into committed generations: the doing half of
the indexing pipeline.

The committer sends a batch's work items to the worker pool, hands the
records to the workspace's one writer (one transaction per batch), and
publishes one `BatchCommitted` per commit on the daemon's events, in the
writer's announcement of the commit (`Writer.apply_batch`'s `on_commit`: on
the loop, before any query reply from that generation may leave, #16): that
is how subscriptions (`index.changed`), metrics, health and the workspace
list learn of it. It counts nothing itself.

A cold first index (empty store) writes its batches without resolving
imports and resolves them all once at the end (`link_imports`): per-batch
re-resolution grows with the index (perf/RESULTS.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import anyio
import msgspec
import structlog

from axd.daemon.events import BatchCommitted, FileChange, WorkspaceStateChanged
from axd.daemon.flags.runtime import flag_on
from axd.daemon.index import heap
from axd.daemon.index.worker import WorkerSettings
from axd.daemon.store.diskspace import retry_on_full_disk

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from pathlib import Path

    from axd.daemon.config import IndexConfig
    from axd.daemon.events import Events
    from axd.daemon.index.planner import Batch
    from axd.daemon.index.pool import WorkerPool
    from axd.daemon.records import FileOutcome
    from axd.daemon.store.store import BatchResult
    from axd.daemon.store.writer import Writer

log = structlog.get_logger()
_T = TypeVar("_T")


@dataclass(slots=True)
class Progress:
    """What `index.progress` and `index.status` report while indexing."""

    files_total: int = 0
    files_done: int = 0
    last_batch_ms: float | None = None
    last_error: str | None = None
    batches: int = 0


class Committer:
    """Parses batches in the pool and commits them through the writer."""

    def __init__(
        self,
        root: Path,
        workspace_id: str,
        writer: Writer,
        pool: WorkerPool,
        config: IndexConfig,
        events: Events,
    ) -> None:
        self.root = root
        self.workspace_id = workspace_id
        self.writer = writer
        self.pool = pool
        self.events = events
        self.config = config
        self.progress = Progress()
        # "disk_full" while a commit waits for space, "database_locked" while
        # another process holds the database's lock (store/diskspace.py).
        self.paused: str | None = None
        self._settings = WorkerSettings(
            root=str(root),
            max_file_bytes=config.max_file_bytes,
            max_line_bytes=config.max_line_bytes,
            max_chunk_bytes=config.max_chunk_bytes,
            parse_timeout_ms=config.parse_timeout_ms,
        )
        # A first index, or a rebuild from scratch (which starts above the
        # generation floor, not at 0): links imports once, at the end.
        self._bulk = writer.store.generation == 0 or writer.store.is_empty()
        self._deferred_batches = 0

    @property
    def linking_pending(self) -> bool:
        """Batches were written without import links; `link_imports` is due."""
        return self._bulk and self._deferred_batches > 0

    def end_bulk(self) -> None:
        """The first index is complete: link imports per batch from now on."""
        self._bulk = False

    async def parse(self, batch: Batch) -> list[FileOutcome]:
        """The records of a batch's work items (no I/O on the event loop)."""
        if not batch.items:
            return []
        return await self.pool.run(self._worker_settings(), batch.items)

    def _worker_settings(self) -> WorkerSettings:
        """The limits for the next batch; read per batch because a flag may
        change them at run time."""
        if flag_on("index.fine_chunks"):  # flags/runtime.py: half-size chunks
            half = self._settings.max_chunk_bytes // 2
            return msgspec.structs.replace(self._settings, max_chunk_bytes=half)
        return self._settings

    async def commit(
        self,
        deleted: list[str],
        outcomes: list[FileOutcome],
        event_times: Sequence[float] = (),
    ) -> bool:
        """Write one batch in one transaction and publish it; False if it
        rolled back (the index stays at the last committed generation)."""
        started = time.perf_counter()
        missing = [o.path for o in outcomes if o.status == "missing"]
        kept = [o for o in outcomes if o.status != "missing"]
        defer = self._bulk and any(o.status == "indexed" for o in kept)

        def announce(result: BatchResult) -> None:
            # On the loop right after COMMIT, before the writer lets replies
            # from this generation go (`Writer.announced`).
            try:
                self.events.publish(
                    _committed(self.root, self.workspace_id, result, kept, event_times)
                )
            except Exception:  # the batch is committed whatever happens here
                log.exception("batch_event_failed", root=str(self.root))

        try:
            await self._write(
                lambda: self.writer.apply_batch(
                    kept, deleted + missing, defer_links=defer, on_commit=announce
                )
            )
        except Exception as exc:
            log.exception("batch_failed", root=str(self.root), files=len(outcomes))
            self.progress.last_error = (
                f"batch of {len(outcomes)} files failed to commit: {exc}"
            )
            return False
        if defer:
            self._deferred_batches += 1
        elapsed = time.perf_counter() - started
        self.progress.last_batch_ms = round(elapsed * 1000, 2)
        self.progress.batches += 1
        return True

    async def link_imports(self) -> None:
        """End of a bulk first index: resolve every import in one pass."""
        started = time.perf_counter()
        try:
            count = await self._write(self.writer.relink_all)
        except Exception as exc:
            log.exception("import_linking_failed", root=str(self.root))
            self.progress.last_error = f"resolving imports failed: {exc}"
            return  # stays in bulk mode: retried after the next batch
        self._bulk = False
        # The end of a first index allocates and frees more than any batch
        # (the name indexes' sorts, one transaction over every import), and
        # no batch follows to trigger the pool's trims: give it back now.
        await anyio.to_thread.run_sync(heap.trim)
        log.info(
            "imports_linked",
            root=str(self.root),
            imports=count,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def refresh_links(self) -> None:
        """Resolve every import again, once, when the index was linked under
        other import rules (an upgraded axd: `resolve.RULES_VERSION`), so a
        warm start gets the new rules without re-parsing anything. Not during
        a first index: its own `link_imports` uses the current rules."""
        if self._bulk or not self.writer.store.import_rules_outdated():
            return
        started = time.perf_counter()
        try:
            count = await self._write(self.writer.relink_all)
        except Exception:
            # Asked again at the next start; the old edges stay meanwhile.
            log.exception("import_relinking_failed", root=str(self.root))
            return
        log.info(
            "imports_relinked",
            root=str(self.root),
            imports=count,
            reason="import rules changed",
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def _write(self, write: Callable[[], Awaitable[_T]]) -> _T:
        """A write through the writer; on a full disk (or a database locked
        by another process) it is rolled back, the workspace is degraded and
        the same write retried when space (or the lock) is back (#11):
        nothing is lost and nothing partial turns the index ready."""

        def pause(kind: str, reason: str) -> None:
            self.paused, self.progress.last_error = kind, reason
            log.error("indexing_paused", root=str(self.root), reason=reason)
            self._state_changed("degraded", reason)

        def resume() -> None:
            self.paused = self.progress.last_error = None
            log.info("indexing_resumed", root=str(self.root))
            self._state_changed("indexing", None)

        return await retry_on_full_disk(
            write,
            state_path=self.writer.store.path.parent,
            min_free_bytes=self.config.min_free_bytes,
            retry_s=self.config.disk_retry_s,
            on_pause=pause,
            on_resume=resume,
        )

    def _state_changed(self, state: str, reason: str | None) -> None:
        self.events.publish(
            WorkspaceStateChanged(str(self.root), self.workspace_id, state, reason)
        )


def _committed(
    root: Path,
    workspace_id: str,
    result: BatchResult,
    kept: list[FileOutcome],
    event_times: Sequence[float],
) -> BatchCommitted:
    """The event announcing one committed batch."""
    skipped: dict[str, int] = {}
    for outcome in kept:
        if outcome.status == "skipped" and outcome.skip_reason:
            skipped[outcome.skip_reason] = skipped.get(outcome.skip_reason, 0) + 1
    now = time.time()
    return BatchCommitted(
        root=str(root),
        workspace_id=workspace_id,
        generation=result.generation,
        changes=tuple(FileChange(p, kind) for p, kind in result.changes),
        seconds=result.ms / 1000,
        files_indexed=result.files_indexed,
        skipped=skipped,
        parse_errors=result.parse_errors,
        freshness_s=tuple(max(0.0, now - t) for t in event_times),
    )
