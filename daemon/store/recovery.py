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

Damage found while serving is replaced the same way, but the snapshot is
prepared first (`prepare_fallback`, while the damaged index still answers
what it can), so the workspace is without an index only for a rename.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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
)
from axd.daemon.store.store import DAMAGE, Store, StoreCorruptError

if TYPE_CHECKING:
    from pathlib import Path

log = structlog.get_logger()

INDEX = "index.db"
SNAPSHOTS = "snapshots"
_FALLBACK = ".fallback"  # a prepared snapshot: .fallback.<hex>.tmp


@dataclass(frozen=True, slots=True)
class Opened:
    """A store, and why the workspace is degraded (None when all was well)."""

    store: Store
    degraded: str | None = None
    from_snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class Fallback:
    """A snapshot made ready to become a workspace's index: verified,
    migrated, its generation above the floor, in a file beside the index."""

    path: Path
    snapshot: str
    generation: int

    def discard(self) -> None:
        """Remove the file (nothing happens once it has been installed)."""
        for suffix in ("", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")


def open_checked(directory: Path, root: str, *, check: bool = True) -> Opened:
    """Open ``<directory>/index.db``, recovering from damage as above.

    :raises migrator.MigrationError: the schema is from another axd or an
        applied migration file changed (not damage: nothing is moved).
    """
    for debris in directory.glob(f"{_FALLBACK}.*.tmp*"):  # an interrupted recovery
        with contextlib.suppress(OSError):
            debris.unlink()
    path = directory / INDEX
    try:
        return Opened(Store.open(path, root=root, quick_check=check))
    except (StoreCorruptError, *DAMAGE) as exc:
        reason = f"{type(exc).__name__}: {exc}"
    return recover(directory, root, reason)


def prepare_fallback(directory: Path, damaged: Path) -> Fallback | None:
    """The newest snapshot that verifies, prepared to replace the damaged
    index at `damaged` (which may still be open); None without one."""
    snapshots = SnapshotDir(directory / SNAPSHOTS)
    manifest = snapshots.newest_good()  # verified: SHA-256s, quick_check
    if manifest is None:
        return None
    work = directory / f"{_FALLBACK}.{secrets.token_hex(4)}.tmp"
    try:
        with (
            contextlib.nullcontext(snapshots.path_of(manifest.id))
            if manifest.storage == "full"
            else snapshots.materialised(manifest.id)
        ) as source:
            above = floor_for(directory, snapshots, damaged)
            generation = prepare_for_install(source, work, above=above, checked=True)
        Floor(directory).cover(generation)
    except (SnapshotError, apsw.Error, OSError) as exc:
        log.error("snapshot_fallback_failed", directory=str(directory), error=str(exc))
        Fallback(work, manifest.id, 0).discard()
        return None
    return Fallback(work, manifest.id, generation)


def recover(
    directory: Path, root: str, reason: str, fallback: Fallback | None = None
) -> Opened:
    """Quarantine the (closed) index and open a new one: `fallback`, else the
    newest good snapshot, else an empty index; its generation above every
    one handed out before (`generations.floor_for`)."""
    path = directory / INDEX
    moved = quarantine(path, reason)
    log.error("index_quarantined", root=root, reason=reason, moved_to=str(moved.path))
    snapshots = SnapshotDir(directory / SNAPSHOTS)
    if fallback is None:
        fallback = prepare_fallback(directory, moved.path)
    above = floor_for(directory, snapshots, moved.path)
    floor = Floor(directory)
    if fallback is not None:
        try:
            os.replace(fallback.path, path)
            store = Store.open(path, root=root)
            if store.generation <= above:  # written meanwhile: still above
                floor.cover(above + 1)
                store.bump_generation(at_least=above)
        except (apsw.Error, OSError) as exc:
            log.error("snapshot_fallback_failed", root=root, error=str(exc))
            fallback.discard()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    (directory / f"{INDEX}{suffix}").unlink()
        else:
            log.warning("index_from_snapshot", root=root, snapshot=fallback.snapshot)
            return Opened(
                store,
                f"index quarantined to {moved.path} ({reason}); serving"
                f" snapshot {fallback.snapshot} while re-indexing what changed",
                fallback.snapshot,
            )
    store = Store.open(path, root=root)
    floor.cover(above + 1)  # before the new index shows it
    store.bump_generation(at_least=above)
    return Opened(
        store,
        f"index quarantined to {moved.path} ({reason}); no snapshot,"
        " rebuilding from scratch",
    )
