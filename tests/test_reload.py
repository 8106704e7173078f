# ruff: noqa: ASYNC240
# (tests set up files and processes with plain blocking calls on purpose)
"""SIGHUP: a good config takes effect without dropping connections; a bad
one is rejected, logged, and the old one stays in force.

The daemon runs as a subprocess with ``--config FILE``; its JSON log goes to
a file the tests read. (SIGTERM with requests in flight: test_server.py.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from support import call, environment_for

from axd.client.aio import AsyncClient
from axd.client.connection import RemoteError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from axd.daemon.config import Config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def config_text(*, max_connections: int, level: str, disk_degraded: int) -> str:
    return (
        "[server]\n"
        f"max_connections = {max_connections}\n"
        "[log]\n"
        f'level = "{level}"\n'
        'format = "json"\n'
        "[health]\n"
        f"disk_degraded_free_bytes = {disk_degraded}\n"
        "disk_unhealthy_free_bytes = 1\n"
    )


class Running:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path, sock: Path) -> None:
        self.proc, self.log, self.sock = proc, log, sock

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    async def wait_for_event(self, name: str, count: int = 1) -> dict[str, Any]:
        """The `count`-th log event called `name`, once the daemon wrote it."""
        with anyio.fail_after(20):
            while True:
                matching = [e for e in self.events() if e.get("event") == name]
                if len(matching) >= count:
                    return matching[count - 1]
                assert self.proc.poll() is None, "the daemon exited"
                await anyio.sleep(0.02)

    def hup(self) -> None:
        os.kill(self.proc.pid, signal.SIGHUP)


@pytest.fixture
def daemon_proc(config: Config, tmp_path: Path) -> Iterator[Running]:
    config_file = tmp_path / "axd.toml"
    config_file.write_text(
        config_text(max_connections=4, level="info", disk_degraded=1)
    )
    log = tmp_path / "daemon.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "axd.daemon", "--config", str(config_file)],
            env=environment_for(config),
            stdout=sink,
            stderr=sink,
        )
    running = Running(proc, log, Path(str(config.socket_path)))
    running.config_file = config_file  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def refused(path: Path) -> bool:
    """Whether a new connection is turned away with OVERLOADED."""
    async with await AsyncClient.connect(path) as extra:
        try:
            await call(extra, "server.info")
        except RemoteError as exc:
            assert exc.kind == "overloaded"
            return True
        except Exception:  # noqa: BLE001 - closed before the answer: refused too
            return True
        return False


async def test_sighup_applies_a_good_config_and_rejects_a_bad_one(
    daemon_proc: Running,
) -> None:
    running = daemon_proc
    config_file: Path = running.config_file  # type: ignore[attr-defined]
    await running.wait_for_event("daemon_ready")
    async with await AsyncClient.connect(running.sock) as held:
        info = await call(held, "server.info")
        assert not await refused(running.sock)
        health = await call(held, "health")
        assert health["checks"]["disk"]["status"] == "HEALTHY"

        # A good config: one connection at most, debug logs, a disk threshold
        # no disk meets.
        config_file.write_text(
            config_text(max_connections=1, level="debug", disk_degraded=1 << 60)
        )
        running.hup()
        await running.wait_for_event("config_reloaded")
        # The held connection was not dropped, and the new settings apply.
        assert (await call(held, "server.info"))["pid"] == info["pid"]
        assert await refused(running.sock)
        health = await call(held, "health")
        assert health["checks"]["disk"]["status"] == "DEGRADED", health

        # A bad config: rejected, logged, the old one stays in force.
        config_file.write_text("[server]\nmax_connections = 'many'\n[nope]\n")
        running.hup()
        rejected = await running.wait_for_event("config_reload_rejected")
        assert "max_connections" in rejected["error"] or "nope" in rejected["error"]
        assert str(config_file) in rejected["error"]
        assert (await call(held, "server.info"))["pid"] == info["pid"]
        assert await refused(running.sock)
        health = await call(held, "health")
        assert health["checks"]["disk"]["status"] == "DEGRADED"

        # A file that is not TOML at all, then gone: rejected as well.
        config_file.write_text("this is [not toml")
        running.hup()
        await running.wait_for_event("config_reload_rejected", count=2)
        config_file.unlink()
        running.hup()
        await running.wait_for_event("config_reload_rejected", count=3)
        assert (await call(held, "server.info"))["pid"] == info["pid"]

        # Fixed again: back to the roomy limits.
        config_file.write_text(
            config_text(max_connections=8, level="info", disk_degraded=1)
        )
        running.hup()
        await running.wait_for_event("config_reloaded", count=2)
        assert not await refused(running.sock)
        health = await call(held, "health")
        assert health["checks"]["disk"]["status"] == "HEALTHY"
    assert running.proc.poll() is None


async def test_sighup_changes_the_log_level(daemon_proc: Running) -> None:
    running = daemon_proc
    config_file: Path = running.config_file  # type: ignore[attr-defined]
    await running.wait_for_event("daemon_ready")
    async with await AsyncClient.connect(running.sock) as held:
        await call(held, "server.info")
        config_file.write_text(
            config_text(max_connections=4, level="debug", disk_degraded=1)
        )
        running.hup()
        await running.wait_for_event("config_reloaded")
        await call(held, "workspace.list")
        logged = False
        with anyio.move_on_after(5):  # the debug "request" line of that call
            await running.wait_for_event("request")
            logged = True
    assert logged
