"""Warm start: a daemon restarted on an existing index of an unchanged tree.

Issue #16 target 4: queries answered within 1 s of process start (state
`ready`, the stat pass running in the background) and the stat pass over
(`index.wait` returns: nothing queued) within 5 s, on the 100k-file corpus.

Needs a state directory holding a complete index of the tree (``--state``;
built once by ``axd daemon --state-dir DIR --add TREE`` and
``index.wait``). The state is copied (``cp -a``) to a private directory
once, and every run starts a real daemon (`bench_index.Daemon`) on that copy:

* **first answer**: from just before the process is spawned to the first
  ``symbols.definition`` reply holding a name known to be indexed (polled
  every 5 ms, connecting as soon as the socket exists); the workspace's
  ``index.status`` state at that moment is printed too;
* **reconciled**: until ``index.wait`` returns (the stat pass is over and
  nothing is queued), and the daemon's own ``reconciled`` log line (files,
  changed, crawl and total ms);
* **queries meanwhile**: from a second connection, ``symbols.definition``
  every 10 ms from the first answer until reconciled: p50 / p99 / max reply
  time (anything that stops the daemon's threads shows in the max);
* **reference, same run**: one ``os.scandir`` walk that ``lstat``s every
  file of the tree (what any stat pass must do at least, single-threaded
  Python), and ``find TREE -type f -printf .`` (the same in C).

The tree is only read. The first run after the copy pays for a cold page
cache of the copied database; ``--runs`` repeats the restart.

    .venv/bin/python perf/bench_warm.py --state /work/bench/state100k \\
        --tree /work/bench/corpus100k/tree [--work DIR] [--runs 3] [--save F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_index as bi


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def scandir_stat(root: Path) -> tuple[float, int]:
    """Seconds for one os.scandir walk lstat'ing every file; files seen."""
    started = time.perf_counter()
    files = 0
    stack = [os.fspath(root)]
    while stack:
        current = stack.pop()
        try:
            entries = os.scandir(current)
        except OSError:
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != ".git":
                        stack.append(entry.path)
                else:
                    entry.stat(follow_symlinks=False)
                    files += 1
    return time.perf_counter() - started, files


