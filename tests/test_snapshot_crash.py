"""SIGKILL in the middle of snapshot creation and of a restore leaves either
the old or the new index (never a mix), and no snapshot that does not verify
- full ones, and incremental ones (changeset chains) alike.

A child process loops over the real operations on a real database; the
parent kills it at an arbitrary point of that loop, then inspects the files.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from axd.daemon.store.snapshots import SnapshotDir

CHILD = r"""
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from store_records import plain
from axd.daemon.store import maintenance
from axd.daemon.store.snapshots import SnapshotDir
from axd.daemon.store.store import Store

base = Path(sys.argv[1])
KEEP = int(sys.argv[4])
store = Store.open(base / "index.db")
body = "x = 1\n" * 4000
snaps = SnapshotDir(base / "snapshots")
if not (base / "a.db").exists():
    store.apply_batch([plain(f"a{i}.py", body) for i in range(150)], [])
    maintenance.backup(store, base / "a.db")
    store.apply_batch([plain(f"b{i}.py", body) for i in range(150)],
                      [f"a{i}.py" for i in range(150)])
    maintenance.backup(store, base / "b.db")
from axd.daemon.store.incremental import Chain, Limits
chain = Chain()
def snap():
    with store.exclusive() as conn:
        return chain.snapshot(snaps, conn, store.path, label=None, kind="auto",
                              limits=Limits(chain_max=4, max_fraction=100.0))
mode = sys.argv[3]
if mode == "restore-chain":  # a full snapshot of A, then B as a changeset on it
    maintenance.restore(store, base / "a.db")
    chain.forget()
    snap()
    store.apply_batch([plain(f"b{i}.py", body) for i in range(150)],
                      [f"a{i}.py" for i in range(150)])
    on_chain = snap()
    assert on_chain.storage == "incremental", on_chain
print("ready", flush=True)
step = 0
while True:
    step += 1
    if mode == "create":
        snaps.create(store.path, label=None, kind="manual")
        snaps.prune(KEEP)
    elif mode == "create-chain":
        snap()
        store.apply_batch([plain(f"c{step}.py", body)], [f"c{step - 1}.py"])
        chain.after_write()
        snaps.prune(KEEP)
    elif mode == "restore-chain":
        with snaps.materialised(on_chain.id) as rebuilt:
            maintenance.restore(store, rebuilt)
        maintenance.restore(store, base / "a.db")
    else:
        maintenance.restore(store, base / "a.db")
        maintenance.restore(store, base / "b.db")
    print("step", flush=True)
"""

# Snapshots the child's prune keeps (plus the chain links they stand on).
KEEP = 3
A = {f"a{i}.py" for i in range(150)}
B = {f"b{i}.py" for i in range(150)}


def run_and_kill(base: Path, mode: str, steps: int) -> None:
    here = str(Path(__file__).parent)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(base), here, mode, str(KEEP)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        for _ in range(steps):  # kill somewhere inside the next step
            assert child.stdout.readline().strip() == "step"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()


def paths_and_check(db: Path) -> tuple[set[str], str]:
    conn = apsw.Connection(str(db))  # read-write: recovers a hot WAL as a restart would
    try:
        check = "\n".join(str(r[0]) for r in conn.execute("PRAGMA integrity_check"))
        return {str(r[0]) for r in conn.execute("SELECT path FROM files")}, check
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["restore", "restore-chain"])
@pytest.mark.parametrize("steps", [0, 1, 3])
def test_sigkill_during_restore_leaves_old_or_new(
    tmp_path: Path, steps: int, mode: str
) -> None:
    run_and_kill(tmp_path, mode, steps)
    paths, check = paths_and_check(tmp_path / "index.db")
    assert check == "ok"
    assert paths in (A, B)


@pytest.mark.parametrize("steps", [0, 2])
def test_sigkill_during_create_leaves_only_verified_snapshots(
    tmp_path: Path, steps: int
) -> None:
    run_and_kill(tmp_path, "create", steps)
    snaps = SnapshotDir(tmp_path / "snapshots")
    snaps.sweep()  # what the daemon does when it opens the workspace
    listed = snaps.all()
    assert len(listed) >= steps
    for manifest in listed:
        assert snaps.verify(manifest.id) == manifest
    snaps.ensure()  # killed before the first snapshot: no directory yet
    leftovers = {p.name for p in snaps.directory.iterdir()}
    assert leftovers == {f"{m.id}{ext}" for m in listed for ext in (".db", ".json")}
    paths, check = paths_and_check(tmp_path / "index.db")
    assert check == "ok" and paths == B


@pytest.mark.parametrize("steps", [0, 3, 7])
def test_sigkill_during_incremental_create_leaves_only_verified_chains(
    tmp_path: Path, steps: int
) -> None:
    run_and_kill(tmp_path, "create-chain", steps)
    snaps = SnapshotDir(tmp_path / "snapshots")
    snaps.sweep()
    listed = snaps.all()
    # The child may be steps ahead of the lines read when the kill lands, and
    # pruning keeps KEEP and the links under them: how many depends on where
    # in a chain it was, never fewer than KEEP once KEEP were made.
    assert len(listed) >= min(steps, KEEP)
    if steps:
        assert {m.storage for m in listed} == {"full", "incremental"}
    for manifest in listed:  # rebuilds each chain: every link is there
        assert snaps.verify(manifest.id) == manifest
    snaps.ensure()  # killed before the first snapshot: no directory yet
    leftovers = {p.name for p in snaps.directory.iterdir()}
    expected = {snaps.data_of(m).name for m in listed}
    assert leftovers == expected | {f"{m.id}.json" for m in listed}
    paths, check = paths_and_check(tmp_path / "index.db")
    assert check == "ok" and B <= paths
