"""A worker's memory over a long run, without the daemon (#16 target 2).

Runs `worker.process_batch` (what a worker process does with a batch) in
this process over every ``--every``-th file of a tree, in batches of
``--batch`` files, and prints every ``--report`` batches the process's RSS,
its anonymous RSS, Python's allocated blocks and the CPU seconds so far;
at the end the growth per file. Run it twice with a different allocator in
the same shell (``PYTHONMALLOC=malloc``, glibc's malloc for every Python
object, against the default pymalloc) to compare memory and CPU on the same
files:

    .venv/bin/python perf/bench_worker_memory.py --tree DIR --every 10
    PYTHONMALLOC=malloc .venv/bin/python perf/bench_worker_memory.py ...
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

import allocators
import msgspec

from axd.daemon.index.worker import WorkerSettings, WorkItem, process_batch
from axd.protocol.config import IndexConfig


def _rss() -> tuple[int, int]:
    rss = anon = 0
    with open("/proc/self/status", "rb") as handle:
        for line in handle:
            if line.startswith(b"VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith(b"RssAnon:"):
                anon = int(line.split()[1]) * 1024
    return rss, anon


def _allocators() -> str:
    """What the C heap and Python's small-object allocator hold."""
    info = allocators.glibc()
    stats = allocators.pymalloc()
    glibc = (
        "glibc: ?;"
        if info is None
        else f"glibc: heap {info.arena / 1e6:.1f} MB (in use {info.uordblks / 1e6:.1f},"
        f" free {info.fordblks / 1e6:.1f}), mmapped {info.hblkhd / 1e6:.1f} MB;"
    )
    return (
        f"{glibc} pymalloc: {stats['arenas']} arenas, {stats['total'] / 1e6:.1f} MB,"
        f" in allocated blocks {stats['allocated'] / 1e6:.1f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", required=True)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--report", type=int, default=20)
    parser.add_argument("--limit", type=int, default=0, help="stop after N files")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="tracemalloc on: the largest live allocation sites at the end (slower)",
    )
    args = parser.parse_args()
    paths: list[str] = []
    for directory, dirs, files in os.walk(args.tree):
        dirs.sort()
        relative = os.path.relpath(directory, args.tree)
        paths += [os.path.normpath(os.path.join(relative, n)) for n in sorted(files)]
    paths = paths[:: args.every]
    if args.limit:
        paths = paths[: args.limit]
    defaults = IndexConfig()
    settings = msgspec.msgpack.encode(
        WorkerSettings(
            root=args.tree,
            max_file_bytes=defaults.max_file_bytes,
            max_line_bytes=defaults.max_line_bytes,
            max_chunk_bytes=defaults.max_chunk_bytes,
            parse_timeout_ms=defaults.parse_timeout_ms,
        )
    )
    allocator = os.environ.get("PYTHONMALLOC", "pymalloc (default)")
    print(
        f"{len(paths)} files of {args.tree} (every {args.every}th), allocator {allocator}"
    )
    if args.trace:
        tracemalloc.start(3)
    cpu0 = time.process_time()
    rss0 = _rss()[0]
    done = 0
    blob_bytes = 0
    for number, start in enumerate(range(0, len(paths), args.batch), 1):
        items = [WorkItem(p) for p in paths[start : start + args.batch]]
        blob_bytes += len(process_batch(settings, msgspec.msgpack.encode(items)))
        done += len(items)
        if number % args.report == 0 or done == len(paths):
            rss, anon = _rss()
            print(
                f"  {done:6d} files: RSS {rss / 1e6:6.1f} MB, anon {anon / 1e6:6.1f} MB,"
                f" Python blocks {sys.getallocatedblocks():9d},"
                f" CPU {time.process_time() - cpu0:7.1f} s",
                flush=True,
            )
    rss, anon = _rss()
    print(
        f"total: {done} files, CPU {time.process_time() - cpu0:.1f} s, RSS {rss / 1e6:.1f} MB"
        f" (+{(rss - rss0) / 1e6:.1f} MB, {(rss - rss0) / max(1, done):.0f} B per file),"
        f" records {blob_bytes / 1e6:.0f} MB"
    )
    print(_allocators())
    if args.trace:
        gc.collect()
        stats = tracemalloc.take_snapshot().statistics("traceback")
        print(f"live traced: {sum(s.size for s in stats) / 1e6:.1f} MB; largest sites:")
        for stat in stats[:15]:
            where = " <- ".join(
                f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in stat.traceback
            )
            print(f"  {stat.size / 1e6:7.2f} MB {stat.count:8d} {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
