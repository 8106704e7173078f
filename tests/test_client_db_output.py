"""What `axd db ...` prints for people, over the socket of a real daemon."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import TYPE_CHECKING

import anyio
from support import environment_for

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon

AXD = [sys.executable, "-c", "from axd.client.cli import run; run()", "--no-start"]
GUARD_S = 120  # hang guard only


async def axd(config: Config, *args: str) -> str:
    """`axd ARGS`'s stdout; it must succeed."""
    with anyio.fail_after(GUARD_S):
        done = await anyio.run_process(
            [*AXD, *args],
            env=environment_for(config) | {"COLUMNS": "250"},
            stdin=subprocess.DEVNULL,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


async def test_db_commands_human_output(
    config: Config, daemon: Daemon, tmp_path: Path
) -> None:
    repo = (tmp_path / "repo").resolve()
    repo.mkdir()
    (repo / "a.py").write_text("def alpha() -> int:\n    return 1\n")
    assert await axd(config, "add", str(repo), "--wait") == f"{repo}: ready\n"
    at = ("--root", str(repo))

    status = await axd(config, "db", "status", *at)
    assert status.startswith("schema version 3 (latest 3)\n")
    assert re.search(
        r"^  applied  0001_initial  \S.*  sha256 [0-9a-f]{12}$", status, re.MULTILINE
    )
    assert "pending" not in status and "MODIFIED" not in status

    assert await axd(config, "db", "migrate", *at) == (
        "nothing to do (schema version 3)\n"
    )
    down = await axd(config, "db", "rollback", *at)
    assert down.startswith("-- ran 0003_packed_refs\nsnapshot ")
    assert down.endswith(" taken first\nschema version now 2\n")
    pending = await axd(config, "db", "status", *at)
    assert "  pending  0003_packed_refs\n" in pending
    up = await axd(config, "db", "migrate", *at)
    assert up.startswith("-- ran 0003_packed_refs\n")
    assert up.endswith("schema version now 3\n")

    backup = tmp_path / "backup.db"
    made = await axd(config, "db", "backup", str(backup), *at)
    size = backup.stat().st_size
    assert re.fullmatch(
        rf"backup {re.escape(str(backup))} \({size} bytes, sha256 [0-9a-f]{{64}}\)\n",
        made,
    )
    restored = await axd(config, "db", "restore", str(backup), *at)
    assert re.fullmatch(
        r"restored: generation \d+; the previous state is snapshot \S+\n", restored
    )
