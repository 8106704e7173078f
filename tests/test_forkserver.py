"""The workers' forkserver is started before the daemon imports the rest of
itself (index/forkserver.py): `start_early` starts it with the preload list,
from a module that pulls in nothing heavy. A fresh interpreter each time,
since the forkserver is one per process."""

from __future__ import annotations

import sys

import pytest
from support import run_python

_PROBE = """
import os, sys
from axd.daemon.index import forkserver
forkserver.start_early()
heavy = sorted(m for m in ("anyio", "apsw", "msgspec", "axd.daemon.lifecycle",
                           "axd.daemon.index.pool") if m in sys.modules)
# Forked by now (its exec may still be on its way): the children's pids.
children = open(f"/proc/self/task/{os.getpid()}/children").read().split()
# One process forked through the server (after its preload) proves it runs
# and that its command line is final.
worker = forkserver.context().Process(target=os.getpid)
worker.start()
worker.join()
commands = [open(f"/proc/{pid}/cmdline", "rb").read() for pid in children]
print(len(commands))
print(any(b"forkserver" in c and b"axd.daemon.index.prebuild" in c for c in commands))
print(heavy)
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="spawn elsewhere: no forkserver"
)
def test_start_early_starts_the_forkserver_with_its_preload_and_imports_little() -> (
    None
):
    out = run_python(_PROBE)
    count, preloaded, heavy = out.split("\n")[:3]
    assert int(count) >= 1, out
    assert preloaded == "True", out
    assert heavy == "[]", out
