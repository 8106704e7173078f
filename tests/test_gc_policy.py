"""The daemon's collector settings (gc_policy.py), in a fresh interpreter:
what exists is frozen out of the collector's reach, garbage first collected,
and the youngest generation collected every 10,000 allocations."""

from __future__ import annotations

from support import run_python

from axd.daemon.gc_policy import GC_THRESHOLD


def test_settle_freezes_what_lives_and_raises_the_threshold() -> None:
    code = (
        "import gc, weakref\n"
        "from axd.daemon import gc_policy\n"
        "class Node: pass\n"
        "kept = [Node() for _ in range(5_000)]\n"
        "cycle = Node(); cycle.me = cycle; gone = weakref.ref(cycle); del cycle\n"
        "before = gc.get_freeze_count()\n"
        "gc_policy.settle()\n"
        "print(before, gc.get_freeze_count(), gc.get_threshold()[0], gone() is None)\n"
    )
    before, frozen, threshold, collected = run_python(code).split()
    assert int(before) == 0
    assert int(frozen) > 5_000  # the live objects, modules included
    assert int(threshold) == GC_THRESHOLD[0] == 10_000
    assert collected == "True"  # garbage is collected, not frozen for ever
