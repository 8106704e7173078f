"""`axd db status|migrate|rollback|backup|restore` (the migration tool).

Over the socket by default; with ``--offline`` on a stopped daemon's state:
the CLI runs ``python -m axd.daemon.dbtool`` (the client never imports
daemon code), which takes the daemon's lock and refuses while a daemon
holds it. Both print the same results (the tool prints the JSON of the
matching ``db.*`` method, decoded here into the same typed result).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from axd.client import render
from axd.client.context import EXIT_FAILED, EXIT_OK
from axd.protocol import methods as m
from axd.protocol import snapshots as sn
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.client.context import Commands, Context

R = TypeVar("R")


def _status(result: sn.DbStatus) -> None:
    render.out(f"schema version {result.current} (latest {result.latest})")
    for mig in result.applied:
        render.out(
            f"  applied  {mig.version:04d}_{mig.name}  {mig.applied_at}"
            f"  sha256 {mig.checksum[:12]}"
        )
    for mig in result.pending:
        render.out(f"  pending  {mig.version:04d}_{mig.name}")
    for mig in result.modified:
        render.out(
            f"  MODIFIED {mig.version:04d}_{mig.name}: the file changed after"
            " it was applied"
        )


def _changed(result: sn.DbChanged) -> None:
    verb = "would run" if result.dry_run else "ran"
    if not result.steps:
        render.out(f"nothing to do (schema version {result.current})")
        return
    for step in result.steps:
        render.out(f"-- {verb} {step.version:04d}_{step.name}")
        if result.dry_run:
            render.out(step.sql.rstrip())
    if result.snapshot:
        render.out(f"snapshot {result.snapshot} taken first")
    render.out(f"schema version now {result.current}")


def _backed_up(r: sn.DbBackedUp) -> None:
    render.out(f"backup {r.path} ({r.size_bytes} bytes, sha256 {r.sha256})")


def _restored(r: sn.DbRestored) -> None:
    render.out(
        f"restored: generation {r.generation}; the previous state is"
        f" snapshot {r.snapshot}"
    )


class _OfflineFailed(Exception):
    """The offline tool failed; it already said why on stderr."""


def _offline(ctx: Context, action: str, extra: list[str], kind: type[R]) -> R:
    """Run the daemon-side tool on a stopped daemon's state."""
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
        action,
        *extra,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise _OfflineFailed
    return msgspec.json.decode(done.stdout, type=kind)


def _run(
    ctx: Context,
    method: m.Method[Any, R],
    params: Any,
    extra: list[str],
    human: Callable[[R], None],
) -> int:
    action = method.name.removeprefix("db.")
    if ctx.args.offline:
        try:
            result = _offline(ctx, action, extra, method.result)
        except _OfflineFailed:
            return EXIT_FAILED
    else:
        result = ctx.call(method, params)
    ctx.emit(result, human)
    return EXIT_OK


def _change_args(ctx: Context) -> tuple[int | None, bool, list[str]]:
    to, dry_run = ctx.args.to, ctx.args.dry_run
    extra = (["--to", str(to)] if to is not None else []) + (
        ["--dry-run"] if dry_run else []
    )
    return to, dry_run, extra


def _path(ctx: Context) -> tuple[str | None, list[str]]:
    path = getattr(ctx.args, "path", None)
    full = os.path.abspath(path) if path else None
    return full, (["--path", full] if full else [])


def _root(ctx: Context) -> str:
    # Offline there is no daemon to ask which workspace holds the cwd.
    return "" if ctx.args.offline else ctx.root()


def cmd_status(ctx: Context) -> int:
    return _run(ctx, m.DB_STATUS, t.RootParams(root=_root(ctx)), [], _status)


def cmd_migrate(ctx: Context) -> int:
    to, dry_run, extra = _change_args(ctx)
    params = sn.DbMigrateParams(root=_root(ctx), to=to, dry_run=dry_run)
    return _run(ctx, m.DB_MIGRATE, params, extra, _changed)


def cmd_rollback(ctx: Context) -> int:
    to, dry_run, extra = _change_args(ctx)
    params = sn.DbRollbackParams(root=_root(ctx), to=to, dry_run=dry_run)
    return _run(ctx, m.DB_ROLLBACK, params, extra, _changed)


def cmd_backup(ctx: Context) -> int:
    path, extra = _path(ctx)
    params = sn.DbPathParams(root=_root(ctx), path=path)
    return _run(ctx, m.DB_BACKUP, params, extra, _backed_up)


def cmd_restore(ctx: Context) -> int:
    path, extra = _path(ctx)
    params = sn.DbPathParams(root=_root(ctx), path=path)
    return _run(ctx, m.DB_RESTORE, params, extra, _restored)


def register(commands: Commands) -> None:
    group = commands.group(
        "db", "the index database: migrations, backups (add --offline when stopped)"
    )

    def action(name: str, handler: Callable[[Context], int], help_text: str) -> Any:
        p = group.add(name, handler, help_text)
        p.add_argument("--root")
        p.add_argument(
            "--offline",
            action="store_true",
            help="work on a stopped daemon's files (takes its lock)",
        )
        return p

    action(
        "status", cmd_status, "applied (with checksums and dates), pending, modified"
    )
    for name, handler, help_text in (
        (
            "migrate",
            cmd_migrate,
            "apply pending migrations (a snapshot is taken first)",
        ),
        (
            "rollback",
            cmd_rollback,
            "run down migrations (default: undo the newest one)",
        ),
    ):
        p = action(name, handler, help_text)
        p.add_argument("--to", type=int, default=None, metavar="VERSION")
        p.add_argument(
            "--dry-run", action="store_true", help="print the SQL, change nothing"
        )
    p = action("backup", cmd_backup, "a consistent copy of the database")
    p.add_argument("path", nargs="?", metavar="PATH")
    p = action(
        "restore",
        cmd_restore,
        "replace the database from a file (validated; backed up)",
    )
    p.add_argument("path", metavar="PATH")
