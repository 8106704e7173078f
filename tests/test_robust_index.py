# ruff: noqa: ASYNC110, ASYNC220, ASYNC221, ASYNC230
# (tests set up files and processes with plain blocking calls on purpose)
"""The index engine against hostile trees and failures, end to end.

Real daemon, real files, real worker processes, real SQLite: every skip
reason, the counting rules, symlink loops, bad encodings, files vanishing
mid-index, workers and the daemon killed mid-index, a full disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import apsw
import msgspec
import pytest
import structlog
from support import add_and_wait, call, environment_for, running, with_config

from axd.client.aio import AsyncClient
from axd.client.connection import RemoteError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from axd.daemon.config import Config

TABLES = ("files", "chunks", "symbols", "refs", "imports")


# -- helpers -----------------------------------------------------------------------


def with_index(config: Config, **changes: object) -> Config:
    return with_config(config, index=msgspec.structs.replace(config.index, **changes))


def check_counting(status: dict[str, Any]) -> None:
    """PROTOCOL.md "Counting files": total = indexed + every skip reason."""
    assert status["files_total"] == status["files_indexed"] + sum(
        status["files_skipped"].values()
    ), status


def db_path(state_dir: str | Path, workspace_id: str) -> Path:
    return Path(state_dir) / "workspaces" / workspace_id / "index.db"


def db_facts(path: Path) -> dict[str, Any]:
    """Row counts and integrity of an index database, opened read-only."""
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        facts: dict[str, Any] = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }
        facts["integrity"] = "\n".join(
            str(row[0]) for row in conn.execute("PRAGMA integrity_check")
        )
        # Nothing half-written: every indexed file has exactly its chunks.
        facts["mismatched_files"] = conn.execute(
            "SELECT count(*) FROM files f WHERE f.chunk_count !="
            " (SELECT count(*) FROM chunks c WHERE c.file_id = f.id)"
            " OR f.symbol_count != (SELECT count(*) FROM symbols s WHERE s.file_id = f.id)"
        ).fetchone()[0]  # type: ignore[index]
        facts["indexed_without_chunks_text"] = conn.execute(
            "SELECT count(*) FROM files WHERE status = 'indexed' AND size > 0"
            " AND chunk_count = 0"
        ).fetchone()[0]  # type: ignore[index]
        return facts
    finally:
        conn.close()


def make_tree(root: Path, count: int, *, per_dir: int = 100) -> list[Path]:
    """`count` small Python modules that import each other."""
    files = []
    for i in range(count):
        directory = root / f"pkg{i // per_dir}"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"mod{i}.py"
        path.write_text(
            f"import pkg{(i + 1) % max(1, count // per_dir)}\n\n"
            f"class Thing{i}:\n"
            f'    """Thing number {i}."""\n\n'
            f"    def method{i}(self, value):\n"
            f"        return helper{i}(value) + {i}\n\n\n"
            f"def helper{i}(value):\n"
            f"    return value * {i}\n"
        )
        files.append(path)
    return files


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(ppid, state) of a process, from /proc."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0]


def in_group(pgid: int) -> list[int]:
    """Live processes of a process group."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                data = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = data[data.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def children(pid: int) -> list[int]:
    """Live (not zombie) child processes of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = _proc_stat(int(entry))
            if info is not None and info[0] == pid and info[1] != "Z":
                found.append(int(entry))
    return found


def worker_pids(daemon_pid: int) -> list[int]:
    """The chunking workers: children of the daemon's forkserver process."""
    pids = []
    for child in children(daemon_pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in cmdline:
            pids += children(child)
    return pids


async def new_workers(daemon_pid: int, known: Iterable[int]) -> list[int]:
    """Wait for worker processes not in `known` to exist."""
    known = set(known)
    with anyio.fail_after(30):
        while True:
            fresh = [p for p in worker_pids(daemon_pid) if p not in known]
            if fresh:
                return fresh
            await anyio.sleep(0.01)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="needs Linux /proc"
)


# -- skip reasons and counting -------------------------------------------------------


