"""`axd snapshot create|list|restore|delete|export|import`.

Registered on the CLI's sub-parsers by `add_snapshot_commands`; handlers
get the CLI's context (`ctx.call`, `ctx.emit`, `ctx.root()`).
"""

from __future__ import annotations

import os
from typing import Any

from axd.client import render


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _listing(result: dict[str, Any]) -> None:
    snaps = result["snapshots"]
    if not snaps:
        render.out("no snapshots")
    for s in snaps:
        label = f"  {s['label']}" if s.get("label") else ""
        render.out(
            f"{s['id']}  gen {s['generation']:<6} {s.get('kind', ''):<14}"
            f" {_size(int(s['size_bytes'])):>10}  {s['created_at']}{label}"
        )


def cmd_snapshot(ctx: Any) -> int:
    """Dispatch `axd snapshot ACTION`."""
    args = ctx.args
    action = args.snapshot_action
    if action == "import":
        root = os.path.abspath(args.root) if args.root else os.getcwd()
        params = {"root": root, "path": os.path.abspath(args.file)}
        result = ctx.call("snapshot.import", params)
        ctx.emit(
            result,
            lambda r: render.out(
                f"imported as snapshot {r['id']}; index at generation"
                f" {r['generation']}, reconciling with {root}"
            ),
        )
        return 0
    root = ctx.root()
    if action == "create":
        result = ctx.call("snapshot.create", {"root": root, "label": args.label})
        ctx.emit(
            result,
            lambda r: render.out(
                f"snapshot {r['id']} (generation {r['generation']},"
                f" {_size(int(r['size_bytes']))})"
            ),
        )
    elif action == "list":
        ctx.emit(ctx.call("snapshot.list", {"root": root}), _listing)
    elif action == "restore":
        result = ctx.call("snapshot.restore", {"root": root, "id": args.id})
        ctx.emit(
            result,
            lambda r: render.out(
                f"restored {r['id']}: generation {r['generation']}; reconciling"
                " with the files on disk (the previous state was snapshotted first)"
            ),
        )
    elif action == "delete":
        result = ctx.call("snapshot.delete", {"root": root, "id": args.id})
        ctx.emit(result, lambda r: render.out(f"deleted {args.id}"))
    else:  # export
        path = os.path.abspath(args.file)
        result = ctx.call(
            "snapshot.export", {"root": root, "id": args.id, "path": path}
        )
        ctx.emit(
            result,
            lambda r: render.out(
                f"wrote {r['path']} ({_size(int(r['size_bytes']))}, sha256 {r['sha256']})"
            ),
        )
    return 0


def add_snapshot_commands(sub: Any, common: Any) -> None:
    """`axd snapshot ...` on the CLI's sub-parsers (`common`: global options)."""
    text = "index snapshots: create, list, restore, delete, export, import"
    parser = sub.add_parser("snapshot", parents=[common], help=text, description=text)
    parser.set_defaults(handler=cmd_snapshot)
    actions = parser.add_subparsers(
        dest="snapshot_action", metavar="ACTION", required=True
    )
    p = actions.add_parser("create", parents=[common], help="snapshot the index now")
    p.add_argument("--label")
    p.add_argument("--root")
    p = actions.add_parser("list", parents=[common], help="snapshots, newest first")
    p.add_argument("--root")
    for name, help_text in (
        ("restore", "replace the index with a snapshot, then reconcile"),
        ("delete", "delete a snapshot"),
    ):
        p = actions.add_parser(name, parents=[common], help=help_text)
        p.add_argument("id")
        p.add_argument("--root")
    p = actions.add_parser("export", parents=[common], help="write a portable file")
    p.add_argument("id")
    p.add_argument("file")
    p.add_argument("--root")
    p = actions.add_parser(
        "import",
        parents=[common],
        help="restore a portable file into the workspace at --root (added if new)",
    )
    p.add_argument("file")
    p.add_argument("--root", help="workspace root (default: current directory)")
