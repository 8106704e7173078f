"""Symlinks while the daemon watches (`links.py`, `Planner.split`).

A link to a file inside the root is indexed under its own path with its
target's content: an edit of the target must re-index the link too (the
watcher reports the target's path only), and so must the target's creation
for a link that was dangling. A link made while the daemon
runs that leads out of the root is skipped, never read, as the stat pass
skips it (`symlink_outside_root`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from support import call, settled_after

from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.lifecycle import Daemon


async def _defined_in(client: AsyncClient, root: Path, name: str) -> list[str]:
    found = await call(client, "symbols.definition", root=str(root), name=name)
    return sorted(d["path"] for d in found["definitions"])


async def test_editing_a_target_re_indexes_its_links(
    daemon: Daemon, client: AsyncClient, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "a.py").write_text("def first_version():\n    return 1\n")
    (root / "same.py").symlink_to("a.py")
    (root / "pkg" / "up.py").symlink_to("../a.py")
    (root / "later.py").symlink_to("pkg/future.py")  # dangling for now
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(root)))
    await settled_after(client, root, "a.py")
    assert await _defined_in(client, root, "first_version") == [
        "a.py",
        "pkg/up.py",
        "same.py",
    ]
    (root / "a.py").write_text("def second_version():\n    return 2\n")
    (root / "made_live.py").symlink_to("a.py")  # a link made while watched
    (root / "pkg" / "future.py").write_text("def from_the_future():\n    return 0\n")
    (root / "last1.py").write_text("x = 1\n")
    (root / "pkg" / "last1.py").write_text("x = 1\n")
    await settled_after(client, root, "last1.py", "pkg/last1.py")
    assert await _defined_in(client, root, "first_version") == []
    assert await _defined_in(client, root, "from_the_future") == [
        "later.py",
        "pkg/future.py",
    ]
    assert await _defined_in(client, root, "second_version") == [
        "a.py",
        "made_live.py",
        "pkg/up.py",
        "same.py",
    ]
    # The new link is followed too.
    (root / "a.py").write_text("def third_version():\n    return 3\n")
    (root / "last2.py").write_text("x = 2\n")
    await settled_after(client, root, "last2.py")
    assert await _defined_in(client, root, "third_version") == [
        "a.py",
        "made_live.py",
        "pkg/up.py",
        "same.py",
    ]


async def test_a_link_out_of_the_root_made_while_watched_is_skipped_unread(
    daemon: Daemon, client: AsyncClient, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    outside = tmp_path / "secret.py"
    outside.write_text("def outside_the_root():\n    return 1\n")
    (root / "a.py").write_text("x = 1\n")
    await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=str(root)))
    await settled_after(client, root, "a.py")
    (root / "leak.py").symlink_to(outside)
    (root / "last.py").write_text("x = 1\n")
    await settled_after(client, root, "last.py")
    assert await _defined_in(client, root, "outside_the_root") == []
    why = await call(client, "files.explain", root=str(root), path="leak.py")
    assert not why["indexed"]
    assert why["reason"] == "symlink_outside_root"