def find_time(root: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["find", str(root), "-type", "f", "-printf", "."],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - started


def import_time() -> float:
    """Seconds for a fresh interpreter to import the daemon (no work done):
    the floor of any process start on this machine at this load."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import axd.daemon.assemble, axd.daemon.lifecycle"],
        check=True,
    )
    return time.perf_counter() - started


def probe_name(state: Path, root: str) -> str:
    """A definition name the index holds (read from the database directly)."""
    registry = json.loads((state / "workspaces.json").read_text())
    ident = next(w["id"] for w in registry["workspaces"] if w["root"] == root)
    db = state / "workspaces" / ident / "index.db"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT name FROM symbols WHERE kind = 'function' AND length(name) > 8"
            " ORDER BY id LIMIT 1 OFFSET 1000"
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        raise SystemExit(f"no function in {db}: is it a complete index?")
    return str(row[0])


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far:
    the load-independent side of a start on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_start(daemon: bi.Daemon, root: str, name: str) -> dict[str, Any]:
    from axd.client.connection import Client, DaemonUnavailableError, RemoteError

    daemon.start()
    assert daemon.proc is not None
    started = daemon.started_at
    first: float | None = None
    socket_s: float | None = None
    state_at_first = "?"
    cpu_first: float | None = None
    client = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if client is None:
                client = Client.connect(daemon.socket, timeout=120)
                socket_s = time.perf_counter() - started
            params = {"root": root, "name": name}
            result = json.loads(client.call_raw("symbols.definition", params))
            if result["definitions"]:
                first = time.perf_counter() - started
                cpu_first = cpu_s(daemon.proc.pid)
                status = json.loads(client.call_raw("index.status", {"root": root}))
                state_at_first = status["state"]
                break
        except (DaemonUnavailableError, OSError):
            client = None
        except RemoteError:
            pass  # the workspace is not loaded yet
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"daemon exited: see {daemon.log_path}")
        time.sleep(0.005)
    if client is None:
        client = daemon.connect()
    # Queries from another connection while the stat pass runs: what an
    # editor waits for then (anything holding the GIL shows here).
    done = threading.Event()
    latencies: list[float] = []
    prober = threading.Thread(
        target=probe_while, args=(daemon, root, name, done, latencies)
    )
    prober.start()
    try:
        bi.wait_ready(client, root)
    finally:
        done.set()
        prober.join()
    reconciled_s = time.perf_counter() - started
    cpu_reconciled = cpu_s(daemon.proc.pid)
    logs = daemon.logs()
    reconciled = bi.log_event(logs, "reconciled")
    watch = bi.log_event(logs, "watch_mode")
    daemon.stop(client)
    return {
        "socket_s": socket_s,
        "first_answer_s": first,
        "state_at_first_answer": state_at_first,
        "reconciled_s": reconciled_s,
        "cpu_at_first_answer_s": cpu_first,
        "cpu_at_reconciled_s": cpu_reconciled,
        "stat_pass": {
            k: reconciled.get(k)
            for k in ("files", "changed", "deleted", "rechecked", "crawl_ms", "ms")
        },
        "watch_mode_at": watch.get("timestamp"),
        "reconciling_queries": len(latencies),
        "reconciling_query_ms": summary_ms(latencies),
    }


def probe_while(
    daemon: bi.Daemon, root: str, name: str, done: threading.Event, out: list[float]
) -> None:
    """`symbols.definition` every 10 ms until `done`; each reply's time."""
    client = daemon.connect()
    try:
        while not done.is_set():
            sent = time.perf_counter()
            client.call_raw("symbols.definition", {"root": root, "name": name})
            out.append((time.perf_counter() - sent) * 1000)
            done.wait(0.01)
    finally:
        client.close()


def summary_ms(values: list[float]) -> dict[str, float] | None:
    """p50 / p99 / max of `values` (ms), None when there are none."""
    if not values:
        return None
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": pick(0.5), "p99": pick(0.99), "max": ordered[-1]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", type=Path, default=Path("/work/bench/state100k"))
    parser.add_argument(
        "--tree", type=Path, default=Path("/work/bench/corpus100k/tree")
    )
    parser.add_argument("--work", type=Path, help="where the state copy goes")
    parser.add_argument("--reuse", action="store_true", help="--work holds a copy")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--save", type=Path)
    args = parser.parse_args(argv)
    if not (args.state / "workspaces.json").is_file() or not args.tree.is_dir():
        print(f"skipped: no state at {args.state} or no tree at {args.tree}")
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="axdwarm-", dir="/work/bench"))
    state = work / "state"
    if not args.reuse:
        shutil.rmtree(state, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", str(args.state), str(state)], check=True)
    root = str(args.tree)
    name = probe_name(state, root)
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}",
        "tree": root,
        "probe": name,
        "load_before": loadavg(),
        "runs": [],
    }
    daemon = bi.Daemon(work, state)
    try:
        for index in range(args.runs):
            scan_s, files = scandir_stat(args.tree)
            find_s = find_time(args.tree)
            import_s = import_time()
            run = one_start(daemon, root, name)
            run |= {
                "scandir_stat_s": scan_s,
                "tree_files": files,
                "find_s": find_s,
                "import_s": import_s,
            }
            run["load"] = loadavg()
            report["runs"].append(run)
            print(
                f"run {index}: first answer {fmt(run['first_answer_s'])}"
                f" (state {run['state_at_first_answer']}, socket {fmt(run['socket_s'])}),"
                f" reconciled {fmt(run['reconciled_s'])};"
                f" daemon CPU {fmt(run['cpu_at_first_answer_s'])} /"
                f" {fmt(run['cpu_at_reconciled_s'])};"
                f" stat pass {run['stat_pass']};"
                f" queries meanwhile: {run['reconciling_queries']},"
                f" ms {run['reconciling_query_ms']};"
                f" reference: scandir+lstat {scan_s:.2f} s ({files} files),"
                f" find {find_s:.2f} s, daemon imports {import_s:.2f} s;"
                f" load {run['load']}",
                flush=True,
            )
    finally:
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.terminate()
            daemon.proc.wait(60)
    report["load_after"] = loadavg()
    runs = report["runs"]
    firsts = [r["first_answer_s"] for r in runs if r["first_answer_s"] is not None]
    recs = [r["reconciled_s"] for r in runs]
    scans = [r["scandir_stat_s"] for r in runs]
    print(
        f"\nmachine: {report['machine']}; load {report['load_before']} ->"
        f" {report['load_after']} (shared machine)\n"
        f"tree: {root} ({runs[0]['tree_files']} files); probe {name!r}\n"
        f"first answer: median {statistics.median(firsts):.2f} s"
        f" (target <= 1 s) over {len(firsts)} runs; a fresh interpreter's"
        f" imports alone {statistics.median(r['import_s'] for r in runs):.2f} s\n"
        f"reconciled:   median {statistics.median(recs):.2f} s (target <= 5 s);"
        f" / scandir+lstat reference {statistics.median(scans):.2f} s ="
        f" {statistics.median(recs) / statistics.median(scans):.1f}x"
    )
    if args.save:
        args.save.parent.mkdir(parents=True, exist_ok=True)
        args.save.write_text(json.dumps(report, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def fmt(value: float | None) -> str:
    return "miss" if value is None else f"{value:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
