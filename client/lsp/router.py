"""The message loop of `axd lsp`: index requests answered directly, the rest by pygls.

An editor's definition, hover or symbol request is where the LSP layer's
time shows, so those requests skip pygls' generic path (stdlib `json` with a
cattrs `object_hook` on every object, lsprotocol objects built and unstructured
again for the reply): msgspec decodes the few fields a handler reads, the
handler returns `wire` Structs, and msgspec encodes the reply straight into
the Content-Length frame. Everything else, including the lifecycle
(`initialize`, `shutdown`, `exit`), document sync, workspace folders,
`executeCommand`, and messages to the client, goes through pygls unchanged,
in arrival order, so an edit (`didChange`) is applied before the request that
follows it.

LSP's rules for the directly answered requests are kept here: before
`initialize` they fail with ServerNotInitialized, after `shutdown` with
InvalidRequest; `$/cancelRequest` cancels one in flight (answered with
RequestCancelled); a handler that raises is an InternalError answer.
Framing is `axd.protocol.framing`'s, the codec the daemon speaks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

import msgspec
from pygls.exceptions import JsonRpcException

from axd.client.lsp import wire
from axd.protocol.framing import (
    Broken,
    ContentLengthDecoder,
    Message,
    Oversized,
    encode,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from typing import BinaryIO

    from pygls.lsp.server import LanguageServer

P = TypeVar("P")

log = logging.getLogger(__name__)

# An editor sends whole documents in didOpen; generated files can be large.
MAX_MESSAGE_BYTES = 256 << 20


class Request(msgspec.Struct, Generic[P], frozen=True):
    """A request whose params this server decodes itself."""

    id: wire.MsgId
    params: P


class Route(NamedTuple):
    decoder: msgspec.json.Decoder[Any]
    handler: Callable[[Any], Awaitable[Any]]


class Notification(msgspec.Struct, Generic[P], frozen=True):
    params: P


def route(params: type[P], handler: Callable[[P], Awaitable[Any]]) -> Route:
    """A direct route: `handler` gets the request's params decoded as `params`."""
    return Route(msgspec.json.Decoder(Request[params]), handler)  # type: ignore[valid-type]


