"""Damaged databases moved aside, never deleted: ``quarantine/<stamp>/``.

Each quarantined database keeps its WAL and shared-memory files beside it
and a ``reason.txt`` saying what was found, when, and from which path, so a
person (or `axd doctor`) can look at it later.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from axd.daemon.store.snapshots import fsync_path, new_id, utc_now

DIRECTORY = "quarantine"


@dataclass(frozen=True, slots=True)
class Quarantined:
    """One database moved aside."""

    path: Path  # the quarantined index.db
    reason: str
    at: str


def quarantine(db_path: Path, reason: str) -> Quarantined:
    """Move `db_path` (and its -wal/-shm) to ``quarantine/<id>/`` with a reason.

    The caller must have closed every connection to it.
    """
    target = db_path.parent / DIRECTORY / new_id()
    target.mkdir(mode=0o700, parents=True)
    at = utc_now()
    for suffix in ("", "-wal", "-shm", "-journal"):
        source = Path(f"{db_path}{suffix}")
        with contextlib.suppress(FileNotFoundError):
            os.replace(source, target / source.name)
    (target / "reason.txt").write_text(
        f"quarantined_at: {at}\nsource: {db_path}\nreason: {reason}\n",
        encoding="utf-8",
    )
    fsync_path(target)
    fsync_path(db_path.parent)
    return Quarantined(target / db_path.name, reason, at)


def listing(state_dir: Path) -> list[Quarantined]:
    """Every quarantined database under a daemon's state directory."""
    found: list[Quarantined] = []
    for reason_file in sorted(state_dir.glob(f"workspaces/*/{DIRECTORY}/*/reason.txt")):
        fields: dict[str, str] = {}
        with contextlib.suppress(OSError):
            for line in reason_file.read_text(encoding="utf-8").splitlines():
                key, _, value = line.partition(": ")
                fields[key] = value
        found.append(
            Quarantined(
                reason_file.parent / "index.db",
                fields.get("reason", "?"),
                fields.get("quarantined_at", "?"),
            )
        )
    return found
