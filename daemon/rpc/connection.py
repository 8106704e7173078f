"""One client connection: framing, read-ahead, fairness, outbox, isolation.

A connection picks its framing from its first bytes, answers up to
`max_inflight_per_connection` requests at once (out of order), of which at
most `max_concurrent_per_connection` run at a time, and writes through one
bounded outbox drained by a writer task: a client that stops reading blocks
its own requests, and a subscriber whose notification buffer fills up is
disconnected rather than buffered without bound. A reply with nothing queued
before it is written straight to the socket, and only what the socket does
not take goes through the outbox (socketio.py: a small request costs one
event-loop turn).
"""

from __future__ import annotations

import itertools
import select
import socket
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.lowlevel
import structlog

from axd.daemon.rpc.socketio import SocketIO
from axd.daemon.supervise import Fault, report_crash, unwrap
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

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.daemon.rpc.server import Server

Parsed = list[Call | Invalid] | Call | Invalid

log = structlog.get_logger()

READ_SIZE = 256 * 1024
# Notifications a slow subscriber may have waiting before it is dropped.
OUTBOX_MESSAGES = 1024
# How often a half-closed client with work in flight is checked for having
# gone entirely (then its work is cancelled).
PEER_POLL_S = 0.1
# Bounds on the courtesy of a last error before a connection is closed.
LAST_WORD_S = 2.0
# Requests of one read answered inline before the read loop lets the other
# connections run (a client that pipelines thousands of instant requests).
INLINE_RUN = 32


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
        self._raw: socket.socket | None = raw_socket(stream)
        # Direct socket access (socketio.py); None: the anyio stream only.
        self._io: SocketIO | None = SocketIO.attach(stream)

    # -- the Peer protocol -------------------------------------------------------

    def notify(self, method: str, params: bytes) -> bool:
        """Queue a notification; a full buffer drops this connection."""
        if self._closed:
            return False
        try:
            payload = encode(self._framing, encode_notification(method, params))
        except Exception as exc:  # noqa: BLE001 - one subscription's fault stays its own
            # Called from the publishers' side (an indexer's commit, the
            # health monitor): a bad notification must not reach them.
            report_crash("notification", exc, connection=self.connection_id)
            return False
        try:
            self._outbox_tx.send_nowait(payload)
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
        for index, frame in enumerate(frames, 1):
            if isinstance(frame, Message):
                try:
                    parsed = parse_message(
                        frame.body,
                        max_depth=config.max_nesting_depth,
                        max_batch=config.max_batch,
                    )
                except Exception as exc:
                    raise Fault("decode", exc) from exc
                if index % INLINE_RUN == 0:
                    await anyio.lowlevel.checkpoint()
                try:
                    # No loop turn when a slot is free (`acquire` always
                    # yields): `_receive` and INLINE_RUN yield instead.
                    admitted.acquire_nowait()
                except anyio.WouldBlock:
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
        if self._io is not None:
            return await self._io.receive(READ_SIZE)
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
            elif registry.is_unthrottled(parsed):
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
        payload = encode(self._framing, body)
        if self._pending == 0 and self._io is not None and not self._closed:
            # Nothing queued or being written before it: straight to the
            # socket (no writer-task wake-up); what it does not take now
            # goes through the outbox like any reply.
            try:
                sent = self._io.try_send(payload)
            except OSError:
                self.close()  # the client went away: nothing to write to
                return
            if sent == len(payload):
                return
            if sent:
                self._mid_write = True  # the writer finishes this message
                payload = payload[sent:]
        self._pending += 1
        try:
            await self._outbox_tx.send(payload)
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
        if self._io is not None:
            self._io.close()  # unwatched before the socket is closed
        discard_unread(self._raw)
        try:
            await self._stream.aclose()
        except OSError:
            pass


def raw_socket(stream: anyio.abc.ByteStream) -> socket.socket | None:
    raw = stream.extra(anyio.abc.SocketAttribute.raw_socket, None)
    return raw if isinstance(raw, socket.socket) else None


def discard_unread(raw: socket.socket | None) -> None:
    """Drop input the client sent and we never read (see `_refuse`)."""
    if raw is None or raw.fileno() < 0:
        return
    try:
        for _ in range(64):
            if not raw.recv(READ_SIZE, socket.MSG_DONTWAIT):
                return
    except OSError:
        return
