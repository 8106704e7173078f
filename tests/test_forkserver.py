"""The workers' forkserver is started before the daemon imports the rest of
itself (index/forkserver.py): `start_early` starts it with the preload list,
from a module that pulls in nothing heavy. A fresh interpreter each time,
since the forkserver is one per process."""

from __future__ import annotations

import subprocess
import sys

GUARD_S = 120  # hang guard only

_PROBE = """
import os, sys
from axd.daemon.index import forkserver
forkserver.start_early()
children = open(f"/proc/self/task/{os.getpid()}/children").read().split()
commands = [open(f"/proc/{pid}/cmdline", "rb").read() for pid in children]
print(len(commands))
print(any(b"forkserver" in c and b"axd.daemon.index.prebuild" in c for c in commands))
print(sorted(m for m in ("anyio", "apsw", "msgspec", "axd.daemon.lifecycle",
                         "axd.daemon.index.pool") if m in sys.modules))
"""


def test_start_early_starts_the_forkserver_with_its_preload_and_imports_little() -> (
    None
):
    if not sys.platform.startswith("linux"):
        return  # spawn elsewhere: there is no forkserver to start
    done = subprocess.run(
        [sys.executable, "-P", "-c", _PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=GUARD_S,
    )
    count, preloaded, heavy = done.stdout.split("\n")[:3]
    assert int(count) >= 1, done.stdout
    assert preloaded == "True", done.stdout
    assert heavy == "[]", done.stdout
