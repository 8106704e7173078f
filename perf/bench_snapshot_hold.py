"""How long a snapshot holds the index writer, on a copy of a real index.

The daemon's snapshots hold the workspace's write slot only for their
start (`incremental.Chain.begin`): a full one opens a read transaction and
restarts the record of changes there, an incremental one also takes the
changeset. The copy (full) or the changeset write (incremental) runs after
the slot is released (`Pending.finish`). This times both parts, in process,
with the daemon's own `Store` and `Chain`:

1. a full snapshot of the index: `begin` (the hold) and `finish` (the copy);
2. 10, then 1,000 new files (hand-built records: 32 lines, one chunk
   each, in batches of 100), then an incremental snapshot: `begin` and
   `finish`;
3. the reference, in the same run: one batch of 10 files written
   (`Store.apply_batch`), the cost of a commit the hold delays at most.

    .venv/bin/python perf/bench_snapshot_hold.py INDEX.db WORKDIR

INDEX.db is copied into WORKDIR first (never opened in place).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from store_records import plain

from axd.daemon.store.incremental import Chain, Limits
from axd.daemon.store.snapshots import SnapshotDir
from axd.daemon.store.store import Store

BODY = "".join(f"def bench_hold_{i}(x):\n    return x + {i}\n\n\n" for i in range(8))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("index", type=Path)
    parser.add_argument("workdir", type=Path)
    args = parser.parse_args()
    with open("/proc/loadavg") as handle:
        load = handle.read().strip()
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()},"
          f" Python {platform.python_version()}; loadavg {load} (shared machine)")  # fmt: skip
    args.workdir.mkdir(parents=True, exist_ok=True)
    db = args.workdir / "index.db"
    started = time.perf_counter()
    shutil.copyfile(args.index, db)
    print(f"copied {db.stat().st_size / 2**20:.0f} MiB in"
          f" {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    store = Store.open(db)
    snaps = SnapshotDir(args.workdir / "snapshots")
    chain = Chain()
    limits = Limits()
    try:
        started = time.perf_counter()
        store.apply_batch([plain(f"bench_ref/r{i}.py", BODY) for i in range(10)])
        reference = time.perf_counter() - started
        print(f"reference: a batch of 10 files committed in {reference * 1000:.1f} ms")

        def snapshot(what: str) -> None:
            started = time.perf_counter()
            with store.exclusive() as conn:
                pending = chain.begin(
                    snaps, conn, store.path, label=None, kind="auto", limits=limits
                )
            held = time.perf_counter() - started
            started = time.perf_counter()
            manifest = pending.finish()
            rest = time.perf_counter() - started
            print(f"{what}: {manifest.storage}, writer held {held * 1000:.1f} ms"
                  f" (= {held / reference:.2f} x the 10-file batch), then"
                  f" {rest:.2f} s without it; {manifest.size_bytes / 2**20:.2f} MiB",
                  flush=True)  # fmt: skip

        snapshot("full snapshot")
        for count in (10, 1000):
            for start in range(0, count, 100):
                batch = range(start, min(count, start + 100))
                store.apply_batch(
                    [plain(f"bench_hold{count}/f{i}.py", BODY) for i in batch]
                )
                chain.after_write()
            snapshot(f"after {count} new files")
    finally:
        store.close()
        with open("/proc/loadavg") as handle:
            print(f"loadavg at the end: {handle.read().strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
