"""Params and results of the snapshot.* and db.* methods (index safety)."""

from __future__ import annotations

from axd.protocol.types import Result, RootParams


class SnapshotCreateParams(RootParams, frozen=True, kw_only=True):
    label: str | None = None


class Snapshot(Result, frozen=True, kw_only=True):
    id: str
    label: str | None
    created_at: str
    generation: int
    size_bytes: int


class SnapshotList(Result, frozen=True, kw_only=True):
    snapshots: list[Snapshot]


class SnapshotIdParams(RootParams, frozen=True, kw_only=True):
    id: str


class SnapshotRestored(Result, frozen=True, kw_only=True):
    id: str
    generation: int


class Migration(Result, frozen=True, kw_only=True):
    version: int
    name: str
    checksum: str
    applied_at: str | None = None


class DbStatus(Result, frozen=True, kw_only=True):
    current: int
    latest: int
    applied: list[Migration]
    pending: list[Migration]
    modified: list[Migration]
