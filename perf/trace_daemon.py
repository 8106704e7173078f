"""Where a daemon's memory goes during a cold index (#16 target 2).

Runs ``axd.daemon`` in this process with `tracemalloc` on (1 frame: the
allocating line) and, every ``--every`` seconds, writes one line per sample
to ``--out``: the daemon's RSS / anonymous RSS (``smaps_rollup``), SQLite's
own allocator (``apsw.memory_used``, not seen by tracemalloc), the traced
Python heap, and its 15 largest allocation sites. Perf-only: the daemon
never starts tracemalloc itself.

    .venv/bin/python perf/trace_daemon.py --out trace.txt --every 10 -- \\
        --socket S --state-dir D --config C --metrics-addr ''

Adds CPU (tracemalloc hooks every allocation): read sizes, not times.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import tracemalloc


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


def _sampler(out: str, every: float, top: int) -> None:
    import apsw

    started = time.monotonic()
    with open(out, "a", encoding="utf-8") as handle:
        while True:
            time.sleep(every)
            smaps = _smaps(os.getpid())
            traced, peak = tracemalloc.get_traced_memory()
            stats = tracemalloc.take_snapshot().statistics("lineno")
            handle.write(f"  {_anon_maps(os.getpid())}\n")
            handle.write(
                f"t={time.monotonic() - started:.0f}s rss={smaps.get('Rss', 0) / 1e6:.0f}MB"
                f" anon={smaps.get('Anonymous', 0) / 1e6:.0f}MB"
                f" sqlite={apsw.memory_used() / 1e6:.1f}MB"
                f" (high {apsw.memory_high_water() / 1e6:.1f})"
                f" traced={traced / 1e6:.1f}MB (peak {peak / 1e6:.1f})\n"
            )
            for stat in stats[:top]:
                frame = stat.traceback[0]
                handle.write(
                    f"    {stat.size / 1e6:8.2f} MB {stat.count:9d}"
                    f" {frame.filename.split('/axd/')[-1]}:{frame.lineno}\n"
                )
            handle.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("daemon_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    tracemalloc.start(1)
    threading.Thread(
        target=_sampler, args=(args.out, args.every, args.top), daemon=True
    ).start()
    from axd.daemon.__main__ import main as daemon_main

    argv = [a for a in args.daemon_args if a != "--"]
    return daemon_main(argv)


if __name__ == "__main__":
    sys.exit(main())
