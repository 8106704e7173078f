"""Where a daemon's memory goes during a cold index (#16 target 2).

Runs ``axd.daemon`` in this process with `tracemalloc` on (1 frame: the
allocating line) and, every ``--every`` seconds, writes one line per sample
to ``--out``: the daemon's RSS / anonymous RSS (``smaps_rollup``), SQLite's
own allocator (``apsw.memory_used``, not seen by tracemalloc), the traced
Python heap, and its 15 largest allocation sites. Perf-only: the daemon
never starts tracemalloc itself.

    .venv/bin/python perf/trace_daemon.py --out trace.txt --every 10 -- \\
        --socket S --state-dir D --config C --metrics-addr ''

Each sample also says how full the allocators are: pymalloc's arenas
(``sys._debugmallocstats``: arenas held, bytes in live blocks) and glibc's
(``mallinfo2``: in use, free, mmapped), so memory held but not used
(fragmentation: an arena is freed only when every block in it is) is told
apart from live data. ``--frames N`` groups the largest sites by their
N-frame traceback (who called the allocating line). ``--quiet-after S``:
once no sample changed the traced size by more than 1 MB for S seconds,
one last sample by traceback (what is alive at idle) and the top types of
the live objects (``gc.get_objects``).

Adds CPU (tracemalloc hooks every allocation): read sizes, not times.
"""

from __future__ import annotations

import argparse
import ast
import collections
import gc
import importlib
import os
import sys
import threading
import time
import tracemalloc

import allocators


def _smaps(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) >= 3 and parts[-1] == b"kB":
                out[parts[0].decode().rstrip(":")] = int(parts[1]) * 1024
    return out


def _anon_maps(pid: int) -> str:
    """Anonymous memory by kind of mapping: glibc's main heap (brk), its
    other arenas (64 MiB-aligned heaps), single large mmaps (>= 1 MiB:
    glibc serves big allocations that way), the rest (pymalloc arenas,
    thread stacks' touched pages)."""
    kinds = {"heap": 0, "arenas": 0, "mmaps": 0, "other": 0}
    big: list[int] = []
    kind = ""
    with open(f"/proc/{pid}/smaps", "rb") as handle:
        for line in handle:
            parts = line.split()
            if b"-" in parts[0] and not parts[0].endswith(b":"):
                start, end = (int(x, 16) for x in parts[0].split(b"-"))
                name = parts[5] if len(parts) > 5 else b""
                size = end - start
                if name == b"[heap]":
                    kind = "heap"
                elif name:
                    kind = ""
                elif start % (64 << 20) == 0:
                    kind = "arenas"
                elif size >= 1 << 20:
                    kind = "mmaps"
                else:
                    kind = "other"
            elif parts[0] == b"Rss:" and kind:
                rss = int(parts[1]) * 1024
                kinds[kind] += rss
                if kind == "mmaps" and rss >= 4 << 20:
                    big.append(rss)
    text = " ".join(f"{k}={v / 1e6:.0f}MB" for k, v in kinds.items())
    return (
        text + " big=" + ",".join(f"{b / 1e6:.0f}" for b in sorted(big, reverse=True))
    )


def _pymalloc() -> str:
    """pymalloc's arenas held and the bytes of live blocks in them."""
    stats = allocators.pymalloc()
    arenas = stats["arenas"]
    return (
        f"pymalloc arenas={arenas} ({arenas * 2**20 / 1e6:.0f}MB)"
        f" live={stats['allocated'] / 1e6:.0f}MB"
        f" free-in-pools={stats['available'] / 1e6:.0f}MB"
    )


def _glibc() -> str:
    """glibc's heaps: bytes in use, free inside them, mmapped chunks."""
    info = allocators.glibc()
    if info is None:
        return "glibc ?"
    return (
        f"glibc used={info.uordblks / 1e6:.0f}MB free={info.fordblks / 1e6:.0f}MB"
        f" mmapped={info.hblkhd / 1e6:.0f}MB"
    )


