"""Params and results of the graph.* queries (the import graph)."""

from __future__ import annotations

from axd.protocol.common import QueryResult, Range, Result
from axd.protocol.queries import PathParams, QueryParams


class ImportEdge(Result, frozen=True, kw_only=True):
    module: str
    path: str | None
    range: Range


class ImportsResult(QueryResult, frozen=True, kw_only=True):
    imports: list[ImportEdge]


class Importer(Result, frozen=True, kw_only=True):
    path: str
    module: str
    range: Range


class ImportersResult(QueryResult, frozen=True, kw_only=True):
    importers: list[Importer]


class GraphWalkParams(PathParams, frozen=True, kw_only=True):
    depth: int | None = None


class GraphPath(Result, frozen=True, kw_only=True):
    path: str
    depth: int


class GraphWalkResult(QueryResult, frozen=True, kw_only=True):
    paths: list[GraphPath]


class CyclesParams(QueryParams, frozen=True, kw_only=True):
    limit: int = 100


class CyclesResult(QueryResult, frozen=True, kw_only=True):
    cycles: list[list[str]]
