"""Params and results of the search, symbols.* and chunks.get queries."""

from __future__ import annotations

from axd.protocol.common import QueryResult, Range, Result, RootParams


class QueryParams(RootParams, frozen=True, kw_only=True):
    """Every query: `root`, and read-your-writes / readiness controls."""

    require_ready: bool = False
    min_generation: int | None = None
    timeout_s: float = 10.0


class PathParams(QueryParams, frozen=True, kw_only=True):
    path: str


class SearchParams(QueryParams, frozen=True, kw_only=True):
    query: str
    limit: int = 20
    offset: int = 0
    languages: list[str] | None = None
    paths: list[str] | None = None
    kinds: list[str] | None = None


class SearchFactors(Result, frozen=True, kw_only=True):
    text: float
    name: float
    docstring: float
    kind: float


class SearchHit(Result, frozen=True, kw_only=True):
    path: str
    language: str | None
    range: Range
    kind: str
    symbol: str | None
    score: float
    snippet: str
    factors: SearchFactors


class SearchResult(QueryResult, frozen=True, kw_only=True):
    results: list[SearchHit]
    total: int | None = None


class DefinitionParams(QueryParams, frozen=True, kw_only=True):
    name: str
    kind: str | None = None
    path: str | None = None


class Definition(Result, frozen=True, kw_only=True):
    name: str
    qualified_name: str
    kind: str
    path: str
    language: str | None
    range: Range
    selection_range: Range
    signature: str
    docstring: str | None


class DefinitionResult(QueryResult, frozen=True, kw_only=True):
    definitions: list[Definition]


class ReferencesParams(QueryParams, frozen=True, kw_only=True):
    name: str
    path: str | None = None
    limit: int = 200


class Reference(Result, frozen=True, kw_only=True):
    path: str
    range: Range
    kind: str
    context: str


class ReferencesResult(QueryResult, frozen=True, kw_only=True):
    references: list[Reference]


class OutlineSymbol(Result, frozen=True, kw_only=True):
    name: str
    kind: str
    range: Range
    selection_range: Range
    children: list[OutlineSymbol]
    qualified_name: str | None = None


class OutlineResult(QueryResult, frozen=True, kw_only=True):
    symbols: list[OutlineSymbol]


class SymbolSearchParams(QueryParams, frozen=True, kw_only=True):
    query: str
    limit: int = 50
    kinds: list[str] | None = None


class SymbolMatch(Result, frozen=True, kw_only=True):
    name: str
    qualified_name: str
    kind: str
    path: str
    range: Range
    score: float


class SymbolSearchResult(QueryResult, frozen=True, kw_only=True):
    symbols: list[SymbolMatch]


class ChunksParams(PathParams, frozen=True, kw_only=True):
    line: int | None = None


class Chunk(Result, frozen=True, kw_only=True):
    id: int
    path: str
    language: str | None
    kind: str
    symbol: str | None
    range: Range
    text: str


class ChunksResult(QueryResult, frozen=True, kw_only=True):
    chunks: list[Chunk]
