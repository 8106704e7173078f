"""What handlers share to read a workspace's index.

Roots and paths in params are resolved here (any path inside a workspace
finds it; paths become workspace-relative), `require_ready` and
`min_generation` are honoured, and SQLite reads run in worker threads behind
one limiter, so a query never blocks the event loop or waits for indexing.

A read that saw a generation the writer has not announced yet (its COMMIT
is visible, its `index.changed` is a loop step away) waits for that step
before it answers (`Writer.wait_announced`): a client never gets a reply
from a generation before that generation's notification (#16). The wait is
one loop step, rarely a few ms; a guard of `ANNOUNCE_WAIT_S` keeps a stuck
announcement from holding replies.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, TypeVar

import anyio
import apsw
import structlog

from axd.daemon.index.languages import canonical_language
from axd.daemon.records import SYMBOL_KINDS
from axd.daemon.store.store import (
    StoreClosedError,
    StoreCounts,
    StoreDamagedError,
    read_generation,
)
from axd.protocol.errors import ErrorCode, RpcError, invalid_params, invalid_path

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from axd.daemon.store.store import Store
    from axd.daemon.workspaces import Workspace, WorkspaceManager
    from axd.protocol import types as t

log = structlog.get_logger()
T = TypeVar("T")

# Reads run in threads; SQLite releases the GIL while it works, and WAL lets
# many readers run beside the single writer.
READ_THREADS = 8
# How long a request that met a workspace being replaced waits for the new
# one (a reopen from a snapshot of a 100k-file index takes ~30 s).
REPLACE_WAIT_S = 120.0
# Hang guard for a reply waiting for its generation's announcement (one loop
# step in practice).
ANNOUNCE_WAIT_S = 5.0


class Reads:
    """Read access to every workspace's index, for the handlers."""

    def __init__(self, workspaces: WorkspaceManager) -> None:
        self.workspaces = workspaces
        self._readers = anyio.CapacityLimiter(READ_THREADS)

    async def prepare(self, p: t.QueryParams) -> tuple[Workspace, float]:
        """The workspace of a query and its start time, once the query may run.

        :raises RpcError: NOT_READY with `require_ready` before the first
            index; TIMEOUT when `min_generation` is not reached in time.
        """
        started = time.perf_counter()
        if p.timeout_s < 0:
            raise invalid_params("timeout_s must be >= 0", "$.timeout_s")
        ws = self.workspaces.find(p.root)
        if ws.unservable:  # index safety (#11): rebuilding a damaged index
            raise RpcError(ErrorCode.NOT_READY, ws.unservable, state=ws.state)
        if p.require_ready and not ws.indexer.ready:
            raise RpcError(
                ErrorCode.NOT_READY,
                f"{ws.root} has not finished its first index",
                state=ws.state,
                generation=ws.generation,
            )
        if p.min_generation is not None and ws.generation < p.min_generation:
            await self.workspaces.wait_generation(ws, p.min_generation, p.timeout_s)
        return ws, started

    async def on_file(
        self, p: t.PathParams, fn: Callable[[apsw.Connection, str], T]
    ) -> tuple[T, int, float]:
        """A query about one existing file: (result, generation, took_ms)."""
        ws, started = await self.prepare(p)
        path = relative(ws, p.path, must_exist=True)
        found, generation = await self.query(ws, lambda c: fn(c, path))
        return found, generation, since(started)

    async def store(self, ws: Workspace, fn: Callable[[Store], T]) -> T:
        """Run a store method in a reader thread."""

        async def run(on: Workspace) -> T:
            found = await anyio.to_thread.run_sync(fn, on.store, limiter=self._readers)
            # The method's snapshot is not at hand: the newest commit bounds it.
            await _announced(on, on.store.generation)
            return found

        return await self._following(ws, run)

    async def _following(
        self, ws: Workspace, run: Callable[[Workspace], Awaitable[T]]
    ) -> T:
        """`run(ws)`; if its store was closed or found damaged because the
        workspace is being replaced (#11: a damaged index is quarantined and
        reopened from a snapshot), wait for the replacement and run there
        instead of answering an error. A replacement with nothing to serve
        yet answers NOT_READY with its reason."""
        try:
            return await run(ws)
        except (StoreClosedError, StoreDamagedError):
            fresh = await self._replacement(ws)
            if fresh is None:
                raise
        if fresh.unservable:
            raise RpcError(ErrorCode.NOT_READY, fresh.unservable, state=fresh.state)
        return await run(fresh)

    async def _replacement(self, ws: Workspace) -> Workspace | None:
        """The workspace that replaced `ws` once it has (None if it was
        removed, or none came within `REPLACE_WAIT_S`)."""
        with anyio.move_on_after(REPLACE_WAIT_S):
            while True:
                changed = ws.indexer.change_event()  # set when it is replaced
                current = self.workspaces.workspaces.get(ws.root)
                if current is not ws:
                    return current
                if ws.indexer.failed:
                    return None  # the reopen failed: the old one's error stands
                await changed.wait()
        return None

    async def counts(self, ws: Workspace) -> StoreCounts:
        """The store's totals; none while its schema is rolled back (#11)."""
        try:
            return await self.store(ws, lambda store: store.counts())
        except apsw.SQLError:
            if not ws.unservable:
                raise
            return StoreCounts()

    async def announced(self, ws: Workspace, generation: int) -> None:
        """Until `generation` of `ws` has been announced: for a reply that
        reports a generation it did not read from a snapshot."""
        await _announced(ws, generation)

    async def thread(self, fn: Callable[[], T]) -> T:
        """Run blocking work (file system, store) in a reader thread."""
        return await anyio.to_thread.run_sync(fn, limiter=self._readers)

    async def query(
        self, ws: Workspace, fn: Callable[[apsw.Connection], T]
    ) -> tuple[T, int]:
        """Run a query on one snapshot; its result and that snapshot's generation."""

        def read(on: Workspace) -> tuple[T, int]:
            with on.store.reader() as conn:
                return fn(conn), read_generation(conn)

        async def run(on: Workspace) -> tuple[T, int]:
            found = await anyio.to_thread.run_sync(read, on, limiter=self._readers)
            await _announced(on, found[1])
            return found

        return await self._following(ws, run)


