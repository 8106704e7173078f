"""The snapshot.* and db.* methods (index safety, PROTOCOL.md Operations):
thin routes to `snapshotting.IndexSafety`."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from axd.protocol import methods as m
from axd.protocol import snapshots as sn
from axd.protocol import types as t
from axd.protocol.errors import invalid_params

if TYPE_CHECKING:
    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services
    from axd.daemon.store.snapshots import Manifest

# How long a snapshot or db method may run beyond `request_timeout_s`.
COPY_WAIT_S = 6 * 3600.0


def register(registry: Registry, services: Services) -> None:
    """Route every snapshot and db method to the daemon's `IndexSafety`."""
    safety = services.safety
    find = services.workspaces.find

    async def create(p: sn.SnapshotCreateParams, ctx: RequestContext) -> sn.Snapshot:
        return _wire(await safety.create(find(p.root), p.label))

    async def list_(p: t.RootParams, ctx: RequestContext) -> sn.SnapshotList:
        found = await safety.listing(find(p.root))
        return sn.SnapshotList(snapshots=[_wire(s) for s in reversed(found)])

    async def restore(
        p: sn.SnapshotIdParams, ctx: RequestContext
    ) -> sn.SnapshotRestored:
        generation = await safety.restore(find(p.root), p.id)
        return sn.SnapshotRestored(id=p.id, generation=generation)

    async def delete(p: sn.SnapshotIdParams, ctx: RequestContext) -> t.Ok:
        await safety.delete(find(p.root), p.id)
        return t.Ok(ok=True)

    async def export(
        p: sn.SnapshotExportParams, ctx: RequestContext
    ) -> sn.SnapshotExported:
        digest, size = await safety.export(find(p.root), p.id, p.path)
        return sn.SnapshotExported(path=p.path, size_bytes=size, sha256=digest)

    async def import_(
        p: sn.SnapshotImportParams, ctx: RequestContext
    ) -> sn.SnapshotRestored:
        ident, generation = await safety.import_(p.root, p.path)
        return sn.SnapshotRestored(id=ident, generation=generation)

    async def status(p: t.RootParams, ctx: RequestContext) -> sn.DbStatus:
        return await safety.db_status(find(p.root))

    async def migrate(p: sn.DbMigrateParams, ctx: RequestContext) -> sn.DbChanged:
        return await _change(p.root, p.to, p.dry_run, down=False)

    async def rollback(p: sn.DbRollbackParams, ctx: RequestContext) -> sn.DbChanged:
        return await _change(p.root, p.to, p.dry_run, down=True)

    async def _change(
        root: str, to: int | None, dry_run: bool, *, down: bool
    ) -> sn.DbChanged:
        ws = find(root)
        steps, snap = await safety.migrate(ws, to, dry_run=dry_run, down=down)
        current = (await safety.db_status(ws)).current
        return sn.DbChanged(
            dry_run=dry_run,
            steps=[sn.DbStep(version=v, name=n, sql=s) for v, n, s in steps],
            current=current,
            snapshot=snap,
        )

    async def backup(p: sn.DbPathParams, ctx: RequestContext) -> sn.DbBackedUp:
        size, digest, path = await safety.backup(find(p.root), p.path)
        return sn.DbBackedUp(path=path, size_bytes=size, sha256=digest)

    async def db_restore(p: sn.DbPathParams, ctx: RequestContext) -> sn.DbRestored:
        if p.path is None:
            raise invalid_params("path is required", "$.path")
        generation, snap = await safety.db_restore(find(p.root), p.path)
        return sn.DbRestored(generation=generation, snapshot=snap)

    r = registry.register
    # Copies of a large index take minutes on a busy machine (a full
    # snapshot of the 100k-file index: ~3 GB, perf/RESULTS.md), and cutting
    # one short helps nobody: these wait on purpose, like `index.wait`.
    copies = partial(r, waits=lambda p: COPY_WAIT_S)
    copies(m.SNAPSHOT_CREATE, create)
    r(m.SNAPSHOT_LIST, list_)
    copies(m.SNAPSHOT_RESTORE, restore)
    copies(m.SNAPSHOT_DELETE, delete)  # may turn dependents into full ones
    copies(m.SNAPSHOT_EXPORT, export)
    copies(m.SNAPSHOT_IMPORT, import_)
    r(m.DB_STATUS, status)
    copies(m.DB_MIGRATE, migrate)
    copies(m.DB_ROLLBACK, rollback)
    copies(m.DB_BACKUP, backup)
    copies(m.DB_RESTORE, db_restore)


def _wire(manifest: Manifest) -> sn.Snapshot:
    return sn.Snapshot(
        id=manifest.id,
        label=manifest.label,
        created_at=manifest.created_at,
        generation=manifest.generation,
        size_bytes=manifest.size_bytes,
        kind=manifest.kind,
        schema_version=manifest.schema_version,
        sha256=manifest.sha256,
        storage=manifest.storage,
        parent=manifest.parent,
        base=manifest.base,
    )
