"""A small synchronous JSON-RPC client for the CLI, with daemon auto-start.

Blocking sockets keep `axd` quick to start: no event loop, no daemon
imports. Typed calls go through the protocol's method table; encoding and
error translation are `exchange.py`'s, shared with the async client.

Each call waits as long as its method may take (`read_deadline`): the
client's default deadline for ordinary calls, the method's own `timeout_s`
on top of it for waits (`index.wait`, queries with `min_generation`), and no
deadline for work that grows with the index (`index.reindex`, `snapshot.*`,
`db.*`), which the daemon's own request deadline bounds.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from axd.client.exchange import (
    DaemonTimeoutError,
    DaemonUnavailableError,
    ProtocolError,
    RemoteError,
    connection_lost,
    decode_message,
    decode_result,
    encode_request,
    no_daemon,
    result_of,
)

if TYPE_CHECKING:
    from pathlib import Path

    from axd.protocol.jsonrpc import Incoming
    from axd.protocol.methods import Method

__all__ = [
    "Client",
    "DaemonTimeoutError",
    "DaemonUnavailableError",
    "ProtocolError",
    "RemoteError",
    "connect_or_start",
    "daemon_command",
    "read_deadline",
]

P = TypeVar("P")
R = TypeVar("R")

START_TIMEOUT_S = 30.0
# How long an ordinary call may go unanswered (`AXD_CLIENT_TIMEOUT` in the CLI).
DEFAULT_DEADLINE_S = 60.0
# Methods whose work grows with the index rather than with their params.
UNBOUNDED = ("index.reindex", "snapshot.", "db.")


def read_deadline(method: str, params: object, default: float | None) -> float | None:
    """Seconds to wait for `method`'s answer (None: as long as it takes)."""
    if default is None or method.startswith(UNBOUNDED):
        return None
    if isinstance(params, Mapping):
        waits = params.get("timeout_s")
    else:
        waits = getattr(params, "timeout_s", None)
    if isinstance(waits, int | float) and not isinstance(waits, bool) and waits > 0:
        return float(waits) + default  # the wait, then an ordinary answer
    return default


class Client:
    """NDJSON over a blocking Unix socket; one request at a time."""

    def __init__(
        self, sock: socket.socket, path: Path, timeout: float | None = None
    ) -> None:
        self._sock = sock
        self.path = path
        self.timeout = timeout  # the default deadline of a call
        self._buffer = b""
        self._ids = itertools.count(1)
        self.notifications: list[tuple[str, bytes]] = []

    @classmethod
    def connect(cls, path: Path, timeout: float | None = DEFAULT_DEADLINE_S) -> Client:
        """Connect to the daemon at `path`; `timeout`: the default deadline.

        :raises DaemonUnavailableError: nothing listens there.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            sock.close()
            raise no_daemon(path, exc) from exc
        return cls(sock, path, timeout)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settimeout(self, timeout: float | None) -> None:
        """The default deadline of the next calls (None: none)."""
        self.timeout = timeout

    def call_raw(self, method: str, params: Any = None) -> bytes:
        """Send one request; the raw JSON of its result.

        :raises RemoteError: the daemon answered with an error.
        :raises DaemonUnavailableError: the connection broke.
        :raises DaemonTimeoutError: no answer within the call's deadline.
        :raises ProtocolError: the daemon sent something unreadable.
        """
        request_id = next(self._ids)
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(encode_request(request_id, method, params))
        except OSError as exc:
            raise connection_lost(self.path, exc) from exc
        waits = read_deadline(method, params, self.timeout)
        until = None if waits is None else time.monotonic() + waits
        while True:
            response = self._next_message(until)
            if response is None:
                raise DaemonTimeoutError(
                    f"the daemon at {self.path} did not answer {method}"
                    f" within {waits:g} s"
                )
            if response.is_notification:
                self.notifications.append(
                    (str(response.method), bytes(response.params))
                )
            elif response.id == request_id:
                return result_of(response)

    def call(self, method: Method[P, R], params: P | None = None) -> R:
        """A typed call through the protocol's method table."""
        return decode_result(method, self.call_raw(method.name, params))

    def next_notification(self, timeout: float | None = None) -> tuple[str, bytes]:
        """The next notification (method, params), waiting up to `timeout` s.

        :raises DaemonTimeoutError: none came within `timeout`.
        """
        if self.notifications:
            return self.notifications.pop(0)
        until = None if timeout is None else time.monotonic() + timeout
        while (message := self._next_message(until)) is not None:
            if message.method is not None:
                return message.method, bytes(message.params)
        raise DaemonTimeoutError(f"no notification within {timeout:g} s")

    def _next_message(self, until: float | None) -> Incoming | None:
        """The next message, or None when the monotonic time `until` passes."""
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line, self._buffer = self._buffer[:newline], self._buffer[newline + 1 :]
                if line.strip():
                    return decode_message(line)
                continue
            if until is not None and until <= time.monotonic():
                return None
            self._sock.settimeout(None if until is None else until - time.monotonic())
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError:
                return None
            except OSError as exc:
                raise connection_lost(self.path, exc) from exc
            if not chunk:
                raise connection_lost(self.path)
            self._buffer += chunk


def daemon_command(*args: str) -> list[str]:
    """The command line that runs the daemon with `args` in this interpreter.

    ``-P``: the current directory stays off ``sys.path``, so a folder named
    ``axd`` where the user stands cannot shadow the installed package.
    """
    return [sys.executable, "-P", "-m", "axd.daemon", *args]


def connect_or_start(
    socket_path: Path,
    state_dir: Path,
    *,
    start: bool = True,
    config_path: str | None = None,
    timeout: float | None = DEFAULT_DEADLINE_S,
) -> Client:
    """A connected client; starts a background daemon when none answers.

    A lock in the state dir keeps two clients from starting two daemons.

    :raises DaemonUnavailableError: no daemon, and starting one failed.
    """
    try:
        return Client.connect(socket_path, timeout)
    except DaemonUnavailableError:
        if not start:
            raise
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "daemon.log"
    with open(state_dir / "autostart.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:  # somebody else may have started it while we waited for the lock
            return Client.connect(socket_path, timeout)
        except DaemonUnavailableError:
            pass
        process = _spawn_daemon(socket_path, state_dir, log_path, config_path)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DaemonUnavailableError(
                    f"the daemon exited with code {process.returncode} while starting; see {log_path}"
                )
            try:
                client = Client.connect(socket_path, timeout=5)
                client.call_raw("server.info")
                client.settimeout(timeout)
                return client
            except (DaemonUnavailableError, RemoteError, ProtocolError, OSError):
                time.sleep(0.05)
        raise DaemonUnavailableError(
            f"the daemon did not answer within {START_TIMEOUT_S:g} s; see {log_path}"
        )


def _spawn_daemon(
    socket_path: Path, state_dir: Path, log_path: Path, config_path: str | None
) -> subprocess.Popen[bytes]:
    args = ["--socket", str(socket_path), "--state-dir", str(state_dir)]
    if config_path:
        args += ["--config", config_path]
    env = dict(os.environ)
    env.setdefault("AXD_LOG_FORMAT", "json")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            daemon_command(*args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,  # detached: survives the client's terminal
            close_fds=True,
        )
