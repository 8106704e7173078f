"""The cyclic garbage collector's settings for a long-lived axd process.

CPython collects its youngest generation every 700 container allocations,
and a full collection walks every object that survived. The daemon's writer
allocates row tuples by the million during an index, so the young
generation was collected ~1,000 times per 2,500 files written, and every
full collection walked the thousands of objects imported at start, which
live as long as the process. `settle` freezes what exists when it is
called (out of the collector's reach from then on; the process is done
importing) and collects the youngest generation every 10,000 allocations:
~5% less writer CPU (perf/RESULTS.md "#16 round 10"). The workers' forkserver
does the same before it forks them (`index/prebuild.py`).
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (10_000, 10, 10)


def settle() -> None:
    """Freeze the objects made so far and raise the collection threshold."""
    gc.collect()  # what is garbage now is not frozen for ever
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
