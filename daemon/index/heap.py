"""Keeping a process's C heap small: glibc malloc arenas and trimming.

Both the daemon and its parser workers allocate and free a lot of short-lived
C memory (decoded batches, tree-sitter trees of up to 2 MiB files). glibc
keeps freed memory in its arenas, so a process's RSS stays at its high-water
mark long after the data is gone (#16, perf/RESULTS.md "#16 memory"). These
helpers hand it back; they are no-ops where there is no glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

# glibc's mallopt parameters: the number of malloc arenas, and the size from
# which a block gets its own mapping instead of a place in a heap.
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
_ARENAS = 2
# glibc's own initial threshold, kept (see `keep_large_blocks_mapped`).
MMAP_THRESHOLD = 128 << 10


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    # musl has neither: then nothing here applies.
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim"):
        return None
    return libc


def cap_malloc_arenas() -> bool:
    """Limit this process to `_ARENAS` glibc malloc arenas; False elsewhere.

    The daemon decodes worker results in up to ``4 x size`` waiter threads
    and writes and reads in others; glibc gives each thread its own arena,
    and each arena keeps its high-water mark after the memory is freed
    (by another thread, later). On a 100k-file cold index that was ~250 MB
    of the daemon's RSS in ~13 arenas, growing with the run; with two
    arenas the freed memory is reused (#16, perf/RESULTS.md). Threads that
    already have an arena keep it, so call this before starting threads.
    """
    libc = _libc()
    return bool(libc.mallopt(_M_ARENA_MAX, _ARENAS)) if libc else False


def keep_large_blocks_mapped() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD`; False where there is
    no glibc.

    By default glibc raises the threshold (up to 32 MiB on 64-bit) each time
    a block it had mapped is freed. After the first few large blocks (a
    worker's reply, a decoded batch, a 2 MiB file's source and tree arrays)
    every later block of that size is carved from a heap instead, and once
    freed stays resident there until a trim, or for good when a small live
    block sits above it. A fixed threshold keeps every block of 128 KiB and
    more in its own mapping, returned to the kernel the moment it is freed
    (#16 target 2: moby's cold index peaked at 274-275 MB summed Pss against
    300-318 MB, perf/RESULTS.md "#16 memory (round 7)"). Setting it also
    stops glibc's matching adjustment of the trim threshold, which stays at
    its 128 KiB default. Inherited by forked children; call it early (blocks
    already in a heap stay there).
    """
    libc = _libc()
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) if libc else False


def trim() -> bool:
    """Return the free memory of every malloc arena to the kernel.

    `malloc_trim(0)` also releases free pages inside the heap (not only at
    its top). It costs a walk of the free lists (a few ms for a worker
    after a batch of large files), so callers run it after large work only.
    True when memory was released.
    """
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc else False


def rss_bytes(pid: int) -> int:
    """Resident set size of process `pid` (0 when unknown: gone, not Linux)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            resident = int(handle.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE")


def pss_bytes(pid: int) -> int:
    """Proportional set size of process `pid`: its own pages plus its share
    of those it shares (a forked worker's share of the forkserver's pages);
    0 when unknown (gone, not Linux, a kernel without smaps_rollup)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0
