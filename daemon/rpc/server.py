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
import select
import socket
import stat
from typing import IO, TYPE_CHECKING

import anyio
import anyio.abc
import structlog

from axd.daemon.permissions import (
    UnsafeDirectoryError,
    check_shared_dir,
    private_dir,
)
from axd.daemon.supervise import Fault, fault_kind, report_crash, unwrap
from axd.protocol.errors import ErrorCode
from axd.protocol.framing import (
    Broken,
    Decoder,
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
LISTEN_BACKLOG = 512
_SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux
# How often a half-closed client with work in flight is checked for having
# gone entirely (then its work is cancelled).
PEER_POLL_S = 0.1
# Bounds on the courtesy of a last error before a connection is closed.
LAST_WORD_S = 2.0
# A refused connection's input is read and dropped for this long (and up to
# this many bytes) so that closing it is a clean end of stream, not a reset.
REFUSE_DRAIN_S = 2.0
REFUSE_DRAIN_BYTES = 1 << 20
# How long a refused client has to show its framing before we answer.
REFUSE_SNIFF_S = 0.2


class AlreadyRunningError(Exception):
    """Another daemon is listening on the socket (or holds its lock)."""


class SocketPathError(Exception):
    """The socket path cannot be used (not a socket, bad permissions...)."""


class Connection:
    """One client connection: its framing, outbox and in-flight requests.

    Isolation by construction: whatever goes wrong while reading, decoding,
    dispatching or writing for this connection ends this connection only
    (`serve` never raises anything but cancellation), with a last -32700 or
    -32603 answer where the framing still allows one, one log line naming
    the connection and one `axd_connection_errors_total{kind}` count.
    """

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
        # True while a message is half written: no last word may follow.
        self._mid_write = False
        self._raw: socket.socket | None = _raw_socket(stream)

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

    def peer_gone(self) -> bool:
        """Whether the client has closed its end entirely (not just half-closed).

        A client that shuts down only its sending side (`nc -U`, `socat`
        at end of input) still reads its answers; one that closed the socket
        will never read them, so its work can be cancelled.
        """
        if self._raw is None or self._raw.fileno() < 0:
            return self._closed
        poller = select.poll()
        poller.register(self._raw.fileno(), select.POLLHUP)
        return any(
            events & (select.POLLHUP | select.POLLNVAL) for _, events in poller.poll(0)
        )

    # -- serving --------------------------------------------------------------------

    async def serve(self) -> None:
        """Read, dispatch and answer until the client goes or we stop.

        Never raises an exception (only cancellation passes through).
        """
        failure: BaseException | None = None
        try:
            try:
                await self._serve()
            except* Exception as group:  # noqa: BLE001 - isolation: see the class doc
                failure = group
            if failure is not None:
                self._server.connection_failed(self, failure)
                await self._last_word(failure)
        finally:
            self.close()
            self._outbox_tx.close()
            self._outbox_rx.close()
            with anyio.CancelScope(shield=True):
                await self._end_stream()

    async def _serve(self) -> None:
        config = self._server.config
        # Read-ahead: requests admitted from this connection, answered or not.
        admitted = anyio.Semaphore(config.max_inflight_per_connection)
        # Of those, how many run at once (fairness across connections).
        running = anyio.CapacityLimiter(config.max_concurrent_per_connection)
        async with anyio.create_task_group() as tg:
            self._scope = tg.cancel_scope
            if self._closed:
                tg.cancel_scope.cancel()
            tg.start_soon(self._write_loop)
            first = await self._read_first()
            if first is None:
                await self._outbox_tx.aclose()
                return
            framing, data = first
            self._framing = framing
            decoder = make_decoder(framing, config.max_message_bytes)
            chunk: bytes | None = data
            while chunk is not None:
                if not await self._take(decoder, chunk, tg, admitted, running):
                    break  # unreadable framing: answer what is in flight, close
                chunk = await self._receive()
            if self.peer_gone():
                # Nobody will read the answers: stop the work for them now.
                log.debug("client_vanished", connection=self.connection_id)
                tg.cancel_scope.cancel()
                return
            # Half-closed: answer what is in flight, then close; stop early if
            # the client goes away meanwhile.
            watch = anyio.CancelScope()
            tg.start_soon(self._watch_peer, watch)
            await self._drain_inflight(admitted)
            watch.cancel()
            await self._outbox_tx.aclose()

    async def _take(
        self,
        decoder: Decoder,
        data: bytes,
        tg: anyio.abc.TaskGroup,
        admitted: anyio.Semaphore,
        running: anyio.CapacityLimiter,
    ) -> bool:
        """Frame, parse and start answering `data`; False: close the connection."""
        config = self._server.config
        registry = self._server.registry
        try:
            frames = decoder.feed(data)
        except Exception as exc:
            raise Fault("decode", exc) from exc
        for frame in frames:
            if isinstance(frame, Message):
                try:
                    parsed = parse_message(
                        frame.body,
                        max_depth=config.max_nesting_depth,
                        max_batch=config.max_batch,
                    )
                except Exception as exc:
                    raise Fault("decode", exc) from exc
                await admitted.acquire()
                if registry.is_instant(parsed):
                    # Answers from memory: no task needed.
                    await self._answer(parsed, admitted, running)
                else:
                    tg.start_soon(self._answer, parsed, admitted, running)
            elif isinstance(frame, Oversized):
                message = (
                    f"message of {frame.size} bytes exceeds max_message_bytes "
                    f"({config.max_message_bytes}); it was discarded"
                )
                await self._send(encode_error(None, ErrorCode.INVALID_REQUEST, message))
            elif isinstance(frame, Broken):
                reason = f"unreadable framing: {frame.reason}"
                await self._send(encode_error(None, ErrorCode.PARSE_ERROR, reason))
                return False
        return True

    async def _receive(self) -> bytes | None:
        """The next bytes from the client; None at its end of stream."""
        try:
            return await self._stream.receive(READ_SIZE)
        except (
            anyio.EndOfStream,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ):
            return None
        except Exception as exc:
            raise Fault("read", exc) from exc

    async def _watch_peer(self, scope: anyio.CancelScope) -> None:
        with scope:
            # No event says "the peer closed" while we are not reading.
            while not self.peer_gone():  # noqa: ASYNC110
                await anyio.sleep(PEER_POLL_S)
            log.debug("client_vanished", connection=self.connection_id)
            self.close()

    async def _drain_inflight(self, admitted: anyio.Semaphore) -> None:
        for _ in range(self._server.config.max_inflight_per_connection):
            await admitted.acquire()

    async def _read_first(self) -> tuple[Framing, bytes] | None:
        while True:
            data = await self._receive()
            if data is None:
                return None
            framing = detect_framing(data)
            if framing is not None:
                return framing, data
            # only whitespace so far: nothing worth keeping

    async def _answer(
        self,
        parsed: Parsed,
        admitted: anyio.Semaphore,
        running: anyio.CapacityLimiter,
    ) -> None:
        # Counted until the reply is queued, so a graceful stop waits for it.
        self._server.inflight += 1
        try:
            registry = self._server.registry
            if isinstance(parsed, list):
                reply = await registry.handle_parsed(parsed, self, limiter=running)
            elif registry.is_instant(parsed):
                reply = await registry.handle_parsed(parsed, self)
            else:
                async with running:
                    reply = await registry.handle_parsed(parsed, self)
            if reply is not None:
                await self._send(reply)
        except Exception as exc:
            request_id = parsed.id if isinstance(parsed, Call) else None
            raise Fault(
                "dispatch",
                exc,
                reply=encode_error(
                    request_id, ErrorCode.INTERNAL_ERROR, "internal error"
                ),
            ) from exc
        finally:
            self._server.inflight -= 1
            admitted.release()

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
                    self._mid_write = True
                    await self._stream.send(b"".join(parts))
                    self._mid_write = False
                    self._pending -= len(parts)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # the client went away: nothing to write to
        except Exception as exc:
            raise Fault("write", exc) from exc
        finally:
            self._pending = 0
            self.close()

    async def _last_word(self, failure: BaseException) -> None:
        """Tell the client why its connection ends, if the framing allows."""
        leaf = unwrap(failure)
        kind = leaf.kind if isinstance(leaf, Fault) else "internal"
        if kind in ("read", "write") or self._mid_write:
            return  # the stream itself failed, or a message is half written
        reply = leaf.reply if isinstance(leaf, Fault) else None
        if reply is None:
            code = (
                ErrorCode.PARSE_ERROR if kind == "decode" else ErrorCode.INTERNAL_ERROR
            )
            text = "parse error" if kind == "decode" else "internal error"
            reply = encode_error(None, code, f"{text}; closing the connection")
        with anyio.move_on_after(LAST_WORD_S, shield=True):
            try:
                await self._stream.send(encode(self._framing, reply))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                pass

    async def _end_stream(self) -> None:
        """Close so the client sees a clean end of stream, not a reset."""
        _discard_unread(self._raw)
        try:
            await self._stream.aclose()
        except OSError:
            pass


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
        # Connection failures by kind (read, decode, dispatch, write, internal)
        # and who wants to hear of them (metrics).
        self.connection_errors: dict[str, int] = {}
        self.on_connection_error: list[Callable[[str], None]] = []

    def connection_failed(self, connection: Connection, failure: BaseException) -> None:
        """Log (once) and count a connection that ended on an unexpected error."""
        kind = fault_kind(failure)
        self.connection_errors[kind] = self.connection_errors.get(kind, 0) + 1
        report_crash("connection", failure, connection=connection.connection_id)
        for listener in list(self.on_connection_error):
            try:
                listener(kind)
            except Exception:
                log.exception("connection_error_listener_failed")

    def pending_output(self) -> bool:
        """Whether any connection still has replies queued to write."""
        return any(c.queued_output() for c in self.connections)

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return len(self.connections)

    def claim_socket(self, *, inherited: bool = False) -> None:
        """Lock and prepare the socket path (stale file gone).

        A missing directory is created 0700; an existing one is never
        chmodded, and refused if others may write to it without the
        sticky bit (they could replace the socket).

        :raises AlreadyRunningError: another daemon holds the lock or listens.
        :raises SocketPathError: the path exists and is not a socket, or its
            directory is unsafe or cannot be created.
        """
        directory = self.socket_path.parent
        try:
            if not private_dir(directory):
                check_shared_dir(directory)
        except UnsafeDirectoryError as exc:
            raise SocketPathError(str(exc)) from exc
        except OSError as exc:
            raise SocketPathError(
                f"cannot create {directory}: {exc.strerror or exc}"
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
        """Bind (or adopt a socket-activated listener) with mode 0600.

        The socket appears at its path only once it listens, with its final
        mode: it is bound under a temporary name, chmodded, put in listening
        state and renamed into place. A client that sees the path can
        connect (no ECONNREFUSED between bind and listen), and no one ever
        sees it with the umask's mode.
        """
        sock = inherited if inherited is not None else _bind_listening(self.socket_path)
        listener = await anyio.abc.SocketListener.from_socket(sock)
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
                    # Out of descriptors, or a client that gave up while in
                    # the backlog: the listener itself is fine.
                    level = log.warning if exc.errno in _FD_ERRNOS else log.info
                    level("accept_failed", error=exc.strerror or str(exc))
                    if exc.errno in _FD_ERRNOS:
                        await anyio.sleep(0.1)
                    continue
                tg.start_soon(self._handle, stream)

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        try:
            if self.registry.shutting_down:
                await _refuse(stream, ErrorCode.SHUTTING_DOWN, "the daemon is stopping")
                return
            if len(self.connections) >= self.config.max_connections:
                self._reap_departed()
            if len(self.connections) >= self.config.max_connections:
                message = (
                    f"too many connections (max_connections = "
                    f"{self.config.max_connections}); retry later"
                )
                await _refuse(stream, ErrorCode.OVERLOADED, message)
                return
            connection = Connection(stream, self)
        except Exception as exc:  # noqa: BLE001 - the accept loop outlives any client
            report_crash("connection_setup", exc)
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            return
        self.connections.add(connection)
        try:
            await connection.serve()
        finally:
            self.connections.discard(connection)

    def _reap_departed(self) -> None:
        """Stop counting connections whose clients have closed already.

        The server notices a close only when it next reads; a client that
        closed and reconnects at once must not find its old slot taken.
        """
        for connection in list(self.connections):
            if connection.peer_gone():
                self.connections.discard(connection)
                connection.close()

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


_FD_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


async def _refuse(
    stream: anyio.abc.SocketStream, code: ErrorCode, message: str
) -> None:
    """Answer one error in the client's framing, then end the stream cleanly.

    The client may already have sent a request: its input is read and
    dropped before closing (closing with unread input is a reset, which
    the client would see as ECONNRESET instead of our answer).
    """
    framing: Framing = "ndjson"
    try:
        with anyio.move_on_after(REFUSE_SNIFF_S):
            while (first := await stream.receive(READ_SIZE)) is not None:
                framing = detect_framing(first) or framing
                if detect_framing(first) is not None:
                    break
        with anyio.move_on_after(LAST_WORD_S):
            await stream.send(encode(framing, encode_error(None, code, message)))
        await stream.send_eof()
        with anyio.move_on_after(REFUSE_DRAIN_S):
            dropped = 0
            while dropped < REFUSE_DRAIN_BYTES:
                dropped += len(await stream.receive(READ_SIZE))
    except (
        anyio.EndOfStream,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
        OSError,
    ):
        pass
    finally:
        with anyio.CancelScope(shield=True):
            _discard_unread(_raw_socket(stream))
            await stream.aclose()


def _bind_listening(path: Path) -> socket.socket:
    temporary = path.with_name(f".{os.getpid()}.sock")
    if len(os.fsencode(temporary)) >= _SUN_PATH_MAX:
        temporary = path  # no room for a longer name: bind in place
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        temporary.unlink(missing_ok=True)
        sock.bind(str(temporary))
        os.chmod(temporary, 0o600)
        sock.listen(LISTEN_BACKLOG)
        if temporary != path:
            os.replace(temporary, path)
    except BaseException:
        sock.close()
        if temporary != path:
            temporary.unlink(missing_ok=True)
        raise
    sock.setblocking(False)
    return sock


def _raw_socket(stream: anyio.abc.ByteStream) -> socket.socket | None:
    raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    return raw if isinstance(raw, socket.socket) else None


def _discard_unread(raw: socket.socket | None) -> None:
    """Drop input the client sent and we never read (see `_refuse`)."""
    if raw is None or raw.fileno() < 0:
        return
    try:
        for _ in range(64):
            if not raw.recv(READ_SIZE, socket.MSG_DONTWAIT):
                return
    except OSError:
        return


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
