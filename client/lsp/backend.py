"""The daemon behind `axd lsp`: one asyncio connection, many calls in flight.

Calls go through a `Channel` (an asyncio protocol on pygls' event loop), so a
request costs no thread hop: the event loop awaits the socket and is never
blocked by it. A connection that breaks means the daemon went away: one
reconnect is tried (starting a daemon as the CLI does, in a thread since that
code blocks, unless `--no-start`), the workspace folders are added again, and
the request is retried once.

Index changes: each root the server answers for is subscribed to
`index.changed` (`watch`), so that caches of file contents (`LineCache`) are
dropped exactly when the daemon re-indexes a file instead of being checked
with a `stat` per result. Notifications are applied as soon as they are read,
before any response read after them, so a result is never converted with a
cache entry that a notification preceding it had dropped. A new connection means notifications may have been missed: `on_reset` then,
and the roots are subscribed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from axd.client.connection import connect_or_start
from axd.client.exchange import DaemonUnavailableError, RemoteError
from axd.client.lsp.channel import Channel
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from axd.protocol.methods import Method

R = TypeVar("R")

log = logging.getLogger(__name__)

# A connection the daemon closed (the channel reports it as such).
BROKEN = DaemonUnavailableError

# After a failed auto-start, calls fail fast for this long instead of each one
# trying to start a daemon again (a start can take seconds). Without auto-start
# a refused connect costs microseconds, so every call tries.
RETRY_AFTER_S = 1.0


class Backend:
    """Typed daemon calls for pygls' handlers, with reconnection."""

    def __init__(
        self,
        socket_path: Path,
        state_dir: Path,
        *,
        start: bool,
        config_path: str | None,
    ) -> None:
        self.socket_path = socket_path
        self._state_dir = state_dir
        self._start = start
        self._config_path = config_path
        self._client: Channel | None = None
        self._connecting = asyncio.Lock()
        self._failed_at: float | None = None
        self.roots: list[str] = []  # daemon roots added for the client's folders
        self._wanted: set[str] = set()  # roots to subscribe on every connection
        self.watching: set[str] = set()  # roots subscribed on this connection
        self.on_change: Callable[[str, list[str]], None] = _ignore_change
        self.on_reset: Callable[[], None] = _ignore_reset

    async def call(self, method: Method[Any, R], params: Any = None) -> tuple[R, bool]:
        """Call `method`; (result, whether a reconnect was needed first).

        :raises DaemonUnavailableError: no daemon, even after reconnecting.
        :raises RemoteError: the daemon answered with an error.
        """
        client = self._client or await self._connect(broken=None)
        try:
            result = await client.call(method, params)
        except BROKEN:
            client = await self._connect(broken=client)
        else:
            return result, False
        try:
            result = await client.call(method, params)
        except BROKEN as exc:
            raise DaemonUnavailableError(f"no daemon at {self.socket_path}") from exc
        return result, True

    async def watch(self, root: str) -> None:
        """Report `root`'s index changes to `on_change`, now and after reconnects."""
        self._wanted.add(root)
        client = self._client
        if client is not None and root not in self.watching:
            await self._subscribe(client, root)

    async def _subscribe(self, client: Channel, root: str) -> None:
        params = t.SubscribeParams(root=root, events=["index.changed"])
        try:
            await client.call(m.SUBSCRIBE, params)
        except (RemoteError, BROKEN):
            return  # not watched: its files are checked with `stat` instead
        if client is self._client:
            self.watching.add(root)

    def _notified(self, method: str, params: bytes) -> None:
        if method != "index.changed":
            return
        try:
            note = _INDEX_CHANGED.decode(params)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("unreadable index.changed notification: dropping caches")
            self.on_reset()
            return
        self.on_change(note.root, [change.path for change in note.changes])

    async def close(self) -> None:
        """Close the connection."""
        await self._drop()

    async def _connect(self, broken: Channel | None) -> Channel:
        async with self._connecting:  # concurrent callers share one reconnect
            if self._client is not None and self._client is not broken:
                return self._client
            recovering = broken is not None or self._failed_at is not None
            await self._drop()
            failed_at = self._failed_at
            recent = (
                failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER_S
            )
            if recent and self._start and broken is None:
                raise DaemonUnavailableError(f"no daemon at {self.socket_path}")
            try:
                client = await self._open()
            except DaemonUnavailableError:
                self._failed_at = time.monotonic()
                raise
            self._failed_at = None
            if recovering:
                await self._add_roots(client)
            self.on_reset()  # changes made while disconnected were not reported
            for root in sorted(self._wanted):
                await self._subscribe(client, root)
            return client

    async def _open(self) -> Channel:
        try:
            client = await Channel.connect(self.socket_path, self._notified)
        except DaemonUnavailableError:
            if not self._start:
                raise
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._start_daemon)
            client = await Channel.connect(self.socket_path, self._notified)
        self._client = client
        return client

    def _start_daemon(self) -> None:
        """The CLI's auto-start (blocking: it waits for the daemon to answer)."""
        connect_or_start(
            self.socket_path,
            self._state_dir,
            start=True,
            config_path=self._config_path,
        ).close()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        self.watching.clear()
        if client is not None:
            client.close()

    async def _add_roots(self, client: Channel) -> None:
        # A restarted daemon resumes persisted workspaces; adding again is
        # harmless and covers one started with a fresh state dir.
        for root in list(self.roots):
            with contextlib.suppress(RemoteError):
                await client.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=root))


def _ignore_change(root: str, paths: list[str]) -> None:
    """`on_change` until a cache is attached."""


def _ignore_reset() -> None:
    """`on_reset` until a cache is attached."""


_INDEX_CHANGED = msgspec.json.Decoder(t.IndexChanged)


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
