"""Soak: a daemon on a real tree under load for a fixed time.

* a copy of part of the Python standard library (real files, ours to edit);
* `--clients` concurrent connections issuing mixed queries;
* a writer process editing, creating, deleting and renaming files;
* `SIGHUP` (config reload) every `--hup-every` seconds.

Reported: RSS and open descriptors over time (bound after warm-up), p50 /
p95 / p99 per method under load with the ratio to the same method measured
idle in the same run, errors by kind (provoked: a query for a file the
writer just deleted; everything else is unprovoked), and at the end the
index compared with a clean index of the final tree made by a second
daemon, plus `PRAGMA integrity_check` of both.

    python perf/soak.py --minutes 20 --clients 50
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import apsw

from axd.client.aio import AsyncClient
from axd.client.connection import RemoteError

# Real source to soak on: a few stdlib packages (~700 files).
STDLIB_PARTS = (
    "asyncio",
    "email",
    "json",
    "http",
    "unittest",
    "xml",
    "concurrent",
    "importlib",
    "logging",
    "multiprocessing",
    "urllib",
    "test/test_asyncio",
    "test/test_email",
    "idlelib",
    "tkinter",
    "lib2to3",
    "distutils",
    "ctypes",
    "sqlite3",
    "encodings",
    "collections",
    "wsgiref",
    "xmlrpc",
    "html",
    "curses",
    "zoneinfo",
    "tomllib",
)
PROVOKED = {-32003, -32004}  # not found / invalid path: the writer deleted it
WARM_UP_FRACTION = 0.25
RSS_GROWTH_BOUND = 0.25  # after warm-up, RSS may grow by at most this fraction


def build_tree(dest: Path) -> None:
    """Copy the stdlib parts into `dest` (copies, not links: we edit them)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for part in STDLIB_PARTS:
        source = stdlib / part
        if source.is_dir():
            shutil.copytree(
                source,
                dest / part.replace("/", "_"),
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


class Daemon:
    """`axd daemon` as a subprocess with its own socket and state."""

    def __init__(self, base: Path, root: Path, name: str) -> None:
        self.base = base / name
        self.base.mkdir(parents=True)
        self.socket = self.base / "axd.sock"
        self.state = self.base / "state"
        config = self.base / "config.toml"
        config.write_text("[log]\nlevel = 'warning'\nformat = 'json'\n")
        self.config = config
        env = dict(os.environ)
        env.pop("AXD_CONFIG", None)
        self.log = open(self.base / "daemon.log", "wb")  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axd.daemon", "--socket", str(self.socket),
             "--state-dir", str(self.state), "--config", str(config),
             "--metrics-addr", "", "--add", str(root)],
            stdout=subprocess.DEVNULL, stderr=self.log, env=env,
        )  # fmt: skip
        self.root = root

    async def wait_ready(self) -> None:
        """Until the socket answers and the first index is done."""
        with anyio.fail_after(1800):
            while not self.socket.exists():  # noqa: ASYNC110 - another process
                await anyio.sleep(0.1)
            async with await AsyncClient.connect(self.socket) as client:
                while True:
                    try:
                        await client.call_raw(
                            "index.wait", {"root": str(self.root), "timeout_s": 50}
                        )
                        return
                    except RemoteError as exc:
                        if exc.code != -32008:
                            raise

    def db(self) -> Path:
        """The workspace's index database."""
        (found,) = self.state.glob("workspaces/*/index.db")
        return found

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        self.proc.terminate()
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.log.close()
        return code


# -- the writer ----------------------------------------------------------------------------


def writer(root: str, stop_at: float, seed: int, counts: Any) -> None:
    """Edit, create, delete and rename files until `stop_at` (a process)."""
    rng = random.Random(seed)
    base = Path(root)
    made = base / "soak_new"
    made.mkdir(exist_ok=True)
    serial = 0
    while time.time() < stop_at:
        files = [p for p in base.rglob("*.py") if p.is_file()]
        if not files:
            break
        op = rng.choice(["edit", "edit", "create", "delete", "rename"])
        serial += 1
        try:
            if op == "edit":
                target = rng.choice(files)
                with target.open("a") as handle:
                    handle.write(
                        f"\n\ndef soak_edit_{serial}(x):\n    return x + {serial}\n"
                    )
            elif op == "create":
                (made / f"made_{serial}.py").write_text(
                    f"import json\n\nclass Made{serial}:\n    def method_{serial}(self):\n"
                    f"        return json.dumps({serial})\n"
                )
            elif op == "delete":
                rng.choice(files).unlink()
            else:
                target = rng.choice(files)
                target.rename(target.with_name(f"renamed_{serial}_{target.name}"))
            counts[op] = counts.get(op, 0) + 1
        except OSError:
            counts["failed"] = counts.get("failed", 0) + 1
        time.sleep(rng.uniform(0.05, 0.4))


