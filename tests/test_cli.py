"""The `axd` CLI end to end: subprocesses, a real daemon, real sockets."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support import environment_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from axd.daemon.config import Config

AXD = [sys.executable, "-c", "from axd.client.cli import run; run()"]


def axd(
    config: Config, *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AXD, *args],
        env=environment_for(config),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture
def running(config: Config) -> Iterator[Config]:
    """A daemon started by the CLI's auto-start; stopped at the end."""
    proc = axd(config, "status")
    assert proc.returncode == 0, proc.stderr
    yield config
    axd(config, "stop")


def test_no_daemon_and_no_start_exits_3(config: Config) -> None:
    proc = axd(config, "--no-start", "status")
    assert proc.returncode == 3
    assert proc.stderr.startswith("axd: no daemon at ")
    assert not Path(str(config.socket_path)).exists()


def test_auto_start_then_stop(running: Config) -> None:
    info = json.loads(axd(running, "call", "server.info", "--json").stdout)
    log = Path(str(running.state_dir)) / "daemon.log"
    assert log.exists(), "the auto-started daemon logs to the state dir"
    assert axd(running, "stop").returncode == 0
    deadline = time.monotonic() + 10
    while Path(str(running.socket_path)).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(str(running.socket_path)).exists(), (
        f"daemon {info['pid']} did not stop"
    )


def test_two_clients_start_one_daemon(config: Config) -> None:
    env = environment_for(config)
    procs = [
        subprocess.Popen(
            [*AXD, "call", "server.info", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        outputs = [p.communicate(timeout=60)[0] for p in procs]
        pids = {json.loads(out)["pid"] for out in outputs}
        assert len(pids) == 1, pids
    finally:
        axd(config, "stop")


def test_exit_codes(running: Config) -> None:
    assert axd(running, "call", "no.such.method").returncode == 1
    assert axd(running, "definitely-not-a-command").returncode == 2
    assert axd(running, "call", "server.info", "{not json").returncode == 2
    failed = axd(running, "call", "workspace.add", '{"root": "relative"}')
    assert failed.returncode in (1,) and failed.stderr.startswith("axd: ")
    assert len(failed.stderr.strip().splitlines()) == 1, "errors are one line"


def test_call_output_formats(running: Config) -> None:
    indented = axd(running, "call", "server.info")
    assert indented.stdout.splitlines()[1].startswith("  ")
    compact = axd(running, "--json", "call", "server.info")
    assert len(compact.stdout.strip().splitlines()) == 1


def test_config_check_and_show(config: Config, tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[server]\nmax_connections = 9\n")
    assert axd(config, "config", "check", str(good)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nmax_connections = 'x'\n")
    proc = axd(config, "config", "check", str(bad))
    assert proc.returncode == 1 and "server.max_connections" in proc.stderr
    shown = axd(config, "config", "show")
    assert "[server]" in shown.stdout and "max_connections = 256" in shown.stdout


def test_help_and_version_do_not_need_a_daemon(config: Config) -> None:
    assert axd(config, "--help").returncode == 0
    assert axd(config, "--version").stdout.startswith("axd ")
