"""Runs a daemon where inotify watches genuinely run out (test support).

Started as `unshare --user --map-root-user python inotify_agent.py LIMIT
SCRATCH -- DAEMON-ARGV...`: in the new user namespace it lowers
`user.max_inotify_watches` (per user namespace since Linux 5.11, and charged
to the parent's too, so the machine's own limit is untouched), starts the
daemon in the same namespace, then obeys lines on stdin:

* `consume` — take every inotify watch left (one per file in SCRATCH, as
  another program of the same user would) and hold them; answers
  `consumed N`;
* `release` — give them back; answers `released`.

End of stdin ends the daemon and the agent.
"""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
from pathlib import Path

IN_ATTRIB = 0x00000004
IN_CLOEXEC = 0o2000000


def consume(scratch: Path) -> tuple[int, int]:
    """An inotify fd holding every watch still available, and how many."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(IN_CLOEXEC)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "inotify_init1")
    taken = 0
    while True:
        path = scratch / f"w{taken}"
        path.touch()
        if libc.inotify_add_watch(fd, os.fsencode(path), IN_ATTRIB) < 0:
            code = ctypes.get_errno()
            if code != errno.ENOSPC:
                raise OSError(code, f"inotify_add_watch {path}")
            return fd, taken
        taken += 1


def main() -> int:
    limit, scratch_arg, dash, *daemon = sys.argv[1:]
    assert dash == "--" and daemon, sys.argv
    Path("/proc/sys/user/max_inotify_watches").write_text(limit)
    scratch = Path(scratch_arg)
    scratch.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(daemon, stdin=subprocess.DEVNULL)
    held: int | None = None
    try:
        for line in sys.stdin:
            command = line.strip()
            if command == "consume":
                held, taken = consume(scratch)
                print(f"consumed {taken}", flush=True)
            elif command == "release" and held is not None:
                os.close(held)
                held = None
                print("released", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
