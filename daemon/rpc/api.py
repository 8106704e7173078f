"""The workspace, index and query methods: params in, wire results out.

Handlers validate and normalise (root → workspace, paths → workspace-relative),
honour `require_ready` / `min_generation`, and run SQLite reads in threads
so a query never blocks the event loop or waits for indexing.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import apsw

from axd.daemon.index.languages import canonical_language
from axd.daemon.query import graph
from axd.daemon.query import search as ranking
from axd.daemon.query import symbols as query
from axd.daemon.records import SKIP_REASONS, SYMBOL_KINDS
from axd.daemon.store.store import StoreCounts, read_generation
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.errors import ErrorCode, RpcError, invalid_params, invalid_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.store.store import Store
    from axd.daemon.workspaces import Workspace, WorkspaceManager

T = TypeVar("T")

# Reads run in threads; SQLite releases the GIL while it works, and WAL lets
# many readers run beside the single writer.
READ_THREADS = 8


class Api:
    """Registers and serves the workspace/index/query methods."""

    def __init__(self, manager: WorkspaceManager) -> None:
        self.manager = manager
        self._readers = anyio.CapacityLimiter(READ_THREADS)

    def register(self, registry: Registry) -> None:
        """Route every method this module serves."""
        r = registry.register
        r(m.WORKSPACE_ADD, self.workspace_add)
        r(m.WORKSPACE_REMOVE, self.workspace_remove)
        r(m.WORKSPACE_LIST, self.workspace_list)
        r(m.INDEX_STATUS, self.index_status)
        r(m.INDEX_WAIT, self.index_wait)
        r(m.INDEX_REINDEX, self.index_reindex)
        r(m.FILES_EXPLAIN, self.files_explain)
        r(m.SEARCH, self.search)
        r(m.SYMBOLS_DEFINITION, self.definition)
        r(m.SYMBOLS_REFERENCES, self.references)
        r(m.SYMBOLS_OUTLINE, self.outline)
        r(m.SYMBOLS_SEARCH, self.symbol_search)
        r(m.CHUNKS_GET, self.chunks)
        r(m.GRAPH_IMPORTS, self.imports)
        r(m.GRAPH_IMPORTERS, self.importers)
        r(m.GRAPH_DEPENDENCIES, self.dependencies)
        r(m.GRAPH_DEPENDENTS, self.dependents)
        r(m.GRAPH_CYCLES, self.cycles)

    # -- workspaces and indexing ------------------------------------------------------

    async def workspace_add(
        self, p: t.WorkspaceAddParams, ctx: RequestContext
    ) -> t.WorkspaceAdded:
        ws = await self.manager.add(p.root)
        return t.WorkspaceAdded(root=ws.root, id=ws.id, state=ws.state)  # type: ignore[arg-type]

    async def workspace_remove(
        self, p: t.WorkspaceRemoveParams, ctx: RequestContext
    ) -> t.Ok:
        await self.manager.remove(p.root, purge=p.purge)
        return t.Ok(ok=True)

    async def workspace_list(self, p: t.Empty, ctx: RequestContext) -> t.WorkspaceList:
        entries = []
        for root in self.manager.roots():
            ws = self.manager.workspaces[root]
            counts = await self._counts(ws)
            entries.append(
                t.WorkspaceEntry(
                    root=ws.root,
                    id=ws.id,
                    state=ws.state,  # type: ignore[arg-type]
                    files=counts.files_indexed,
                    chunks=counts.chunks,
                    symbols=counts.symbols,
                    generation=ws.generation,
                    last_indexed_at=ws.last_indexed_at,
                )
            )
        return t.WorkspaceList(workspaces=entries)

    async def index_status(self, p: t.RootParams, ctx: RequestContext) -> t.IndexStatus:
        return await self.status_of(self.manager.find(p.root))

    async def status_of(self, ws: Workspace) -> t.IndexStatus:
        """`index.status` of one workspace."""
        counts = await self._counts(ws)
        skipped = {
            reason: n
            for reason, n in counts.files_skipped.items()
            if n and reason in SKIP_REASONS
        }
        indexer = ws.indexer
        return t.IndexStatus(
            root=ws.root,
            state=ws.state,  # type: ignore[arg-type]
            generation=ws.generation,
            files_total=counts.files_indexed + sum(skipped.values()),
            files_indexed=counts.files_indexed,
            files_skipped=skipped,
            queue_depth=indexer.queue_depth,
            languages=dict(sorted(counts.languages.items())),
            last_error=ws.error
            or indexer.failed
            or indexer.progress.last_error
            or ws.degraded,  # index safety (#11): why it is degraded
            last_batch_ms=indexer.progress.last_batch_ms,
        )

    async def index_wait(
        self, p: t.IndexWaitParams, ctx: RequestContext
    ) -> t.IndexStatus:
        if p.timeout_s < 0:
            raise invalid_params("timeout_s must be >= 0", "$.timeout_s")
        ws = self.manager.find(p.root)
        await self.manager.wait(ws, p.generation, p.timeout_s)
        return await self.status_of(ws)

    async def index_reindex(
        self, p: t.IndexReindexParams, ctx: RequestContext
    ) -> t.Queued:
        ws = self.manager.find(p.root)
        if p.paths is None:
            if p.force:
                paths = await self._read(ws, lambda store: list(store.file_states()))
                return t.Queued(queued=ws.indexer.enqueue(paths, force=True))
            ws.indexer.request_rescan()
            return t.Queued(queued=0)
        relative = [
            self.relative(ws, path, field=f"$.paths[{i}]")
            for i, path in enumerate(p.paths)
        ]
        return t.Queued(queued=ws.indexer.enqueue(relative, force=p.force))

    async def files_explain(
        self, p: t.FilesExplainParams, ctx: RequestContext
    ) -> t.FileExplanation:
        ws = self.manager.find(p.root)
        path = self.relative(ws, p.path, must_exist=True)
        return await anyio.to_thread.run_sync(
            self._explain, ws, path, limiter=self._readers
        )

    def _explain(self, ws: Workspace, path: str) -> t.FileExplanation:
        generation = ws.generation
        is_dir = os.path.isdir(os.path.join(ws.root, path))
        rule = ws.indexer.ignore_match(path, is_dir=is_dir)
        base: dict[str, Any] = {
            "path": path,
            "indexed": False,
            "language": None,
            "reason": None,
            "rule": None,
            "size": _size(os.path.join(ws.root, path)),
            "generation": generation,
            "chunks": 0,
            "symbols": 0,
            "parse_errors": 0,
            "queued": False,
        }
        if rule is not None:
            base["reason"] = "ignored"
            base["rule"] = t.IgnoreRule(
                source=rule.source, line=rule.line, pattern=rule.pattern
            )
            return t.FileExplanation(**base)
        if is_dir:
            base["reason"] = "directory"
            return t.FileExplanation(**base)
        position = ws.indexer.queue_position(path)
        if position is not None:
            base.update(queued=True, queue_position=position)
        info = ws.store.file_info(path)
        if info is None:
            if position is None:
                base["reason"] = "not_crawled"
                base["detail"] = (
                    "not seen by the crawl (e.g. inside a symlinked directory)"
                )
            return t.FileExplanation(**base)
        # A file with a row reports the generation that last changed it (so
        # a client can tell whether a batch re-parsed it); others report the
        # workspace's current generation.
        base.update(language=info.language, size=info.size, generation=info.generation)
        if info.indexed:
            base.update(
                indexed=True,
                chunks=info.chunks,
                symbols=info.symbols,
                parse_errors=info.parse_errors,
            )
        else:
            base.update(reason=info.skip_reason, detail=info.detail)
        return t.FileExplanation(**base)

    # -- queries ---------------------------------------------------------------------

    async def search(self, p: t.SearchParams, ctx: RequestContext) -> t.SearchResult:
        _check_limit(p.limit, "$.limit")
        if p.offset < 0:
            raise invalid_params("offset must be >= 0", "$.offset")
        languages = _languages(p.languages)
        kinds = _kinds(p.kinds, "$.kinds")
        ws, started = await self._prepare(p)
        hits, generation = await self._query(
            ws,
            lambda conn: ranking.search(
                conn,
                p.query,
                limit=p.limit,
                offset=p.offset,
                languages=languages,
                path_globs=p.paths,
                kinds=kinds,
            ),
        )
        return t.SearchResult(
            results=hits, generation=generation, took_ms=_since(started)
        )

    async def definition(
        self, p: t.DefinitionParams, ctx: RequestContext
    ) -> t.DefinitionResult:
        if p.kind is not None:
            _kinds([p.kind], "$.kind")
        ws, started = await self._prepare(p)
        path = self.relative(ws, p.path, field="$.path") if p.path else None
        found, generation = await self._query(
            ws, lambda c: query.definitions(c, p.name, kind=p.kind, path=path)
        )
        return t.DefinitionResult(
            definitions=found, generation=generation, took_ms=_since(started)
        )

    async def references(
        self, p: t.ReferencesParams, ctx: RequestContext
    ) -> t.ReferencesResult:
        _check_limit(p.limit, "$.limit", maximum=100_000)
        ws, started = await self._prepare(p)
        path = self.relative(ws, p.path, field="$.path") if p.path else None
        found, generation = await self._query(
            ws, lambda c: query.references(c, p.name, path=path, limit=p.limit)
        )
        return t.ReferencesResult(
            references=found, generation=generation, took_ms=_since(started)
        )

    async def outline(self, p: t.PathParams, ctx: RequestContext) -> t.OutlineResult:
        found, generation, took = await self._on_file(p, query.outline)
        return t.OutlineResult(symbols=found, generation=generation, took_ms=took)

    async def symbol_search(
        self, p: t.SymbolSearchParams, ctx: RequestContext
    ) -> t.SymbolSearchResult:
        _check_limit(p.limit, "$.limit")
        kinds = _kinds(p.kinds, "$.kinds")
        ws, started = await self._prepare(p)
        found, generation = await self._query(
            ws, lambda c: query.symbol_search(c, p.query, limit=p.limit, kinds=kinds)
        )
        return t.SymbolSearchResult(
            symbols=found, generation=generation, took_ms=_since(started)
        )

    async def chunks(self, p: t.ChunksParams, ctx: RequestContext) -> t.ChunksResult:
        if p.line is not None and p.line < 1:
            raise invalid_params("line is 1-based", "$.line")
        found, generation, took = await self._on_file(
            p, lambda c, path: query.chunks(c, path, line=p.line)
        )
        return t.ChunksResult(chunks=found, generation=generation, took_ms=took)

    async def imports(self, p: t.PathParams, ctx: RequestContext) -> t.ImportsResult:
        found, generation, took = await self._on_file(p, graph.imports)
        return t.ImportsResult(imports=found, generation=generation, took_ms=took)

    async def importers(
        self, p: t.PathParams, ctx: RequestContext
    ) -> t.ImportersResult:
        found, generation, took = await self._on_file(p, graph.importers)
        return t.ImportersResult(importers=found, generation=generation, took_ms=took)

    async def dependencies(
        self, p: t.GraphWalkParams, ctx: RequestContext
    ) -> t.GraphWalkResult:
        return await self._walk(p, graph.dependencies)

    async def dependents(
        self, p: t.GraphWalkParams, ctx: RequestContext
    ) -> t.GraphWalkResult:
        return await self._walk(p, graph.dependents)

    async def _walk(
        self, p: t.GraphWalkParams, walk: Callable[..., list[t.GraphPath]]
    ) -> t.GraphWalkResult:
        if p.depth is not None and p.depth < 1:
            raise invalid_params("depth must be >= 1 (omit it for no limit)", "$.depth")
        found, generation, took = await self._on_file(
            p, lambda c, path: walk(c, path, depth=p.depth)
        )
        return t.GraphWalkResult(paths=found, generation=generation, took_ms=took)

    async def cycles(self, p: t.CyclesParams, ctx: RequestContext) -> t.CyclesResult:
        _check_limit(p.limit, "$.limit", maximum=100_000)
        ws, started = await self._prepare(p)
        found, generation = await self._query(
            ws, lambda c: graph.cycles(c, limit=p.limit)
        )
        return t.CyclesResult(
            cycles=found, generation=generation, took_ms=_since(started)
        )

    # -- helpers -----------------------------------------------------------------------

    async def _prepare(self, p: t.QueryParams) -> tuple[Workspace, float]:
        started = time.perf_counter()
        if p.timeout_s < 0:
            raise invalid_params("timeout_s must be >= 0", "$.timeout_s")
        ws = self.manager.find(p.root)
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
            await self.manager.wait_generation(ws, p.min_generation, p.timeout_s)
        return ws, started

    async def _on_file(
        self, p: t.PathParams, fn: Callable[[apsw.Connection, str], T]
    ) -> tuple[T, int, float]:
        """A query about one existing file: (result, generation, took_ms)."""
        ws, started = await self._prepare(p)
        path = self.relative(ws, p.path, must_exist=True)
        found, generation = await self._query(ws, lambda c: fn(c, path))
        return found, generation, _since(started)

    async def _counts(self, ws: Workspace) -> StoreCounts:
        """The store's totals; none while its schema is rolled back (#11)."""
        try:
            return await self._read(ws, lambda store: store.counts())
        except apsw.SQLError:
            if not ws.unservable:
                raise
            return StoreCounts()

    async def _read(self, ws: Workspace, fn: Callable[[Store], T]) -> T:
        """Run a store method in a reader thread."""
        return await anyio.to_thread.run_sync(fn, ws.store, limiter=self._readers)

    async def _query(
        self, ws: Workspace, fn: Callable[[apsw.Connection], T]
    ) -> tuple[T, int]:
        """Run a query on one snapshot; its result and that snapshot's generation."""

        def run() -> tuple[T, int]:
            with ws.store.reader() as conn:
                return fn(conn), read_generation(conn)

        return await anyio.to_thread.run_sync(run, limiter=self._readers)

    @staticmethod
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


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _check_limit(value: int, field: str, maximum: int = 1000) -> None:
    if value < 1 or value > maximum:
        raise invalid_params(f"{field[2:]} must be between 1 and {maximum}", field)


def _languages(names: list[str] | None) -> list[str] | None:
    if names is None:
        return None
    canonical = []
    for index, name in enumerate(names):
        language = canonical_language(name)
        if language is None:
            raise invalid_params(f"unknown language {name!r}", f"$.languages[{index}]")
        canonical.append(language)
    return canonical


def _kinds(kinds: list[str] | None, field: str) -> list[str] | None:
    if kinds is None:
        return None
    for index, kind in enumerate(kinds):
        if kind not in SYMBOL_KINDS:
            where = f"{field}[{index}]" if field.endswith("s") else field
            raise invalid_params(
                f"unknown kind {kind!r}; one of {', '.join(sorted(SYMBOL_KINDS))}",
                where,
            )
    return kinds
