"""Least privilege on disk: axd's directories 0700, its files 0600.

The state directory holds every indexed source file's text (in the
databases), so nobody but the user may read it. Directories axd creates are
made 0700 whatever the umask; a directory it did not create is never
chmodded (``--socket /tmp/axd.sock`` must not change /tmp). Files are
created 0600; an existing one of axd's with wider modes (an older version's
database) is narrowed, which is safe for a file in axd's own directory.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


class UnsafeDirectoryError(Exception):
    """A directory others can write to, without the sticky bit's protection."""


def private_dir(path: Path) -> bool:
    """Create `path` (and missing parents) as 0700; True if `path` was created.

    Only directories created here are chmodded (to beat a permissive
    umask); an existing one is left exactly as it is.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to chmod
        os.chmod(directory, DIR_MODE)
    return path in missing


def private_file(path: Path) -> Path:
    """Ensure `path` exists as a 0600 file (created if missing) and return it.

    Call before handing the path to SQLite: it creates its `-wal` and
    `-shm` files with the database's mode.
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        info = path.stat()
        if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~0o077)
        return path
    os.close(fd)
    os.chmod(path, FILE_MODE)  # the umask may have removed bits we want
    return path


def check_shared_dir(path: Path) -> None:
    """Refuse a directory that others may write to without the sticky bit.

    In such a directory another user could delete or replace the socket
    (OpenSSH refuses such paths for its files for the same reason); /tmp
    (1777) is fine, since the sticky bit protects files from other users.

    :raises UnsafeDirectoryError: group/world-writable and not sticky.
    """
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
        raise UnsafeDirectoryError(
            f"{path} is writable by other users and has no sticky bit "
            f"(mode {stat.S_IMODE(mode):04o}): another user could replace the "
            f"socket; use a private directory or run `chmod go-w {path}`"
        )
