"""A cold index's timeline, second by second (`perf/bench_cold.py`).

Who works when: per window, the CPU (in cores) of the daemon (the one
writer, decoding and the event loop) and of each worker process, the
daemon's busiest thread, and from `index.status` polled on a connection of
its own the queue depth (paths queued or in a batch being processed), the
files indexed and the generation (one per committed batch). Lines in which
the tree used less than 1.5 cores are the idle time to explain; the summary
splits the run into its serial start (until the first committed batch), the
pipelined middle and the serial end (the last batch committed -> ready:
import relink, end of the bulk index).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any, Self

STATUS_EVERY_S = 0.25


class StatusPoller:
    """`index.status` of one root every `STATUS_EVERY_S`, on its own connection."""

    def __init__(self, socket: Any, root: str) -> None:
        self.socket = socket
        self.root = root
        self.samples: list[tuple[float, int, int, int]] = []  # t, queue, files, gen
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from axd.client.connection import Client

        client = Client.connect(self.socket, timeout=30)
        try:
            while not self._stop.is_set():
                with contextlib.suppress(Exception):  # not added yet, busy...
                    status = json.loads(
                        client.call_raw("index.status", {"root": self.root})
                    )
                    self.samples.append(
                        (
                            time.perf_counter(),
                            int(status["queue_depth"]),
                            int(status["files_indexed"]),
                            int(status["generation"]),
                        )
                    )
                self._stop.wait(STATUS_EVERY_S)
        finally:
            with contextlib.suppress(Exception):
                client.close()


def _at(samples: list[tuple[float, int, int, int]], t: float) -> tuple[int, int, int]:
    """The last status sample at or before `t` (zeros before the first)."""
    last = (0, 0, 0)
    for sample in samples:
        if sample[0] > t:
            break
        last = sample[1:]
    return last


def timeline(
    ticks: list[tuple[float, dict[int, float], dict[str, float], dict[int, float]]],
    daemon_pid: int,
    names: dict[int, str],
    status: list[tuple[float, int, int, int]],
    window_s: float,
) -> list[dict[str, Any]]:
    """Per `window_s` window: cores used by the daemon, each worker, the
    daemon's busiest thread, and the status at the window's end."""
    if len(ticks) < 2:
        return []
    start = ticks[0][0]
    rows: list[dict[str, Any]] = []
    prev_t, prev_cpu, prev_threads, prev_wait = ticks[0]
    for tick in ticks[1:]:
        t, cpu, threads, wait = tick
        if t - prev_t < window_s and tick is not ticks[-1]:
            continue
        span = t - prev_t
        per_pid = {
            pid: (cpu[pid] - prev_cpu.get(pid, 0.0)) / span
            for pid in cpu
            if pid != daemon_pid
        }
        workers = {
            pid: share
            for pid, share in per_pid.items()
            if "forkserver" not in names.get(pid, "")
            and "resource_tracker" not in names.get(pid, "")
        }
        busiest = max(
            (
                (name, (v - prev_threads.get(name, 0.0)) / span)
                for name, v in threads.items()
            ),
            key=lambda item: item[1],
            default=("-", 0.0),
        )
        queue, files, generation = _at(status, t)
        waited = {pid: (wait[pid] - prev_wait.get(pid, 0.0)) / span for pid in wait}
        rows.append(
            {
                "t": t - start,
                "daemon": (cpu.get(daemon_pid, 0.0) - prev_cpu.get(daemon_pid, 0.0))
                / span,
                "workers": [workers[p] for p in sorted(workers)],
                "others": sum(per_pid.values()) - sum(workers.values()),
                "thread": busiest,
                # on CPU + runnable but waiting for one (other users' load)
                "daemon_want": waited.get(daemon_pid, 0.0),
                "workers_want": [waited.get(p, 0.0) for p in sorted(workers)],
                "queue": queue,
                "files": files,
                "generation": generation,
            }
        )
        prev_t, prev_cpu, prev_threads, prev_wait = t, cpu, threads, wait
    return rows


def _wanted(row: dict[str, Any]) -> float:
    """Cores axd was on or waiting for in a window (the daemon's threads'
    waits summed, capped at the cores it could use: one per process)."""
    used = [row["daemon"] + row["daemon_want"]] + [
        w + q for w, q in zip(row["workers"], row["workers_want"], strict=True)
    ]
    return sum(min(1.0 if i else 1.5, u) for i, u in enumerate(used))


def mean_wanted(rows: list[dict[str, Any]]) -> float:
    """Mean cores wanted over the run (`_wanted`)."""
    return sum(_wanted(r) for r in rows) / len(rows) if rows else float("nan")


def wanted_share(rows: list[dict[str, Any]], cores: float = 1.5) -> float:
    """Share of windows in which axd wanted at least `cores` cores."""
    return sum(_wanted(r) >= cores for r in rows) / len(rows) if rows else float("nan")


def phases(
    rows: list[dict[str, Any]], status: list[tuple[float, int, int, int]], t0: float
) -> dict[str, float]:
    """The serial start (to the first committed file), the last committed
    file -> the end, and the cores used in each part."""
    first = next((s[0] - t0 for s in status if s[2] > 0), None)
    final_files = status[-1][2] if status else 0
    last = next((s[0] - t0 for s in status if s[2] >= final_files), None)
    end = rows[-1]["t"] if rows else 0.0

    def cores(lo: float, hi: float, want: bool = False) -> float:
        inside = [r for r in rows if lo < r["t"] <= hi]
        if not inside:
            return float("nan")
        total = sum(r["daemon"] + sum(r["workers"]) + r["others"] for r in inside)
        if want:
            total += sum(r["daemon_want"] + sum(r["workers_want"]) for r in inside)
        return total / len(inside)

    out = {"end_s": end}
    if first is not None and last is not None:
        out |= {
            "first_commit_s": first,
            "last_commit_s": last,
            "start_cores": cores(0.0, first),
            "middle_cores": cores(first, last),
            "end_cores": cores(last, end + 1),
            "start_want": cores(0.0, first, True),
            "middle_want": cores(first, last, True),
            "end_want": cores(last, end + 1, True),
        }
    return out


def lines(rows: list[dict[str, Any]], summary: dict[str, float]) -> list[str]:
    """The timeline as text: one line a window, then the phases."""
    out = [
        (
            "  t(s)  cores | daemon (+rq wait) | workers (+run-queue wait)     |"
            " busiest daemon thread  | queue  files   gen"
        )
    ]
    for r in rows:
        total = r["daemon"] + sum(r["workers"]) + r["others"]
        workers = " ".join(
            f"{w:4.2f}+{q:4.2f}"
            for w, q in zip(r["workers"], r["workers_want"], strict=True)
        )
        name, share = r["thread"]
        out.append(
            f"  {r['t']:5.1f} {total:5.2f}{'*' if total < 1.5 else ' '}|"
            f" {r['daemon']:4.2f}+{r['daemon_want']:4.2f}       | {workers:<29} | {name[-16:]:<16} {share:4.2f} |"
            f" {r['queue']:6d} {r['files']:6d} {r['generation']:5d}"
        )
    if "first_commit_s" in summary:
        out.append(
            f"  phases: start (to the first committed file) {summary['first_commit_s']:.1f} s"
            f" at {summary['start_cores']:.2f} cores; middle to the last committed file"
            f" {summary['last_commit_s']:.1f} s at {summary['middle_cores']:.2f} cores;"
            f" end -> ready {summary['end_s'] - summary['last_commit_s']:.1f} s at"
            f" {summary['end_cores']:.2f} cores (* = under 1.5 cores). On CPU or"
            f" waiting for one (what axd would have used on an idle machine):"
            f" {summary['start_want']:.2f} / {summary['middle_want']:.2f} /"
            f" {summary['end_want']:.2f} cores"
        )
    return out