async def test_every_skip_reason_is_counted_and_explained(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "ok.py").write_text("def fine():\n    return 1\n")
    (root / "empty.py").write_bytes(b"")
    (root / "broken.py").write_text("def broken(:\n    pass\n")
    (root / "bin.py").write_bytes(b"x = 1\n\0\0\0binary")
    (root / "big.py").write_text("x = 1\n" * 20_000)  # 120,000 bytes
    (root / "min.js").write_text("var a=1;" * 2_500)  # 20,000 bytes, one line
    (root / "data.xyz").write_text("what is this\n")
    outside = tmp_path / "outside.py"
    outside.write_text("def elsewhere(): pass\n")
    (root / "link_out.py").symlink_to(outside)
    (root / "sub" / ".gitignore").write_text("# comment\n*.log\n")
    (root / "sub" / "noise.log").write_text("ignored\n")
    (root / "sub" / "kept.py").write_text("KEPT = 1\n")
    cfg = with_index(config, max_file_bytes=64 * 1024)
    async with running(cfg) as (_, client):
        status = await add_and_wait(client, root)
        check_counting(status)
        assert status["files_skipped"] == {
            "binary": 1,
            "too_large": 1,
            "minified": 1,
            "unsupported": 2,
            "symlink_outside_root": 1,
        }
        indexed = {"ok.py", "empty.py", "broken.py", "sub/kept.py"}
        # Kept by the crawl: everything but sub/noise.log (ignored, counted
        # nowhere); sub/.gitignore is a file of no language.
        assert status["files_total"] == 10, status
        assert status["files_indexed"] == len(indexed)
        assert status["last_error"] is None

        async def explain(path: str) -> dict[str, Any]:
            return await call(client, "files.explain", root=str(root), path=path)  # type: ignore[no-any-return]

        expected = {
            "bin.py": ("binary", "NUL byte at offset 6"),
            "big.py": ("too_large", "120000 bytes > limit 65536"),
            "min.js": ("minified", "longest line 20000 bytes"),
            "data.xyz": ("unsupported", ".xyz"),
            "link_out.py": ("symlink_outside_root", str(outside)),
        }
        for path, (reason, detail) in expected.items():
            answer = await explain(path)
            assert answer["indexed"] is False, answer
            assert answer["reason"] == reason, answer
            assert detail in (answer["detail"] or ""), answer
        for path in indexed:
            answer = await explain(path)
            assert answer["indexed"] is True, answer
            assert answer["reason"] is None
        assert (await explain("broken.py"))["parse_errors"] >= 1
        assert (await explain("empty.py"))["chunks"] == 0
        noise = await explain("sub/noise.log")
        assert noise["indexed"] is False
        assert noise["reason"] == "ignored"
        assert noise["rule"] == {
            "source": "sub/.gitignore",
            "line": 2,
            "pattern": "*.log",
        }


