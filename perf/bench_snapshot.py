"""Snapshot costs on a real tree, each next to a reference measured in the
same run (the cold index of that tree).

Stages:

(a) cold index: a fresh daemon, ``workspace.add``, ready (the reference).
(b) checks on the live index: ``PRAGMA quick_check``, ``PRAGMA
    integrity_check`` and FTS5's ``integrity-check`` command, each timed on
    a read-only connection of their own.
(c) full snapshot: the automatic one after the first index (its size), and
    a full copy timed (``db.backup``: the same ``VACUUM INTO`` path).
(d) after 10 and after 1,000 changed files: ``snapshot.create`` (now an
    incremental one: the session changeset since the previous snapshot)
    against a full copy of the same state (``db.backup``), size and time;
    then the chain is rebuilt (base + changesets) and compared with that
    full copy: every table's rows, FTS5 integrity-check.
(e) ``snapshot.restore`` of the last incremental snapshot (rebuild the
    chain, verify, pre-restore snapshot, install), and until ready after
    its reconcile; the rebuild alone, timed.
(f) ``snapshot.export`` + ``snapshot.import`` into a second daemon on a
    copy at another path, until ready: against (a).

    .venv/bin/python perf/bench_snapshot.py [--tree DIR] [--keep-output]

Prints the figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import apsw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from daemon_proc import Daemon

from axd.daemon.store.snapshots import SnapshotDir
from axd.daemon.workspaces import workspace_id

DEFAULT_TREES = [Path("/work/corpora/moby"), Path(sysconfig.get_paths()["stdlib"])]
OUT = Path(__file__).resolve().parent / "out" / "bench_snapshot"


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def mib(n: float) -> str:
    if n < 1048576:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1048576:.1f} MiB"


def copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(
        src, dest, symlinks=True, ignore=shutil.ignore_patterns(".git", "__pycache__")
    )


def edit(root: Path, count: int, tag: str) -> list[Path]:
    """Append a new function to `count` source files."""
    files = sorted(p for p in root.rglob("*") if p.suffix in (".py", ".go"))[:count]
    for path in files:
        with open(path, "a", encoding="utf-8") as handle:
            if path.suffix == ".go":
                handle.write(f"\nfunc benchSnapshot{tag}() int {{ return 1 }}\n")
            else:
                handle.write(f"\n\ndef bench_snapshot_{tag}():\n    return 1\n")
    return files


def check_costs(db: Path) -> dict[str, float]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    out = {}
    try:
        for name, sql in (
            ("quick_check", "PRAGMA quick_check"),
            ("integrity_check", "PRAGMA integrity_check"),
        ):
            _, seconds = timed(lambda sql=sql: conn.execute(sql).fetchall())
            out[name] = seconds
    finally:
        conn.close()
    rw = apsw.Connection(str(db))
    try:
        rw.set_busy_timeout(10_000)
        _, seconds = timed(
            lambda: rw.execute(
                "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')"
            )
        )
        out["fts5_integrity_check"] = seconds
    finally:
        rw.close()
    return out


def table_sums(db: Path) -> dict[str, str]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        names = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' AND sql NOT LIKE 'CREATE VIRTUAL%'"
            )
        ]
        sums = {}
        for name in names:
            digest = hashlib.sha256()
            for row in conn.execute(f'SELECT * FROM "{name}" ORDER BY 1'):
                digest.update(repr(row).encode())
            sums[name] = digest.hexdigest()
        return sums
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path)
    parser.add_argument("--keep-output", action="store_true")
    args = parser.parse_args()
    tree = args.tree or next(t for t in DEFAULT_TREES if t.is_dir())
    with open("/proc/loadavg") as handle:
        load = handle.read().strip()
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()},"
          f" Python {platform.python_version()}; loadavg {load} (shared machine)")  # fmt: skip
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    first, second = OUT / "a" / "tree", OUT / "b" / "elsewhere" / "tree"
    copy_tree(tree, first)
    count = sum(1 for p in first.rglob("*") if p.is_file())
    print(f"tree: {tree} ({count} files)")
    base = Path(tempfile.mkdtemp(prefix="axdbs", dir="/tmp"))
    try:
        with Daemon(base, OUT / "state-a") as d:
            started = time.perf_counter()
            d.call("workspace.add", {"root": str(first)})
            d.wait(str(first))
            cold = time.perf_counter() - started
            print(f"(a) cold index: {cold:.1f} s (reference)")
            db = OUT / "state-a" / "workspaces" / workspace_id(str(first)) / "index.db"
            print(f"    live index: {mib(db.stat().st_size)} (+WAL)")
            for name, seconds in check_costs(db).items():
                print(
                    f"(b) {name}: {seconds:.2f} s = {seconds / cold:.3f} x cold index"
                )
            root = str(first)
            state = OUT / "state-a" / "workspaces" / workspace_id(root)
            while not [s for s in d.call("snapshot.list", {"root": root})["snapshots"]
                       if s["kind"] == "auto"]:  # fmt: skip
                time.sleep(0.2)
            snap = d.call("snapshot.list", {"root": root})["snapshots"][0]
            full = OUT / "full0.db"
            _, full_s = timed(
                lambda: d.call("db.backup", {"root": root, "path": str(full)})
            )
            print(f"(c) full snapshot (automatic, {snap['storage']}):"
                  f" {mib(snap['size_bytes'])}; a full copy takes {full_s:.2f} s"
                  f" = {full_s / cold:.3f} x cold")  # fmt: skip
            for changed in (10, 1000):
                edited = edit(first, changed, f"n{changed}")
                d.wait(root)
                inc, inc_s = timed(lambda: d.call("snapshot.create", {"root": root}))
                full = OUT / f"full{changed}.db"
                started = time.perf_counter()
                d.call("db.backup", {"root": root, "path": str(full)})
                full_s = time.perf_counter() - started
                full_b = full.stat().st_size
                print(f"(d) {len(edited)} files changed: snapshot.create"
                      f" ({inc['storage']}) {inc_s:.2f} s, {mib(inc['size_bytes'])}"
                      f" vs a full copy {full_s:.2f} s, {mib(full_b)}: size"
                      f" {inc['size_bytes'] / full_b:.2%}, time"
                      f" {inc_s / full_s:.2%} of full")  # fmt: skip
                rebuilt = OUT / f"rebuilt{changed}.db"
                started = time.perf_counter()
                SnapshotDir(state / "snapshots").materialise(inc["id"], rebuilt)
                rebuild_s = time.perf_counter() - started
                equal = table_sums(rebuilt) == table_sums(full)
                fts = "ok"
                try:
                    check = apsw.Connection(str(rebuilt))
                    check.execute(
                        "INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')"
                    )
                    check.close()
                except apsw.Error as exc:
                    fts = str(exc)
                print(f"    chain rebuilt in {rebuild_s:.2f} s; tables equal to the"
                      f" full copy: {equal}; FTS5 integrity-check: {fts}")  # fmt: skip
                rebuilt.unlink()
            _, seconds = timed(
                lambda: d.call("snapshot.restore", {"root": root, "id": inc["id"]})
            )
            started = time.perf_counter()
            d.wait(root)
            reconcile = time.perf_counter() - started
            print(f"(e) restore from the chain (base + 2 changesets): {seconds:.2f} s"
                  f" (of which the rebuild above: {rebuild_s:.2f} s); reconcile"
                  f" {reconcile:.1f} s (= {(seconds + reconcile) / cold:.3f} x cold)")  # fmt: skip
            exported = OUT / "index.axdsnap"
            d.call(
                "snapshot.export",
                {"root": str(first), "id": snap["id"], "path": str(exported)},
            )
        copy_tree(first, second)
        with Daemon(base, OUT / "state-b") as d:
            started = time.perf_counter()
            d.call("snapshot.import", {"root": str(second), "path": str(exported)})
            imported = time.perf_counter() - started
            d.wait(str(second))
            total = time.perf_counter() - started
            print(f"(f) import {imported:.2f} s, + reconcile until ready {total:.1f} s"
                  f" = {total / cold:.3f} x a cold index of the same tree")  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if not args.keep_output:
            with contextlib.suppress(OSError):
                shutil.rmtree(OUT)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
