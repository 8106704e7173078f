"""Imported by the workers' forkserver: every language built once, for all.

The pool's workers fork from multiprocessing's forkserver (`forkserver.py`),
which imports this module before it forks anything. Building every registry
language's parser and query here (1.7 s of CPU once, at the daemon's start,
off its event loop) means a forked worker has them all from its first
instruction: its compiled queries are the forkserver's pages, shared
copy-on-write (Pss divides them), and replacing a worker costs a fork, not
compiles. That is what lets the pool recycle workers often enough to keep
each one small (#16 target 2, perf/RESULTS.md "#16 worker memory (round 6)").

Compiling a query walks its grammar's parse tables, which pulls most of
every grammar library's read-only data (~51 MB for 41 languages) into the
forkserver's resident set, where it would be counted for languages no
workspace uses. Those pages are clean copies of the library files, so they
are dropped from this process's page tables afterwards (`_drop_clean_pages`):
the kernel keeps them in the page cache, and a worker that parses a language
maps back the pages it reads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import sys

from axd.daemon import gc_policy
from axd.daemon.index import heap
from axd.daemon.index.languages import LANGUAGES
from axd.daemon.index.worker import preload

# madvise(2) advice (Linux): unmap the range; a private file mapping's clean
# pages are read back from the file on the next access.
_MADV_DONTNEED = 4
# The grammar libraries of the language pack (one shared library a language).
_GRAMMARS = "tree_sitter_language_pack"


def _mappings() -> list[tuple[int, int, str, str, int]]:
    """(start, end, permissions, path, anonymous kB) of this process."""
    found: list[tuple[int, int, str, str, int]] = []
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            head = line.split(maxsplit=5)
            if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
                start, end = (int(part, 16) for part in head[0].split("-"))
                path = head[5].strip() if len(head) > 5 else ""
                found.append((start, end, head[1], path, 0))
            elif head and head[0] == "Anonymous:" and found:
                start, end, perms, path, _ = found[-1]
                found[-1] = (start, end, perms, path, int(head[1]))
    return found


def _drop_clean_pages() -> int:
    """Unmap the pages of the grammar libraries' read-only data that no
    write ever touched; bytes dropped (0 where this does not apply).

    Only mappings that are read-only and hold no anonymous (copied-on-write)
    page: for those a page read back from the file is the same page. Nothing
    else in this process runs while it is done (the forkserver's import).
    """
    if not sys.platform.startswith("linux"):
        return 0
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        mappings = _mappings()
    except (OSError, ValueError):  # the forkserver must start whatever happens
        return 0
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    dropped = 0
    for start, end, perms, path, anonymous in mappings:
        if _GRAMMARS not in path or perms != "r--p" or anonymous:
            continue
        if (
            start % mmap.PAGESIZE == 0
            and madvise(start, end - start, _MADV_DONTNEED) == 0
        ):
            dropped += end - start
    return dropped


def build_all() -> tuple[int, int]:
    """Build every registry language here; (languages built, bytes of
    clean library pages dropped afterwards)."""
    built = preload(sorted(LANGUAGES))
    return built, _drop_clean_pages()


# Before the build, and inherited by every worker forked from here: a
# worker's large blocks (sources, tree arrays, replies) are returned to the
# kernel when freed rather than kept in its heap (`heap.keep_large_blocks_mapped`).
MALLOC_TUNED = heap.keep_large_blocks_mapped()
BUILT, DROPPED = build_all()

# A worker makes no reference cycles per file (trees, records and strings
# are freed by their counts), yet the cyclic collector's full collections
# walked its ~29k long-lived objects (modules, built languages): 4-7% of a
# worker's CPU (perf/RESULTS.md "#16 worker CPU (round 7)"). Frozen here,
# before any fork, they are out of its reach in every worker, which then
# also never writes to their pages (shared with this process, Pss); and the
# youngest generation is collected every 10,000 allocations, not 700
# (the daemon's own settings too: `gc_policy`).
gc_policy.settle()
