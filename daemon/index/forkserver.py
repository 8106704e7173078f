"""The process the parser workers fork from, and starting it early.

Workers fork from multiprocessing's forkserver (fork() from the daemon,
which has threads, is unsafe; the forkserver is a clean single-threaded
process). It imports `PRELOAD_MODULES` before it forks anything: the
worker's modules and every language's parser and query (`prebuild`, ~1.7 s
of one core), so that no worker compiles anything.

`start_early` starts it before the daemon imports the rest of itself
(~0.5 s), so that the prebuild overlaps those imports and the first
worker of a cold index forks that much sooner. This module imports
nothing of axd's for that reason.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import sys

# Imported once by the forkserver: the worker's modules and every language's
# parser and query, built there (`prebuild`). A worker forked from it starts
# with nothing to import or compile (recycled and idle-refreshed workers come
# back in milliseconds), sharing those pages copy-on-write.
# First `norich`: no rich in the forkserver, hence in no worker.
PRELOAD_MODULES = ["axd.daemon.norich", "axd.daemon.index.prebuild"]


def context() -> multiprocessing.context.BaseContext:
    """The multiprocessing context the worker pool's executors use."""
    if not sys.platform.startswith("linux"):
        return multiprocessing.get_context("spawn")
    forkserver = multiprocessing.get_context("forkserver")
    # Applies when the (process-wide) forkserver starts, i.e. once.
    forkserver.set_forkserver_preload(PRELOAD_MODULES)
    return forkserver


def start_early() -> None:
    """Start the forkserver now (it starts on the first worker otherwise).

    Call from the daemon's main thread before it starts any other thread.
    """
    if context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()
