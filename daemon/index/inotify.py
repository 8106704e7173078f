"""The inotify budget: limits, what a watch plan needs, and running out.

Linux limits inotify per user (and, since 5.11, per user namespace):
`fs.inotify.max_user_watches` watches (one per watched directory) and
`fs.inotify.max_user_instances` instances (one per `awatch`). Running out
does not always show: watchfiles (Rust notify) raises `OSError("OS file
watch limit reached ...")` when a recursive watch cannot be set up, but a
directory created *later* under a recursive watch is added by notify's own
thread, which drops the ENOSPC, so nothing under it is ever reported
(measured with watchfiles 1.3.0 in a user namespace with a small limit:
tests/test_watch_limits.py). Hence three defences, used by the watcher:

* **Predict** before watching natively: count the directories the plan
  watches (early exit) against the limit minus what this daemon's other
  workspaces hold, keeping a reserve for the user's other programs; poll
  when it does not fit. Other processes' use is not counted (reading their
  `fdinfo` costs megabytes per plan and is wrong across user namespaces):
  the two checks below catch it.
* **React** to a failed setup (`is_limit_error`).
* **Probe** after new directories appear: if a fresh watch cannot be
  added now (ENOSPC), notify's watch on them failed too.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import structlog

from axd.daemon.index.notifyproc import count_dirs, count_dirs_elsewhere

log = structlog.get_logger()

WATCHES = "fs.inotify.max_user_watches"
INSTANCES = "fs.inotify.max_user_instances"
# Kept free for the user's other programs and workspaces (an editor, a build
# tool): a share of the limit, capped.
RESERVE_SHARE = 0.05
RESERVE_MAX = 4096
_IN_ONLYDIR = 0x01000000
_IN_ATTRIB = 0x00000004
_IN_CLOEXEC = 0o2000000
# Directories each workspace of this process watches natively, by workspace
# id: what a new plan must leave to the others (plans run in threads).
_native_dirs: dict[str, int] = {}
_native_lock = threading.Lock()


def _read_int(path: str) -> int | None:
    try:
        return int(Path(path).read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Limits:
    """The effective inotify limits (None: unknown, or not Linux)."""

    watches: int | None
    instances: int | None

    @property
    def reserve(self) -> int:
        """Watches a plan must leave free."""
        if self.watches is None:
            return 0
        return min(RESERVE_MAX, int(self.watches * RESERVE_SHARE))


def limits() -> Limits:
    """`fs.inotify.*` and the user namespace's own `user.max_inotify_*`
    (lower inside containers); the smaller of each pair applies."""

    def smaller(*paths: str) -> int | None:
        values = [v for v in map(_read_int, paths) if v is not None]
        return min(values) if values else None

    return Limits(
        smaller(
            "/proc/sys/fs/inotify/max_user_watches",
            "/proc/sys/user/max_inotify_watches",
        ),
        smaller(
            "/proc/sys/fs/inotify/max_user_instances",
            "/proc/sys/user/max_inotify_instances",
        ),
    )


def _count(tops: list[Path], stop_after: int) -> int:
    """`count_dirs` in a child process, or here if none can be started."""
    try:
        return count_dirs_elsewhere(tops, stop_after)
    except (OSError, RuntimeError, ValueError) as exc:
        log.warning("count_dirs_in_process", error=str(exc))
        return count_dirs(tops, stop_after)


def claim(
    workspace_id: str, root: Path, tops: list[Path], counted: dict[Path, int]
) -> tuple[int, str | None]:
    """Reserve watches for a native plan of `root` and the recursive `tops`:
    (directories it watches, None), or (how many were counted, the reason to
    poll) when they do not fit in what is left. In a thread.

    `counted` caches each top's count across re-plans (a walk of a 100k-file
    tree took 8 s at load 23): directories made later are the probe's job.
    """
    current = limits()
    with _native_lock:
        _native_dirs.pop(workspace_id, None)
        held = sum(_native_dirs.values())
    if current.watches is None:
        return 1 + len(tops), None  # no limit to fit in: nothing to count
    left = current.watches - current.reserve - held
    needed = 1
    for top in tops:
        if top not in counted:
            # In a child process: a walk of the whole tree here would slow
            # the stat pass running beside it (`notifyproc`).
            counted[top] = _count([top], stop_after=max(left - needed, 0))
        needed += counted[top]
        if needed > left:
            log.warning(
                "inotify_watches_short", root=str(root), needed=needed, left=left,
                limit=current.watches, reserve=current.reserve, held_by_axd=held,
            )  # fmt: skip
            return needed, limit_reason(WATCHES, current, needed)
    with _native_lock:
        _native_dirs[workspace_id] = needed
    return needed, None


def held() -> int:
    """Watches this process's native plans hold (as counted)."""
    with _native_lock:
        return sum(_native_dirs.values())


def release(workspace_id: str) -> None:
    """The workspace no longer watches natively."""
    with _native_lock:
        _native_dirs.pop(workspace_id, None)


def check_watch_left(directory: Path) -> None:
    """Raise ENOSPC when no inotify watch can be added now."""
    if not watch_available(directory):
        raise OSError(
            errno.ENOSPC,
            "inotify watch limit reached: new directories could not be watched",
        )


def is_limit_error(exc: BaseException) -> str | None:
    """Which limit `exc` (from watchfiles) ran into: WATCHES, INSTANCES or
    None when it is some other failure."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return WATCHES
    if "MaxFilesWatch" in text or "watch limit reached" in text:
        return WATCHES
    if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
        return INSTANCES
    if "Too many open files" in text or "os error 24" in text:
        return INSTANCES
    return None


def limit_reason(which: str, current: Limits, needed: int | None = None) -> str:
    """What ran out, its value, and how to raise it: the watcher's reason."""
    value = current.watches if which == WATCHES else current.instances
    shown = "unknown" if value is None else f"{value:,}"
    if which == WATCHES:
        what = "inotify watch limit reached"
        if needed is not None:
            what = (
                f"inotify watch limit too low for this workspace "
                f"({needed:,}+ directories to watch)"
            )
        suggestion = 1_048_576 if value is None else max(value * 4, 524_288)
    else:
        what = "inotify instance limit reached (or the open-file limit)"
        suggestion = 1024 if value is None else max(value * 4, 1024)
    return (
        f"{what}: {which} = {shown}; polling instead. Raise it with "
        f"`sudo sysctl {which}={suggestion}` (persist it in "
        f"/etc/sysctl.d/90-axd.conf) and restart axd"
    )


def watch_available(directory: Path) -> bool:
    """Whether one more inotify watch can be added right now (a probe: the
    watch is dropped at once). True when it cannot be told (not Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        init, add = libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError):
        return True
    fd = init(_IN_CLOEXEC)
    if fd < 0:
        return True  # no instance to probe with; existing watches unaffected
    try:
        wd = add(fd, os.fsencode(directory), _IN_ATTRIB | _IN_ONLYDIR)
        return wd >= 0 or ctypes.get_errno() != errno.ENOSPC
    finally:
        os.close(fd)
