"""Snapshot costs on a real tree, each next to a reference measured in the
same run (the cold index of that tree).

Stages:

(a) cold index: a fresh daemon, ``workspace.add``, ready (the reference);
    its automatic snapshot; the daemon is stopped and started again (the
    warm restart, ``quick_check`` at open included, is timed too).
(b) checks on the live index: ``PRAGMA quick_check``, ``PRAGMA
    integrity_check`` and FTS5's ``integrity-check`` command, each timed on
    a read-only connection of their own.
(c) full snapshot: ``snapshot.create`` after the restart (full: the record
    of changes lives in memory), timed while a file is edited, to show
    whether that edit's commit lands while the copy runs; and a full copy
    timed (``db.backup``).
(d) after 10 and after 1,000 changed files: ``snapshot.create`` (now an
    incremental one: the session changeset since the previous snapshot)
    against a full copy of the same state (``db.backup``), size and time;
    then the chain is rebuilt (base + changesets) and compared with that
    full copy: every table's rows, FTS5 integrity-check.
(e) ``snapshot.restore`` of the last incremental snapshot (rebuild the
    chain, verify, pre-restore snapshot, install), then of the full one of
    (c), each until ready after its reconcile.
(f) ``snapshot.export`` of the automatic snapshot + ``snapshot.import``
    into a second daemon on a copy at another path, until ready: against (a).

    .venv/bin/python perf/bench_snapshot.py [--tree DIR | --corpus DIR]
        [--out DIR] [--keep-output]

``--corpus`` takes a `perf/corpus.py` directory (e.g. /work/bench/corpus100k):
its tree is copied with ``cp -a`` and every edited file is made private
first (corpus files share inodes).

Prints the figures and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import apsw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import make_private
from daemon_proc import Daemon

from axd.client.connection import RemoteError
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
        make_private(path)  # a corpus file may share its inode with others
        with open(path, "a", encoding="utf-8") as handle:
            if path.suffix == ".go":
                handle.write(f"\nfunc benchSnapshot{tag}() int {{ return 1 }}\n")
            else:
                handle.write(f"\n\ndef bench_snapshot_{tag}():\n    return 1\n")
    return files


def check_costs(db: Path, *, lean: bool = False) -> dict[str, float]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    out = {}
    checks = [("quick_check", "PRAGMA quick_check")]
    if not lean:
        checks.append(("integrity_check", "PRAGMA integrity_check"))
    try:
        for name, sql in checks:
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


def copy_corpus(src: Path, dest: Path) -> None:
    """A private copy of a corpus tree (hard links kept within the copy
    only; `make_private` breaks them before a file is edited)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(dest)], check=True)


def commit_of_worktree() -> str:
    """The code the next daemon runs (printed: stages may outlive an edit)."""
    here = Path(__file__).resolve().parent
    found = subprocess.run(
        ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout else "")