async def _announced(ws: Workspace, generation: int) -> None:
    """Until `generation` of `ws` has been announced (module docstring)."""
    writer = ws.writer
    if writer.announced >= generation:
        return
    with anyio.move_on_after(ANNOUNCE_WAIT_S):
        await writer.wait_announced(generation)
    if writer.announced < generation:
        log.warning("reply_not_announced", root=ws.root, generation=generation)


def relative(
    ws: Workspace, path: str, *, must_exist: bool = False, field: str = "$.path"
) -> str:
    """`path` (absolute or workspace-relative) as a relative `/` path.

    :raises RpcError: INVALID_PATH when it escapes the root or, with
        `must_exist`, does not exist.
    """
    if not path:
        raise invalid_path("path must not be empty", path)
    joined = os.path.normpath(os.path.join(ws.root, path))
    if not ws.contains(joined):
        real = os.path.realpath(joined) if os.path.isabs(path) else joined
        if not ws.contains(real):
            raise invalid_path(f"{path} is outside the workspace {ws.root}", path)
        joined = real
    if must_exist and not os.path.lexists(joined):
        raise invalid_path(f"{path} does not exist", path)
    relative = os.path.relpath(joined, ws.root).replace(os.sep, "/")
    return "" if relative == "." else relative


def since(started: float) -> float:
    """Milliseconds since `started` (a perf_counter), for `took_ms`."""
    return round((time.perf_counter() - started) * 1000, 3)


def check_limit(value: int, field: str, maximum: int = 1000) -> None:
    """:raises RpcError: INVALID_PARAMS unless 1 <= value <= maximum."""
    if value < 1 or value > maximum:
        raise invalid_params(f"{field[2:]} must be between 1 and {maximum}", field)


def languages(names: list[str] | None) -> list[str] | None:
    """Canonical language names.

    :raises RpcError: INVALID_PARAMS for an unknown language.
    """
    if names is None:
        return None
    canonical = []
    for index, name in enumerate(names):
        language = canonical_language(name)
        if language is None:
            raise invalid_params(f"unknown language {name!r}", f"$.languages[{index}]")
        canonical.append(language)
    return canonical


def kinds(names: list[str] | None, field: str) -> list[str] | None:
    """Symbol kinds, checked.

    :raises RpcError: INVALID_PARAMS for an unknown kind.
    """
    if names is None:
        return None
    for index, kind in enumerate(names):
        if kind not in SYMBOL_KINDS:
            where = f"{field}[{index}]" if field.endswith("s") else field
            raise invalid_params(
                f"unknown kind {kind!r}; one of {', '.join(sorted(SYMBOL_KINDS))}",
                where,
            )
    return names


def waited(p: t.QueryParams) -> float:
    """How long a query may wait on purpose: `timeout_s` for `min_generation`
    (its deadline grows by that much, see `Registry.register`)."""
    return p.timeout_s if p.min_generation is not None else 0.0
