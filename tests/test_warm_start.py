"""Warm start (#16): a restarted daemon serves a complete index at once.

A real daemon on a real socket, real SQLite: the restarted workspace is
`ready` for its very first query (`require_ready` answers, no NOT_READY),
while a first index that was cut short is resumed and only then marked
complete; the re-stat that follows a stat pass run while the watches were
going in finds what the pass could have missed.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import anyio
import apsw
import pytest
from test_snapshots import (
    GUARD_S,
    add,
    db_of,
    function,
    raw,
    run_daemon,
    wait_ready,
)

from axd.daemon.index.indexer import FIRST_INDEX_PENDING
from axd.daemon.index.planner import Planner
from axd.daemon.index.rules import WorkspaceRules
from axd.daemon.store.store import Store
from axd.protocol.config import IndexConfig

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config


def pending_mark(db: Path) -> str | None:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        row = conn.execute(
            "SELECT value FROM meta WHERE key = ?", (FIRST_INDEX_PENDING,)
        ).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


async def until_no_mark(db: Path) -> None:
    with anyio.fail_after(GUARD_S):
        while True:
            if pending_mark(db) is None:
                return
            await anyio.sleep(0.02)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = (tmp_path / "repo").resolve()
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(function("app_main"))
    (root / "src" / "util.py").write_text(function("util_helper"))
    return root


async def test_a_restart_serves_a_complete_index_at_once(
    config: Config, repo: Path
) -> None:
    async with run_daemon(config) as client:
        await add(client, repo)
    db = db_of(config, repo)
    await until_no_mark(db)  # the first index completed and said so
    (repo / "src" / "late.py").write_text(function("made_while_stopped"))

    async with run_daemon(config) as client:
        # The first request of all: the index is served as ready already.
        found = await raw(
            client,
            "symbols.definition",
            root=str(repo),
            name="app_main",
            require_ready=True,
        )
        assert [d["path"] for d in found["definitions"]] == ["src/app.py"]
        status = await raw(client, "index.status", root=str(repo))
        assert status["state"] in ("ready", "indexing"), status
        await wait_ready(client, repo)
        # What changed while it was down is indexed after the stat pass.
        found = await raw(
            client, "symbols.definition", root=str(repo), name="made_while_stopped"
        )
        assert [d["path"] for d in found["definitions"]] == ["src/late.py"]
    assert pending_mark(db) is None


async def test_a_first_index_cut_short_is_resumed_then_marked_complete(
    config: Config, repo: Path
) -> None:
    async with run_daemon(config) as client:
        await add(client, repo)
    db = db_of(config, repo)
    await until_no_mark(db)
    # As a daemon killed during its first index leaves it.
    conn = apsw.Connection(str(db))
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, '1')", (FIRST_INDEX_PENDING,)
    )
    conn.close()
    async with run_daemon(config) as client:
        status = await raw(client, "index.status", root=str(repo))
        assert status["state"] in ("indexing", "ready"), status
        await wait_ready(client, repo)
        await until_no_mark(db)
    async with run_daemon(config) as client:  # complete now: served at once
        found = await raw(
            client,
            "symbols.definition",
            root=str(repo),
            name="util_helper",
            require_ready=True,
        )
        assert [d["path"] for d in found["definitions"]] == ["src/util.py"]


def test_recheck_finds_what_changed_after_the_crawl_saw_it(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "src" / "keep.py").write_text(function("keep"))
    (repo / "empty").mkdir()
    (repo / ".gitignore").write_text("build/\n")
    store = Store.open(tmp_path / "index.db", root=repo)
    try:
        rules = WorkspaceRules(repo)
        planner = Planner(repo, store, rules, IndexConfig())
        since = time.time_ns()
        plan = planner.reconcile()
        assert set(plan.changed) == {
            "src/app.py",
            "src/util.py",
            "src/keep.py",
            ".gitignore",
        }
        assert planner.recheck(plan, since) == []  # nothing changed since
        # What a stat pass run before the watches were in place can miss:
        (repo / "src" / "app.py").write_text(function("app_main") * 2)  # edited
        (repo / "src" / "util.py").unlink()  # deleted
        (repo / "src" / "new.py").write_text(function("new"))  # created
        (repo / "empty" / "first.py").write_text(function("first"))  # in a dir
        (repo / "fresh" / "deep").mkdir(parents=True)  # a new tree
        (repo / "fresh" / "deep" / "x.py").write_text(function("x"))
        (repo / "build").mkdir()  # ignored: never listed
        (repo / "build" / "out.py").write_text(function("out"))
        # Left for the next stat pass, as the crawl leaves them: a link, and
        # a name that is not UTF-8.
        (repo / "src" / "link.py").symlink_to("app.py")
        with open(os.fsencode(repo / "src") + b"/caf\xe9.py", "wb") as handle:
            handle.write(b"def bad(): pass\n")
        late = planner.recheck(plan, since)
        assert sorted(late) == [
            "empty/first.py",
            "fresh/deep/x.py",
            "src/app.py",
            "src/new.py",
            "src/util.py",
        ]
        # An old directory (mtime well before the pass) is not listed again.
        old = since - 10_000_000_000
        os.utime(repo / "src", ns=(old, old))
        os.utime(repo / "empty", ns=(old, old))
        os.utime(repo, ns=(old, old))
        assert sorted(planner.recheck(plan, since)) == ["src/app.py", "src/util.py"]
    finally:
        store.close()
