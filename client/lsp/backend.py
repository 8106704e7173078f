"""The daemon behind `axd lsp`: pooled blocking connections, used from threads.

The CLI's blocking client answers one request per connection at a time, so
each LSP request borrows an idle connection (or opens one) inside a worker
thread; pygls' event loop never waits on the socket. A connection that breaks
means the daemon went away: every idle connection is dropped, one reconnect is
tried (starting a daemon as the CLI does, unless `--no-start`), the workspace
folders are added again, and the request is retried once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from axd.client.connection import (
    Client,
    DaemonUnavailableError,
    RemoteError,
    connect_or_start,
)
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from axd.protocol.methods import Method

R = TypeVar("R")

# After a failed auto-start, calls fail fast for this long instead of each one
# trying to start a daemon again (a start can take seconds). Without auto-start
# a refused connect costs microseconds, so every call tries.
RETRY_AFTER_S = 1.0


class Backend:
    """Typed daemon calls for async code, run in a small thread pool."""

    def __init__(
        self,
        socket_path: Path,
        state_dir: Path,
        *,
        start: bool,
        config_path: str | None,
        threads: int = 4,
    ) -> None:
        self.socket_path = socket_path
        self._state_dir = state_dir
        self._start = start
        self._config_path = config_path
        self._idle: list[Client] = []
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="axd-lsp")
        self.roots: list[str] = []  # daemon roots added for the client's folders

    async def call(self, method: Method[Any, R], params: Any = None) -> tuple[R, bool]:
        """Call `method`; (result, whether a reconnect was needed first).

        :raises DaemonUnavailableError: no daemon, even after reconnecting.
        :raises RemoteError: the daemon answered with an error.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, method, params)

    async def add_folders(self, folders: list[str]) -> list[str]:
        """`workspace.add` each folder; the daemon's resolved roots."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._add_folders, folders)

    def close(self) -> None:
        """Close every connection and the thread pool."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()

    # -- in worker threads -----------------------------------------------------

    def _call(self, method: Method[Any, R], params: Any) -> tuple[R, bool]:
        client, reconnected = self._borrow(), False
        try:
            result = client.call(method, params)
        except DaemonUnavailableError:
            client.close()
            self._drop_idle()
            client, reconnected = self._reconnect(), True
            try:
                result = client.call(method, params)
            except BaseException:
                client.close()
                raise
        except RemoteError:
            self._give_back(client)  # an error answer leaves the connection usable
            raise
        except BaseException:
            client.close()  # a timeout or a decode error: the stream is unknown
            raise
        self._give_back(client)
        return result, reconnected

    def _add_folders(self, folders: list[str]) -> list[str]:
        roots: list[str] = []
        for folder in folders:
            try:
                added, _ = self._call(
                    m.WORKSPACE_ADD, t.WorkspaceAddParams(root=folder)
                )
            except RemoteError:
                continue  # e.g. the folder vanished: serve the others
            roots.append(added.root)
        self.roots = roots
        return roots

    def _borrow(self) -> Client:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give_back(self, client: Client) -> None:
        with self._lock:
            self._idle.append(client)

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for client in idle:
            client.close()

    def _connect(self) -> Client:
        failed_at = self._failed_at
        recent = failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER_S
        if recent and self._start:
            raise DaemonUnavailableError(f"no daemon at {self.socket_path}")
        try:
            client = connect_or_start(
                self.socket_path,
                self._state_dir,
                start=self._start,
                config_path=self._config_path,
            )
        except DaemonUnavailableError:
            self._failed_at = time.monotonic()
            raise
        if failed_at is not None:
            self._add_roots(client)  # the daemon is back, maybe a new one
        self._failed_at = None
        return client

    def _reconnect(self) -> Client:
        self._failed_at = None  # a broken connection is news: try at once
        client = self._connect()
        self._add_roots(client)
        return client

    def _add_roots(self, client: Client) -> None:
        # A restarted daemon resumes persisted workspaces; adding again is
        # harmless and covers one started with a fresh state dir.
        for root in list(self.roots):
            try:
                client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=root))
            except RemoteError:
                pass


def announce_once() -> Callable[[bool], bool]:
    """A latch for outage messages: true the first time in each outage.

    Call it with `failed=True` when a call failed or needed a reconnect, and
    `failed=False` after a plain success (which ends the outage).
    """
    announced = False

    def latch(failed: bool) -> bool:
        nonlocal announced
        if not failed:
            announced = False
            return False
        first = not announced
        announced = True
        return first

    return latch
