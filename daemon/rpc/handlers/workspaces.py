"""`workspace.*`, `index.*` and `files.explain`: which roots are indexed,
how far indexing is, and why a file is (not) in the index."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from axd.daemon.records import SKIP_REASONS
from axd.daemon.rpc.handlers.reads import relative
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.errors import invalid_params

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services
    from axd.daemon.workspaces import Workspace


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods."""
    handlers = _Workspaces(services)
    r = registry.register
    r(m.WORKSPACE_ADD, handlers.workspace_add)
    r(m.WORKSPACE_REMOVE, handlers.workspace_remove)
    r(m.WORKSPACE_LIST, handlers.workspace_list)
    r(m.INDEX_STATUS, handlers.index_status)
    r(m.INDEX_WAIT, handlers.index_wait, waits=lambda p: p.timeout_s)
    r(m.INDEX_REINDEX, handlers.index_reindex)
    r(m.FILES_EXPLAIN, handlers.files_explain)


class _Workspaces:
    def __init__(self, services: Services) -> None:
        self.manager = services.workspaces
        self.reads = services.reads

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
            counts = await self.reads.counts(ws)
            ws = self.manager.workspaces.get(root, ws)  # reopened meanwhile (#11)
            generation = ws.generation
            await self.reads.announced(ws, generation)
            entries.append(
                t.WorkspaceEntry(
                    root=ws.root,
                    id=ws.id,
                    state=ws.state,  # type: ignore[arg-type]
                    files=counts.files_indexed,
                    chunks=counts.chunks,
                    symbols=counts.symbols,
                    generation=generation,
                    last_indexed_at=ws.last_indexed_at,
                )
            )
        return t.WorkspaceList(workspaces=entries)

    async def index_status(self, p: t.RootParams, ctx: RequestContext) -> t.IndexStatus:
        return await self._status_of(self.manager.find(p.root))

    async def _status_of(self, ws: Workspace) -> t.IndexStatus:
        counts = await self.reads.counts(ws)
        # The counts may come from a replacement (#11: a reopened index).
        ws = self.manager.workspaces.get(ws.root, ws)
        skipped = {
            reason: n
            for reason, n in counts.files_skipped.items()
            if n and reason in SKIP_REASONS
        }
        indexer = ws.indexer
        status = t.IndexStatus(
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
        await self.reads.announced(ws, status.generation)  # after its index.changed
        return status

    async def index_wait(
        self, p: t.IndexWaitParams, ctx: RequestContext
    ) -> t.IndexStatus:
        if p.timeout_s < 0:
            raise invalid_params("timeout_s must be >= 0", "$.timeout_s")
        ws = self.manager.find(p.root)
        await self.manager.wait(ws, p.generation, p.timeout_s)
        return await self._status_of(ws)

    async def index_reindex(
        self, p: t.IndexReindexParams, ctx: RequestContext
    ) -> t.Queued:
        ws = self.manager.find(p.root)
        if p.paths is None:
            if p.force:
                paths = await self.reads.store(
                    ws, lambda store: list(store.file_states())
                )
                return t.Queued(queued=ws.indexer.enqueue(paths, force=True))
            ws.indexer.request_rescan()
            return t.Queued(queued=0)
        paths = [
            relative(ws, path, field=f"$.paths[{i}]") for i, path in enumerate(p.paths)
        ]
        return t.Queued(queued=ws.indexer.enqueue(paths, force=p.force))

    async def files_explain(
        self, p: t.FilesExplainParams, ctx: RequestContext
    ) -> t.FileExplanation:
        ws = self.manager.find(p.root)
        path = relative(ws, p.path, must_exist=True)
        found = await self.reads.thread(lambda: _explain(ws, path))
        await self.reads.announced(ws, ws.generation)  # what it read is no newer
        return found


def _explain(ws: Workspace, path: str) -> t.FileExplanation:
    """In a thread: why `path` is (not) indexed."""
    generation = ws.generation
    is_dir = os.path.isdir(os.path.join(ws.root, path))
    rule = ws.rules.match(path, is_dir=is_dir)
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
            base["detail"] = "not seen by the crawl (e.g. inside a symlinked directory)"
        return t.FileExplanation(**base)
    # A file with a row reports the generation that last changed it (so a
    # client can tell whether a batch re-parsed it); others report the
    # workspace's current generation.
    base.update(language=info.language, size=info.size, generation=info.generation)
    if info.indexed:
        base.update(
            indexed=True,
            chunks=info.chunks,
            symbols=info.symbols,
            parse_errors=info.parse_errors,
            detail=info.detail,  # what per-file limits left out, if any
        )
    else:
        base.update(reason=info.skip_reason, detail=info.detail)
    return t.FileExplanation(**base)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
