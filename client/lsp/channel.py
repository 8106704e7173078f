"""`axd lsp`'s connection to the daemon: an asyncio protocol, many calls in flight.

`AsyncClient` (anyio) costs ~0.3 ms of CPU per call on this path: an anyio
lock and memory stream per call, and a socket read that registers and
unregisters the descriptor with epoll every time. An editor's request is one
or two daemon calls, so `axd lsp` talks to the daemon through asyncio's own
transport instead: the socket stays registered, a response completes a
future, and the request/response encoding and error wording are
`axd.client.exchange`'s, shared with the other clients.

Notifications are handed to `on_notification` as soon as their line is read,
in the order the daemon sent them and before any response read after them
completes its call: a caller that gets a result has seen every notification
that preceded it.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any, TypeVar

from axd.client import exchange

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from axd.protocol.jsonrpc import Incoming
    from axd.protocol.methods import Method

P = TypeVar("P")
R = TypeVar("R")


class Channel(asyncio.Protocol):
    """NDJSON requests on a Unix socket; responses matched to calls by id."""

    def __init__(
        self, path: Path, on_notification: Callable[[str, bytes], None]
    ) -> None:
        self.path = path
        self._on_notification = on_notification
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Incoming]] = {}
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._lost: exchange.DaemonUnavailableError | None = None

    @classmethod
    async def connect(
        cls, path: Path, on_notification: Callable[[str, bytes], None]
    ) -> Channel:
        """Open a connection.

        :raises DaemonUnavailableError: nothing listens at `path`.
        """
        channel = cls(path, on_notification)
        loop = asyncio.get_running_loop()
        try:
            await loop.create_unix_connection(lambda: channel, str(path))
        except OSError as exc:
            raise exchange.no_daemon(path, exc) from exc
        return channel

    async def call(self, method: Method[P, R], params: P | None = None) -> R:
        """A typed call through the protocol's method table.

        :raises RemoteError: the daemon answered with an error.
        :raises DaemonUnavailableError: the connection is (or got) closed.
        """
        raw = await self.call_raw(method.name, params)
        return exchange.decode_result(method, raw)

    async def call_raw(self, method: str, params: Any = None) -> bytes:
        """One request; the raw JSON of its result."""
        transport = self._transport
        if self._lost is not None or transport is None or transport.is_closing():
            raise self._lost or exchange.connection_lost(self.path)
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            transport.write(exchange.encode_request(request_id, method, params))
            response = await future
        finally:
            self._waiting.pop(request_id, None)
        return exchange.result_of(response)

    def close(self) -> None:
        """Close the connection; calls in flight fail."""
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if b"\n" not in data:
            return
        *lines, rest = buffer.split(b"\n")
        self._buffer = bytearray(rest)
        for line in lines:
            if not line.strip():
                continue
            try:
                message = exchange.decode_message(bytes(line))
            except exchange.ProtocolError as exc:
                self._fail(exchange.DaemonUnavailableError(str(exc)))
                self.close()
                return
            self._dispatch(message)

    def connection_lost(self, exc: Exception | None) -> None:
        cause = exc if isinstance(exc, OSError) else None
        self._fail(exchange.connection_lost(self.path, cause))

    def _dispatch(self, message: Incoming) -> None:
        if message.is_notification:
            assert message.method is not None
            self._on_notification(message.method, bytes(message.params))
            return
        if isinstance(message.id, int):
            future = self._waiting.get(message.id)
            if future is not None and not future.done():
                future.set_result(message)

    def _fail(self, error: exchange.DaemonUnavailableError) -> None:
        if self._lost is None:
            self._lost = error
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)
