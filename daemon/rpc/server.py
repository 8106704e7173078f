"""The Unix-socket server: listening, connections, framing, backpressure.

Each connection picks its framing from its first bytes, answers up to
`max_inflight_per_connection` requests at once (out of order), and writes
through one bounded outbox drained by a writer task: a client that stops
reading blocks its own requests, and a subscriber whose notification buffer
fills up is disconnected rather than buffered without bound.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import socket
import stat
from typing import IO, TYPE_CHECKING

import anyio
import anyio.abc
import structlog

from axd.protocol.errors import ErrorCode
from axd.protocol.framing import (
    Broken,
    Framing,
    Message,
    Oversized,
    detect_framing,
    encode,
    make_decoder,
)
from axd.protocol.jsonrpc import (
    Call,
    Invalid,
    encode_error,
    encode_notification,
    parse_message,
)

Parsed = list[Call | Invalid] | Call | Invalid

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from axd.daemon.config import ServerConfig
    from axd.daemon.rpc.dispatch import Registry

log = structlog.get_logger()

READ_SIZE = 256 * 1024
# Notifications a slow subscriber may have waiting before it is dropped.
OUTBOX_MESSAGES = 1024


class AlreadyRunningError(Exception):
    """Another daemon is listening on the socket (or holds its lock)."""


class SocketPathError(Exception):
    """The socket path cannot be used (not a socket, bad permissions...)."""


class Connection:
    """One client connection: its framing, outbox and in-flight requests."""

    _ids = itertools.count(1)

    def __init__(self, stream: anyio.abc.ByteStream, server: Server) -> None:
        self.connection_id = next(self._ids)
        self._stream = stream
        self._server = server
        self._framing: Framing = "ndjson"
        self._outbox_tx, self._outbox_rx = anyio.create_memory_object_stream[bytes](
            OUTBOX_MESSAGES
        )
        self._close_callbacks: list[Callable[[], None]] = []
        self._closed = False
        self._scope: anyio.CancelScope | None = None
        # Messages handed to the outbox and not yet written to the socket: a
        # graceful stop waits for this to reach zero.
        self._pending = 0

    # -- the Peer protocol -------------------------------------------------------

    def notify(self, method: str, params: bytes) -> bool:
        """Queue a notification; a full buffer drops this connection."""
        if self._closed:
            return False
        try:
            self._outbox_tx.send_nowait(
                encode(self._framing, encode_notification(method, params))
            )
            self._pending += 1
        except anyio.WouldBlock:
            log.warning(
                "subscriber_dropped",
                connection=self.connection_id,
                reason="buffer full",
            )
            self.close()
            return False
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            return False
        return True

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` once when the connection ends."""
        if self._closed:
            callback()
        else:
            self._close_callbacks.append(callback)

    def close(self) -> None:
        """End the connection: cancel its tasks, run its close callbacks."""
        if self._closed:
            return
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("close_callback_failed", connection=self.connection_id)

    def queued_output(self) -> int:
        """Messages waiting in the outbox."""
        return self._pending

    # -- serving --------------------------------------------------------------------

    async def serve(self) -> None:
        """Read, dispatch and answer until the client goes or we stop."""
        config = self._server.config
        registry = self._server.registry
        limiter = anyio.Semaphore(config.max_inflight_per_connection)
        try:
            async with anyio.create_task_group() as tg:
                self._scope = tg.cancel_scope
                if self._closed:
                    tg.cancel_scope.cancel()
                tg.start_soon(self._write_loop)
                first = await self._read_first()
                if first is None:
                    return
                framing, data = first
                self._framing = framing
                decoder = make_decoder(framing, config.max_message_bytes)
                while True:
                    for frame in decoder.feed(data):
                        if isinstance(frame, Message):
                            parsed = parse_message(frame.body)
                            await limiter.acquire()
                            if registry.is_instant(parsed):
                                # Answers from memory: no task needed.
                                await self._answer(parsed, limiter)
                            else:
                                tg.start_soon(self._answer, parsed, limiter)
                        elif isinstance(frame, Oversized):
                            message = (
                                f"message of {frame.size} bytes exceeds max_message_bytes "
                                f"({config.max_message_bytes}); it was discarded"
                            )
                            await self._send(
                                encode_error(None, ErrorCode.INVALID_REQUEST, message)
                            )
                        elif isinstance(frame, Broken):
                            await self._send(
                                encode_error(
                                    None,
                                    ErrorCode.PARSE_ERROR,
                                    f"unreadable framing: {frame.reason}",
                                )
                            )
                            await self._outbox_tx.aclose()
                            return
                    try:
                        data = await self._stream.receive(READ_SIZE)
                    except (
                        anyio.EndOfStream,
                        anyio.BrokenResourceError,
                        anyio.ClosedResourceError,
                    ):
                        break
                # The client finished sending: answer what is in flight, then close.
                await self._drain_inflight(limiter)
                await self._outbox_tx.aclose()
        finally:
            self.close()
            self._outbox_tx.close()
            self._outbox_rx.close()
            with anyio.CancelScope(shield=True):
                await self._stream.aclose()

    async def _drain_inflight(self, limiter: anyio.Semaphore) -> None:
        for _ in range(self._server.config.max_inflight_per_connection):
            await limiter.acquire()

    async def _read_first(self) -> tuple[Framing, bytes] | None:
        data = b""
        while True:
            try:
                data += await self._stream.receive(READ_SIZE)
            except (
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
            ):
                return None
            framing = detect_framing(data)
            if framing is not None:
                return framing, data
            data = b""  # only whitespace so far: nothing worth keeping

    async def _answer(self, parsed: Parsed, limiter: anyio.Semaphore) -> None:
        # Counted until the reply is queued, so a graceful stop waits for it.
        self._server.inflight += 1
        try:
            reply = await self._server.registry.handle_parsed(parsed, self)
            if reply is not None:
                await self._send(reply)
        finally:
            self._server.inflight -= 1
            limiter.release()

    async def _send(self, body: bytes) -> None:
        self._pending += 1
        try:
            await self._outbox_tx.send(encode(self._framing, body))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._pending -= 1

    async def _write_loop(self) -> None:
        try:
            async with self._outbox_rx:
                async for payload in self._outbox_rx:
                    # Coalesce what is already queued into one write.
                    parts = [payload]
                    while len(parts) < 64:
                        try:
                            parts.append(self._outbox_rx.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    await self._stream.send(b"".join(parts))
                    self._pending -= len(parts)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        self._pending = 0
        self.close()


class Server:
    """Accepts connections on a Unix socket and serves them."""

    def __init__(
        self, config: ServerConfig, registry: Registry, socket_path: Path
    ) -> None:
        self.config = config
        self.registry = registry
        self.socket_path = socket_path
        self.connections: set[Connection] = set()
        self.inflight = 0  # requests being answered, until their reply is queued
        self._lock_file: IO[bytes] | None = None
        self._listener: anyio.abc.SocketListener | None = None
        self.accepting = anyio.Event()
        self._owns_path = True

    def pending_output(self) -> bool:
        """Whether any connection still has replies queued to write."""
        return any(c.queued_output() for c in self.connections)

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return len(self.connections)

    def claim_socket(self, *, inherited: bool = False) -> None:
        """Lock and prepare the socket path (0700 directory; stale file gone).

        :raises AlreadyRunningError: another daemon holds the lock or listens.
        :raises SocketPathError: the path exists and is not a socket.
        """
        directory = self.socket_path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            os.chmod(directory, 0o700)
        except PermissionError as exc:
            raise SocketPathError(
                f"cannot make {directory} private (mode 0700): {exc.strerror}"
            ) from exc
        lock_path = self.socket_path.with_name(self.socket_path.name + ".lock")
        lock_file = open(lock_path, "a+b")  # noqa: SIM115 - held for the daemon's lifetime
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            lock_file.seek(0)
            owner = lock_file.read().decode(errors="replace").strip() or "unknown"
            lock_file.close()
            raise AlreadyRunningError(
                f"another axd daemon (pid {owner}) is serving {self.socket_path}"
            ) from exc
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(str(os.getpid()).encode())
        lock_file.flush()
        self._lock_file = lock_file
        # A socket systemd passed us is listening at this path already, and
        # it is systemd's to keep: neither a stale file nor ours to remove.
        self._owns_path = not inherited
        if inherited:
            return
        try:
            self._remove_stale_socket()
        except BaseException:
            self.release()
            raise

    def _remove_stale_socket(self) -> None:
        if self.socket_path.exists() or self.socket_path.is_symlink():
            mode = self.socket_path.lstat().st_mode
            if not stat.S_ISSOCK(mode):
                raise SocketPathError(
                    f"{self.socket_path} exists and is not a socket; not replacing it"
                )
            if _someone_listens(self.socket_path):
                raise AlreadyRunningError(
                    f"another process is listening on {self.socket_path}"
                )
            log.info("stale_socket_replaced", path=str(self.socket_path))
            self.socket_path.unlink()

    async def listen(
        self, inherited: socket.socket | None = None
    ) -> anyio.abc.SocketListener:
        """Bind (or adopt a socket-activated listener) with mode 0600."""
        listener: anyio.abc.SocketListener
        if inherited is not None:
            listener = await anyio.abc.SocketListener.from_socket(inherited)
        else:
            listener = await anyio.create_unix_listener(
                self.socket_path, mode=0o600, backlog=512
            )
        self._listener = listener
        return listener

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Accept connections until cancelled."""
        assert self._listener is not None, "listen() first"
        async with anyio.create_task_group() as tg:
            self.accepting.set()
            task_status.started()
            while True:
                if self._listener is None:
                    return
                try:
                    stream = await self._listener.accept()
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return  # stop_accepting() closed the listener
                except OSError as exc:
                    if exc.errno in (errno.EMFILE, errno.ENFILE):
                        log.warning("accept_failed", error=exc.strerror)
                        await anyio.sleep(0.1)
                        continue
                    raise
                tg.start_soon(self._handle, stream)

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        if self.registry.shutting_down:
            await _refuse(stream, ErrorCode.SHUTTING_DOWN, "the daemon is stopping")
            return
        if len(self.connections) >= self.config.max_connections:
            message = f"too many connections (max_connections = {self.config.max_connections}); retry later"
            await _refuse(stream, ErrorCode.OVERLOADED, message)
            return
        connection = Connection(stream, self)
        self.connections.add(connection)
        try:
            await connection.serve()
        finally:
            self.connections.discard(connection)

    async def stop_accepting(self) -> None:
        """Close the listening socket and remove its path."""
        if self._listener is not None:
            with anyio.CancelScope(shield=True):
                await self._listener.aclose()
            self._listener = None
        if not self._owns_path:
            return
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    def release(self) -> None:
        """Drop the daemon lock (after the socket path is gone)."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


async def _refuse(
    stream: anyio.abc.SocketStream, code: ErrorCode, message: str
) -> None:
    with anyio.move_on_after(2):
        try:
            await stream.send(encode("ndjson", encode_error(None, code, message)))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
    with anyio.CancelScope(shield=True):
        await stream.aclose()


def _someone_listens(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True
