"""Telemetry cost: per-request overhead, and report time over 30 days.

Overhead: one real `axd daemon` subprocess, one NDJSON connection;
`server.info` and `flags.evaluate` round trips in alternating blocks with
telemetry off and on (`telemetry.consent` between blocks, so the two modes
share the machine's load). Prints p50/p99 of each mode and the difference.
Target: p99 on - p99 off <= 1 ms.

Reports: 30 days of generated events (`--per-day` a day, spread over 40
methods with latencies, sizes and errors, plus index runs and flag
exposures) written through `TelemetryDB.insert` the way the daemon writes
its batches, then `telemetry.stats`, `.errors` and `.performance` timed
over the socket of a daemon using that file. Reference in the same run: a
`server.info` round trip. Target: each report <= 100 ms.

    .venv/bin/python perf/bench_telemetry.py [--calls N] [--per-day N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import tempfile
import time
from pathlib import Path

from daemon_proc import Daemon

from axd.daemon.telemetry.db import TelemetryDB


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Connection:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.buffer = b""

    def call(self, method: str, params: object = None) -> tuple[float, object]:
        message: dict[str, object] = {"jsonrpc": "2.0", "method": method, "id": 1}
        if params is not None:
            message["params"] = params
        line = (json.dumps(message) + "\n").encode()
        started = time.perf_counter()
        self.sock.sendall(line)
        while b"\n" not in self.buffer:
            self.buffer += self.sock.recv(1 << 20)
        reply, _, self.buffer = self.buffer.partition(b"\n")
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, json.loads(reply)


def overhead(daemon: Daemon, calls: int, blocks: int) -> dict[bool, list[float]]:
    conn = Connection(daemon.socket)
    daemon.call("flags.set", {"name": "bench", "rollout_percentage": 50})
    results: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(200):
        conn.call("server.info")
    for block in range(blocks * 2):
        enabled = block % 2 == 1
        # telemetry.status writes what is buffered: switching off discards it.
        daemon.call("telemetry.status")
        daemon.call("telemetry.consent", {"enabled": enabled})
        for i in range(calls // blocks):
            if i % 2:
                ms, _ = conn.call("server.info")
            else:
                ms, _ = conn.call(
                    "flags.evaluate", {"flag": "bench", "subject": f"user-{i}"}
                )
            results[enabled].append(ms)
    status = daemon.call("telemetry.status")
    assert status["events"] >= calls // 2, status
    return results


def generate(path: Path, per_day: int, days: int = 30) -> int:
    rng = random.Random(13)
    methods = [f"method.{i}" for i in range(40)]
    db = TelemetryDB(path)
    now = time.time()
    total = 0
    for day in range(days):
        start = now - (days - day) * 86_400
        batch = []
        for i in range(per_day):
            ts = start + i * 86_400 / per_day
            roll = rng.random()
            if roll < 0.05:
                batch.append((ts, "index_run", "batch", "ok", rng.uniform(5, 500),
                              rng.randint(1, 128), None))  # fmt: skip
            elif roll < 0.15:
                batch.append((ts, "flag_exposure", f"flag-{i % 5}",
                              rng.choice(["rollout", "default"]), None, None,
                              rng.choice(["a", "b"])))  # fmt: skip
            else:
                outcome = "ok" if rng.random() > 0.02 else "invalid_params"
                batch.append((ts, "request", rng.choice(methods), outcome,
                              rng.lognormvariate(0, 1.5), rng.randint(50, 50_000),
                              None))  # fmt: skip
            if len(batch) >= 512:
                db.insert(batch)
                total += len(batch)
                batch = []
        if batch:
            db.insert(batch)
            total += len(batch)
    db.close()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--per-day", type=int, default=20_000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; "
        f"load average {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    with tempfile.TemporaryDirectory(prefix="axdb-", dir="/tmp") as tmp:
        base = Path(tmp)
        # The consent file goes to the config dir: keep it in the temp dir.
        os.environ["XDG_CONFIG_HOME"] = str(base / "config")
        for name in ("DO_NOT_TRACK", "AXD_TELEMETRY"):
            os.environ.pop(name, None)
        with Daemon(base, base / "state") as daemon:
            results = overhead(daemon, args.calls, args.blocks)
        off, on = results[False], results[True]
        print(
            f"overhead ({len(off)} requests each, {args.blocks} alternating blocks):"
            f" off p50 {percentile(off, 0.5):.3f} ms p99 {percentile(off, 0.99):.3f} ms"
            f" | on p50 {percentile(on, 0.5):.3f} ms p99 {percentile(on, 0.99):.3f} ms"
            f" | p99 difference {percentile(on, 0.99) - percentile(off, 0.99):+.3f} ms"
            f" | ratio p99 {percentile(on, 0.99) / percentile(off, 0.99):.2f}x"
        )
        state = base / "state2"
        state.mkdir(mode=0o700)
        started = time.perf_counter()
        total = generate(state / "telemetry.db", args.per_day)
        print(
            f"generated {total} events over 30 days in "
            f"{time.perf_counter() - started:.1f} s "
            f"({(state / 'telemetry.db').stat().st_size / 1e6:.1f} MB)"
        )
        (base / "sock2").mkdir()
        with Daemon(base / "sock2", state) as daemon:
            conn = Connection(daemon.socket)
            conn.call("telemetry.consent", {"enabled": True})
            info = [conn.call("server.info")[0] for _ in range(50)]
            for method in (
                "telemetry.stats",
                "telemetry.errors",
                "telemetry.performance",
            ):
                times = [conn.call(method)[0] for _ in range(20)]
                _, reply = conn.call(method)
                assert "result" in reply, reply  # type: ignore[operator]
                print(
                    f"{method} over 30 days: median {percentile(times, 0.5):.1f} ms,"
                    f" max {max(times):.1f} ms | reference server.info median"
                    f" {percentile(info, 0.5):.3f} ms"
                    f" | {'met' if max(times) <= 100 else 'MISSED'} (<= 100 ms)"
                )


if __name__ == "__main__":
    main()
