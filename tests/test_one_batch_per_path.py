"""A file changed again while a batch holding it is still being parsed ends
in the index as the disk has it (`WorkQueue`: a path is in one batch at a
time).

The race, made certain instead of waited for: a batch of one small file
first and slow files after it; the test waits (inotify) until a worker has
read that file, then rewrites or deletes it and queues it again. Two batches
holding it at once, the second (one small file) would be parsed and
committed long before the first, whose older read would then overwrite it:
the index kept the first version, or a deleted file, until the file's next
change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from support import call, read_watch, with_config, without_live_events

from axd.client.aio import AsyncClient
from axd.daemon.config import IndexConfig
from axd.daemon.events import BatchCommitted, WorkspaceReady
from axd.daemon.index.queue import WorkQueue
from axd.daemon.lifecycle import Daemon

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config

GUARD_S = 120  # hang guard only
SLOW = 15  # after the file, in its batch (16 paths: `MIN_TAIL_BATCH`)
QUICK = 25  # in the batches after it


def _tree(root: Path) -> list[str]:
    root.mkdir()
    (root / "f.py").write_text("def version_one():\n    return 1\n")
    paths = ["f.py"]
    for i in range(SLOW):
        body = "".join(
            f"def slow{i}_{j}(x):\n    return x * {j} + len(str(x))\n\n"
            for j in range(1500)
        )
        (root / f"s{i:02}.py").write_text(body)
        paths.append(f"s{i:02}.py")
    for i in range(QUICK):
        (root / f"q{i:02}.py").write_text(f"def quick{i}():\n    return {i}\n")
        paths.append(f"q{i:02}.py")
    return paths


@pytest.mark.parametrize("second", ["rewritten", "deleted"])
async def test_a_file_changed_while_its_batch_parses_ends_as_on_disk(
    config: Config, tmp_path: Path, second: str
) -> None:
    root = tmp_path / "tree"
    paths = _tree(root)
    target = root / "f.py"
    cfg = with_config(
        without_live_events(config), index=IndexConfig(workers=2, batch_files=128)
    )
    instance = Daemon(cfg, initial_roots=[str(root)])
    commits_of_target = 0
    with instance.events.subscribed() as stream:
        async with anyio.create_task_group() as tg:
            await tg.start(instance.run)
            with anyio.fail_after(GUARD_S):
                async for event in stream:
                    if isinstance(event, WorkspaceReady):
                        break
                async with await AsyncClient.connect(instance.socket_path) as client:
                    with read_watch(target) as was_read:  # only its batch reads it
                        await call(
                            client, "index.reindex", root=str(root), paths=paths,
                            force=True,
                        )  # fmt: skip
                        assert await anyio.to_thread.run_sync(was_read, GUARD_S)
                    if second == "rewritten":
                        target.write_text("def version_two():\n    return 2\n")
                    else:
                        target.unlink()
                    await call(
                        client, "index.reindex", root=str(root), paths=["f.py"],
                        force=True,
                    )  # fmt: skip
                    async for event in stream:
                        if isinstance(event, BatchCommitted):
                            touched = {c.path for c in event.changes}
                            commits_of_target += "f.py" in touched
                            if commits_of_target == 2:
                                break
                    one = await call(
                        client, "symbols.definition", root=str(root), name="version_one"
                    )
                    two = await call(
                        client, "symbols.definition", root=str(root), name="version_two"
                    )
                    status = await call(client, "index.status", root=str(root))
            instance.request_stop()
    assert one["definitions"] == []
    if second == "rewritten":
        assert [d["path"] for d in two["definitions"]] == ["f.py"]
        assert status["files_indexed"] == len(paths)
    else:
        assert two["definitions"] == []
        assert status["files_indexed"] == len(paths) - 1


def test_a_path_in_flight_stays_queued_in_its_place_until_it_lands() -> None:
    queue = WorkQueue()
    queue.add(["a", "b", "c"])
    first = queue.take(2)
    assert first is not None and first.paths == ["a", "b"]
    queue.add(["b", "d", "a"])  # b and a changed again while in flight
    second = queue.take(10)
    assert second is not None and second.paths == ["c", "d"]
    assert queue.take(10) is None and queue.paths() == ["b", "a"]
    assert queue.in_flight == 4
    queue.land(["a"])
    third = queue.take(10)
    assert third is not None and third.paths == ["a"]
    queue.land(first.paths)
    fourth = queue.take(10)
    assert fourth is not None and fourth.paths == ["b"]
    queue.land([*second.paths, *third.paths, *fourth.paths])
    assert queue.in_flight == 0 and len(queue) == 0


def test_paths_in_flight_below_a_directory_and_those_taken_while_recording() -> None:
    queue = WorkQueue()
    queue.add(["sub/a.py", "sub/deep/b.py", "subway.py", "top.py"])
    first = queue.take(2)
    assert first is not None
    queue.record_taken()  # what is in flight counts from the start
    second = queue.take(10)
    assert second is not None
    assert sorted(queue.flying_under(["sub"])) == ["sub/a.py", "sub/deep/b.py"]
    assert sorted(queue.flying_under(["sub/deep", "top.py"])) == [
        "sub/deep/b.py",
        "top.py",
    ]
    assert queue.flying_under(["su", "sub/a"]) == []
    queue.land(first.paths)
    assert queue.recorded() == {"sub/a.py", "sub/deep/b.py", "subway.py", "top.py"}
    assert queue.recorded() == set()  # stopped
    queue.land(second.paths)
    assert queue.flying_under(["sub"]) == []
