"""`axd db status|migrate|rollback|backup|restore` (the migration tool).

Over the socket by default; with ``--offline`` on a stopped daemon's state:
the CLI runs ``python -m axd.daemon.dbtool`` (the client never imports
daemon code), which takes the daemon's lock and refuses while a daemon
holds it. Both print the same results.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from axd.client import render


def _status(result: dict[str, Any]) -> None:
    render.out(f"schema version {result['current']} (latest {result['latest']})")
    for m in result["applied"]:
        render.out(
            f"  applied  {m['version']:04d}_{m['name']}  {m['applied_at']}"
            f"  sha256 {m['checksum'][:12]}"
        )
    for m in result["pending"]:
        render.out(f"  pending  {m['version']:04d}_{m['name']}")
    for m in result["modified"]:
        render.out(
            f"  MODIFIED {m['version']:04d}_{m['name']}: the file changed after"
            " it was applied"
        )


def _changed(result: dict[str, Any]) -> None:
    verb = "would run" if result["dry_run"] else "ran"
    if not result["steps"]:
        render.out(f"nothing to do (schema version {result['current']})")
        return
    for step in result["steps"]:
        render.out(f"-- {verb} {step['version']:04d}_{step['name']}")
        if result["dry_run"]:
            render.out(step["sql"].rstrip())
    if result.get("snapshot"):
        render.out(f"snapshot {result['snapshot']} taken first")
    render.out(f"schema version now {result['current']}")


def _offline(ctx: Any, command: str, extra: list[str]) -> Any:
    root = os.path.abspath(ctx.args.root) if ctx.args.root else os.getcwd()
    argv = [
        sys.executable,
        "-m",
        "axd.daemon.dbtool",
        "--socket",
        str(ctx.socket_path),
        "--state-dir",
        str(ctx.state_dir),
        "--root",
        root,
        command,
        *extra,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(1)
    return json.loads(done.stdout)


def cmd_db(ctx: Any) -> int:
    """Dispatch `axd db ACTION`."""
    args = ctx.args
    action = args.db_action
    params: dict[str, Any] = {}
    extra: list[str] = []
    if action in ("migrate", "rollback"):
        params = {"to": args.to, "dry_run": args.dry_run}
        extra = (["--to", str(args.to)] if args.to is not None else []) + (
            ["--dry-run"] if args.dry_run else []
        )
    elif action in ("backup", "restore"):
        path = getattr(args, "path", None)
        params = {"path": os.path.abspath(path) if path else None}
        extra = ["--path", params["path"]] if params["path"] else []
    if args.offline:
        result = _offline(ctx, action, extra)
    else:
        result = ctx.call(f"db.{action}", {"root": ctx.root(), **params})
    human = {
        "status": _status,
        "migrate": _changed,
        "rollback": _changed,
        "backup": lambda r: render.out(
            f"backup {r['path']} ({r['size_bytes']} bytes, sha256 {r['sha256']})"
        ),
        "restore": lambda r: render.out(
            f"restored: generation {r['generation']}; the previous state is"
            f" snapshot {r['snapshot']}"
        ),
    }[action]
    ctx.emit(result, human)
    return 0


def add_db_commands(sub: Any, common: Any) -> None:
    """`axd db ...` on the CLI's sub-parsers (`common`: global options)."""
    text = "the index database: migrations, backups (add --offline when stopped)"
    parser = sub.add_parser("db", parents=[common], help=text, description=text)
    parser.set_defaults(handler=cmd_db)
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> Any:
        p = actions.add_parser(name, parents=[common], help=help_text)
        p.add_argument("--root")
        p.add_argument(
            "--offline",
            action="store_true",
            help="work on a stopped daemon's files (takes its lock)",
        )
        return p

    action("status", "applied (with checksums and dates), pending, modified")
    for name, help_text in (
        ("migrate", "apply pending migrations (a snapshot is taken first)"),
        ("rollback", "run down migrations (default: undo the newest one)"),
    ):
        p = action(name, help_text)
        p.add_argument("--to", type=int, default=None, metavar="VERSION")
        p.add_argument(
            "--dry-run", action="store_true", help="print the SQL, change nothing"
        )
    p = action("backup", "a consistent copy of the database")
    p.add_argument("path", nargs="?", metavar="PATH")
    p = action("restore", "replace the database from a file (validated; backed up)")
    p.add_argument("path", metavar="PATH")