def snapshot_with_a_commit(d: Daemon, root: str, tree: Path) -> tuple[dict, float, str]:
    """`snapshot.create` (full after a start) while a file is edited: the
    snapshot, its time, and when the edit's commit landed relative to it."""
    result: dict[str, object] = {}

    def create() -> None:
        client = d.connect()
        started = time.perf_counter()
        try:
            answer = client.call_raw("snapshot.create", {"root": root})
            result["snap"] = json.loads(answer)
        except (RemoteError, OSError) as exc:  # reported by the main thread
            result["error"] = exc
        finally:
            result["end"] = time.perf_counter()
            result["seconds"] = result["end"] - started  # type: ignore[operator]
            client.close()

    before = d.call("index.status", {"root": root})["generation"]
    thread = threading.Thread(target=create)
    began = time.perf_counter()
    thread.start()
    edited = edit(tree, 1, "during")[0]
    status = d.call(
        "index.wait", {"root": root, "generation": before + 1, "timeout_s": 45}
    )
    landed = time.perf_counter()
    thread.join()
    if "error" in result:
        raise RuntimeError(f"snapshot.create failed: {result['error']}")
    end = float(result["end"])  # type: ignore[arg-type]
    if landed < end:
        note = (f"the edit of {edited.name} committed (generation"
                f" {status['generation']}) {landed - began:.2f} s after the"
                f" snapshot began, {end - landed:.2f} s before it ended")  # fmt: skip
    else:
        note = (f"the edit committed only after the snapshot ended"
                f" ({landed - end:.2f} s later)")  # fmt: skip
    return result["snap"], float(result["seconds"]), note  # type: ignore[return-value]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, help="a tree to copy (shutil)")
    parser.add_argument(
        "--corpus", type=Path, help="a perf/corpus.py directory (its tree/, cp -a)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep-output", action="store_true")
    parser.add_argument(
        "--resume",
        type=float,
        metavar="COLD_S",
        help="go on from a run of this script stopped after stage (a) in --out"
        " (its tree copy and state kept); COLD_S is that run's stage (a) figure",
    )
    parser.add_argument(
        "--lean",
        action="store_true",
        help="leave out integrity_check, the per-step db.backup and the table"
        " comparisons (hours on a 100k-file index on a loaded machine)",
    )
    args = parser.parse_args()
    out: Path = args.out
    with open("/proc/loadavg") as handle:
        load = handle.read().strip()
    print(f"machine: {platform.machine()}, nproc {os.cpu_count()},"
          f" Python {platform.python_version()}; loadavg {load} (shared machine)")  # fmt: skip
    first, second = out / "a" / "tree", out / "b" / "elsewhere" / "tree"
    if args.resume is None:
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        if args.corpus:
            source = args.corpus / "tree"
            copy_corpus(source, first)
        else:
            source = args.tree or next(t for t in DEFAULT_TREES if t.is_dir())
            copy_tree(source, first)
    else:
        source = first
    count = sum(1 for p in first.rglob("*") if p.is_file())
    print(f"tree: {source} ({count} files)", flush=True)
    base = Path(tempfile.mkdtemp(prefix="axdbs", dir="/tmp"))
    root = str(first)
    state_a = out / "state-a"
    state = state_a / "workspaces" / workspace_id(root)
    db = state / "index.db"
    start_timeout = 3600  # the socket answers once the index is open (checked)
    try:
        if args.resume is None:
            with Daemon(base, state_a) as d:
                started = time.perf_counter()
                d.call("workspace.add", {"root": root})
                d.wait(root)
                cold = time.perf_counter() - started
                print(f"(a) cold index: {cold:.1f} s (reference)", flush=True)
                while not [s for s in d.call("snapshot.list", {"root": root})["snapshots"]
                           if s["kind"] == "auto"]:  # fmt: skip
                    time.sleep(0.2)
        else:
            cold = args.resume
            print(f"(a) cold index: {cold:.1f} s (reference, from the run resumed)")
        auto = next(
            m for m in SnapshotDir(state / "snapshots").all() if m.kind == "auto"
        )
        print(f"    automatic snapshot after the first index ({auto.storage}):"
              f" {mib(auto.size_bytes)}; daemon stopped", flush=True)  # fmt: skip
        print(f"    code of the daemons from here on: {commit_of_worktree()}")
        started = time.perf_counter()
        with Daemon(base, state_a, start_timeout=start_timeout) as d:
            d.wait(root)
            warm = time.perf_counter() - started
            print(f"    warm restart until ready (quick_check at open included):"
                  f" {warm:.1f} s = {warm / cold:.3f} x cold", flush=True)  # fmt: skip
            print(f"    live index: {mib(db.stat().st_size)} (+WAL)")
            for name, seconds in check_costs(db, lean=args.lean).items():
                print(f"(b) {name}: {seconds:.2f} s = {seconds / cold:.4f} x cold"
                      " index", flush=True)  # fmt: skip
            snap, snap_s, note = snapshot_with_a_commit(d, root, first)
            full = out / "full0.db"
            full_s = snap_s
            if not args.lean:
                _, full_s = timed(
                    lambda: d.call("db.backup", {"root": root, "path": str(full)})
                )
                full.unlink()
            print(f"(c) full snapshot (snapshot.create after a restart,"
                  f" {snap['storage']}): {snap_s:.2f} s, {mib(snap['size_bytes'])}"
                  f" = {snap_s / cold:.4f} x cold; db.backup {full_s:.2f} s;"
                  f" {note}", flush=True)  # fmt: skip
            full_b = snap["size_bytes"]
            d.wait(root)
            for changed in (10, 1000):
                edited = edit(first, changed, f"n{changed}")
                d.wait(root)
                inc, inc_s = timed(lambda: d.call("snapshot.create", {"root": root}))
                if not args.lean:  # else: against the full snapshot of (c)
                    full = out / f"full{changed}.db"
                    started = time.perf_counter()
                    d.call("db.backup", {"root": root, "path": str(full)})
                    full_s = time.perf_counter() - started
                    full_b = full.stat().st_size
                print(f"(d) {len(edited)} files changed: snapshot.create"
                      f" ({inc['storage']}) {inc_s:.3f} s, {mib(inc['size_bytes'])}"
                      f" vs a full copy {full_s:.2f} s, {mib(full_b)}: size"
                      f" {inc['size_bytes'] / full_b:.3%}, time"
                      f" {inc_s / full_s:.2%} of full", flush=True)  # fmt: skip
                rebuilt = out / f"rebuilt{changed}.db"
                started = time.perf_counter()
                SnapshotDir(state / "snapshots").materialise(inc["id"], rebuilt)
                rebuild_s = time.perf_counter() - started
                if args.lean:
                    print(f"    chain rebuilt and checked (SHA-256s, quick_check,"
                          f" generation) in {rebuild_s:.2f} s", flush=True)  # fmt: skip
                    rebuilt.unlink()
                    continue
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
                      f" full copy: {equal}; FTS5 integrity-check: {fts}",
                      flush=True)  # fmt: skip
                rebuilt.unlink()
                full.unlink()
            for what, ident in (("the chain (base + 2 changesets)", inc["id"]),
                                ("a full snapshot", snap["id"])):  # fmt: skip
                _, seconds = timed(
                    lambda ident=ident: d.call(
                        "snapshot.restore", {"root": root, "id": ident}
                    )
                )
                started = time.perf_counter()
                d.wait(root)
                reconcile = time.perf_counter() - started
                print(f"(e) restore from {what}: {seconds:.2f} s; reconcile"
                      f" {reconcile:.1f} s (= {(seconds + reconcile) / cold:.3f} x"
                      " cold)", flush=True)  # fmt: skip
            exported = out / "index.axdsnap"
            _, export_s = timed(
                lambda: d.call(
                    "snapshot.export",
                    {"root": root, "id": auto.id, "path": str(exported)},
                )
            )
            print(f"    export of the automatic snapshot: {export_s:.2f} s,"
                  f" {mib(exported.stat().st_size)}", flush=True)  # fmt: skip
        if args.corpus:
            copy_corpus(first, second)
        else:
            copy_tree(first, second)
        with Daemon(base, out / "state-b", start_timeout=start_timeout) as d:
            started = time.perf_counter()
            d.call("snapshot.import", {"root": str(second), "path": str(exported)})
            imported = time.perf_counter() - started
            d.wait(str(second))
            total = time.perf_counter() - started
            print(f"(f) import {imported:.2f} s, + reconcile until ready {total:.1f} s"
                  f" = {total / cold:.3f} x a cold index of the same tree")  # fmt: skip
        with open("/proc/loadavg") as handle:
            print(f"loadavg at the end: {handle.read().strip()}")
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if not args.keep_output:
            with contextlib.suppress(OSError):
                shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
