"""`axd snapshot create|list|restore|delete|export|import` (index safety)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from axd.client import render
from axd.client.context import EXIT_OK
from axd.protocol import methods as m
from axd.protocol import snapshots as sn
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.client.context import Commands, Context


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _listing(result: sn.SnapshotList) -> None:
    if not result.snapshots:
        render.out("no snapshots")
    for s in result.snapshots:
        label = f"  {s.label}" if s.label else ""
        storage = "full" if s.storage == "full" else f"incremental on {s.base}"
        render.out(
            f"{s.id}  gen {s.generation:<6} {s.kind:<14}"
            f" {_size(s.size_bytes):>10}  {s.created_at}  {storage}{label}"
        )


def cmd_create(ctx: Context) -> int:
    params = sn.SnapshotCreateParams(root=ctx.root(), label=ctx.args.label)
    ctx.emit(
        ctx.call(m.SNAPSHOT_CREATE, params),
        lambda r: render.out(
            f"snapshot {r.id} (generation {r.generation}, {r.storage},"
            f" {_size(r.size_bytes)})"
        ),
    )
    return EXIT_OK


def cmd_list(ctx: Context) -> int:
    ctx.emit(ctx.call(m.SNAPSHOT_LIST, t.RootParams(root=ctx.root())), _listing)
    return EXIT_OK


def cmd_restore(ctx: Context) -> int:
    params = sn.SnapshotIdParams(root=ctx.root(), id=ctx.args.id)
    ctx.emit(
        ctx.call(m.SNAPSHOT_RESTORE, params),
        lambda r: render.out(
            f"restored {r.id}: generation {r.generation}; reconciling with the"
            " files on disk (the previous state was snapshotted first)"
        ),
    )
    return EXIT_OK


def cmd_delete(ctx: Context) -> int:
    params = sn.SnapshotIdParams(root=ctx.root(), id=ctx.args.id)
    ctx.emit(
        ctx.call(m.SNAPSHOT_DELETE, params),
        lambda r: render.out(f"deleted {ctx.args.id}"),
    )
    return EXIT_OK


def cmd_export(ctx: Context) -> int:
    params = sn.SnapshotExportParams(
        root=ctx.root(), id=ctx.args.id, path=os.path.abspath(ctx.args.file)
    )
    ctx.emit(
        ctx.call(m.SNAPSHOT_EXPORT, params),
        lambda r: render.out(
            f"wrote {r.path} ({_size(r.size_bytes)}, sha256 {r.sha256})"
        ),
    )
    return EXIT_OK


def cmd_import(ctx: Context) -> int:
    # The root may not be a workspace yet: it is added with the imported index.
    root = os.path.abspath(ctx.args.root) if ctx.args.root else os.getcwd()
    params = sn.SnapshotImportParams(root=root, path=os.path.abspath(ctx.args.file))
    ctx.emit(
        ctx.call(m.SNAPSHOT_IMPORT, params),
        lambda r: render.out(
            f"imported as snapshot {r.id}; index at generation {r.generation},"
            f" reconciling with {root}"
        ),
    )
    return EXIT_OK


def register(commands: Commands) -> None:
    group = commands.group(
        "snapshot", "index snapshots: create, list, restore, delete, export, import"
    )
    p = group.add("create", cmd_create, "snapshot the index now")
    p.add_argument("--label")
    p.add_argument("--root")
    p = group.add("list", cmd_list, "snapshots, newest first")
    p.add_argument("--root")
    p = group.add(
        "restore", cmd_restore, "replace the index with a snapshot, then reconcile"
    )
    p.add_argument("id")
    p.add_argument("--root")
    p = group.add("delete", cmd_delete, "delete a snapshot")
    p.add_argument("id")
    p.add_argument("--root")
    p = group.add("export", cmd_export, "write a portable file")
    p.add_argument("id")
    p.add_argument("file")
    p.add_argument("--root")
    p = group.add(
        "import",
        cmd_import,
        "restore a portable file into the workspace at --root (added if new)",
    )
    p.add_argument("file")
    p.add_argument("--root", help="workspace root (default: current directory)")
