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
    # Added fields (PROTOCOL.md allows new fields): why it was taken
    # ("manual", "auto", "pre-restore", "pre-migrate", "pre-db-restore",
    # "import"), the schema version inside, and the file's SHA-256.
    kind: str = "manual"
    schema_version: int = 0
    sha256: str = ""
    # "full" (a standalone database) or "incremental" (only the changes since
    # `parent`; its chain starts at the full snapshot `base`). size_bytes is
    # what the snapshot itself stores.
    storage: str = "full"
    parent: str | None = None
    base: str | None = None


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


class SnapshotExportParams(RootParams, frozen=True, kw_only=True):
    id: str
    path: str


class SnapshotExported(Result, frozen=True, kw_only=True):
    path: str
    size_bytes: int
    sha256: str


class SnapshotImportParams(RootParams, frozen=True, kw_only=True):
    path: str


class DbMigrateParams(RootParams, frozen=True, kw_only=True):
    to: int | None = None
    dry_run: bool = False


class DbRollbackParams(RootParams, frozen=True, kw_only=True):
    to: int | None = None  # default: undo the newest applied migration
    dry_run: bool = False


class DbStep(Result, frozen=True, kw_only=True):
    version: int
    name: str
    sql: str


class DbChanged(Result, frozen=True, kw_only=True):
    """What db.migrate / db.rollback ran (or, with dry_run, would run)."""

    dry_run: bool
    steps: list[DbStep]
    current: int
    snapshot: str | None = None  # the automatic snapshot taken first


class DbPathParams(RootParams, frozen=True, kw_only=True):
    path: str | None = None


class DbBackedUp(Result, frozen=True, kw_only=True):
    path: str
    size_bytes: int
    sha256: str


class DbRestored(Result, frozen=True, kw_only=True):
    generation: int
    snapshot: str  # the automatic snapshot of the state before
