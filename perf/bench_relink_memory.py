"""Memory and CPU of the end-of-first-index import relink (#16 target 2).

Opens a copy of a built index (never the original: the relink writes),
runs `linker.relink_all` inside a transaction it rolls back, and prints the
process's peak RSS growth, Python's traced peak (tracemalloc, 1 frame) and
the CPU seconds. Run it with two versions of the code (``PYTHONPATH``) in
the same shell to compare:

    .venv/bin/python perf/bench_relink_memory.py COPY/index.db TREE_ROOT
"""

from __future__ import annotations

import hashlib
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import apsw

from axd.daemon.store import linker


def main() -> int:
    db, root = sys.argv[1], Path(sys.argv[2])
    trace = "--no-trace" not in sys.argv
    conn = apsw.Connection(db)
    conn.execute("PRAGMA cache_size = -16384")  # the writer's cache
    conn.execute("BEGIN")
    # As after a bulk first index (links deferred): nothing resolved yet.
    conn.execute("UPDATE imports SET target_id = NULL")
    hwm0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if trace:
        tracemalloc.start(1)
    cpu0 = time.process_time()
    count = linker.relink_all(conn, linker.DbFacts(conn, root))
    cpu = time.process_time() - cpu0
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    # What it resolved, to compare versions: a digest of every edge.
    digest = hashlib.blake2b(digest_size=8)
    for row in conn.execute("SELECT id, target_id FROM imports ORDER BY id"):
        digest.update(repr(row).encode())
    conn.execute("ROLLBACK")
    print(
        f"{linker.__file__}: {count:,} imports resolved, CPU {cpu:.1f} s"
        f"{' (traced)' if trace else ''}, Python traced peak {peak / 1e6:.1f} MB,"
        f" peak RSS +{(hwm - hwm0) / 1e6:.1f} MB (VmHWM {hwm / 1e6:.0f} MB);"
        f" edges {digest.hexdigest()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