def _write_top(handle: object, stats: list[tracemalloc.Statistic], top: int) -> None:
    for stat in stats[:top]:
        frames = " <- ".join(
            f"{frame.filename.split('/axd/')[-1].split('/')[-1]}:{frame.lineno}"
            for frame in stat.traceback
        )
        handle.write(  # type: ignore[attr-defined]
            f"    {stat.size / 1e6:8.2f} MB {stat.count:9d} {frames}\n"
        )


def _live_types(top: int) -> list[str]:
    """The commonest types of the objects the collector tracks."""
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    return [f"{name}={count}" for name, count in counts.most_common(top)]


def _untraced_sampler(out: str, every: float) -> None:
    """`--no-tracemalloc`: the allocators' fill (pymalloc's statistics are
    empty while tracemalloc hooks the allocator), SQLite's allocator and the
    commonest live object types (what grows with the files at idle)."""
    import apsw

    started = time.monotonic()
    with open(out, "a", encoding="utf-8") as handle:
        while True:
            time.sleep(every)
            smaps = _smaps(os.getpid())
            handle.write(
                f"t={time.monotonic() - started:.0f}s"
                f" rss={smaps.get('Rss', 0) / 1e6:.0f}MB"
                f" anon={smaps.get('Anonymous', 0) / 1e6:.0f}MB"
                f" {_pymalloc()} {_glibc()} {_anon_maps(os.getpid())}"
                f" sqlite={apsw.memory_used() / 1e6:.1f}MB\n"
                f"  live objects: {' '.join(_live_types(12))}\n"
            )
            handle.flush()


def _sampler(out: str, every: float, top: int, quiet_after: float) -> None:
    import apsw

    started = time.monotonic()
    quiet_since, last_traced, idle_done = time.monotonic(), 0, False
    with open(out, "a", encoding="utf-8") as handle:
        while True:
            time.sleep(every)
            smaps = _smaps(os.getpid())
            traced, peak = tracemalloc.get_traced_memory()
            snapshot = tracemalloc.take_snapshot()
            stats = snapshot.statistics("lineno")
            handle.write(f"  {_anon_maps(os.getpid())}\n")
            handle.write(f"  {_pymalloc()}  {_glibc()}\n")
            handle.write(
                f"t={time.monotonic() - started:.0f}s rss={smaps.get('Rss', 0) / 1e6:.0f}MB"
                f" anon={smaps.get('Anonymous', 0) / 1e6:.0f}MB"
                f" sqlite={apsw.memory_used() / 1e6:.1f}MB"
                f" (high {apsw.memory_high_water() / 1e6:.1f})"
                f" traced={traced / 1e6:.1f}MB (peak {peak / 1e6:.1f})\n"
            )
            _write_top(handle, stats, top)
            if abs(traced - last_traced) > 1_000_000:
                quiet_since = time.monotonic()
            last_traced = traced
            quiet = time.monotonic() - quiet_since >= quiet_after
            if quiet_after and quiet and not idle_done:
                idle_done = True
                handle.write("  idle, by traceback:\n")
                _write_top(handle, snapshot.statistics("traceback"), top * 3)
                handle.write(f"  live objects: {' '.join(_live_types(25))}\n")
            handle.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--quiet-after", type=float, default=0.0, metavar="S")
    parser.add_argument("--no-tracemalloc", action="store_true")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODULE.NAME=VALUE",
        help="experiments: set a module constant (a Python literal) first,"
        " e.g. axd.daemon.index.indexer.PARSED_BYTES_LIMIT=16777216",
    )
    parser.add_argument("daemon_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    for setting in args.set:
        target, _, value = setting.partition("=")
        module_name, _, name = target.rpartition(".")
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            parser.error(f"{module_name} has no {name}")
        setattr(module, name, ast.literal_eval(value))
    if args.no_tracemalloc:
        threading.Thread(
            target=_untraced_sampler, args=(args.out, args.every), daemon=True
        ).start()
    else:
        tracemalloc.start(max(1, args.frames))
        threading.Thread(
            target=_sampler,
            args=(args.out, args.every, args.top, args.quiet_after),
            daemon=True,
        ).start()
    from axd.daemon.entry import main as daemon_main

    argv = [a for a in args.daemon_args if a != "--"]
    return daemon_main(argv)


if __name__ == "__main__":
    sys.exit(main())
