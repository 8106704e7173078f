"""A real `axd daemon` subprocess for benchmarks: temporary socket, stopped
on exit, with the few calls benchmarks need."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, Self

from axd.client.connection import Client, RemoteError

if TYPE_CHECKING:
    from pathlib import Path

TIMEOUT = -32008


class Daemon:
    """`python -m axd.daemon` on `base/axd.sock` with state in `state`."""

    def __init__(
        self,
        base: Path,
        state: Path,
        *,
        call_timeout: float = 3600,
        start_timeout: float = 300,
    ) -> None:
        self.socket = base / "axd.sock"
        self.call_timeout = call_timeout
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "axd.daemon", "--socket", str(self.socket),
             "--state-dir", str(state), "--metrics-addr", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # The socket answers once every workspace is open (a large index's
        # quick_check at open can take minutes on a loaded machine).
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                self.client = self.connect()
                self.client.call_raw("server.info")
                break
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def connect(self) -> Client:
        """Another connection to the daemon."""
        return Client.connect(self.socket, timeout=self.call_timeout)

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One call on the main connection; the decoded result."""
        return json.loads(self.client.call_raw(method, params))

    def wait(self, root: str) -> Any:
        """`index.wait` until ready (one request is capped at 60 s by the server)."""
        while True:
            try:
                return self.call("index.wait", {"root": root, "timeout_s": 45})
            except RemoteError as exc:
                if exc.code != TIMEOUT:
                    raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
