"""`search`, `symbols.*` and `chunks.get`: reading the index
(`daemon/query/`), on one snapshot per request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.daemon.query import search as ranking
from axd.daemon.query import symbols as query
from axd.daemon.rpc.handlers.reads import check_limit, kinds, languages, relative, since
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.errors import invalid_params

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods."""
    handlers = _Queries(services)
    r = registry.register
    r(m.SEARCH, handlers.search)
    r(m.SYMBOLS_DEFINITION, handlers.definition)
    r(m.SYMBOLS_REFERENCES, handlers.references)
    r(m.SYMBOLS_OUTLINE, handlers.outline)
    r(m.SYMBOLS_SEARCH, handlers.symbol_search)
    r(m.CHUNKS_GET, handlers.chunks)


class _Queries:
    def __init__(self, services: Services) -> None:
        self.reads = services.reads

    async def search(self, p: t.SearchParams, ctx: RequestContext) -> t.SearchResult:
        check_limit(p.limit, "$.limit")
        if p.offset < 0:
            raise invalid_params("offset must be >= 0", "$.offset")
        wanted_languages = languages(p.languages)
        wanted_kinds = kinds(p.kinds, "$.kinds")
        ws, started = await self.reads.prepare(p)
        hits, generation = await self.reads.query(
            ws,
            lambda conn: ranking.search(
                conn,
                p.query,
                limit=p.limit,
                offset=p.offset,
                languages=wanted_languages,
                path_globs=p.paths,
                kinds=wanted_kinds,
            ),
        )
        return t.SearchResult(
            results=hits, generation=generation, took_ms=since(started)
        )

    async def definition(
        self, p: t.DefinitionParams, ctx: RequestContext
    ) -> t.DefinitionResult:
        if p.kind is not None:
            kinds([p.kind], "$.kind")
        ws, started = await self.reads.prepare(p)
        path = relative(ws, p.path, field="$.path") if p.path else None
        found, generation = await self.reads.query(
            ws, lambda c: query.definitions(c, p.name, kind=p.kind, path=path)
        )
        return t.DefinitionResult(
            definitions=found, generation=generation, took_ms=since(started)
        )

    async def references(
        self, p: t.ReferencesParams, ctx: RequestContext
    ) -> t.ReferencesResult:
        check_limit(p.limit, "$.limit", maximum=100_000)
        ws, started = await self.reads.prepare(p)
        path = relative(ws, p.path, field="$.path") if p.path else None
        found, generation = await self.reads.query(
            ws, lambda c: query.references(c, p.name, path=path, limit=p.limit)
        )
        return t.ReferencesResult(
            references=found, generation=generation, took_ms=since(started)
        )

    async def outline(self, p: t.PathParams, ctx: RequestContext) -> t.OutlineResult:
        found, generation, took = await self.reads.on_file(p, query.outline)
        return t.OutlineResult(symbols=found, generation=generation, took_ms=took)

    async def symbol_search(
        self, p: t.SymbolSearchParams, ctx: RequestContext
    ) -> t.SymbolSearchResult:
        check_limit(p.limit, "$.limit")
        wanted_kinds = kinds(p.kinds, "$.kinds")
        ws, started = await self.reads.prepare(p)
        found, generation = await self.reads.query(
            ws,
            lambda c: query.symbol_search(
                c, p.query, limit=p.limit, kinds=wanted_kinds
            ),
        )
        return t.SymbolSearchResult(
            symbols=found, generation=generation, took_ms=since(started)
        )

    async def chunks(self, p: t.ChunksParams, ctx: RequestContext) -> t.ChunksResult:
        if p.line is not None and p.line < 1:
            raise invalid_params("line is 1-based", "$.line")
        found, generation, took = await self.reads.on_file(
            p, lambda c, path: query.chunks(c, path, line=p.line)
        )
        return t.ChunksResult(chunks=found, generation=generation, took_ms=took)
