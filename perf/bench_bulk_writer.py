"""The writer's CPU per file during a first index, and what its secondary
indexes cost (#16 target 1, perf/RESULTS.md "#16 bulk writer (round 5)").

Parses a sample of a tree once in this process (``worker.process_file``, the
outcomes cached in msgpack under ``--cache``), then writes them with
``Store.apply_batch(..., defer_links=True)`` in 128-file batches, as a cold
index does, into:

* an **empty** index, and
* with ``--big DB``: a copy of a large index (the paths renamed under
  ``zz-bench/`` so every file is new): the writer late in a 100k first index.

Each target is written twice per ``--rounds``, alternating: ``all`` (every
index present) and ``deferred`` (the indexes of
``daemon/store/indexes.py`` dropped first, as a first index does, then built
at the end: that build is timed and counted). Between rounds on ``--big`` the
written files are deleted again. Figures are the writer thread's CPU
(``thread_time``), so other users' load on the shared machine inflates them
less than wall time; the ratio of the two variants is from the same run.

    .venv/bin/python perf/bench_bulk_writer.py --tree ROOT [--every N]
        [--big COPY_OF_INDEX_DB] [--rounds 2]

Never point ``--big`` at a state dir a daemon uses: it writes into it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 2 * 1024 * 1024
BATCH = 128


def sample(root: Path, every: int) -> list[str]:
    paths: list[str] = []
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in (".git", "node_modules"))
        rel_dir = os.path.relpath(current, root)
        paths.extend(
            name if rel_dir == "." else f"{rel_dir}/{name}" for name in sorted(names)
        )
    return paths[::every]


def outcomes_of(root: Path, every: int, cache: Path) -> list[Any]:
    import msgspec

    from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file
    from axd.daemon.records import FileOutcome

    decoder = msgspec.msgpack.Decoder(list[FileOutcome])
    if cache.exists():
        return decoder.decode(cache.read_bytes())
    settings = WorkerSettings(
        root=str(root),
        max_file_bytes=MAX_FILE_BYTES,
        max_line_bytes=5000,
        max_chunk_bytes=4096,
        parse_timeout_ms=5000,
    )
    outcomes = [process_file(settings, WorkItem(path=p)) for p in sample(root, every)]
    cache.write_bytes(msgspec.msgpack.encode(outcomes))
    return decoder.decode(cache.read_bytes())


def write_all(store: Any, outcomes: list[Any]) -> float:
    c0 = time.thread_time()
    for start in range(0, len(outcomes), BATCH):
        store.apply_batch(outcomes[start : start + BATCH], defer_links=True)
    return time.thread_time() - c0


def run_variant(store: Any, outcomes: list[Any], variant: str) -> dict[str, float]:
    from axd.daemon.store import indexes

    dropped: list[str] = []
    if variant == "deferred":
        with store.reader() as conn:
            dropped = [n for n in indexes.DEFERRED if n not in indexes.missing(conn)]
    else:
        store._indexes_deferred = True  # bench only: keep them during the writes
    write = write_all(store, outcomes)
    c0 = time.thread_time()
    built = store.build_indexes()
    build = time.thread_time() - c0
    # A deferred first index also stages its references (store/indexes.py):
    # `build_indexes` names that move first.
    expected = [indexes.PENDING_REFS] if variant == "deferred" else []
    assert sorted(built) == sorted(expected + dropped), (built, dropped)
    with store.reader() as conn:
        assert not indexes.missing(conn)
    files = sum(1 for o in outcomes if o.status == "indexed")
    return {
        "write_cpu_s": write,
        "build_cpu_s": build,
        "ms_per_file": 1000 * write / files,
        "ms_per_file_with_build": 1000 * (write + build) / files,
    }


def delete_bench_files(store: Any, outcomes: list[Any]) -> None:
    store.apply_batch([], [o.path for o in outcomes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--big", type=Path, help="a COPY of a large index.db")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)

    import msgspec

    from axd.daemon.store.store import Store

    root = args.tree.resolve()
    cache = args.cache or Path(f"/tmp/bulkbench-{root.name}-{args.every}.msgpack")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}; load {Path('/proc/loadavg').read_text().strip()}"
    )
    outcomes = outcomes_of(root, args.every, cache)
    indexed = sum(1 for o in outcomes if o.status == "indexed")
    print(
        f"{root}: {len(outcomes)} files sampled (every {args.every}), {indexed} indexed"
    )
    results: dict[str, list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        for variant in ("all", "deferred") if round_ % 2 == 0 else ("deferred", "all"):
            workdir = Path(tempfile.mkdtemp(prefix="bulkbench-", dir="/tmp"))
            try:
                store = Store.open(workdir / "index.db", root=root)
                r = run_variant(store, outcomes, variant)
                store.close()
            finally:
                shutil.rmtree(workdir)
            results.setdefault(f"empty/{variant}", []).append(r)
            print(f"  empty/{variant:8} {_fmt(r)}  load {_load()}", flush=True)
    if args.big is not None:
        renamed = [
            msgspec.structs.replace(o, path=f"zz-bench/{o.path}") for o in outcomes
        ]
        store = Store.open(args.big, root=root)
        try:
            store.build_indexes()  # a copy left half-way by an earlier run
            for round_ in range(args.rounds):
                order = ("all", "deferred") if round_ % 2 == 0 else ("deferred", "all")
                for variant in order:
                    r = run_variant(store, renamed, variant)
                    delete_bench_files(store, renamed)
                    results.setdefault(f"big/{variant}", []).append(r)
                    print(f"  big/{variant:10} {_fmt(r)}  load {_load()}", flush=True)
        finally:
            store.close()
    print("medians (writer thread CPU):")
    for key, rows in results.items():
        mid = sorted(rows, key=lambda r: r["ms_per_file_with_build"])[len(rows) // 2]
        print(f"  {key:14} {_fmt(mid)}")
    for target in ("empty", "big"):
        if f"{target}/all" in results:
            a = min(r["ms_per_file_with_build"] for r in results[f"{target}/all"])
            d = min(r["ms_per_file_with_build"] for r in results[f"{target}/deferred"])
            print(
                f"  {target}: deferred / all (best of each, build counted) = {d / a:.2f}"
            )
    return 0


def _fmt(r: dict[str, float]) -> str:
    return (
        f"write {r['write_cpu_s']:.2f} s + build {r['build_cpu_s']:.2f} s CPU;"
        f" {r['ms_per_file']:.3f} ms/file ({r['ms_per_file_with_build']:.3f} with build)"
    )


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    raise SystemExit(main())
