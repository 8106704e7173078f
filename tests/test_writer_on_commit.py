"""`Writer.apply_batch(on_commit=...)`: the hook that announces a commit runs
on the event loop while the writer thread waits, after COMMIT, before the
next write and before the caller gets the result back (#16: `index.changed`
must not trail what queries already see; tests/test_announce_order.py pins
the replies' side)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import anyio
import pytest
from store_records import plain

from axd.daemon.store.store import BatchResult, Store, StoreClosedError, read_generation
from axd.daemon.store.writer import Writer

if TYPE_CHECKING:
    from pathlib import Path


async def test_on_commit_runs_on_the_loop_after_commit_in_order(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "index.db", root=tmp_path)
    writer = Writer(store)
    loop_thread = threading.get_ident()
    # (generation from the hook, generation a fresh reader sees, on the loop?)
    seen: list[tuple[int, int, bool]] = []
    returned: list[int] = []

    def on_commit(result: BatchResult) -> None:
        with store.reader() as conn:
            visible = read_generation(conn)
        seen.append((result.generation, visible, threading.get_ident() == loop_thread))
        # The loop has not had this batch's result back yet.
        assert result.generation not in returned

    async def write(index: int) -> None:
        result = await writer.apply_batch(
            [plain(f"f{index}.py", f"def f{index}(): pass\n")], [], on_commit=on_commit
        )
        returned.append(result.generation)

    try:
        async with anyio.create_task_group() as tg:
            for index in range(5):
                tg.start_soon(write, index)
    finally:
        await writer.close()
    assert seen == [(g, g, True) for g in range(1, 6)]
    assert sorted(returned) == [1, 2, 3, 4, 5]


async def test_a_batch_that_fails_is_not_announced(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "index.db", root=tmp_path)
    writer = Writer(store)
    announced: list[BatchResult] = []
    await writer.apply_batch([plain("a.py", "a = 1\n")], [], on_commit=announced.append)
    await writer.close()
    with pytest.raises(StoreClosedError):
        await writer.apply_batch(
            [plain("b.py", "b = 1\n")], [], on_commit=announced.append
        )
    assert [result.generation for result in announced] == [1]
