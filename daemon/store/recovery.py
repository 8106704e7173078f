"""Opening a workspace's index safely: check it, and if it is damaged, move
it aside and start again from the newest good snapshot.

At open the database gets ``PRAGMA quick_check`` (SQLite's structural check
without the index-content cross-check that makes ``integrity_check``
slower; perf/RESULTS.md has both costs). A database that is not SQLite,
fails the check, or fails while being opened with SQLITE_CORRUPT/NOTADB is
quarantined (store/quarantine.py). The newest snapshot that verifies
(SHA-256 and quick_check) is then installed as the new index, so the
workspace answers at once from that copy while the reconcile pass re-parses
only the files that differ from it; without a snapshot the index is built
from scratch. Either way the new index's generation starts above every one
handed out before (store/generations.py). A migration error is not damage
and is raised as it is.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

import apsw
import structlog

from axd.daemon.store.generations import Floor, floor_for
from axd.daemon.store.quarantine import quarantine
from axd.daemon.store.snapshots import (
    SnapshotDir,
    SnapshotError,
    prepare_for_install,
    scratch,
)
from axd.daemon.store.store import DAMAGE, Store, StoreCorruptError

if TYPE_CHECKING:
    from pathlib import Path

log = structlog.get_logger()

INDEX = "index.db"
SNAPSHOTS = "snapshots"


@dataclass(frozen=True, slots=True)
class Opened:
    """A store, and why the workspace is degraded (None when all was well)."""

    store: Store
    degraded: str | None = None
    from_snapshot: str | None = None


def open_checked(directory: Path, root: str, *, check: bool = True) -> Opened:
    """Open ``<directory>/index.db``, recovering from damage as above.

    :raises migrator.MigrationError: the schema is from another axd or an
        applied migration file changed (not damage: nothing is moved).
    """
    path = directory / INDEX
    try:
        return Opened(Store.open(path, root=root, quick_check=check))
    except (StoreCorruptError, *DAMAGE) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    return recover(directory, root, reason)


def recover(directory: Path, root: str, reason: str) -> Opened:
    """Quarantine the (closed) index and open a new one, from a snapshot if
    a good one exists; either way its generation starts above every one
    handed out before (`generations.floor_for`)."""
    path = directory / INDEX
    moved = quarantine(path, reason)
    log.error("index_quarantined", root=root, reason=reason, moved_to=str(moved.path))
    snapshots = SnapshotDir(directory / SNAPSHOTS)
    above = floor_for(directory, snapshots, moved.path)
    floor = Floor(directory)
    manifest = snapshots.newest_good()
    if manifest is not None:
        try:
            with (
                snapshots.materialised(manifest.id) as snapshot,
                scratch(directory, "recover") as work,
            ):
                floor.cover(prepare_for_install(snapshot, work, above=above))
                shutil.copyfile(work, path)
            store = Store.open(path, root=root)
        except (SnapshotError, apsw.Error, OSError) as exc:
            log.error("snapshot_fallback_failed", root=root, error=str(exc))
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    (directory / f"{INDEX}{suffix}").unlink()
        else:
            log.warning("index_from_snapshot", root=root, snapshot=manifest.id)
            return Opened(
                store,
                f"index quarantined to {moved.path} ({reason}); serving"
                f" snapshot {manifest.id} while re-indexing what changed",
                manifest.id,
            )
    store = Store.open(path, root=root)
    floor.cover(above + 1)  # before the new index shows it
    store.bump_generation(at_least=above)
    return Opened(
        store,
        f"index quarantined to {moved.path} ({reason}); no snapshot,"
        " rebuilding from scratch",
    )