# -- the clients ----------------------------------------------------------------------------


class Load:
    """Mixed queries from many connections, timed per method."""

    def __init__(self, root: Path, names: list[str], paths: list[str]) -> None:
        self.root = str(root)
        self.names = names
        self.paths = paths
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.provoked = 0
        self.rng = random.Random(7)

    def request(self) -> tuple[str, dict[str, Any]]:
        """One random query."""
        rng = self.rng
        name = rng.choice(self.names)
        path = rng.choice(self.paths)
        method = rng.choices(
            ["search", "symbols.definition", "symbols.references", "symbols.search",
             "symbols.outline", "chunks.get", "graph.imports", "index.status",
             "server.info", "health", "files.explain"],
            weights=[5, 3, 2, 2, 2, 1, 1, 1, 2, 1, 1],
        )[0]  # fmt: skip
        params: dict[str, Any] = {"root": self.root}
        if method in ("search", "symbols.search"):
            params["query"] = name.replace("_", " ") if rng.random() < 0.5 else name
        elif method in ("symbols.definition", "symbols.references"):
            params["name"] = name
        elif method in (
            "symbols.outline",
            "chunks.get",
            "graph.imports",
            "files.explain",
        ):
            params["path"] = path
        elif method in ("server.info", "health"):
            params = {}
        return method, params

    async def client(self, stop_at: float) -> None:
        """One connection issuing queries back to back until `stop_at`."""
        async with await AsyncClient.connect(self.socket) as client:
            while time.monotonic() < stop_at:
                method, params = self.request()
                started = time.perf_counter()
                try:
                    await client.call_raw(method, params or None)
                except RemoteError as exc:
                    if exc.code in PROVOKED:
                        self.provoked += 1
                    else:
                        key = f"{method}: {exc.code} {exc.message[:80]}"
                        self.errors[key] = self.errors.get(key, 0) + 1
                    continue
                self.times.setdefault(method, []).append(time.perf_counter() - started)

    socket: Path


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds."""
    if len(values) < 2:
        return {"n": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "n": len(values),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
    }


def process_figures(pid: int) -> tuple[int, int, int]:
    """(daemon RSS kB, workers' RSS kB, daemon open fds)."""

    def rss(p: int) -> int:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(c) for c in task.read_text().split()]
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss(pid), sum(rss(c) for c in children), fds


def index_view(db: Path) -> dict[str, Any]:
    """What must be equal between the soaked and a clean index."""
    conn = apsw.Connection(
        f"file:{db}?mode=ro", flags=apsw.SQLITE_OPEN_URI | apsw.SQLITE_OPEN_READONLY
    )
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchall()
        files = set(
            conn.execute("SELECT path, status, content_hash, skip_reason FROM files")
        )
        chunks = set(conn.execute(
            "SELECT f.path, c.start_byte, c.end_byte, c.kind FROM chunks c JOIN files f ON f.id = c.file_id"
        ))  # fmt: skip
        symbols = set(conn.execute(
            "SELECT f.path, s.qualified_name, s.kind, s.start_line FROM symbols s JOIN files f ON f.id = s.file_id"
        ))  # fmt: skip
        # One row per (name, file) since schema 3, positions packed in `spots`.
        refs = set(conn.execute(
            "SELECT f.path, r.name, r.spots FROM refs r JOIN files f ON f.id = r.file_id"
        ))  # fmt: skip
        imports = set(conn.execute(
            "SELECT f.path, i.module, i.start_line FROM imports i JOIN files f ON f.id = i.file_id"
        ))  # fmt: skip
    finally:
        conn.close()
    return {
        "integrity": [row[0] for row in ok],
        "files": files,
        "chunks": chunks,
        "symbols": symbols,
        "refs": refs,
        "imports": imports,
    }


