"""The writer's side of a live burst, in process: what `Store.apply_batch`
costs per appended file on a large index, in CPU seconds and SQLite pages.

Takes a copy of an index database (``--db``; it is written to: never the
original) and the tree it indexes (``--tree``, read only). Each round picks
``--files`` indexed files at random (seeded), copies them into a private
directory with the benchmark's one-definition append (`bench_live.SNIPPETS`),
extracts them in this process (`worker.process_file`, as a worker does) and
writes them with `Store.apply_batch` in batches of ``--batch``; the next round
writes the same files back in their original content (also a change), and
so on, so every round is a real modification of ``--files`` indexed files.

Per round it prints the worker CPU (extraction, one process), the writer
thread's CPU and wall time, and the writer connection's page counters
(cache hits, misses = pages read, pages written). ``--mode full`` writes
every row of a changed file again (delete and re-insert), ``--mode diff``
only the rows that differ (`store/batch.py`); both modes alternate round by
round with ``--mode both``, so each pair is measured at the same load.
``--profile`` adds a cProfile of the writes (top functions by own time).

    .venv/bin/python perf/probe_burst.py --db COPY.db --tree TREE
        [--files 200] [--batch 200] [--rounds 4] [--mode both] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import apsw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_live import MAX_EDIT_BYTES, SNIPPETS

from axd.daemon.config import IndexConfig
from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
from axd.daemon.store import batch as batch_module
from axd.daemon.store.store import Store


def pick(db: Path, tree: Path, rng: random.Random, count: int) -> list[str]:
    """`count` indexed files with a snippet for their extension."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT path FROM files WHERE status = 'indexed' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    pool = [
        str(r[0])
        for r in rows
        if SNIPPETS.get(os.path.splitext(str(r[0]))[1])
        and not str(r[0]).endswith(".d.ts")
    ]
    rng.shuffle(pool)
    out: list[str] = []
    for rel in pool:
        path = tree / rel
        if (
            path.is_file()
            and not path.is_symlink()
            and path.stat().st_size <= MAX_EDIT_BYTES
        ):
            out.append(rel)
            if len(out) == count:
                break
    return out


def stage(tree: Path, private: Path, files: list[str], *, appended: bool) -> None:
    for rel in files:
        dest = private / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        data = (tree / rel).read_bytes()
        if appended:
            ext = os.path.splitext(rel)[1]
            data += (
                SNIPPETS[ext]
                .replace("{name}", f"axdprobe{abs(hash(rel)) % 10**8}")
                .encode()
            )
        dest.write_bytes(data)


def counters(conn: apsw.Connection) -> tuple[int, int, int]:
    hit = conn.status(apsw.SQLITE_DBSTATUS_CACHE_HIT)[0]
    miss = conn.status(apsw.SQLITE_DBSTATUS_CACHE_MISS)[0]
    write = conn.status(apsw.SQLITE_DBSTATUS_CACHE_WRITE)[0]
    return hit, miss, write


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--mode", choices=("full", "diff", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--sql",
        action="store_true",
        help="wall ms per SQL statement (SQLite's profile hook)",
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; load {Path('/proc/loadavg').read_text().strip()}"
    )
    rng = random.Random(args.seed)
    files = pick(args.db, args.tree, rng, args.files)
    print(f"{len(files)} files, batches of {args.batch}")
    if not files:
        print("no indexed file of the tree has a snippet (is --tree the db's root?)")
        return 1
    config = IndexConfig()
    private = Path(tempfile.mkdtemp(prefix="axdprobe-"))
    settings = WorkerSettings(
        root=str(private),
        max_file_bytes=config.max_file_bytes,
        max_line_bytes=config.max_line_bytes,
        max_chunk_bytes=config.max_chunk_bytes,
        parse_timeout_ms=config.parse_timeout_ms,
    )
    store = Store.open(args.db, root=args.tree)
    conn = store._w()
    try:
        for round_no in range(args.rounds):
            mode = args.mode if args.mode != "both" else ("full", "diff")[round_no % 2]
            # Both modes see the same kind of change: pairs of rounds
            # (append, revert) per mode; "both" alternates modes per pair.
            if args.mode == "both":
                mode = ("full", "diff")[(round_no // 2) % 2]
            appended = round_no % 2 == 0
            stage(args.tree, private, files, appended=appended)
            started = time.process_time()
            outcomes = [process_file(settings, WorkItem(path=rel)) for rel in files]
            worker_cpu = time.process_time() - started
            batch_module.DIFF_WRITES = mode == "diff"
            before = counters(conn)
            per_sql: dict[str, list[float]] = {}
            if args.sql:

                def hook(
                    sql: str, ns: int, per_sql: dict[str, list[float]] = per_sql
                ) -> None:
                    key = " ".join(sql.split())[:70]
                    per_sql.setdefault(key, [0, 0.0])
                    per_sql[key][0] += 1
                    per_sql[key][1] += ns / 1e6

                conn.set_profile(hook)
            profiler = cProfile.Profile() if args.profile else None
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            for at in range(0, len(outcomes), args.batch):
                store.apply_batch(outcomes[at : at + args.batch])
            if profiler is not None:
                profiler.disable()
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            after = counters(conn)
            hit, miss, write = (a - b for a, b in zip(after, before, strict=True))
            print(
                f"round {round_no} ({mode}, {'append' if appended else 'revert'}):"
                f" worker CPU {worker_cpu:.3f} s; writer CPU {cpu:.3f} s"
                f" ({cpu / len(files) * 1000:.2f} ms/file), wall {wall:.3f} s;"
                f" pages hit {hit}, read {miss}, written {write};"
                f" load {Path('/proc/loadavg').read_text().split()[0]}"
            )
            if profiler is not None:
                pstats.Stats(profiler).sort_stats("tottime").print_stats(14)
            if args.sql:
                conn.set_profile(None)
                for key, (n, total) in sorted(
                    per_sql.items(), key=lambda kv: -kv[1][1]
                )[:14]:
                    print(f"  {total:8.1f} ms {int(n):6d}x  {key}")
    finally:
        store.close()
        shutil.rmtree(private, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
