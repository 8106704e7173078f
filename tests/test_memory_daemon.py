"""The daemon keeps no per-file objects once it no longer needs them (#16
target 2), on real parts: a real daemon, a real tree, real SQLite.

* the ignore rules keep one dict entry per directory, sharing the rules of a
  directory that has no ignore file of its own, no string per absent ignore
  file, and a bounded cache of directory verdicts; the daemon drops them
  once a stat pass's files are planned;
* the stat pass keeps what the crawl saw as columns (paths, sizes, mtimes),
  not an object per file, and `recheck` still finds what changed;
* a batch of large files is parsed and written in parts
  (`indexer.BATCH_SOURCE_BYTES`), and everything is still indexed;
* an emptied work queue gives back the table its 100,000 paths grew;
* the whole-index relink bounds its lookup caches between steps and
  resolves the same edges as without a bound.

Bytes are counted with `tracemalloc` (sizes, never times).
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from typing import TYPE_CHECKING

import anyio
import pytest
from store_records import all_edges, importing
from support import add_and_wait, call, running, without_live_events

from axd.daemon.index import ignore as ignore_module
from axd.daemon.index import indexer as indexer_module
from axd.daemon.index.planner import Batch, Planner
from axd.daemon.index.queue import WorkQueue
from axd.daemon.index.rules import WorkspaceRules
from axd.daemon.index.worker import WorkItem
from axd.daemon.store import linker
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config

GUARD_S = 120  # hang guard only: every wait below is on a state


def write_tree(root: Path, directories: int, per_directory: int) -> int:
    """`directories` nested two deep, `per_directory` Python files each, one
    .gitignore (in ``d0``); returns the Python files the index keeps."""
    count = 0
    for index in range(directories):
        directory = root / f"d{index % 7}" / f"d{index}"
        directory.mkdir(parents=True, exist_ok=True)
        for number in range(per_directory):
            (directory / f"m{number}.py").write_text(
                f"def f_{index}_{number}():\n    return {number}\n", encoding="utf-8"
            )
            count += 1
    (root / "d0" / ".gitignore").write_text("skipped.py\n", encoding="utf-8")
    (root / "d0" / "d0" / "skipped.py").write_text("x = 1\n", encoding="utf-8")
    return count


def test_ignore_rules_keep_a_dict_entry_per_directory_not_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ignore_module, "MAX_DIR_VERDICTS", 16)
    root = tmp_path / "tree"
    files = write_tree(root, directories=120, per_directory=2)
    rules = WorkspaceRules(root)
    kept = rules.crawl(follow_symlinks=False)
    assert len(kept) == files + 1  # and the .gitignore
    inner = rules._rules
    # Every directory's rules are known; only two distinct ones: the root's
    # (no ignore file) and d0's subtree (its .gitignore).
    assert len(inner._dirs) == 1 + 7 + 120
    assert len({id(r) for r in inner._dirs.values()}) == 2
    assert not inner._absent, "absence is forgotten once the rules are built"
    # The present file, its absent partner (a directory with one of the two),
    # git's exclude file: nothing per directory.
    assert set(inner._files) <= {"d0/.gitignore", "d0/.axdignore", ".git/info/exclude"}
    # What the planner's split asks about every file: bounded.
    for entry in kept:
        assert rules.match(entry.path, is_dir=False) is None
    assert 0 < len(inner._dir_verdicts) <= 16
    assert rules.match("d0/d0/skipped.py", is_dir=False) is not None
    assert rules.match("d1/d1/m0.py", is_dir=False) is None


async def test_daemon_drops_its_per_directory_caches_once_ready(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    files = write_tree(root, directories=60, per_directory=2)
    with anyio.fail_after(GUARD_S):
        async with running(config) as (instance, client):
            status = await add_and_wait(client, root, timeout_s=90)
            assert status["files_indexed"] == files
            workspace = instance.parts.workspaces.find(str(root))
            rules = workspace.indexer.planner.rules._rules
            assert not rules._dirs and not rules._dir_verdicts and not rules._files
            assert workspace.indexer.queue_depth == 0
            # A live change still follows the rules (rebuilt on demand).
            (root / "d0" / "d0" / "skipped.py").write_text("z = 3\n", encoding="utf-8")
            (root / "d1" / "d1" / "late.py").write_text(
                "def late_one():\n    pass\n", encoding="utf-8"
            )
            await call(client, "index.reindex", root=str(root))
            status = await call(client, "index.wait", root=str(root), timeout_s=90)
            assert status["files_indexed"] == files + 1
            hits = await call(
                client, "symbols.definition", root=str(root), name="late_one"
            )
            assert [h["path"] for h in hits["definitions"]] == ["d1/d1/late.py"]
            # The rescan's caches were dropped too: what is left is what the
            # split of the two changed files rebuilt, not the tree's 68.
            assert len(rules._dirs) <= 5


def test_stat_pass_keeps_columns_not_an_object_per_file(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    files = write_tree(root, directories=100, per_directory=30)
    store = Store.open(tmp_path / "index.db", root=root)
    try:
        rules = WorkspaceRules(root)
        planner = Planner(root, store, rules, config.index)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            plan = planner.reconcile()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert plan.total == len(plan.seen) == files + 1  # and the .gitignore
        assert len(plan.changed) == files + 1
        # Per file: its path (a ~60-byte string here, which the queue needs
        # anyway), 8 bytes in `changed`, 16 in the columns, plus the rules'
        # entry per directory: ~100 bytes. A (size, mtime) tuple in a dict
        # per file was ~220.
        print(f"{held / files:.0f} bytes per file")
        assert held / files < 140, f"{held / files:.0f} bytes held per file"
        # recheck still sees a file changed and one added since the crawl.
        changed = root / "d3" / "d3" / "m4.py"
        changed.write_text("def grown():\n    return 'longer'\n", encoding="utf-8")
        stat = changed.stat()
        os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        (root / "d5" / "d5" / "new.py").write_text("y = 2\n", encoding="utf-8")
        since = stat.st_mtime_ns  # the crawl began before these writes
        late = planner.recheck(plan, since)
        assert sorted(late) == ["d3/d3/m4.py", "d5/d5/new.py"]
    finally:
        store.close()


@pytest.mark.parametrize("bound", [0, 5, 1 << 30])
def test_relink_with_bounded_caches_gives_the_same_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: int
) -> None:
    names = [f"pkg/sub{index % 4}/m{index}" for index in range(48)]
    outcomes = [
        importing(
            f"{name}.py",
            names[(index + 1) % 48].replace("/", "."),
            names[(index * 7) % 48].replace("/", "."),
            "missing.module",
        )
        for index, name in enumerate(names)
    ]
    reference = Store.open(tmp_path / "one.db", root=tmp_path)
    bounded = Store.open(tmp_path / "bounded.db", root=tmp_path)
    try:
        reference.apply_batch(outcomes, [])  # resolved per batch, no bound
        monkeypatch.setattr(linker, "RELINK_STEP", 5)
        monkeypatch.setattr(linker, "FACTS_CACHE_PATHS", bound)
        for start in range(0, len(outcomes), 9):
            bounded.apply_batch(outcomes[start : start + 9], [], defer_links=True)
        assert bounded.relink_all() == 48 * 3
        expected = all_edges(reference)
        assert sum(target is not None for _, _, target in expected) == 96
        assert all_edges(bounded) == expected
    finally:
        reference.close()
        bounded.close()


def test_facts_caches_are_emptied_past_their_bound(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "index.db", root=tmp_path)
    try:
        store.apply_batch([importing(f"a/m{index}.py") for index in range(20)], [])
        with store.reader() as conn:
            facts = linker.DbFacts(conn, tmp_path)
            assert facts.list_dir("a") == [
                f"a/m{i}.py" for i in sorted(range(20), key=str)
            ]
            assert facts.id_of("a/m3.py") is not None
            assert not facts.trim(limit=22), "22 paths held: within the bound"
            assert facts.by_basename("m3.py") == ["a/m3.py"]
            assert facts.trim(limit=22), "24 paths held: emptied"
            assert facts._held == 0 and not facts._dirs and not facts._ids
            assert facts.exists("a/m3.py")  # looked up again
    finally:
        store.close()


def test_an_emptied_queue_gives_its_table_back() -> None:
    queue = WorkQueue()
    queue.add(f"src/m{index}.py" for index in range(50_000))
    full = sys.getsizeof(queue._pending)
    while queue.take(4096) is not None:
        pass
    assert sys.getsizeof(queue._pending) < full // 100
    queue.add(["again.py"])
    assert queue.take(10) is not None


def test_a_batch_of_large_files_is_parsed_in_parts() -> None:
    batch = Batch(["gone.py", "a.py", "b.py", "c.py", "d.py"], forced={"c.py"})
    batch.event_times = [1.0]
    batch.deleted = ["gone.py"]
    batch.items = [WorkItem(path) for path in ["a.py", "b.py", "c.py", "d.py"]]
    batch.sizes = [600, 500, 700, 100]
    assert batch.parts(1900) == [batch]  # small enough: as it is
    parts = batch.parts(1000)
    assert [p.paths for p in parts] == [["gone.py", "a.py"], ["b.py"], ["c.py", "d.py"]]
    assert [p.deleted for p in parts] == [["gone.py"], [], []]
    assert [p.event_times for p in parts] == [[1.0], [], []]
    assert [p.forced for p in parts] == [set(), set(), {"c.py"}]
    assert [p.sizes for p in parts] == [[600], [500], [700, 100]]
    # A file larger than the bound still goes, alone.
    assert [p.paths for p in batch.parts(1)] == [
        ["gone.py", "a.py"],
        ["b.py"],
        ["c.py"],
        ["d.py"],
    ]


async def test_files_parsed_in_parts_are_all_indexed(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One byte: every file is a part of its own.
    monkeypatch.setattr(indexer_module, "BATCH_SOURCE_BYTES", 1)
    config = without_live_events(config)
    root = tmp_path / "tree"
    files = write_tree(root, directories=10, per_directory=5)
    with anyio.fail_after(GUARD_S):
        async with running(config) as (instance, client):
            status = await add_and_wait(client, root, timeout_s=90)
            assert status["files_indexed"] == files
            indexer = instance.parts.workspaces.find(str(root)).indexer
            assert indexer.queue_depth == 0 and indexer._parsed_bytes == 0
            hits = await call(
                client, "symbols.definition", root=str(root), name="f_9_4"
            )
            assert [h["path"] for h in hits["definitions"]] == ["d2/d9/m4.py"]
            # A deletion and an edit together in one batch, cut in parts.
            (root / "d2" / "d9" / "m4.py").unlink()
            (root / "d3" / "d3" / "m0.py").write_text(
                "def moved_here():\n    pass\n", encoding="utf-8"
            )
            await call(client, "index.reindex", root=str(root))
            status = await call(client, "index.wait", root=str(root), timeout_s=90)
            assert status["files_indexed"] == files - 1
            hits = await call(
                client, "symbols.definition", root=str(root), name="f_9_4"
            )
            assert hits["definitions"] == []
            hits = await call(
                client, "symbols.definition", root=str(root), name="moved_here"
            )
            assert [h["path"] for h in hits["definitions"]] == ["d3/d3/m0.py"]
            assert indexer.queue_depth == 0