def compare(soaked: dict[str, Any], clean: dict[str, Any]) -> dict[str, Any]:
    """Differences per table (counts of rows only in one of them)."""
    out: dict[str, Any] = {
        "integrity_soaked": soaked["integrity"],
        "integrity_clean": clean["integrity"],
    }
    for key in ("files", "chunks", "symbols", "refs", "imports"):
        only_soaked = soaked[key] - clean[key]
        only_clean = clean[key] - soaked[key]
        out[key] = {
            "rows": len(clean[key]),
            "only_in_soaked": len(only_soaked),
            "only_in_clean": len(only_clean),
            "examples": sorted(map(str, only_soaked | only_clean))[:5],
        }
    out["equal"] = all(
        out[k]["only_in_soaked"] == 0 and out[k]["only_in_clean"] == 0
        for k in ("files", "chunks", "symbols", "refs", "imports")
    )
    return out


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="axdsk-", dir="/tmp"))
    root = base / "tree"
    build_tree(root)
    text = "\n".join(
        p.read_text(errors="replace") for p in list(root.rglob("*.py"))[:400]
    )
    names = sorted(
        set(re.findall(r"^\s*def ([a-z_][a-z0-9_]{3,})", text, re.MULTILINE))
    )[:300]
    paths = [str(p.relative_to(root)) for p in sorted(root.rglob("*.py"))][:500]
    files_at_start = sum(1 for p in root.rglob("*") if p.is_file())
    daemon = Daemon(base, root, "soaked")
    load = Load(root, names, paths)
    load.socket = daemon.socket
    started_index = time.monotonic()
    await daemon.wait_ready()
    first_index_s = time.monotonic() - started_index

    # Idle reference: each method alone, in this run, before the load.
    idle = Load(root, names, paths)
    idle.socket = daemon.socket
    await idle.client(time.monotonic() + 15)

    manager = multiprocessing.Manager()
    counts = manager.dict()
    duration = args.minutes * 60
    stop_wall = time.time() + duration
    writer_proc = multiprocessing.Process(
        target=writer, args=(str(root), stop_wall, 11, counts)
    )
    writer_proc.start()
    samples: list[dict[str, Any]] = []
    hups = 0
    stop_at = time.monotonic() + duration
    began = time.monotonic()

    async def sampler() -> None:
        nonlocal hups
        next_hup = time.monotonic() + args.hup_every
        while time.monotonic() < stop_at:
            rss, workers, fds = process_figures(daemon.proc.pid)
            samples.append({"t_s": round(time.monotonic() - began), "rss_kb": rss,
                            "workers_rss_kb": workers, "fds": fds})  # fmt: skip
            if time.monotonic() >= next_hup:
                os.kill(daemon.proc.pid, signal.SIGHUP)
                hups += 1
                next_hup += args.hup_every
            await anyio.sleep(args.sample_every)

    async with anyio.create_task_group() as tg:
        tg.start_soon(sampler)
        for _ in range(args.clients):
            tg.start_soon(load.client, stop_at)
    writer_proc.join(120)

    # Settle, then compare with a clean index of the final tree.
    await daemon.wait_ready()
    alive = daemon.proc.poll() is None
    soaked_db = daemon.db()
    code = daemon.stop()
    clean = Daemon(base, root, "clean")
    await clean.wait_ready()
    clean_db = clean.db()
    clean.stop()
    comparison = compare(index_view(soaked_db), index_view(clean_db))

    warm = [s for s in samples if s["t_s"] >= duration * WARM_UP_FRACTION]
    rss_after_warm = [s["rss_kb"] for s in warm] or [0]
    growth = (rss_after_warm[-1] - rss_after_warm[0]) / max(1, rss_after_warm[0])
    methods = sorted(set(load.times) | set(idle.times))
    latency = {}
    for method in methods:
        under = percentiles(load.times.get(method, []))
        alone = percentiles(idle.times.get(method, []))
        ratio = (
            round(under["p50_ms"] / alone["p50_ms"], 1)
            if "p50_ms" in under and "p50_ms" in alone and alone["p50_ms"]
            else None
        )
        latency[method] = {"under_load": under, "idle": alone, "p50_ratio": ratio}
    report = {
        "minutes": args.minutes,
        "clients": args.clients,
        "files_at_start": files_at_start,
        "first_index_s": round(first_index_s, 1),
        "requests": sum(len(v) for v in load.times.values()),
        "unprovoked_errors": load.errors,
        "provoked_errors": load.provoked,
        "writer_ops": dict(counts),
        "sighups": hups,
        "daemon_alive_at_end": alive,
        "daemon_exit_code": code,
        "rss_kb": {
            "start": samples[0]["rss_kb"] if samples else None,
            "after_warm_up": rss_after_warm[0],
            "end": rss_after_warm[-1],
            "max": max(s["rss_kb"] for s in samples) if samples else None,
            "growth_after_warm_up": round(growth, 3),
            "bound": RSS_GROWTH_BOUND,
            "within_bound": growth <= RSS_GROWTH_BOUND,
        },
        "fds": {
            "min": min(s["fds"] for s in samples),
            "max": max(s["fds"] for s in samples),
        }
        if samples
        else {},
        "latency": latency,
        "index_vs_clean": comparison,
        "samples": samples,
        "base": str(base),
    }
    if comparison["equal"] and not load.errors and alive:
        shutil.rmtree(base, ignore_errors=True)
    return report


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the daemon under test is stopped


def main(argv: list[str] | None = None) -> int:
    """Run the soak; print the report as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--hup-every", type=float, default=60)
    parser.add_argument("--sample-every", type=float, default=15)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    report = anyio.run(soak, args)
    print(json.dumps(report, indent=2, default=list))
    ok = report["index_vs_clean"]["equal"] and not report["unprovoked_errors"]
    return 0 if ok and report["daemon_alive_at_end"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
