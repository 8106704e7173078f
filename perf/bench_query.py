"""Query latency over the socket on the ~100,000-file corpus, idle and busy.

The corpus is `corpus.build_corpus` (``perf/corpus``, reused when built).
A real daemon indexes it (fresh state dir in a temporary directory, or
``--state-dir`` to keep the index between runs); then, on one connection,
round-robin so that every method sees the same conditions:

* ``symbols.definition {name}``: names of indexed definitions;
* ``symbols.search {query}``: random 2-6 character prefixes of those names;
* ``search {query}``: identifiers of indexed definitions (``limit: 20``);
* ``graph.dependencies {path, depth: 3}``: files with resolved imports;
* ``graph.cycles {}``: every 10th round.

Inputs are drawn with a fixed seed from the index itself (names that exist).
Latency is the client's wall time per call (send to parsed reply), p50/p95,
with (a) the daemon idle and (b) while a background thread modifies
``--burst`` files (a comment line appended, each file first given its own
inode with `corpus.make_private`) in batches of 100, ``--burst-pause``
seconds apart, during the measurement, so that the daemon re-indexes them
meanwhile; the busy measurement goes on (past ``--samples``) until the burst
is written and re-indexed (``index.status``: queue empty). Modified files
are restored afterwards (same content, own inode).

The corpus itself is never written: the daemon indexes a private copy of
its tree, ``--tree`` (default: in the run's temporary directory), made with
``cp -al`` — its own directories, the corpus's files as hard links — so
that the burst, which gives each file it edits its own inode first, changes
no path of the corpus (a corpus shared between engineers stays as it was).
A ``--state-dir`` that holds an index of the corpus tree itself (a ``cp -a``
of a shared, fully built state) is moved over to the copy first (its
registry entry, directory and ``root`` file; same files, same sizes and
mtimes, so the warm start re-indexes nothing).

Reference in the same run: ripgrep finding the same identifiers as the
``search`` samples, ``rg -l -w IDENT ROOT`` (wall time per query, warm page
cache, ``--rg-samples`` of them), and the ratio axd/rg.

Targets (issue): definition p95 <= 5 ms, symbols.search p95 <= 20 ms,
search p95 <= 50 ms, dependencies p95 <= 20 ms (seed bound 100 ms). Reported,
not asserted.

    .venv/bin/python perf/bench_query.py [--files N] [--samples 200]
        [--burst 2000] [--rg-samples 40] [--state-dir DIR] [--tree DIR]
        [--corpus DIR] [--json]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.client.connection import Client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from corpus import build_corpus, make_private
from daemon_proc import Daemon

TARGETS_MS = {
    "symbols.definition": 5.0,
    "symbols.search": 20.0,
    "search": 50.0,
    "graph.dependencies": 20.0,
    "graph.cycles": None,
}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{3,40}")
_COMMENT = {".py": "#", ".rb": "#"}  # every other corpus language uses //
_MARK = re.compile(rb"(?:\n(?:#|//) axd bench_query \d+\n)+\Z")
_DEF_KINDS = ("function", "method", "class", "struct", "interface")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def draw_inputs(db: Path, samples: int, seed: int) -> dict[str, list[Any]]:
    """Names, prefixes, identifiers and import-bearing paths from the index."""
    rng = random.Random(seed)
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        kinds = json.dumps(list(_DEF_KINDS))
        names = sorted(
            {
                str(n)
                for (n,) in conn.execute(
                    "SELECT name FROM symbols WHERE id % 53 = 0"
                    " AND kind IN (SELECT value FROM json_each(?))",
                    (kinds,),
                )
                if _IDENT.fullmatch(str(n))
            }
        )
        importers = [
            str(p)
            for (p,) in conn.execute(
                "SELECT DISTINCT f.path FROM imports i JOIN files f ON f.id = i.file_id"
                " WHERE i.target_id IS NOT NULL AND i.id % 7 = 0"
            )
        ]
    finally:
        conn.close()
    defs = rng.sample(names, min(samples, len(names)))
    prefixes = [
        name[: rng.randint(2, min(6, len(name)))]
        for name in rng.sample(names, min(samples, len(names)))
    ]
    idents = rng.sample(names, min(samples, len(names)))
    deps = [rng.choice(importers) for _ in range(samples)] if importers else []
    return {"definition": defs, "prefix": prefixes, "ident": idents, "deps": deps}


def measure(
    client: Client,
    root: str,
    inputs: dict[str, list[Any]],
    samples: int,
    keep_going: Callable[[], bool] | None = None,
) -> dict[str, list[float]]:
    """Round-robin over the methods; client wall ms per call.

    At least `samples` rounds, and more while `keep_going()` (checked every
    5 rounds) says so.
    """
    out: dict[str, list[float]] = {m: [] for m in TARGETS_MS}
    took: dict[str, list[float]] = {m: [] for m in TARGETS_MS}

    def timed(method: str, params: dict[str, Any]) -> None:
        started = time.perf_counter()
        raw = client.call_raw(method, params)
        out[method].append((time.perf_counter() - started) * 1000)
        took[method].append(float(json.loads(raw)["took_ms"]))

    i, going = 0, True
    while i < samples or going:
        if keep_going is None:
            going = False
        elif i % 5 == 0:
            going = keep_going()
        d = inputs["definition"][i % len(inputs["definition"])]
        timed("symbols.definition", {"root": root, "name": d})
        p = inputs["prefix"][i % len(inputs["prefix"])]
        timed("symbols.search", {"root": root, "query": p})
        q = inputs["ident"][i % len(inputs["ident"])]
        timed("search", {"root": root, "query": q, "limit": 20})
        if inputs["deps"]:
            path = inputs["deps"][i % len(inputs["deps"])]
            timed("graph.dependencies", {"root": root, "path": path, "depth": 3})
        if i % 10 == 0:
            timed("graph.cycles", {"root": root})
        i += 1
    out.update({f"{m}#took": v for m, v in took.items()})
    return out


class Burst(threading.Thread):
    """Appends a comment line to `files`, 100 at a time, then restores them."""

    def __init__(self, files: list[Path], pause_s: float) -> None:
        super().__init__(daemon=True)
        self.files = files
        self.pause_s = pause_s
        self.saved: dict[Path, bytes] = {}
        self.done_at: float | None = None
        self.stop = False

    def run(self) -> None:
        for i, path in enumerate(self.files):
            if self.stop:
                break
            make_private(path)
            # A run killed before restoring left its line: drop it.
            data = _MARK.sub(b"", path.read_bytes())
            self.saved[path] = data
            mark = _COMMENT.get(path.suffix, "//")
            path.write_bytes(data + f"\n{mark} axd bench_query {i}\n".encode())
            if i % 100 == 99:
                time.sleep(self.pause_s)
        self.done_at = time.perf_counter()

    def restore(self) -> None:
        for path, data in self.saved.items():
            path.write_bytes(data)


def rg_times(root: Path, idents: list[str]) -> list[float]:
    rg = shutil.which("rg")
    if rg is None:
        return []
    out = []
    for ident in idents:
        started = time.perf_counter()
        subprocess.run(
            [rg, "-l", "-w", ident, str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {
        "n": len(values),
        "p50": round(pct(values, 0.50), 2),
        "p95": round(pct(values, 0.95), 2),
        "max": round(max(values), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = build_corpus(Path(args.corpus), target_files=args.files, seed=args.seed)
    base = Path(tempfile.mkdtemp(prefix="axd-bq-", dir="/tmp"))
    root = private_tree(
        Path(info.root), Path(args.tree) if args.tree else base / "tree"
    )
    report: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_before": os.getloadavg(),
        "corpus": {"root": str(root), "files": info.files, "bytes": info.bytes},
    }
    try:
        state = Path(args.state_dir) if args.state_dir else base / "state"
        adopt_state(state, Path(info.root), root)
        with Daemon(base, state) as daemon:
            started = time.perf_counter()
            added = daemon.call("workspace.add", {"root": str(root)})
            status = daemon.wait(str(root))
            report["index_s"] = round(time.perf_counter() - started, 1)
            report["indexed"] = status["files_indexed"]
            ws = added["root"]
            db = state / "workspaces" / added["id"] / "index.db"
            inputs = draw_inputs(db, args.samples, args.seed)
            client = daemon.connect()
            started = time.perf_counter()
            client.call_raw("graph.cycles", {"root": ws})
            report["cycles_first_call_ms"] = round(
                (time.perf_counter() - started) * 1000, 1
            )
            measure(client, ws, inputs, 10)  # warm-up: caches, page cache
            idle = measure(client, ws, inputs, args.samples)
            # Busy: a burst of changes re-indexed while we measure.
            rng = random.Random(args.seed + 1)
            candidates = [
                p
                for p in rng.sample(sorted(_tree_files(root)), args.burst * 2)
                if p.suffix in (".py", ".java", ".c", ".h", ".js", ".cpp", ".go")
            ][: args.burst]
            generation = daemon.call("index.status", {"root": ws})["generation"]
            burst = Burst(candidates, pause_s=args.burst_pause)
            t0 = time.perf_counter()
            burst.start()

            def reindexing() -> bool:
                if burst.is_alive():
                    return True
                status = daemon.call("index.status", {"root": ws})
                return bool(status["queue_depth"]) or status["state"] != "ready"

            try:
                # Measured until the burst is written and re-indexed.
                busy = measure(client, ws, inputs, args.samples, reindexing)
                busy_s = time.perf_counter() - t0
                burst.join()
                status = daemon.wait(ws)
                reindex_s = time.perf_counter() - t0
            finally:
                burst.stop = True
                burst.join()
                burst.restore()
            report["busy"] = {
                "files_modified": len(burst.saved),
                "measure_s": round(busy_s, 1),
                "writes_done_s": round((burst.done_at or t0) - t0, 1),
                "reindexed_by_s": round(reindex_s, 1),
                "generations": status["generation"] - generation,
            }
            daemon.wait(ws)
            client.close()
        rg = rg_times(root, inputs["ident"][: args.rg_samples])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    report["load_after"] = os.getloadavg()
    report["methods"] = {
        m: {
            "target_p95_ms": TARGETS_MS[m],
            "idle": summary(idle[m]),
            "busy": summary(busy[m]),
            "idle_took": summary(idle[f"{m}#took"]),
            "busy_took": summary(busy[f"{m}#took"]),
        }
        for m in TARGETS_MS
    }
    report["rg"] = summary(rg)
    s_idle = report["methods"]["search"]["idle"]
    if rg and s_idle:
        report["search_vs_rg"] = {
            "p50_ratio": round(s_idle["p50"] / report["rg"]["p50"], 4),
            "p95_ratio": round(s_idle["p95"] / report["rg"]["p95"], 4),
        }
    return report


def private_tree(corpus: Path, tree: Path) -> Path:
    """`tree`, a copy of the corpus tree with its own directories (made if
    absent): files are hard links (``cp -al``; a full copy across file
    systems), which the burst replaces by private copies before editing."""
    tree = tree.resolve()
    if tree == corpus.resolve() or corpus.resolve() in tree.parents:
        sys.exit(
            f"--tree {tree} is inside the corpus {corpus}: the burst would edit it"
        )
    if not tree.exists():
        partial = tree.with_name(tree.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        link = subprocess.run(["cp", "-al", str(corpus), str(partial)], check=False)
        if link.returncode != 0:  # another file system: hard links impossible
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(corpus, partial, symlinks=True)
        partial.rename(tree)
    return tree


def _workspace_id(root: str) -> str:
    # The daemon's state layout (daemon/workspaces.py `workspace_id`); perf/
    # scripts drive the daemon from outside and import none of its code.
    return hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def adopt_state(state: Path, corpus: Path, tree: Path) -> None:
    """Move an index of `corpus` in `state` over to `tree`, its copy (the
    daemon is not running on `state`)."""
    registry = state / "workspaces.json"
    if not registry.exists():
        return
    data = json.loads(registry.read_text(encoding="utf-8"))
    old, new = str(corpus.resolve()), str(tree)
    for entry in data.get("workspaces", []):
        if entry.get("root") != old or any(
            e.get("root") == new for e in data["workspaces"]
        ):
            continue
        directory = state / "workspaces" / _workspace_id(old)
        moved = state / "workspaces" / _workspace_id(new)
        directory.rename(moved)
        (moved / "root").write_text(new + "\n", encoding="utf-8")
        entry["root"], entry["id"] = new, _workspace_id(new)
        registry.write_text(json.dumps(data, indent=2), encoding="utf-8")
        print(f"state {state}: index of {old} moved over to {new}", file=sys.stderr)


def _tree_files(root: Path) -> list[Path]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        out.extend(Path(dirpath) / f for f in files)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--corpus", default=str(HERE / "corpus"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument(
        "--burst-pause", type=float, default=1.0,
        help="seconds between batches of 100 modified files",
    )  # fmt: skip
    parser.add_argument("--rg-samples", type=int, default=40)
    parser.add_argument("--state-dir", help="keep the index here between runs")
    parser.add_argument(
        "--tree",
        help="the private copy of the corpus tree the daemon indexes and the"
        " burst edits (default: in the run's temporary directory)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C: the daemon stops and edited files are restored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}; {report['date']}; load "
          f"{report['load_before'][0]:.2f} -> {report['load_after'][0]:.2f}")  # fmt: skip
    c = report["corpus"]
    print(f"corpus: {c['files']} files, {c['bytes'] / 1e6:.0f} MB; indexed "
          f"{report['indexed']} in {report['index_s']} s")  # fmt: skip
    print(f"graph.cycles first call after start: {report['cycles_first_call_ms']} ms"
          " (later calls in one generation are cached)")  # fmt: skip
    b = report["busy"]
    print(f"busy: {b['files_modified']} files modified over {b['writes_done_s']} s, "
          f"re-indexed by {b['reindexed_by_s']} s ({b['generations']} generations); "
          f"busy measurement lasted {b['measure_s']} s")  # fmt: skip
    print(f"\n{'method':20} {'target p95':>10} {'idle p50':>9} {'idle p95':>9}"
          f" {'busy p50':>9} {'busy p95':>9} {'n idle/busy':>11}  server took p50/p95 idle, busy")  # fmt: skip
    for m, r in report["methods"].items():
        idle, busy, took = r["idle"], r["busy"], r["idle_took"]
        busy_took = r["busy_took"]
        if idle is None or busy is None or took is None or busy_took is None:
            print(f"{m:20} (no samples)")
            continue
        target = r["target_p95_ms"]
        print(f"{m:20} {'-' if target is None else f'{target:g} ms':>10} "
              f"{idle['p50']:>9.2f} {idle['p95']:>9.2f} {busy['p50']:>9.2f} "
              f"{busy['p95']:>9.2f} {idle['n']:>5}/{busy['n']:<5}  {took['p50']:.2f}/{took['p95']:.2f},"
              f" {busy_took['p50']:.2f}/{busy_took['p95']:.2f}")  # fmt: skip
    if report["rg"]:
        rg = report["rg"]
        ratio = report["search_vs_rg"]
        print(f"\nrg -l -w IDENT: p50 {rg['p50']:.1f} ms, p95 {rg['p95']:.1f} ms "
              f"(n={rg['n']}); axd search / rg: p50 {ratio['p50_ratio']:.4f}x, "
              f"p95 {ratio['p95_ratio']:.4f}x")  # fmt: skip
    elif args.rg_samples <= 0:
        print("\nripgrep reference skipped (--rg-samples 0)")
    else:
        print("\nrg not found: no ripgrep reference")


if __name__ == "__main__":
    main()
