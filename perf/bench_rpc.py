"""RPC round trips: `server.info` over NDJSON, 1 sequential client and 16
concurrent clients (separate processes), against the real daemon.

Reference measured in the same run: a bare asyncio line-echo server on a
Unix socket (no JSON, no dispatch) driven by the same clients, the floor
for any Python socket server on this machine. Prints p50/p99 latency,
requests/s and the ratio axd/floor.

    .venv/bin/python perf/bench_rpc.py [--requests N] [--clients N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REQUEST = b'{"jsonrpc":"2.0","method":"server.info","id":1}\n'


def client_run(path: str, count: int, barrier: object) -> list[float]:
    """Sequential round trips on one connection; latencies in seconds."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    if barrier is not None:
        barrier.wait()  # type: ignore[attr-defined]
    latencies = []
    buffer = b""
    for _ in range(count):
        started = time.perf_counter()
        sock.sendall(REQUEST)
        while b"\n" not in buffer:
            buffer += sock.recv(65536)
        _, _, buffer = buffer.partition(b"\n")
        latencies.append(time.perf_counter() - started)
    sock.close()
    return latencies


def _worker(
    path: str, count: int, barrier: object, queue: multiprocessing.Queue[list[float]]
) -> None:
    queue.put(client_run(path, count, barrier))


def concurrent(path: str, clients: int, count: int) -> tuple[list[float], float]:
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    queue: multiprocessing.Queue[list[float]] = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(path, count, barrier, queue))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    results = [queue.get() for _ in procs]
    wall = time.perf_counter() - started
    for p in procs:
        p.join()
    return [x for r in results for x in r], wall


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def echo_server(path: str) -> None:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
        writer.close()

    async def main() -> None:
        server = await asyncio.start_unix_server(handle, path)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def wait_for(path: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client_run(path, 1, None)
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answered on {path}")


def measure(name: str, path: str, requests: int, clients: int) -> dict[str, float]:
    client_run(path, 500, None)  # warm up
    seq = client_run(path, requests, None)
    seq_wall = sum(seq)
    conc, wall = concurrent(path, clients, requests // clients * 2)
    row = {
        "seq_p50_ms": statistics.median(seq) * 1000,
        "seq_p99_ms": pct(seq, 0.99) * 1000,
        "seq_rps": len(seq) / seq_wall,
        "conc_p50_ms": statistics.median(conc) * 1000,
        "conc_p99_ms": pct(conc, 0.99) * 1000,
        "conc_rps": len(conc) / wall,
    }
    print(
        f"{name:10} sequential p50 {row['seq_p50_ms']:.3f} ms  p99 {row['seq_p99_ms']:.3f} ms  "
        f"{row['seq_rps']:8.0f} req/s | {clients} clients p50 {row['conc_p50_ms']:.3f} ms  "
        f"p99 {row['conc_p99_ms']:.3f} ms  {row['conc_rps']:8.0f} req/s"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.system()}; "
        f"load average {load}; nice {os.nice(0)}"
    )
    base = Path(tempfile.mkdtemp(prefix="axdb-", dir="/tmp"))
    try:
        echo_path = str(base / "echo.sock")
        echo = multiprocessing.get_context("fork").Process(
            target=echo_server, args=(echo_path,), daemon=True
        )
        echo.start()
        wait_for(echo_path)
        floor = measure("echo floor", echo_path, args.requests, args.clients)
        echo.terminate()

        sock = str(base / "axd.sock")
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "axd.daemon",
                "--socket",
                sock,
                "--state-dir",
                str(base / "state"),
                "--metrics-addr",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(sock)
            axd = measure("axd", sock, args.requests, args.clients)
        finally:
            daemon.terminate()
            daemon.wait(10)
        print(
            f"ratio axd/floor: sequential p50 {axd['seq_p50_ms'] / floor['seq_p50_ms']:.2f}x, "
            f"throughput {axd['conc_rps'] / floor['conc_rps']:.2f}x of the floor's req/s"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
