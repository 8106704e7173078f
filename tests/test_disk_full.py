"""A full disk under the state directory: the batch that hits it is rolled
back, the workspace is `degraded` with reason `disk_full` (never `ready`, and
`index.wait` never reports success for a partial index), queries keep
working, and indexing resumes by itself when space returns, ending equal to
a clean index of the tree. A `workspace.add` that fails leaves nothing.

The disk really fills: the state directory is a small tmpfs (root only).
"""

from __future__ import annotations

import contextlib
import subprocess
from typing import TYPE_CHECKING

import anyio
import apsw
import pytest
from support import with_config
from test_snapshots import GUARD_S, db_of, raw, run_daemon, wait_ready

from axd.client.connection import RemoteError
from axd.daemon.config import IndexConfig
from axd.daemon.events import WorkspaceStateChanged

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from axd.daemon.config import Config


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "state"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def resize(mount: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)


def fill(path: Path) -> None:
    """Write zeros until the filesystem says ENOSPC."""
    with contextlib.suppress(OSError), open(path, "wb") as handle:
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()


def make_tree(root: Path, files: int) -> None:
    (root / "src").mkdir(parents=True)
    for index in range(files):
        body = "".join(
            f"def handler_{index}_{n}(request, value_{n}):\n"
            f"    '''Handle request {n} of module {index}.'''\n"
            f"    return value_{n} * {n} + {index}\n\n"
            for n in range(12)
        )
        (root / "src" / f"mod_{index}.py").write_text(body)


def index_facts(db: Path) -> tuple[set[tuple[str, str]], set[str], int]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        files = {
            (str(p), str(h))
            for p, h in conn.execute("SELECT path, content_hash FROM files")
        }
        symbols = {
            str(r[0]) for r in conn.execute("SELECT qualified_name FROM symbols")
        }
        chunks = int(conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
        return files, symbols, chunks
    finally:
        conn.close()


async def until_state(client, root: Path, state: str) -> dict:  # type: ignore[no-untyped-def]
    with anyio.fail_after(GUARD_S):
        while True:
            status = await raw(client, "index.status", root=str(root))
            if status["state"] == state:
                return status
            await anyio.sleep(0.02)


async def test_full_disk_pauses_then_resumes_to_a_clean_index(
    config: Config, tmp_path: Path, small_disk: Path
) -> None:
    repo = (tmp_path / "repo").resolve()
    make_tree(repo, 400)
    config = with_config(
        config,
        state_dir=str(small_disk),
        index=IndexConfig(workers=2, disk_retry_s=0.05),
    )
    daemon = run_daemon(config)
    async with daemon as client:
        # The pause and the resume are published as state changes.
        events = daemon.daemon.events.subscribe()
        await raw(client, "workspace.add", root=str(repo))
        status = await until_state(client, repo, "degraded")
        assert "disk full" in (status["last_error"] or "")
        assert 0 < status["files_indexed"] < 400
        with pytest.raises(RemoteError) as waited:  # never success when partial
            await raw(client, "index.wait", root=str(repo), timeout_s=0.5)
        assert waited.value.code == -32008
        found = await raw(client, "search", root=str(repo), query="handler request")
        assert found["results"]  # queries keep working
        health = await raw(client, "health")
        assert health["checks"]["store"]["status"] == "DEGRADED"
        assert "disk" in health["checks"]["store"]["detail"]

        # A new workspace on the full disk fails and leaves nothing behind.
        other = (tmp_path / "other").resolve()
        make_tree(other, 2)
        fill(small_disk / "filler")
        before = set((small_disk / "workspaces").iterdir())
        with pytest.raises(RemoteError) as failed:
            await raw(client, "workspace.add", root=str(other))
        assert failed.value.code == -32005 and "disk" in failed.value.message
        assert set((small_disk / "workspaces").iterdir()) == before
        (small_disk / "filler").unlink()

        resize(small_disk, "64m")  # space returns: indexing resumes by itself
        await wait_ready(client, repo)
        status = await raw(client, "index.status", root=str(repo))
        assert status["files_indexed"] == 400 and status["last_error"] is None
        live = index_facts(db_of(config, repo))
        changes: list[tuple[str, str]] = []
        with contextlib.suppress(anyio.WouldBlock), events:
            while True:
                event = events.receive_nowait()
                if isinstance(event, WorkspaceStateChanged):
                    changes.append((event.state, event.reason or ""))
        # (The disk may fill again before the resize: then pause/resume twice.)
        states = [state for state, _ in changes]
        assert states[:1] == ["degraded"] and states[-1:] == ["indexing"]
        assert states == ["degraded", "indexing"] * (len(states) // 2)
        assert all("disk full" in why for state, why in changes if state == "degraded")

    clean_config = with_config(config, state_dir=str(tmp_path / "clean"))
    async with run_daemon(clean_config) as client:
        await raw(client, "workspace.add", root=str(repo))
        await wait_ready(client, repo)
        clean = index_facts(db_of(clean_config, repo))
    assert live == clean
    assert len(live[0]) == 400
