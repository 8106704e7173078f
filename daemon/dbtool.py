"""`axd db ... --offline`: the migration tool on a stopped daemon's state.

Run as ``python -m axd.daemon.dbtool --socket S --state-dir D --root R CMD``
(the CLI does this; the client package never imports daemon code). It takes
the daemon's own lock (``<socket>.lock``, the one `Server.claim_socket`
holds for a daemon's lifetime), so it refuses while a daemon serves that
socket and no daemon can start while it works. Results are printed as the
JSON the matching ``db.*`` method returns; failures are one line on stderr
and exit 1 (2: usage, 4: a daemon holds the lock).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw
import msgspec

from axd.daemon.store import maintenance
from axd.daemon.store.maintenance import previous_version
from axd.daemon.store.migrator import MigrationError, Migrator
from axd.daemon.store.recovery import INDEX, SNAPSHOTS
from axd.daemon.store.snapshots import (
    SnapshotDir,
    SnapshotError,
    copy_consistent,
    inspect,
    install,
    new_id,
    prepare_for_install,
    scratch,
    sha256_of,
)
from axd.daemon.store.store import StoreError
from axd.daemon.workspaces import workspace_id
from axd.protocol import snapshots as sn

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from axd.protocol.snapshots import DbStatus

EXIT_LOCKED = 4


class ToolError(Exception):
    """A failure reported as one line."""


@contextlib.contextmanager
def daemon_lock(socket_path: Path) -> Iterator[None]:
    """Hold the daemon's lock. :raises ToolError: a daemon holds it."""
    lock_path = socket_path.with_name(socket_path.name + ".lock")
    lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise ToolError(
                f"a daemon is running on {socket_path}: stop it (axd stop) or"
                " run without --offline"
            ) from exc
        yield


def _paths(state_dir: Path, root: str) -> tuple[Path, SnapshotDir]:
    resolved = os.path.realpath(root)
    directory = state_dir / "workspaces" / workspace_id(resolved)
    if not (directory / INDEX).is_file():
        raise ToolError(f"{resolved} has no index in {state_dir}")
    return directory / INDEX, SnapshotDir(directory / SNAPSHOTS)


def _status(db: Path) -> DbStatus:
    """Read-only: looking changes no byte of the file."""
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return Migrator(conn).status()
    finally:
        conn.close()


@contextlib.contextmanager
def _writer(db: Path) -> Iterator[apsw.Connection]:
    conn = apsw.Connection(str(db))
    try:
        conn.set_busy_timeout(5_000)
        conn.pragma("journal_mode", "wal")
        yield conn
    finally:
        conn.close()


def run(args: argparse.Namespace) -> Any:
    """Run one command on the locked state; its JSON-able result.

    Unlike the daemon, this never applies migrations on open: `migrate
    --to` and dry runs mean what they say.
    """
    db, snaps = _paths(Path(args.state_dir), args.root)
    status = _status(db)
    if args.command == "status":
        return status
    if args.command in ("migrate", "rollback"):
        down = args.command == "rollback"
        goal = args.to if args.to is not None else previous_version(status)
        steps = (
            maintenance.plan_rollback(status, goal)
            if down
            else maintenance.plan(status, args.to)
        )
        snapshot = None
        if steps and not args.dry_run:
            snapshot = snaps.create(db, label="before db change", kind="pre-migrate").id
            with _writer(db) as conn, conn:  # all steps or none
                if down:
                    Migrator(conn).rollback(goal)
                else:
                    Migrator(conn).migrate(args.to)
        return sn.DbChanged(
            dry_run=args.dry_run,
            steps=[sn.DbStep(version=v, name=n, sql=s) for v, n, s in steps],
            current=_status(db).current,
            snapshot=snapshot,
        )
    if args.command == "backup":
        target = Path(args.path or f"{db.parent}/backups/index-{new_id()}.db")
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if target.exists():
            raise ToolError(f"{target} exists; not overwritten")
        copy_consistent(db, target)
        return sn.DbBackedUp(
            path=str(target), size_bytes=target.stat().st_size, sha256=sha256_of(target)
        )
    if not args.path or not Path(args.path).is_file():
        raise ToolError(f"{args.path} does not exist")
    snapshot = snaps.create(db, label="before db restore", kind="pre-db-restore").id
    with scratch(db.parent, "restore") as work, _writer(db) as conn:
        generation = prepare_for_install(
            Path(args.path), work, above=inspect(db, check=False).generation
        )
        install(conn, work)
    return sn.DbRestored(generation=generation, snapshot=snapshot)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; the exit code."""
    parser = argparse.ArgumentParser(prog="axd db --offline")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument(
        "command", choices=["status", "migrate", "rollback", "backup", "restore"]
    )
    parser.add_argument("--to", type=int, default=None)
    parser.add_argument("--dry-run", action="store_true")
    parser.add_argument("--path", default=None)
    args = parser.parse_args(argv)
    try:
        with daemon_lock(Path(args.socket)):
            result = run(args)
    except ToolError as exc:
        sys.stderr.write(f"axd: {exc}\n")
        return EXIT_LOCKED if "daemon is running" in str(exc) else 1
    except (MigrationError, SnapshotError, StoreError, apsw.Error, OSError) as exc:
        sys.stderr.write(f"axd: {exc}\n")
        return 1
    sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
