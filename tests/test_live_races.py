"""A directory moved away while a batch holding one of its files is parsed.

The event on the directory finds what to drop in the index under its old
path; a file whose batch read it before the move, and is not committed
yet, was not there to find: once its batch landed, the index kept it under
a path that no longer exists. The indexer now queues such in-flight files
behind their batch (`WorkQueue.flying_under`). The race is made certain,
not waited for: the test moves the directory once a worker has read the
file (inotify), with the file large enough that its batch is still being
parsed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from support import call, read_watch, settled_after

from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.lifecycle import Daemon

GUARD_S = 60  # hang guard only


# A top-level directory changes what the watcher watches: it asks for a
# stat pass instead of reporting the move (`_in_flight_unseen`); below it,
# the move is an event on the directory (`WorkQueue.flying_under`).
@pytest.mark.parametrize("parent", ["", "pkg/"])
async def test_a_directory_moved_while_its_new_file_parses_leaves_no_ghost(
    daemon: Daemon, client: AsyncClient, tmp_path: Path, parent: str
) -> None:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "a.py").write_text("x = 1\n")
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(root)))
    await settled_after(client, root, "a.py")
    (root / f"{parent}sub").mkdir()
    big = root / f"{parent}sub" / "big.py"
    big.touch()
    with read_watch(big) as was_read:
        big.write_text(
            "".join(f"def moved_{i}(x):\n    return x + {i}\n\n" for i in range(6000))
        )
        assert await anyio.to_thread.run_sync(was_read, GUARD_S)
    (root / f"{parent}sub").rename(root / f"{parent}elsewhere")
    (root / f"{parent}last.py").write_text("x = 2\n")
    await settled_after(client, root, f"{parent}last.py")
    found = await call(client, "symbols.definition", root=str(root), name="moved_0")
    assert [d["path"] for d in found["definitions"]] == [f"{parent}elsewhere/big.py"]
    status = await call(client, "index.status", root=str(root))
    assert status["files_indexed"] == 3  # a.py, .../elsewhere/big.py, .../last.py
