"""What the two allocators of this process hold (perf scripts only).

* glibc's heaps through `mallinfo2` (bytes in use, free inside the heaps,
  mmapped chunks);
* Python's small-object allocator through `sys._debugmallocstats`, which
  writes to the C-level stderr: fd 2 points at a scratch file meanwhile (a
  line another thread writes to stderr then is lost, which is why this is
  for benchmarks, not for the daemon).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import sys
import tempfile


class Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def glibc() -> Mallinfo2 | None:
    """glibc's `mallinfo2()`, or None where there is none (not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = Mallinfo2
    except (OSError, AttributeError):
        return None
    info: Mallinfo2 = libc.mallinfo2()
    return info


def pymalloc() -> dict[str, int]:
    """pymalloc's figures: ``arenas`` (allocated now), ``allocated`` and
    ``available`` (bytes in live / free blocks), ``total`` (all it holds);
    -1 for one the interpreter did not print."""
    with tempfile.TemporaryFile() as scratch:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(scratch.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        scratch.seek(0)
        text = scratch.read().decode("utf-8", "replace")

    def field(pattern: str) -> int:
        found = re.search(rf"{pattern}\s*=\s*([\d,]+)", text)
        return int(found.group(1).replace(",", "")) if found else -1

    return {
        "arenas": field("# arenas allocated current"),
        "allocated": field("# bytes in allocated blocks"),
        "available": field("# bytes in available blocks"),
        "total": field("Total"),
    }
