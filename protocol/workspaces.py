"""Params and results of the workspace.*, index.* and files.* methods."""

from __future__ import annotations

from typing import Literal

from axd.protocol.common import Result, RootParams

WorkspaceState = Literal["indexing", "ready", "degraded", "error"]


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
