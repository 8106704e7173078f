"""Params and results of every PROTOCOL.md method, as msgspec Structs.

Evolution rules (msgspec's schema-evolution guide): new fields get defaults,
no field changes type. Params ignore unknown fields so an older daemon
accepts a newer client.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class Params(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every params object."""


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every result object."""


class Range(msgspec.Struct, frozen=True, kw_only=True):
    """1-based lines, 0-based byte columns, exclusive end column."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


class Empty(Params, frozen=True, kw_only=True):
    """A method that takes no params."""


class Ok(Result, frozen=True, kw_only=True):
    ok: bool = True


# -- server -------------------------------------------------------------------


class ServerInfo(Result, frozen=True, kw_only=True):
    version: str
    protocol_version: int
    pid: int
    started_at: str
    uptime_s: float
    languages: list[str]
    workspaces: list[str]
    metrics_url: str | None


# -- workspaces and indexing ------------------------------------------------------

WorkspaceState = Literal["indexing", "ready", "degraded", "error"]


class RootParams(Params, frozen=True, kw_only=True):
    root: str


class WorkspaceAddParams(RootParams, frozen=True, kw_only=True):
    pass


class WorkspaceAdded(Result, frozen=True, kw_only=True):
    root: str
    id: str
    state: WorkspaceState


class WorkspaceRemoveParams(RootParams, frozen=True, kw_only=True):
    purge: bool = False


class WorkspaceEntry(Result, frozen=True, kw_only=True):
    root: str
    id: str
    state: WorkspaceState
    files: int
    chunks: int
    symbols: int
    generation: int
    last_indexed_at: str | None


class WorkspaceList(Result, frozen=True, kw_only=True):
    workspaces: list[WorkspaceEntry]


class IndexStatus(Result, frozen=True, kw_only=True):
    root: str
    state: WorkspaceState
    generation: int
    files_total: int
    files_indexed: int
    files_skipped: dict[str, int]
    queue_depth: int
    languages: dict[str, int]
    last_error: str | None
    last_batch_ms: float | None


class IndexWaitParams(RootParams, frozen=True, kw_only=True):
    generation: int | None = None
    timeout_s: float = 30.0


class IndexReindexParams(RootParams, frozen=True, kw_only=True):
    paths: list[str] | None = None
    force: bool = False


class Queued(Result, frozen=True, kw_only=True):
    queued: int


class FilesExplainParams(RootParams, frozen=True, kw_only=True):
    path: str


class IgnoreRule(Result, frozen=True, kw_only=True):
    source: str
    line: int | None
    pattern: str


class FileExplanation(Result, frozen=True, kw_only=True):
    path: str
    indexed: bool
    language: str | None
    reason: str | None
    rule: IgnoreRule | None
    size: int | None
    generation: int
    chunks: int
    symbols: int
    parse_errors: int
    queued: bool
    detail: str | None = None
    queue_position: int | None = None


# -- queries ----------------------------------------------------------------------


class QueryParams(RootParams, frozen=True, kw_only=True):
    """Every query: `root`, and read-your-writes / readiness controls."""

    require_ready: bool = False
    min_generation: int | None = None
    timeout_s: float = 10.0


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


class SearchResult(Result, frozen=True, kw_only=True):
    results: list[SearchHit]
    generation: int
    took_ms: float
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


class DefinitionResult(Result, frozen=True, kw_only=True):
    definitions: list[Definition]
    generation: int
    took_ms: float


class ReferencesParams(QueryParams, frozen=True, kw_only=True):
    name: str
    path: str | None = None
    limit: int = 200


class Reference(Result, frozen=True, kw_only=True):
    path: str
    range: Range
    kind: str
    context: str


class ReferencesResult(Result, frozen=True, kw_only=True):
    references: list[Reference]
    generation: int
    took_ms: float


class PathParams(QueryParams, frozen=True, kw_only=True):
    path: str


class OutlineSymbol(Result, frozen=True, kw_only=True):
    name: str
    kind: str
    range: Range
    selection_range: Range
    children: list[OutlineSymbol]
    qualified_name: str | None = None


class OutlineResult(Result, frozen=True, kw_only=True):
    symbols: list[OutlineSymbol]
    generation: int
    took_ms: float


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


class SymbolSearchResult(Result, frozen=True, kw_only=True):
    symbols: list[SymbolMatch]
    generation: int
    took_ms: float


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


class ChunksResult(Result, frozen=True, kw_only=True):
    chunks: list[Chunk]
    generation: int
    took_ms: float


class ImportEdge(Result, frozen=True, kw_only=True):
    module: str
    path: str | None
    range: Range


class ImportsResult(Result, frozen=True, kw_only=True):
    imports: list[ImportEdge]
    generation: int
    took_ms: float


class Importer(Result, frozen=True, kw_only=True):
    path: str
    module: str
    range: Range


class ImportersResult(Result, frozen=True, kw_only=True):
    importers: list[Importer]
    generation: int
    took_ms: float


class GraphWalkParams(PathParams, frozen=True, kw_only=True):
    depth: int | None = None


class GraphPath(Result, frozen=True, kw_only=True):
    path: str
    depth: int


class GraphWalkResult(Result, frozen=True, kw_only=True):
    paths: list[GraphPath]
    generation: int
    took_ms: float


class CyclesParams(QueryParams, frozen=True, kw_only=True):
    limit: int = 100


class CyclesResult(Result, frozen=True, kw_only=True):
    cycles: list[list[str]]
    generation: int
    took_ms: float


# -- subscriptions ------------------------------------------------------------------

EventName = Literal["index.changed", "index.progress", "health.changed"]


class SubscribeParams(RootParams, frozen=True, kw_only=True):
    events: list[EventName]


class Subscribed(Result, frozen=True, kw_only=True):
    subscription: str


class UnsubscribeParams(Params, frozen=True, kw_only=True):
    subscription: str


class FileChange(Result, frozen=True, kw_only=True):
    path: str
    change: Literal["added", "modified", "deleted"]


class IndexChanged(Result, frozen=True, kw_only=True):
    subscription: str
    root: str
    generation: int
    changes: list[FileChange]


class IndexProgress(Result, frozen=True, kw_only=True):
    subscription: str
    root: str
    files_indexed: int
    files_total: int
    state: WorkspaceState


class HealthChanged(Result, frozen=True, kw_only=True):
    subscription: str
    status: str
    previous: str


# -- operations ----------------------------------------------------------------------

HealthStatus = Literal["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"]


class HealthCheck(Result, frozen=True, kw_only=True):
    status: HealthStatus
    detail: str
    latency_ms: float


class HealthReport(Result, frozen=True, kw_only=True):
    status: HealthStatus
    checks: dict[str, HealthCheck]
    checked_at: str


class MetricsText(Result, frozen=True, kw_only=True):
    text: str
