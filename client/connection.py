"""A small synchronous JSON-RPC client for the CLI, with daemon auto-start.

Blocking sockets keep `axd` quick to start: no event loop, no daemon
imports. Typed calls go through the protocol's method table.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Self, TypeVar

import msgspec

from axd.protocol.errors import ErrorCode
from axd.protocol.jsonrpc import Incoming

if TYPE_CHECKING:
    from pathlib import Path

    from axd.protocol.methods import Method

R = TypeVar("R")

START_TIMEOUT_S = 30.0


class DaemonUnavailableError(Exception):
    """No daemon answers on the socket (and none could be started)."""


class RemoteError(Exception):
    """The daemon answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @property
    def kind(self) -> str:
        """`data.kind`, or the code's name."""
        if isinstance(self.data, dict) and isinstance(self.data.get("kind"), str):
            return str(self.data["kind"])
        try:
            return ErrorCode(self.code).kind
        except ValueError:
            return str(self.code)


_response_decoder = msgspec.json.Decoder(Incoming)
_encoder = msgspec.json.Encoder()


class Client:
    """NDJSON over a blocking Unix socket; one request at a time."""

    def __init__(self, sock: socket.socket, path: Path) -> None:
        self._sock = sock
        self.path = path
        self._buffer = b""
        self._ids = itertools.count(1)
        self.notifications: list[tuple[str, bytes]] = []

    @classmethod
    def connect(cls, path: Path, timeout: float | None = 60.0) -> Client:
        """Connect to the daemon at `path`.

        :raises DaemonUnavailableError: nothing listens there.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            sock.close()
            raise DaemonUnavailableError(
                f"no daemon at {path} ({exc.strerror or exc})"
            ) from exc
        return cls(sock, path)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settimeout(self, timeout: float | None) -> None:
        """Socket timeout for the next reads."""
        self._sock.settimeout(timeout)

    def call_raw(self, method: str, params: Any = None) -> bytes:
        """Send one request; the raw JSON of its result.

        :raises RemoteError: the daemon answered with an error.
        :raises DaemonUnavailableError: the connection broke.
        """
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        try:
            self._sock.sendall(_encoder.encode(message) + b"\n")
        except OSError as exc:
            raise DaemonUnavailableError(
                f"connection to {self.path} broke: {exc}"
            ) from exc
        while True:
            response = _response_decoder.decode(self._read_line())
            if response.method is not None and response.is_notification:
                self.notifications.append((response.method, bytes(response.params)))
                continue
            if response.id != request_id:
                continue
            if response.error is not None:
                error = response.error
                raise RemoteError(
                    int(error.get("code", -32603)),
                    str(error.get("message", "")),
                    error.get("data"),
                )
            return bytes(response.result)

    def call(self, method: Method[Any, R], params: Any = None) -> R:
        """A typed call through the protocol's method table."""
        raw = self.call_raw(
            method.name, msgspec.to_builtins(params) if params is not None else None
        )
        return msgspec.json.decode(raw, type=method.result)

    def next_notification(self) -> tuple[str, bytes]:
        """Block until the daemon sends a notification; (method, params)."""
        if self.notifications:
            return self.notifications.pop(0)
        while True:
            response = _response_decoder.decode(self._read_line())
            if response.method is not None:
                return response.method, bytes(response.params)

    def _read_line(self) -> bytes:
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line, self._buffer = self._buffer[:newline], self._buffer[newline + 1 :]
                if line.strip():
                    return line
                continue
            try:
                chunk = self._sock.recv(1 << 20)
            except TimeoutError:
                raise
            except OSError as exc:
                raise DaemonUnavailableError(
                    f"connection to {self.path} broke: {exc}"
                ) from exc
            if not chunk:
                raise DaemonUnavailableError(
                    f"the daemon at {self.path} closed the connection"
                )
            self._buffer += chunk


def connect_or_start(
    socket_path: Path,
    state_dir: Path,
    *,
    start: bool = True,
    config_path: str | None = None,
) -> Client:
    """A connected client; starts a background daemon when none answers.

    A lock in the state dir keeps two clients from starting two daemons.

    :raises DaemonUnavailableError: no daemon, and starting one failed.
    """
    try:
        return Client.connect(socket_path)
    except DaemonUnavailableError:
        if not start:
            raise
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "daemon.log"
    with open(state_dir / "autostart.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:  # somebody else may have started it while we waited for the lock
            return Client.connect(socket_path)
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
                client.settimeout(60)
                return client
            except (DaemonUnavailableError, RemoteError, OSError):
                time.sleep(0.05)
        raise DaemonUnavailableError(
            f"the daemon did not answer within {START_TIMEOUT_S:g} s; see {log_path}"
        )


def _spawn_daemon(
    socket_path: Path, state_dir: Path, log_path: Path, config_path: str | None
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "axd.daemon",
        "--socket",
        str(socket_path),
        "--state-dir",
        str(state_dir),
    ]
    if config_path:
        command += ["--config", config_path]
    env = dict(os.environ)
    env.setdefault("AXD_LOG_FORMAT", "json")
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,  # detached: survives the client's terminal
            close_fds=True,
        )


def is_refused(exc: OSError) -> bool:
    """Whether a connect error means "nobody listens" (vs. a real fault)."""
    return exc.errno in (errno.ECONNREFUSED, errno.ENOENT)
