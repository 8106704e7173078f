"""Full disks: recognising ENOSPC, and waiting until space is back.

SQLite reports a full disk as ``SQLITE_FULL`` (apsw ``FullError``); a write
of our own raises ``OSError(ENOSPC)``; ``[index] min_free_bytes`` is a budget
checked before each batch so the disk is not filled to the last byte.

A database locked by another process (``SQLITE_BUSY`` past the busy
timeout: a user's ``sqlite3`` shell in a transaction, a backup tool) is
waited out the same way: the write was rolled back, nothing is lost by
running it again once the lock is gone.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, TypeVar

import anyio
import apsw

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

T = TypeVar("T")

DISK_FULL = "disk_full"
DATABASE_LOCKED = "database_locked"


class DiskFullError(Exception):
    """The state directory's filesystem is (nearly) full."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (apsw.FullError, DiskFullError)):
            return True
        if isinstance(current, OSError) and current.errno in (
            errno.ENOSPC,
            errno.EDQUOT,
        ):
            return True
        current = current.__cause__ or current.__context__
    return False


def is_locked(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) means another connection holds the
    database's lock."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (apsw.BusyError, apsw.LockedError)):
            return True
        current = current.__cause__ or current.__context__
    return False


def free_bytes(path: Path) -> int:
    """Bytes available to us on the filesystem holding `path`."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def has_room(path: Path, min_free_bytes: int) -> bool:
    """Whether the budget allows writing (always true without a budget)."""
    if min_free_bytes <= 0:
        return True
    try:
        return free_bytes(path) >= min_free_bytes
    except OSError:
        return True  # cannot tell: let SQLite find out


async def retry_on_full_disk(
    write: Callable[[], Awaitable[T]],
    *,
    state_path: Path,
    min_free_bytes: int,
    retry_s: float,
    on_pause: Callable[[str, str], None],
    on_resume: Callable[[], None],
) -> T:
    """Run `write` (one transaction through the writer); while the disk is
    full or another process holds the database's lock, wait and run it again.

    SQLite rolls a failed transaction back, so nothing half-written stays;
    the caller's batch is kept in memory and committed once space returns.
    `on_pause(kind, reason)` is told why once (`DISK_FULL` or
    `DATABASE_LOCKED`); `on_resume` after the first success.
    """
    paused = False
    while True:
        try:
            if not has_room(state_path, min_free_bytes):
                raise DiskFullError(
                    f"less than {min_free_bytes} bytes free on the state filesystem"
                    " ([index] min_free_bytes)"
                )
            result = await write()
        except Exception as exc:
            if is_disk_full(exc):
                kind, what = DISK_FULL, "disk full"
            elif is_locked(exc):
                kind, what = DATABASE_LOCKED, "database locked by another process"
            else:
                raise
            if not paused:
                paused = True
                on_pause(kind, f"{what}: {type(exc).__name__}: {exc}")
            await anyio.sleep(retry_s)
            continue
        if paused:
            on_resume()
        return result