class Router:
    """Hands each incoming message to its direct route or to pygls."""

    def __init__(self, server: LanguageServer, routes: dict[str, Route]) -> None:
        self._server = server
        self._routes = routes
        self._initialized = False
        self._shut_down = False
        self._in_flight: dict[wire.MsgId, asyncio.Task[Any]] = {}

    def dispatch(self, body: bytes) -> None:
        """Handle one message body (in the order the client sent them)."""
        try:
            head = wire.head(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._to_pygls(body)  # it reports what it cannot parse
            return
        method, msg_id = head.method, head.id
        if isinstance(method, str) and isinstance(msg_id, (int, str)):
            found = self._routes.get(method)
            if found is not None:
                self._request(found, msg_id, body)
                return
            if method == "initialize":
                self._initialized = True
            elif method == "shutdown":
                self._shut_down = True
        elif method == "$/cancelRequest" and self._cancel(body):
            return
        self._to_pygls(body)

    def _request(self, found: Route, msg_id: wire.MsgId, body: bytes) -> None:
        if self._shut_down:
            self._send(wire.error(msg_id, wire.INVALID_REQUEST, "server shut down"))
            return
        if not self._initialized:
            self._send(
                wire.error(msg_id, wire.SERVER_NOT_INITIALIZED, "not initialized")
            )
            return
        try:
            params = found.decoder.decode(body).params
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._send(wire.error(msg_id, wire.INVALID_PARAMS, str(exc)))
            return
        task = asyncio.ensure_future(self._answer(msg_id, found.handler, params))
        self._in_flight[msg_id] = task

    async def _answer(
        self, msg_id: wire.MsgId, handler: Callable[[Any], Awaitable[Any]], params: Any
    ) -> None:
        """Run the handler and send its answer (from the task itself: no
        done-callback, one event loop turn less)."""
        try:
            result = await handler(params)
        except asyncio.CancelledError:  # $/cancelRequest (or the server stops)
            body = wire.error(msg_id, wire.REQUEST_CANCELLED, "request cancelled")
        except Exception as exc:
            log.error("request %s failed", msg_id, exc_info=exc)
            message = f"{type(exc).__name__}: {exc}"
            body = wire.error(msg_id, wire.INTERNAL_ERROR, message)
        else:
            try:
                body = wire.response(msg_id, result)
            except (TypeError, msgspec.EncodeError) as exc:  # not encodable
                log.error("request %s: unencodable result", msg_id, exc_info=exc)
                body = wire.error(msg_id, wire.INTERNAL_ERROR, str(exc))
        if self._in_flight.get(msg_id) is asyncio.current_task():
            del self._in_flight[msg_id]
        self._send(body)

    def _cancel(self, body: bytes) -> bool:
        """Cancel a directly answered request; False if it is not one."""
        try:
            target = _CANCEL.decode(body).params.id
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False
        task = self._in_flight.get(target)
        if task is None:
            return False
        task.cancel()
        # A task cancelled before its first step never enters `_answer`:
        # answer for it then.
        task.add_done_callback(partial(self._unstarted, target))
        return True

    def _unstarted(self, msg_id: wire.MsgId, task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            return  # `_answer` ran and answered
        if self._in_flight.get(msg_id) is task:
            del self._in_flight[msg_id]
        self._send(wire.error(msg_id, wire.REQUEST_CANCELLED, "request cancelled"))

    def _send(self, body: bytes) -> None:
        writer = self._server.protocol.writer
        if writer is None:
            return
        try:
            # pygls' writer: the same stream and order as pygls' own messages
            writer.write(encode("content-length", body))
        except (OSError, ValueError) as exc:  # the editor went away (or stdout closed)
            log.debug("cannot answer: %s", exc)

    def _to_pygls(self, body: bytes) -> None:
        """pygls' own handling of a message (as its `run_async` loop does it)."""
        protocol = self._server.protocol
        try:
            message = json.loads(body, object_hook=protocol.structure_message)
            protocol.handle_message(message)
        except Exception as exc:
            log.exception("cannot handle a message")
            self._server.report_server_error(exc, JsonRpcException)


_CANCEL = msgspec.json.Decoder(Notification[wire.CancelParams])


class Feeder:
    """Cuts the client's byte stream into messages for the router."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._decoder = ContentLengthDecoder(MAX_MESSAGE_BYTES)

    def feed(self, data: bytes) -> bool:
        """Dispatch the messages `data` completes; False: stop reading."""
        for frame in self._decoder.feed(data):
            if isinstance(frame, Message):
                self._router.dispatch(frame.body)
            elif isinstance(frame, Oversized):
                log.error("ignored a message of %d bytes (too large)", frame.size)
            elif isinstance(frame, Broken):
                log.error("unreadable LSP framing (%s); stopping", frame.reason)
                return False
        return True


class PipeReader(asyncio.Protocol):
    """Stdin as a pipe: messages are dispatched from the event loop's read
    callback itself (no stream reader, no waiting coroutine to wake)."""

    def __init__(self, feeder: Feeder, stopped: Callable[[], bool]) -> None:
        self._feeder = feeder
        self._stopped = stopped
        self._transport: asyncio.BaseTransport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if not self._feeder.feed(data) or self._stopped():
            assert self._transport is not None
            self._transport.close()

    def eof_received(self) -> None:
        self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def read_pipe(
    feeder: Feeder, pipe: BinaryIO, stopped: Callable[[], bool]
) -> None:
    """Serve messages from `pipe` (a pipe or socket) until EOF or `stopped()`."""
    loop = asyncio.get_running_loop()
    reader = PipeReader(feeder, stopped)
    await loop.connect_read_pipe(lambda: reader, pipe)
    await reader.done


async def read_chunks(
    feeder: Feeder, chunks: AsyncIterator[bytes], stopped: Callable[[], bool]
) -> None:
    """Serve messages from `chunks` until they end or `stopped()`."""
    async for data in chunks:
        if not feeder.feed(data) or stopped():
            return
