"""WAL checkpoints run beside the writer (store/checkpointer.py, #16): a
commit that takes the WAL past `CHECKPOINT_PAGES` is copied into the
database by the checkpointer's own thread and connection, the writer's
COMMIT no longer does it, and closing the store stops that thread."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import anyio
import apsw
from store_records import plain

from axd.daemon.store.checkpointer import CHECKPOINT_PAGES
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.records import FileOutcome

GUARD_S = 60


def _checkpoint_threads(directory: Path) -> list[str]:
    """The checkpointer threads of the store in `directory`."""
    name = f"axd-checkpoint-{directory.name}"
    return [t.name for t in threading.enumerate() if t.name == name]


def _big_batch(prefix: str, files: int = 120) -> list[FileOutcome]:
    # 120 x ~30 KB of distinct text: well over CHECKPOINT_PAGES pages of WAL.
    return [
        plain(
            f"{prefix}{i}.py",
            "".join(f"v_{prefix}_{i}_{n} = {n}\n" for n in range(2000)),
        )
        for i in range(files)
    ]


async def test_a_large_commit_is_checkpointed_beside_the_writer(
    tmp_path: Path,
) -> None:
    db = tmp_path / "index.db"
    store = Store.open(db, root=tmp_path)
    try:
        before = os.stat(db).st_size
        store.apply_batch(_big_batch("a"), [])
        wal = os.stat(f"{db}-wal").st_size
        assert wal // 4096 >= CHECKPOINT_PAGES  # the batch filled the WAL ...
        # ... and the writer's COMMIT did not copy it: the database file grows
        # only when the checkpointer's thread has.
        with anyio.fail_after(GUARD_S):
            while os.stat(db).st_size <= before:  # noqa: ASYNC110 - a file's size has no event
                await anyio.sleep(0.01)
        assert len(_checkpoint_threads(tmp_path)) == 1
        conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            assert conn.execute("SELECT count(*) FROM files").fetchone() == (120,)
        finally:
            conn.close()
    finally:
        store.close()
    assert _checkpoint_threads(tmp_path) == []


async def test_small_commits_start_no_checkpointer(
    tmp_path: Path,
) -> None:
    db = tmp_path / "index.db"
    store = Store.open(db, root=tmp_path)
    try:
        store.apply_batch([plain("a.py", "a = 1\n")], [])
        assert _checkpoint_threads(tmp_path) == []  # started on first need only
    finally:
        store.close()
    assert _checkpoint_threads(tmp_path) == []
    reopened = Store.open(db, root=tmp_path)  # everything committed is there
    try:
        assert reopened.file_info("a.py") is not None
    finally:
        reopened.close()
