"""A workspace's generation floor: generations never go backwards, even when
its index database is lost.

Clients see generations (PROTOCOL.md: every generation a client has seen
stays below every later one). A live index knows its own, but a database
that is quarantined, rebuilt from scratch or replaced by an import takes its
number with it. So each workspace keeps, beside its index, a small file
(``generation.floor``) holding a number above every generation the index
has committed: the writer moves it up by `STRIDE` *before* a write could
reach it (one fsynced write per `STRIDE` generations, not one per batch),
and whatever replaces a lost database starts above it (`floor_for`).

A state directory made before this file existed has none: the floor is then
the highest generation found in the snapshot manifests and, when it can
still be read, in the damaged database itself.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import apsw

from axd.daemon.store.snapshots import SnapshotDir, write_atomically

if TYPE_CHECKING:
    from pathlib import Path

FILE = "generation.floor"
STRIDE = 1000


def read_floor(directory: Path) -> int:
    """The floor written in `directory` (0 when there is none or it is unreadable)."""
    try:
        return int((directory / FILE).read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


class Floor:
    """The floor of one workspace directory, kept ahead of its index (used
    from the writer's thread only)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.value = read_floor(directory)

    def cover(self, generation: int) -> None:
        """Make sure the floor is above `generation` (fsynced before return)."""
        if generation < self.value:
            return
        value = generation + STRIDE
        write_atomically(self.directory / FILE, f"{value}\n".encode("ascii"))
        self.value = value


def generation_in(db_path: Path) -> int:
    """The generation recorded in a (possibly damaged) database file; 0 when
    it cannot be read."""
    with contextlib.suppress(apsw.Error, OSError, ValueError, TypeError):
        conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            row = conn.execute(
                "SELECT value FROM meta WHERE key = 'generation'"
            ).fetchone()
            return int(row[0]) if row else 0
        finally:
            conn.close()
    return 0


def floor_for(directory: Path, snapshots: SnapshotDir, *files: Path) -> int:
    """A generation at or above every one the workspace in `directory` has
    handed out: its floor file, its snapshots, and `files` (databases moved
    aside) where they can still be read."""
    found = [read_floor(directory)]
    found += [m.generation for m in snapshots.all()]
    found += [generation_in(path) for path in files]
    return max(found)
