"""What an idle daemon costs: CPU while nothing changes (#16; axd runs for weeks).

A daemon that has indexed a tree and is only watching it should cost about
what a file watcher costs. Per run, on a private copy of ``--tree`` (hard
links with ``--state``, as `bench_live.py` does):

* **axd**: the daemon's CPU over ``--seconds`` once the workspace is ready
  and ``--settle`` seconds more have passed (by default past the one-off
  replacement of idle workers at ``worker_idle_s``; its background threads
  at nice 19, the open-time quick_check of a large index, are left out and
  printed apart), and its children's (the watch process, the idle worker);
* **Watchman** (the reference, same run, same copy, watching it meanwhile):
  its process's CPU over the same seconds.

Printed: milliseconds of CPU per minute for each, and axd / Watchman.

    .venv/bin/python perf/bench_idle.py --tree DIR [--state DIR] [--seconds 60]

Without the tree it says so and exits 0; without ``/usr/bin/watchman`` only
axd's figures are printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_live import (
    WATCHMAN,
    Watchman,
    background_cpu_s,
    copy_tree,
    cpu_s,
    descendants,
    loadavg,
    process_cpu_s,
    relocate_state,
)
from bench_warm import cpu_s as process_total_cpu_s
from daemon_proc import Daemon


def per_minute(seconds: float, window: float) -> float:
    return seconds / window * 60_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument(
        "--state", type=Path, help="a state dir holding an index of --tree"
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    # After the default worker_idle_s (60 s) the idle workers are replaced
    # once (memory, #16 target 2): a one-off, not the steady state.
    parser.add_argument("--settle", type=float, default=90.0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-watchman", action="store_true")
    args = parser.parse_args(argv)
    if not args.tree.is_dir():
        print(
            f"skipped: no tree at {args.tree} (see perf/RESULTS.md for how to get it)"
        )
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="axdidle-", dir=args.workdir))
    root = workdir / "tree"
    watchman: Watchman | None = None
    try:
        files = copy_tree(args.tree, root, link=args.state is not None)
        if args.state is not None:
            relocate_state(args.state, args.tree, root, workdir / "state")
        if WATCHMAN is not None and not args.no_watchman:
            watchman = Watchman(workdir, root)
        started = time.perf_counter()
        with Daemon(workdir, workdir / "state", call_timeout=120) as daemon:
            if args.state is None:
                daemon.call("workspace.add", {"root": str(root)})
            daemon.wait(str(root))
            ready_s = time.perf_counter() - started
            time.sleep(args.settle)
            pid = daemon.proc.pid
            axd_before = cpu_s(pid)
            kinds_before = process_cpu_s(pid, descendants(pid))
            background_before = background_cpu_s(pid)
            watchman_before = (
                process_total_cpu_s(watchman.proc.pid) if watchman else 0.0
            )
            load_before = loadavg()
            time.sleep(args.seconds)
            axd_after = cpu_s(pid)
            kinds_after = process_cpu_s(pid, descendants(pid))
            background = background_cpu_s(pid) - background_before
            watchman_s = (
                process_total_cpu_s(watchman.proc.pid) - watchman_before
                if watchman
                else None
            )
            load_after = loadavg()
        daemon_s = axd_after[0] - axd_before[0]
        children_s = axd_after[1] - axd_before[1]
        print(
            f"machine: {platform.machine()}, {os.cpu_count()} cores,"
            f" Python {platform.python_version()}; load {load_before} -> {load_after}"
        )
        print(
            f"tree: {args.tree} ({files} files, {'warm' if args.state else 'cold'}"
            f" start, ready in {ready_s:.1f} s); idle window {args.seconds:.0f} s"
            f" after {args.settle:.0f} s of settling"
        )
        axd_ms = per_minute(daemon_s + children_s, args.seconds)
        print(
            f"axd idle CPU: {axd_ms:.0f} ms per minute (daemon"
            f" {per_minute(daemon_s, args.seconds):.0f}, its children"
            f" {per_minute(children_s, args.seconds):.0f}; not counted: background"
            f" threads at nice 19, {per_minute(background, args.seconds):.0f})"
        )
        # Per child (a process started or ended in the window counts from
        # its start, or not at all: the total above is exact).
        by_kind: dict[str, float] = {}
        for child, (kind, spent) in kinds_after.items():
            spent -= kinds_before.get(child, (kind, 0.0))[1]
            by_kind[kind] = by_kind.get(kind, 0.0) + spent
        started_in_window = len(set(kinds_after) - set(kinds_before))
        print(
            "  children (ms per minute): "
            + ", ".join(
                f"{kind} {per_minute(spent, args.seconds):.0f}"
                for kind, spent in sorted(by_kind.items())
            )
            + f"; processes started in the window: {started_in_window}"
        )
        if watchman_s is not None:
            reference = per_minute(watchman_s, args.seconds)
            ratio = f"{axd_ms / reference:.1f}x" if reference else "n/a (0 ms)"
            print(f"watchman {watchman.version if watchman else '?'} idle CPU:"
                  f" {reference:.0f} ms per minute; axd / watchman: {ratio}")  # fmt: skip
    finally:
        if watchman is not None:
            watchman.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
