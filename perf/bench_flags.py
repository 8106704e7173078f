"""Flag evaluation latency: in-process and over the socket.

In-process: `FlagService.evaluate` (the code behind `flags.evaluate`, with
exposure counting) on a service opened on a real `flags.db`, over distinct
subjects and four kinds of flag (plain, 50 % rollout with two variants,
1,000-entry allow/deny lists with a cohort, an auto-kill window). Reference
in the same run: a dict lookup timed the same way (the timer's own floor).

Over the socket: `flags.evaluate` round trips on one NDJSON connection to a
real `axd daemon` subprocess. Reference in the same run: `server.info`
round trips on the same connection (the cheapest method, answered inline).

Targets (issue #13): p99 <= 20 µs in-process, <= 0.3 ms over the socket.

    .venv/bin/python perf/bench_flags.py [--evaluations N] [--calls N]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import tempfile
import time
from pathlib import Path

from daemon_proc import Daemon

from axd.daemon.flags.service import FlagService
from axd.protocol.flags import FlagDefinition, FlagVariant

FLAGS = [
    FlagDefinition(name="plain"),
    FlagDefinition(
        name="half",
        rollout_percentage=50,
        variants=[FlagVariant(name="a"), FlagVariant(name="b", weight=3)],
    ),
    FlagDefinition(
        name="lists",
        allow=[f"allowed-{i}" for i in range(1000)],
        deny=[f"denied-{i}" for i in range(1000)],
        cohorts=["beta"],
        rollout_percentage=10,
    ),
    FlagDefinition(name="guarded", rollout_percentage=30, kill_error_rate=0.5),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_process(count: int) -> tuple[list[float], list[float]]:
    """(evaluation µs, dict lookup µs), interleaved so load hits both alike."""
    import logging

    import anyio
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING)
    )

    with tempfile.TemporaryDirectory() as tmp:
        service = FlagService(Path(tmp) / "flags.db")
        service.open()

        async def define() -> None:
            for flag in FLAGS:
                await service.set(flag)

        anyio.run(define)
        names = [flag.name for flag in FLAGS]
        table = {f"user-{i}": i for i in range(count)}
        cohorts = ["beta"]
        evaluations: list[float] = []
        lookups: list[float] = []
        clock = time.perf_counter_ns
        evaluate = service.evaluate
        for i in range(count):
            subject = f"user-{i}"
            name = names[i % len(names)]
            started = clock()
            evaluate(name, subject, cohorts)
            evaluations.append((clock() - started) / 1000)
            started = clock()
            table.get(subject)
            lookups.append((clock() - started) / 1000)
        service.store.close()
    return evaluations, lookups


def round_trips(path: Path, count: int) -> tuple[list[float], list[float]]:
    """(flags.evaluate ms, server.info ms) on one connection, interleaved."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(path))
    buffer = b""

    def once(line: bytes) -> float:
        nonlocal buffer
        started = time.perf_counter()
        sock.sendall(line)
        while b"\n" not in buffer:
            buffer += sock.recv(65536)
        _, _, buffer = buffer.partition(b"\n")
        return (time.perf_counter() - started) * 1000

    info = b'{"jsonrpc":"2.0","method":"server.info","id":1}\n'
    flags: list[float] = []
    infos: list[float] = []
    for _ in range(200):  # warm-up
        once(info)
    for i in range(count):
        name = FLAGS[i % len(FLAGS)].name
        line = (
            '{"jsonrpc":"2.0","method":"flags.evaluate","id":2,"params":'
            f'{{"flag":"{name}","subject":"user-{i}",'
            '"attributes":{"cohorts":["beta"]}}}\n'
        ).encode()
        flags.append(once(line))
        infos.append(once(info))
    sock.close()
    return flags, infos


def report(label: str, unit: str, values: list[float], reference: list[float]) -> None:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    r50, r99 = percentile(reference, 0.5), percentile(reference, 0.99)
    print(
        f"{label}: p50 {p50:.3f} {unit}, p99 {p99:.3f} {unit}"
        f"  | reference p50 {r50:.3f} {unit}, p99 {r99:.3f} {unit}"
        f"  | ratio p99 {p99 / r99:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=200_000)
    parser.add_argument("--calls", type=int, default=5_000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}; "
        f"load average {Path('/proc/loadavg').read_text().split()[:3]}"
    )
    evaluations, lookups = in_process(args.evaluations)
    report(
        f"in-process evaluate ({args.evaluations} evaluations)",
        "µs",
        evaluations,
        lookups,
    )
    with tempfile.TemporaryDirectory(prefix="axdb-", dir="/tmp") as tmp:
        base = Path(tmp)
        with Daemon(base, base / "state") as daemon:
            for flag in FLAGS:
                daemon.call("flags.set", {"name": flag.name, **_rules(flag)})
            flags, infos = round_trips(daemon.socket, args.calls)
            served = _server_side(daemon.call("metrics")["text"])
    report(
        f"socket flags.evaluate ({args.calls} calls)",
        "ms",
        flags,
        infos,
    )
    print(
        "server side (axd_request_seconds): "
        + ", ".join(
            f"{method} {share:.2%} within 0.5 ms" for method, share in served.items()
        )
    )
    print(
        "targets: in-process p99 <= 20 µs: "
        f"{'met' if percentile(evaluations, 0.99) <= 20 else 'MISSED'}; "
        "socket p99 <= 0.3 ms: "
        f"{'met' if percentile(flags, 0.99) <= 0.3 else 'MISSED'}"
    )


def _server_side(text: str) -> dict[str, float]:
    """Share of requests the daemon itself answered within 0.5 ms, by method
    (its histogram excludes the client's and the scheduler's share)."""
    import re

    shares = {}
    for method in ("flags.evaluate", "server.info"):
        within = re.search(
            rf'axd_request_seconds_bucket\{{le="0.0005",method="{method}"\}} (\S+)',
            text,
        ) or re.search(
            rf'axd_request_seconds_bucket\{{method="{method}",le="0.0005"\}} (\S+)',
            text,
        )
        total = re.search(
            rf'axd_request_seconds_count\{{method="{method}"\}} (\S+)', text
        )
        if within and total:
            shares[method] = float(within[1]) / float(total[1])
    return shares


def _rules(flag: FlagDefinition) -> dict[str, object]:
    import msgspec

    data = msgspec.to_builtins(flag)
    data.pop("name")
    return {k: v for k, v in data.items() if k not in ("source", "killed")}


if __name__ == "__main__":
    main()
