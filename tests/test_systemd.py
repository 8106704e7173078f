"""systemd: sd_notify on a real datagram socket, socket activation for real."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import pytest

from axd.daemon.lifecycle import Daemon
from axd.daemon.ops.systemd import Notifier, inherited_listener

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets"
)


async def receive_until(
    receiver: anyio.abc.UNIXDatagramSocket, wanted: str
) -> list[str]:
    """Every datagram up to and including the first containing `wanted`."""
    seen: list[str] = []
    with anyio.fail_after(5):
        while True:
            data, _ = await receiver.receive()
            seen.append(data.decode())
            if wanted in seen[-1].split("\n"):
                return seen


def test_notifier_without_a_supervisor_is_a_no_op() -> None:
    notifier = Notifier(env={})
    assert not notifier.enabled
    assert notifier.notify("READY=1") is False
    assert notifier.watchdog_interval_s is None


def test_watchdog_is_for_our_pid_only() -> None:
    env = {"NOTIFY_SOCKET": "/nowhere", "WATCHDOG_USEC": "30000000"}
    assert Notifier(env=env).watchdog_interval_s == 15.0
    other = env | {"WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier(env=other).watchdog_interval_s is None


def test_a_gone_supervisor_is_logged_not_raised(short_dir: Path) -> None:
    notifier = Notifier(env={"NOTIFY_SOCKET": str(short_dir / "gone.sock")})
    assert notifier.enabled and notifier.notify("READY=1") is False


@pytest.mark.skipif(sys.platform != "linux", reason="abstract sockets are Linux's")
async def test_abstract_notify_socket() -> None:
    name = f"axd-test-{os.getpid()}-{time.monotonic_ns()}"
    async with await anyio.create_unix_datagram_socket(
        local_path="\0" + name
    ) as receiver:
        assert Notifier(env={"NOTIFY_SOCKET": "@" + name}).notify("STATUS=hi")
        assert await receive_until(receiver, "STATUS=hi") == ["STATUS=hi"]


async def test_ready_status_watchdog_stopping(config: Config, short_dir: Path) -> None:
    path = short_dir / "notify.sock"
    async with await anyio.create_unix_datagram_socket(local_path=path) as receiver:
        env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"}
        daemon = Daemon(config, env=env)
        stopped = anyio.Event()

        async def run_daemon(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            try:
                await daemon.run(task_status=task_status)
            finally:
                stopped.set()

        async with anyio.create_task_group() as tg:
            await tg.start(run_daemon)
            # No workspace to index: the daemon is ready at once, and says so.
            messages = await receive_until(receiver, "READY=1")
            assert messages[-1] == "READY=1\nSTATUS=serving 0 workspaces"
            ops = daemon.ops
            # The watchdog pings from the loop at half of WATCHDOG_USEC.
            started = time.monotonic()
            messages = await receive_until(receiver, "WATCHDOG=1")
            messages += await receive_until(receiver, "WATCHDOG=1")
            messages += await receive_until(receiver, "WATCHDOG=1")
            # Three pings at half the interval: never faster than that.
            assert time.monotonic() - started >= 0.15
            ops.notify_ready("indexing\n2 workspaces")
            messages = await receive_until(receiver, "READY=1")
            assert messages[-1] == "READY=1\nSTATUS=indexing 2 workspaces"
            ops.notify_status("2 workspaces, 1,234 files")
            messages = await receive_until(receiver, "STATUS=2 workspaces, 1,234 files")
            daemon.request_stop()
            messages = await receive_until(receiver, "STOPPING=1")
            assert messages[-1] == "STOPPING=1\nSTATUS=stopping"
            with anyio.fail_after(10):
                await stopped.wait()
            tg.cancel_scope.cancel()


async def test_ready_waits_for_the_first_index(
    config: Config, short_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    for n in range(40):
        (root / f"m{n}.py").write_text(f"def f{n}():\n    return {n}\n")
    path = short_dir / "notify.sock"
    async with await anyio.create_unix_datagram_socket(local_path=path) as receiver:
        env = {"NOTIFY_SOCKET": str(path)}
        daemon = Daemon(config, initial_roots=[str(root)], env=env)
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
            messages = await receive_until(receiver, "READY=1")
            assert messages[-1] == "READY=1\nSTATUS=serving 1 workspace"
            # READY=1 came from the WorkspaceReady event: the index is complete.
            workspace = daemon.parts.workspaces.find(str(root))
            assert workspace.indexer.ready and workspace.state == "ready"
            assert workspace.store.counts().files_indexed == 40
            daemon.request_stop()


def test_inherited_listener_needs_our_pid(short_dir: Path) -> None:
    assert (
        inherited_listener({"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"})
        is None
    )
    assert inherited_listener({}) is None


def _call(path: Path, method: str, timeout: float = 10) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode() + b"\n"
        )
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, object] = json.loads(data)
    return reply


@pytest.mark.parametrize(
    "configured",
    [
        pytest.param("axd.sock", id="unit-path"),
        pytest.param("elsewhere.sock", id="other-path"),
    ],
)
def test_socket_activation_with_a_real_daemon(
    short_dir: Path, tmp_path: Path, configured: str
) -> None:
    # "unit-path" is deploy/axd.socket's set-up: --socket names the very path
    # systemd bound. "other-path" checks the adoption itself.
    sock_path = short_dir / "axd.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(16)
    inode = sock_path.stat().st_ino
    env = dict(os.environ)
    env.update(
        LISTEN_FDS="1",
        LISTEN_FDNAMES="axd.socket",
        XDG_RUNTIME_DIR=str(short_dir),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        AXD_LOG_FORMAT="json",
    )
    env.pop("AXD_CONFIG", None)
    # As systemd does: the listener as fd 3, LISTEN_PID the daemon's own pid
    # (the shell's `$$`, which `exec` keeps). The socket arrives as stdin and
    # the shell moves it to fd 3.
    command = [
        "/bin/sh",
        "-c",
        'exec 3<&0; LISTEN_PID=$$ exec "$@" </dev/null',
        "sh",
        sys.executable,
        "-m",
        "axd.daemon",
        "--socket",
        str(short_dir / configured),
        "--state-dir",
        str(tmp_path / "state"),
        "--metrics-addr",
        "127.0.0.1:0",
    ]
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, stdin=listener.fileno(), stderr=log, stdout=log, env=env
        )
    listener.close()  # only the daemon holds it now, as under systemd
    try:
        reply = _call(sock_path, "server.info")
        assert "result" in reply, (reply, log_path.read_text())
        result = reply["result"]
        assert isinstance(result, dict) and result["pid"] == proc.pid
        # The daemon served on the inherited socket: same file, not rebound.
        assert sock_path.stat().st_ino == inode
        proc.terminate()  # what `systemctl stop` sends
        assert proc.wait(timeout=20) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # systemd owns the path; removing it would break the next activation.
    assert sock_path.exists(), "the daemon unlinked the socket it inherited"
