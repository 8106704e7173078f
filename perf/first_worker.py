"""How soon after `axd daemon` starts its first parser worker exists.

Starts a real daemon (`daemon_proc.Daemon`, fresh state, no workspace),
waits `--wait` seconds, then reads from ``/proc`` when the daemon, its
workers' forkserver and the first worker forked from it started (the
forkserver and its workers share one command line). The forkserver builds
every language before it forks (index/prebuild.py), so the first worker's
time is what a cold index started with the daemon waits before it parses.
Linux only.

    .venv/bin/python perf/first_worker.py [--runs 3] [--wait 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from daemon_proc import Daemon

_TICKS = os.sysconf("SC_CLK_TCK")


def started_s(pid: int) -> float:
    """The process's start, in seconds since boot (field 22 of its stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[19]) / _TICKS


def pids(pattern: str) -> list[int]:
    found = subprocess.run(
        ["pgrep", "-f", pattern], capture_output=True, text=True, check=False
    )
    return [int(p) for p in found.stdout.split()]


def one_run(wait_s: float) -> tuple[float, float]:
    base = Path(tempfile.mkdtemp(prefix="axd-fw-", dir="/tmp"))
    with Daemon(base, base / "state"):
        time.sleep(wait_s)
        daemon = pids(f"axd.daemon --socket {base}")[0]
        t0 = started_s(daemon)
        children = sorted(
            started_s(p) - t0
            for p in pids("multiprocessing.forkserver")
            if started_s(p) >= t0
        )
    if len(children) < 2:
        raise SystemExit(f"no worker within {wait_s} s: raise --wait")
    return children[0], children[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wait", type=float, default=4.0)
    args = parser.parse_args()
    for run in range(args.runs):
        server, worker = one_run(args.wait)
        print(
            f"run {run}: forkserver {server:.2f} s, first worker {worker:.2f} s"
            f" after the daemon started (load {os.getloadavg()[0]:.2f})"
        )


if __name__ == "__main__":
    main()
