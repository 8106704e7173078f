"""An anyio JSON-RPC client: many calls in flight on one connection.

For editors' plugins written in Python, tests and benchmarks. (The `axd` CLI
uses the blocking client in `connection.py` to start faster.) Encoding and
error translation are `exchange.py`'s, shared with that client; callers bound
a call's time with `anyio.fail_after`.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio
import anyio.abc

from axd.client import exchange
from axd.protocol.jsonrpc import Incoming

if TYPE_CHECKING:
    from types import TracebackType

    from anyio.streams.memory import MemoryObjectSendStream

    from axd.protocol.methods import Method

P = TypeVar("P")
R = TypeVar("R")


class AsyncClient:
    """NDJSON over a Unix socket; responses matched to calls by id."""

    def __init__(self, stream: anyio.abc.ByteStream, path: Path) -> None:
        self._stream = stream
        self.path = path
        self._ids = itertools.count(1)
        self._waiting: dict[int, MemoryObjectSendStream[Incoming]] = {}
        self._write_lock = anyio.Lock()
        tx, rx = anyio.create_memory_object_stream[tuple[str, bytes]](math.inf)
        self._notes_tx, self.notifications = tx, rx
        self._tg: anyio.abc.TaskGroup | None = None

    @classmethod
    async def connect(cls, path: Path | str) -> AsyncClient:
        """Open a connection; use it as `async with`.

        :raises DaemonUnavailableError: nothing listens at `path`.
        """
        try:
            stream = await anyio.connect_unix(str(path))
        except OSError as exc:
            raise exchange.no_daemon(path, exc) from exc
        return cls(stream, Path(path))

    async def __aenter__(self) -> Self:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._read_loop)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            await self._stream.aclose()
            self._notes_tx.close()
            self.notifications.close()

    async def call_raw(self, method: str, params: Any = None) -> bytes:
        """One request; the raw JSON of its result.

        :raises RemoteError: the daemon answered with an error.
        :raises DaemonUnavailableError: the connection closed first.
        """
        request_id = next(self._ids)
        tx, rx = anyio.create_memory_object_stream[Incoming](1)
        self._waiting[request_id] = tx
        try:
            async with self._write_lock:
                await self._stream.send(
                    exchange.encode_request(request_id, method, params)
                )
            try:
                response = await rx.receive()
            except anyio.EndOfStream:
                raise exchange.connection_lost(self.path) from None
        finally:
            self._waiting.pop(request_id, None)
            tx.close()
            rx.close()
        return exchange.result_of(response)

    async def call(self, method: Method[P, R], params: P | None = None) -> R:
        """A typed call through the protocol's method table."""
        return exchange.decode_result(method, await self.call_raw(method.name, params))

    async def _read_loop(self) -> None:
        buffer = b""
        try:
            while True:
                try:
                    buffer += await self._stream.receive(1 << 20)
                except (
                    anyio.EndOfStream,
                    anyio.BrokenResourceError,
                    anyio.ClosedResourceError,
                ):
                    return
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._dispatch(exchange.decode_message(line))
        finally:
            for waiter in self._waiting.values():
                waiter.close()
            self._notes_tx.close()

    def _dispatch(self, message: Incoming) -> None:
        if message.method is not None and message.is_notification:
            self._notes_tx.send_nowait((message.method, bytes(message.params)))
            return
        if isinstance(message.id, int):
            waiter = self._waiting.get(message.id)
            if waiter is not None:
                try:
                    waiter.send_nowait(message)
                except (
                    anyio.WouldBlock,
                    anyio.BrokenResourceError,
                    anyio.ClosedResourceError,
                ):
                    pass
