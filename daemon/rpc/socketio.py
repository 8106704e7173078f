"""A connection's socket read and written without a wake-up per call.

anyio's Unix socket stream registers the socket with the event loop for
every read that has to wait and removes it after (two `epoll_ctl` calls,
and asyncio formats the socket's repr, two more system calls, on each
registration), yields to the loop once before every read and every write,
and a write queued for a writer task costs one more loop turn. For a small
request answered from memory that was most of its round trip
(`perf/RESULTS.md`, "#13: the socket latency of flags.evaluate").

`SocketIO` keeps the socket registered for reading while its connection
reads, reads it directly, and lets the connection write a reply straight
to the socket when nothing is queued before it. It needs the asyncio
backend (the daemon's); `attach` returns None elsewhere and the connection
keeps using the anyio stream.
"""

from __future__ import annotations

import asyncio
import socket

import anyio
import anyio.abc
import anyio.lowlevel


class SocketIO:
    """Direct reads and writes on one connection's non-blocking socket.

    Readiness: the socket stays registered while the connection keeps
    reading. The loop polls level-triggered, so a readable socket nobody is
    waiting on would call back on every loop turn: then the callback
    unregisters it, and the next wait registers it again.
    """

    __slots__ = ("_closed", "_fd", "_loop", "_registered", "_sock", "_waiter")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = loop
        self._waiter: asyncio.Future[None] | None = None
        self._registered = False
        self._closed = False

    @classmethod
    def attach(cls, stream: anyio.abc.ByteStream) -> SocketIO | None:
        """Direct access to `stream`'s socket; None when it cannot be had
        (not a socket, a blocking one, another backend than asyncio)."""
        raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
        if not isinstance(raw, socket.socket) or raw.gettimeout() != 0.0:
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        if raw.fileno() < 0:
            return None
        return cls(raw, loop)

    async def receive(self, max_bytes: int) -> bytes | None:
        """The next bytes from the peer; None at its end of stream or when
        the socket failed (the same cases the anyio stream reports as
        `EndOfStream`, `BrokenResourceError` or `ClosedResourceError`).

        Yields to the loop once when the bytes were there already, as the
        anyio stream does: a client that keeps its socket full does not
        keep the others waiting.
        """
        waited = False
        while True:
            if self._closed:
                return None
            try:
                data = self._sock.recv(max_bytes)
            except BlockingIOError:
                await self._readable()
                waited = True
                continue
            except OSError:
                return None
            if not waited:
                await anyio.lowlevel.checkpoint()
            return data or None

    @property
    def watching(self) -> bool:
        """Whether the event loop polls the socket for this reader now."""
        return self._registered

    def try_send(self, data: bytes | memoryview) -> int:
        """Write what the socket takes now without waiting; bytes written.

        :raises OSError: the peer is gone (EPIPE, ECONNRESET...).
        """
        if self._closed:
            raise BrokenPipeError("connection closed")
        try:
            return self._sock.send(data)
        except BlockingIOError:
            return 0

    def close(self) -> None:
        """Stop watching the socket (before it is closed); wake a reader."""
        self._closed = True
        self._unregister()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _readable(self) -> None:
        if not self._registered:
            # The descriptor, not the socket: asyncio formats the key's repr
            # on every registration, and a socket's repr asks the kernel.
            self._loop.add_reader(self._fd, self._on_readable)
            self._registered = True
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _on_readable(self) -> None:
        waiter = self._waiter
        if waiter is None:
            self._unregister()  # nobody reads now: stop polling (see class doc)
        elif not waiter.done():
            waiter.set_result(None)
        # else: the reader is woken already and has not run yet

    def _unregister(self) -> None:
        if self._registered:
            self._registered = False
            self._loop.remove_reader(self._fd)
