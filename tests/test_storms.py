"""Version-control storms (index/storms.py), on a real directory: changes
held while a git lock exists, released together once it goes, and a clock
that sleeps until a storm starts rather than polling while none runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from axd.daemon.index.changes import Changed, RescanNeeded
from axd.daemon.index.storms import Storms
from axd.daemon.index.watcher import WatchState

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.index.changes import WatchMessage

GUARD_S = 30  # hang guard only: every wait is on an event


async def test_a_storm_started_while_the_clock_sleeps_is_released_together(
    tmp_path: Path,
) -> None:
    (tmp_path / ".git").mkdir()
    state = WatchState()
    storms = Storms(tmp_path, state)
    sent: list[WatchMessage] = []
    released = anyio.Event()

    async def send(message: WatchMessage) -> None:
        sent.append(message)
        if isinstance(message, Changed):
            released.set()

    with anyio.fail_after(GUARD_S):
        async with anyio.create_task_group() as tg:
            tg.start_soon(storms.clock, send)
            await anyio.wait_all_tasks_blocked()  # the clock waits for a storm
            assert not storms.check() and not storms.active
            lock = tmp_path / ".git" / "index.lock"
            lock.write_text("")
            assert storms.check() and storms.active and state.storm
            storms.hold(["a.py", "b.py"], {"b.py"}, 100.0)
            storms.hold(["a.py"], set(), 200.0)  # the first change's time stays
            storms.rescan_after = True
            lock.unlink()
            await released.wait()
            tg.cancel_scope.cancel()
    assert isinstance(sent[0], RescanNeeded)
    changed = sent[1]
    assert isinstance(changed, Changed)
    assert changed.paths == frozenset({"a.py", "b.py"})
    assert changed.created == frozenset({"b.py"}) and changed.together
    assert changed.event_time == 100.0
    assert not storms.active and not state.storm and not storms.rescan_after
