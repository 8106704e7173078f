"""The `axd` CLI end to end: subprocesses, a real daemon, real sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support import environment_for

from axd.client.connection import Client, DaemonUnavailableError, read_deadline
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Iterator

    from axd.daemon.config import Config

AXD = [sys.executable, "-c", "from axd.client.cli import run; run()"]


def axd(
    config: Config,
    *args: str,
    cwd: Path | None = None,
    timeout: float = 60,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AXD, *args],
        env=environment_for(config) | (extra_env or {}),
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


# -- time limits and failures: one line on stderr and an exit code, never a traceback


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The single `axd: ...` line of a failed command (asserting there is one)."""
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("axd: "), proc.stderr
    return lines[0]


@pytest.fixture
def workspace(running: Config, tmp_path: Path) -> Path:
    """An indexed workspace of the `running` daemon."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.py").write_text("def main():\n    return 1\n")
    proc = axd(running, "add", str(repo), "--wait")
    assert proc.returncode == 0, proc.stderr
    return repo


def test_a_wait_outlasts_the_default_deadline(running: Config, workspace: Path) -> None:
    """index.wait's own timeout_s wins over the client's default deadline.

    The default deadline is cut to 0.5 s (AXD_CLIENT_TIMEOUT) and the wait asks
    for 3 s for a generation that never comes: the client must wait for the
    daemon's -32008 (exit 1), not give up on its own after 0.5 s (exit 3).
    """
    params = {"root": str(workspace), "generation": 10**9, "timeout_s": 3}
    proc = axd(
        running,
        "call",
        "index.wait",
        json.dumps(params),
        extra_env={"AXD_CLIENT_TIMEOUT": "0.5"},
    )
    assert proc.returncode == 1, proc.stderr
    assert one_line(proc).endswith("[timeout]")


def test_def_through_a_typed_call(running: Config, workspace: Path) -> None:
    """`axd def` encodes DefinitionParams and decodes DefinitionResult."""
    proc = axd(
        running, "def", "main", "--json", "--root", str(workspace), cwd=workspace
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["definitions"][0]["path"] == "main.py"


def test_a_daemon_that_never_answers_is_one_line_exit_3(config: Config) -> None:
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.bind(str(config.socket_path))
    silent.listen()  # accepts connections (the backlog) and never answers
    try:
        proc = axd(
            config, "call", "server.info", extra_env={"AXD_CLIENT_TIMEOUT": "0.3"}
        )
    finally:
        silent.close()
    assert proc.returncode == 3
    assert "did not answer server.info within 0.3 s" in one_line(proc)


def test_a_connection_closed_mid_call_is_one_line_exit_3(config: Config) -> None:
    """A peer that reads the request and hangs up, as a killed daemon does."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(config.socket_path))
    server.listen()

    def hang_up() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1 << 16)

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        proc = axd(config, "--no-start", "call", "server.info")
    finally:
        thread.join(timeout=30)
        server.close()
    assert proc.returncode == 3
    assert "closed the connection" in one_line(proc)


def test_connection_refused_is_one_line_exit_3(config: Config) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(config.socket_path))  # a socket file nobody listens on
    stale.close()
    proc = axd(config, "--no-start", "status")
    assert proc.returncode == 3
    assert "Connection refused" in one_line(proc)


def _connections(client: Client) -> float:
    """The daemon's `axd_connections` gauge."""
    for line in client.call(m.METRICS).text.splitlines():
        name, _, value = line.partition(" ")
        if name == "axd_connections":
            return float(value)
    raise AssertionError("no axd_connections gauge in the metrics")


def test_the_daemon_killed_mid_call_is_one_line_exit_3(
    running: Config, workspace: Path
) -> None:
    params = {"root": str(workspace), "generation": 10**9, "timeout_s": 50}
    waiting = subprocess.Popen(
        [*AXD, "--no-start", "call", "index.wait", json.dumps(params)],
        env=environment_for(running),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with Client.connect(Path(str(running.socket_path))) as observer:
            pid = observer.call(m.SERVER_INFO).pid
            deadline = time.monotonic() + 30  # hang guard
            while _connections(observer) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)  # until the CLI's connection is open
        os.kill(pid, signal.SIGKILL)
        _, stderr = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    done = subprocess.CompletedProcess(waiting.args, waiting.returncode, "", stderr)
    assert done.returncode == 3
    one_line(done)


def test_a_bad_client_timeout_is_a_usage_error(running: Config) -> None:
    proc = axd(running, "status", extra_env={"AXD_CLIENT_TIMEOUT": "soon"})
    assert proc.returncode == 2
    assert "AXD_CLIENT_TIMEOUT" in one_line(proc)


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("server.info", None, 60.0),
        ("index.wait", {"root": "/r", "timeout_s": 90}, 150.0),
        ("search", t.SearchParams(root="/r", query="q", timeout_s=5), 65.0),
        ("index.wait", {"root": "/r", "timeout_s": "soon"}, 60.0),
        ("index.reindex", {"root": "/r"}, None),
        ("snapshot.create", {"root": "/r"}, None),
        ("db.status", {"root": "/r"}, None),
    ],
)
def test_read_deadline(method: str, params: object, expected: float | None) -> None:
    assert read_deadline(method, params, 60.0) == expected
    assert read_deadline(method, params, None) is None


# -- `axd daemon` ---------------------------------------------------------------------


def test_axd_daemon_becomes_the_daemon(config: Config) -> None:
    """`axd daemon` execs the daemon: same process (systemd checks the pid)."""
    proc = subprocess.Popen(
        [*AXD, "daemon", "--socket", str(config.socket_path)],
        env=environment_for(config),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30  # hang guard
        while True:
            try:
                client = Client.connect(Path(str(config.socket_path)))
                break
            except DaemonUnavailableError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the daemon did not start"
                time.sleep(0.02)  # until the socket accepts
        with client:
            assert client.call(m.SERVER_INFO).pid == proc.pid
            client.call(m.SERVER_SHUTDOWN)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.communicate()  # also closes the stderr pipe


def test_axd_daemon_exit_codes(config: Config, tmp_path: Path) -> None:
    assert axd(config, "daemon", "--no-such-option").returncode == 2
    proc = axd(config, "daemon", "--config", str(tmp_path / "missing.toml"))
    assert proc.returncode == 1
    assert "no such config file" in proc.stderr


def test_a_reader_that_went_away_is_not_an_error(config: Config) -> None:
    """`axd config show | head -0`: stdout is a pipe nobody reads any more."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE
    try:
        proc = subprocess.run(
            [*AXD, "config", "show"],
            env=environment_for(config),
            stdout=write_end,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (0, "")