async def test_parse_timeout(config: Config, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    # ~1.5 MB of Python: far more than 1 ms of parsing anywhere.
    body = "".join(
        f"def function_{i}(a, b):\n    return [a * {i} for _ in range(b)]\n\n"
        for i in range(25_000)
    )
    (root / "huge.py").write_text(body)
    cfg = with_index(config, parse_timeout_ms=1)
    async with running(cfg) as (_, client):
        status = await add_and_wait(client, root)
        check_counting(status)
        assert status["files_skipped"] == {"parse_timeout": 1}, status
        answer = await call(client, "files.explain", root=str(root), path="huge.py")
        assert answer["reason"] == "parse_timeout"
        assert "parse exceeded 1 ms" in answer["detail"]
        assert f"{len(body)} bytes" in answer["detail"]


def _without_root_powers() -> list[str]:
    """A command prefix that makes file permissions apply to the daemon.

    As root, CAP_DAC_OVERRIDE reads any file: drop it (and its read-only
    sibling) from the bounding set, so the daemon and its workers are
    refused a mode-000 file like anybody else.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv(1): cannot make a file unreadable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


@needs_proc
async def test_unreadable_file(config: Config, tmp_path: Path) -> None:
    prefix = _without_root_powers()
    root = tmp_path / "tree"
    root.mkdir()
    (root / "ok.py").write_text("def fine(): pass\n")
    secret = root / "secret.py"
    secret.write_text("def hidden(): pass\n")
    secret.chmod(0)
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "axd.daemon", "--add", str(root)],
        env=environment_for(config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        client_cm = await connect_when_up(Path(str(config.socket_path)), proc)
        async with client_cm as client:
            status = await call(client, "index.wait", root=str(root), timeout_s=50)
            check_counting(status)
            assert status["files_skipped"] == {"unreadable": 1}, status
            assert status["files_indexed"] == 1
            answer = await call(
                client, "files.explain", root=str(root), path="secret.py"
            )
            assert answer["reason"] == "unreadable"
            assert "Permission denied" in answer["detail"]
            await call(client, "server.shutdown")
        assert proc.wait(30) == 0
    finally:
        stop(proc)


async def connect_when_up(path: Path, proc: subprocess.Popen[bytes]) -> AsyncClient:
    """A client of a daemon subprocess, once its socket answers."""
    with anyio.fail_after(30):
        while True:
            assert proc.poll() is None, f"daemon exited with {proc.returncode}"
            try:
                client = await AsyncClient.connect(path)
            except Exception:  # noqa: BLE001 - not listening yet
                await anyio.sleep(0.05)
                continue
            return client


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill a daemon subprocess and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# -- odd trees ---------------------------------------------------------------------------


async def test_symlink_loops_and_encodings(config: Config, tmp_path: Path) -> None:
    """With `follow_symlinks` on, the hardest case: loops must still end."""
    root = tmp_path / "tree"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep.py").write_text("def deep(): pass\n")
    (root / "loop").symlink_to(".")
    (root / "a" / "b" / "up").symlink_to("../..")
    (root / "self").symlink_to("self")
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("ping")
    (root / "dangling.py").symlink_to("nowhere.py")
    # Latin-1 content: not UTF-8, still source code.
    (root / "latin.py").write_bytes(
        b"# -*- coding: latin-1 -*-\n# caf\xe9\ndef caf\xe9_free(): pass\n"
        b"def plain_ascii_name(): return '\xe9t\xe9'\n"
    )
    # A name that is not UTF-8: left out (JSON and SQLite text need UTF-8).
    bad_name = os.fsencode(root) + b"/caf\xe9.py"
    with open(bad_name, "wb") as handle:
        handle.write(b"def bad_name(): pass\n")
    cfg = with_index(config, follow_symlinks=True)
    with structlog.testing.capture_logs() as logs:
        async with running(cfg) as (_, client):
            status = await add_and_wait(client, root)
            check_counting(status)
            assert status["state"] == "ready"
            assert status["files_indexed"] == 2, status
            assert status["files_total"] == 2, status
            assert status["last_error"] is None
            found = await call(
                client, "symbols.definition", root=str(root), name="plain_ascii_name"
            )
            assert [d["path"] for d in found["definitions"]] == ["latin.py"]
            found = await call(
                client, "symbols.definition", root=str(root), name="deep"
            )
            assert [d["path"] for d in found["definitions"]] == ["a/b/deep.py"]
            found = await call(
                client, "symbols.definition", root=str(root), name="bad_name"
            )
            assert found["definitions"] == []
            info = await call(client, "server.info")
            assert info["workspaces"] == [str(root)]
    assert any(entry["event"] == "non_utf8_file_name" for entry in logs), logs


async def test_files_deleted_while_indexing(config: Config, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    files = make_tree(root, 1500)
    doomed = files[::2]
    async with running(config) as (_, client):
        await call(client, "workspace.add", root=str(root))
        # Delete half the tree while the first index runs (crawl, queue, parse).
        for path in doomed:
            path.unlink()
        # And one path queued that never existed.
        queued = await call(
            client, "index.reindex", root=str(root), paths=["pkg0/ghost.py"]
        )
        assert queued == {"queued": 1}
        with pytest.raises(RemoteError) as info:
            await call(client, "files.explain", root=str(root), path="pkg0/ghost.py")
        assert info.value.kind == "invalid_path"
        status = await call(client, "index.wait", root=str(root), timeout_s=50)
        # The watcher may still deliver deletions after the first wait.
        status = await call(
            client, "index.wait", root=str(root), generation=status["generation"]
        )
        check_counting(status)
        assert status["last_error"] is None
        assert status["state"] == "ready"
        assert (
            status["files_total"] == status["files_indexed"] == len(files) - len(doomed)
        )
        assert status["files_skipped"] == {}
        gone = await call(client, "symbols.definition", root=str(root), name="helper0")
        assert gone["definitions"] == []
        kept = await call(client, "symbols.definition", root=str(root), name="helper1")
        assert [d["path"] for d in kept["definitions"]] == ["pkg0/mod1.py"]


# -- crashes ---------------------------------------------------------------------------


@needs_proc
async def test_worker_killed_mid_index(config: Config, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    make_tree(root, 3000)
    cfg = with_index(config, batch_files=64)
    async with running(cfg) as (_, client):
        workers = await new_workers(os.getpid(), ())
        added = await call(client, "workspace.add", root=str(root))
        # Once a first batch committed, the others are being parsed.
        await call(
            client, "symbols.search", root=str(root), query="Thing", min_generation=1,
            timeout_s=50,
        )  # fmt: skip
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        status = await call(client, "index.wait", root=str(root), timeout_s=50)
        # Whether the index was finished or not when the worker died, a
        # forced reindex must get past the broken executor.
        await call(client, "index.reindex", root=str(root), force=True)
        status = await call(client, "index.wait", root=str(root), timeout_s=50)
        check_counting(status)
        assert status["files_indexed"] == status["files_total"] == 3000, status
        assert status["files_skipped"] == {}
        assert status["last_error"] is None
        text = (await call(client, "metrics"))["text"]
        assert metric(text, "axd_worker_restarts_total") >= 1
        assert victim not in worker_pids(os.getpid())
        facts = db_facts(db_path(cfg.state_dir or "", added["id"]))
        assert facts["integrity"] == "ok"
        assert facts["files"] == 3000
        assert facts["mismatched_files"] == 0
        health = await call(client, "health")
        assert health["checks"]["workers"]["status"] in ("HEALTHY", "DEGRADED")


@needs_proc
async def test_file_that_crashes_alone_is_parse_failed(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    # Tens of seconds of parsing: the worker is surely still at it when
    # killed. Killing it twice stands in for a file that segfaults tree-sitter
    # (no real input does that in the pinned grammars).
    slow = root / "slow.js"
    slow.write_text("{" * 200_000)
    cfg = with_index(config, parse_timeout_ms=600_000, max_line_bytes=10_000_000)
    warm = tmp_path / "warm"
    warm.mkdir()
    (warm / "a.py").write_text("A = 1\n")
    async with running(cfg) as (_, client):
        pid = os.getpid()
        # A first workspace leaves the pool started and idle.
        await add_and_wait(client, warm)
        first = worker_pids(pid)
        await call(client, "workspace.add", root=str(root))
        for worker in first:
            os.kill(worker, signal.SIGKILL)
        # The batch is re-run file by file on a fresh one-process executor.
        alone = await new_workers(pid, first)
        for worker in alone:
            os.kill(worker, signal.SIGKILL)
        status = await call(client, "index.wait", root=str(root), timeout_s=50)
        check_counting(status)
        assert status["files_skipped"] == {"parse_failed": 1}, status
        assert status["last_error"] is None
        answer = await call(client, "files.explain", root=str(root), path="slow.js")
        assert answer["reason"] == "parse_failed"
        assert "crashed" in answer["detail"]
        assert answer["size"] == 200_000
        generation = status["generation"]
    # A restart does not try the crasher again: nothing changed on disk.
    async with running(cfg) as (_, client):
        status = await call(client, "index.wait", root=str(root), timeout_s=50)
        assert status["state"] == "ready"
        assert status["generation"] == generation
        assert status["files_skipped"] == {"parse_failed": 1}


async def kill_after_a_batch(
    client: AsyncClient, proc: subprocess.Popen[bytes], root: Path
) -> None:
    """SIGKILL the daemon `proc` once a first index of `root` committed a
    batch (and is not done), and wait until its whole process group is gone."""
    await call(
        client, "symbols.search", root=str(root), query="Thing",
        min_generation=1, timeout_s=50,
    )  # fmt: skip
    status = await call(client, "index.status", root=str(root))
    assert status["state"] == "indexing", "indexed too fast to kill"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    # Its workers and forkserver follow it; none is orphaned.
    with anyio.fail_after(20):
        while in_group(proc.pid):
            await anyio.sleep(0.05)


@needs_proc
async def test_daemon_killed_mid_index_then_restarted_equals_clean_run(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    make_tree(root, 2500)
    (root / "README.md").write_text("# Tree\n\nSome text.\n")

    async def run_daemon(state: Path, *, kill_after_first_batch: bool) -> str:
        cfg = with_config(config, state_dir=str(state))
        env = environment_for(cfg)
        proc = subprocess.Popen(
            [sys.executable, "-m", "axd.daemon", "--add", str(root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            async with await connect_when_up(
                Path(str(cfg.socket_path)), proc
            ) as client:
                if kill_after_first_batch:
                    await kill_after_a_batch(client, proc, root)
                    return ""
                status = await call(client, "index.wait", root=str(root), timeout_s=50)
                check_counting(status)
                listing = await call(client, "workspace.list")
                await call(client, "server.shutdown")
            assert proc.wait(30) == 0
            return str(listing["workspaces"][0]["id"])
        finally:
            stop(proc)

    killed_state, clean_state = tmp_path / "killed", tmp_path / "clean"
    await run_daemon(killed_state, kill_after_first_batch=True)
    ident = await run_daemon(killed_state, kill_after_first_batch=False)
    assert ident == await run_daemon(clean_state, kill_after_first_batch=False)
    resumed = db_facts(db_path(killed_state, ident))
    clean = db_facts(db_path(clean_state, ident))
    assert resumed["integrity"] == "ok"
    assert resumed == clean
    assert clean["files"] == 2501


# -- a full disk ---------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterable[Path]:
    """A 2 MiB tmpfs (needs mount privileges)."""
    mount_point = Path(tempfile.mkdtemp(prefix="axdfull-", dir="/tmp"))
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


async def test_full_disk(config: Config, tmp_path: Path, small_disk: Path) -> None:
    root = tmp_path / "tree"
    make_tree(root, 2500)
    cfg = with_config(config, state_dir=str(small_disk / "state"))
    async with running(cfg) as (_, client):
        added = await call(client, "workspace.add", root=str(root))
        # Index safety (#11): a full disk pauses indexing with the workspace
        # "degraded"; index.wait never reports success for a partial index.
        with anyio.fail_after(60):
            while (status := await call(client, "index.status", root=str(root)))[
                "state"
            ] != "degraded":
                await anyio.sleep(0.05)
        assert status["files_indexed"] < 2500, "the index fit: make the disk smaller"
        with pytest.raises(RemoteError) as waited:
            await call(client, "index.wait", root=str(root), timeout_s=0.5)
        assert waited.value.code == -32008
        assert status["last_error"] is not None
        assert "full" in status["last_error"].lower(), status["last_error"]
        # It keeps serving.
        info = await call(client, "server.info")
        assert info["workspaces"] == [str(root)]
        found = await call(client, "symbols.search", root=str(root), query="helper")
        assert found["generation"] >= status["generation"]
        # Nothing half-written.
        facts = db_facts(db_path(cfg.state_dir or "", added["id"]))
        assert facts["integrity"] == "ok"
        assert facts["mismatched_files"] == 0
        # Free space: indexing resumes by itself, no reindex needed.
        subprocess.run(
            ["mount", "-o", "remount,size=256m", str(small_disk)], check=True
        )
        status = await call(client, "index.wait", root=str(root), timeout_s=50)
        check_counting(status)
        assert status["files_indexed"] == status["files_total"] == 2500, status
        facts = db_facts(db_path(cfg.state_dir or "", added["id"]))
        assert facts["integrity"] == "ok"
        assert facts["mismatched_files"] == 0
