"""Snapshot costs on a real tree, each next to a reference measured in the
same run (the cold index of that tree).

Stages:

(a) cold index: a fresh daemon, ``workspace.add``, ready (the reference).
(b) checks on the live index: ``PRAGMA quick_check``, ``PRAGMA
    integrity_check`` and FTS5's ``integrity-check`` command, each timed on
    a read-only connection of their own.
(c) full snapshot: ``snapshot.create`` time and size.
(d) after 10 and after 1,000 changed files: the full snapshot again, and
    what two incremental designs would store instead: a page delta (pages
    that differ between online-backup copies, which keep the page layout)
    and a session changeset (apsw ``Session`` on every table, recorded while
    the same edit is applied to a copy) - the changeset is then applied to
    a copy of the base and checked (FTS5 integrity-check, table checksums
    equal to the target).
(e) ``snapshot.restore`` time, and until ready after its reconcile.
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

from axd.daemon.store.store import Store
from axd.daemon.workspaces import workspace_id

DEFAULT_TREES = [Path("/work/corpora/moby"), Path(sysconfig.get_paths()["stdlib"])]
OUT = Path(__file__).resolve().parent / "out" / "bench_snapshot"


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def mib(n: float) -> str:
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


def backup_copy(src: Path, dest: Path) -> None:
    source = apsw.Connection(str(src), flags=apsw.SQLITE_OPEN_READONLY)
    target = apsw.Connection(str(dest))
    with target.backup("main", source, "main") as step:
        step.step(-1)
    target.close()
    source.close()


def page_delta(a: Path, b: Path, page: int = 4096) -> int:
    """Bytes of the pages of `b` that differ from `a` (same layout)."""
    changed = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            pa, pb = fa.read(page), fb.read(page)
            if not pb:
                return changed
            if pa != pb:
                changed += len(pb)


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


def session_experiment(
    base: Path, target_root: Path, edited: list[Path], work: Path
) -> dict[str, object]:
    """Record a changeset while re-indexing `edited` into a copy of `base`,
    apply it to another copy of `base`, and check the result."""
    from axd.daemon.index.worker import WorkerSettings, WorkItem, process_file

    recorded, replayed = work / "recorded.db", work / "replayed.db"
    for path in (recorded, replayed):
        shutil.copyfile(base, path)
    store = Store.open(recorded, root=target_root)
    session = apsw.Session(store._writer, "main")
    session.attach()
    settings = WorkerSettings(
        root=str(target_root), max_file_bytes=2 << 20, max_line_bytes=5000,
        max_chunk_bytes=4096, parse_timeout_ms=5000,
    )  # fmt: skip
    items = [
        WorkItem(path=str(p.relative_to(target_root)), known_hash=None, known_version=0)
        for p in edited
    ]
    outcomes = [process_file(settings, item) for item in items]
    store.apply_batch(outcomes, [])
    changeset = session.changeset()
    store.close()
    conn = apsw.Connection(str(replayed))
    _, apply_s = timed(lambda: apsw.Changeset.apply(changeset, conn))
    conn.close()
    problems = []
    try:
        check = apsw.Connection(str(replayed))
        check.execute("INSERT INTO chunks_fts(chunks_fts) VALUES('integrity-check')")
        check.close()
    except apsw.Error as exc:
        problems.append(f"fts5 integrity-check: {exc}")
    a, b = table_sums(recorded), table_sums(replayed)
    problems += [f"table {n} differs" for n in a if a[n] != b.get(n)]
    return {"bytes": len(changeset), "apply_s": apply_s, "problems": problems}


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
            snap, seconds = timed(
                lambda: d.call("snapshot.create", {"root": str(first), "label": "full"})
            )
            print(f"(c) full snapshot: {seconds:.2f} s = {seconds / cold:.3f} x cold,"
                  f" {mib(snap['size_bytes'])}")  # fmt: skip
            backup_copy(db, OUT / "before.db")
            previous = OUT / "before.db"
            for changed in (10, 1000):
                edited = edit(first, changed, f"n{changed}")
                d.wait(str(first))
                again, seconds = timed(
                    lambda: d.call("snapshot.create", {"root": str(first)})
                )
                after = OUT / f"after{changed}.db"
                backup_copy(db, after)
                delta = page_delta(previous, after)
                print(f"(d) {len(edited)} files changed: full snapshot {seconds:.2f} s,"
                      f" {mib(again['size_bytes'])}; page delta {mib(delta)}"
                      f" ({delta / again['size_bytes']:.1%} of full)")  # fmt: skip
                try:
                    work = OUT / f"session{changed}"
                    work.mkdir()
                    result = session_experiment(previous, first, edited, work)
                    print(f"    session changeset: {mib(float(result['bytes']))},"  # type: ignore[arg-type]
                          f" apply {result['apply_s']:.2f} s;"
                          f" problems: {result['problems'] or 'none'}")  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - reported, the run goes on
                    print(
                        f"    session changeset: not measured ({type(exc).__name__}: {exc})"
                    )
                previous = after
            _, seconds = timed(
                lambda: d.call(
                    "snapshot.restore", {"root": str(first), "id": snap["id"]}
                )
            )
            started = time.perf_counter()
            d.wait(str(first))
            reconcile = time.perf_counter() - started
            print(f"(e) restore: {seconds:.2f} s; then reconcile of the 1,010 edits"
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
