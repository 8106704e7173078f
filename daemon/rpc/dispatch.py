"""The method registry and JSON-RPC dispatch.

Components register typed handlers (`registry.register(SEARCH, handler)`);
dispatch decodes each request's params with that method's own decoder, runs
the handler under the request deadline and turns every failure into the
right JSON-RPC error. A failing handler fails only its own request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import anyio
import msgspec
import structlog

from axd.protocol.errors import ErrorCode, RpcError
from axd.protocol.jsonrpc import (
    Call,
    Invalid,
    encode_batch,
    encode_error,
    encode_result,
    parse_message,
)

if TYPE_CHECKING:
    from axd.protocol.jsonrpc import RequestId
    from axd.protocol.methods import Method

log = structlog.get_logger()

P = TypeVar("P")
R = TypeVar("R")


class Peer(Protocol):
    """What a handler may know of the connection a request came on."""

    @property
    def connection_id(self) -> int: ...

    def notify(self, method: str, params: bytes) -> bool:
        """Queue a notification; False when the peer's buffer is full."""
        ...

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run `callback` when the connection ends."""
        ...


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Per-request facts handed to every handler."""

    peer: Peer | None
    request_id: RequestId
    started: float = field(default_factory=time.perf_counter)


Handler = Callable[[P, RequestContext], Awaitable[R]]


@dataclass(frozen=True, slots=True)
class _Route(Generic[P, R]):
    method: Method[P, R]
    handler: Handler[P, R]
    decoder: msgspec.json.Decoder[P]
    instant: bool = False


class RequestObserver(Protocol):
    """Told about every answered request (metrics, telemetry...).

    Called on the hot path, once per request, on the event loop: keep it to
    in-memory counting. A registry has one; `Observers` composes several.
    """

    def request_done(
        self, method: str, outcome: str, seconds: float, size: int = 0
    ) -> None:
        """`size`: bytes of the reply (telemetry's result size)."""
        ...


class Observers:
    """Several `RequestObserver`s as one, called in the order given."""

    __slots__ = ("_observers",)

    def __init__(self, *observers: RequestObserver) -> None:
        self._observers = observers

    def request_done(
        self, method: str, outcome: str, seconds: float, size: int = 0
    ) -> None:
        """Tell each observer."""
        for observer in self._observers:
            observer.request_done(method, outcome, seconds, size)


_AT_PATH = re.compile(r" - at `(?P<path>\$[^`]*)`$")
_MISSING_FIELD = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def field_of(message: str) -> str:
    """The JSON path a msgspec validation message points at (`$.limit`)."""
    path = "$"
    match = _AT_PATH.search(message)
    if match:
        path = match["path"]
    missing = _MISSING_FIELD.search(message)
    if missing:
        path = f"{path}.{missing['field']}"
    return path


class Registry:
    """Method name → typed handler. Later components register into it."""

    def __init__(
        self,
        observer: RequestObserver | None = None,
        *,
        request_timeout_s: float = 60.0,
    ) -> None:
        self._routes: dict[str, _Route[Any, Any]] = {}
        self._encoder = msgspec.json.Encoder()
        self.observer: RequestObserver = observer or Observers()
        self.request_timeout_s = request_timeout_s
        self.shutting_down = False
        self.inflight = 0  # requests being handled now, across connections

    def register(
        self, method: Method[P, R], handler: Handler[P, R], *, instant: bool = False
    ) -> None:
        """Route `method` to `handler` (replacing any earlier one).

        `instant`: the handler never awaits anything that can block (it
        answers from memory), so it runs inline on the connection's read
        loop without a task, a deadline or log context: the hot path of
        `server.info`-style calls.
        """
        decoder: msgspec.json.Decoder[P] = msgspec.json.Decoder(method.params)
        self._routes[method.name] = _Route(method, handler, decoder, instant)

    def is_instant(self, parsed: list[Call | Invalid] | Call | Invalid) -> bool:
        """Whether a parsed message can be answered inline (see `register`)."""
        if isinstance(parsed, Invalid):
            return True
        if isinstance(parsed, Call):
            route = self._routes.get(parsed.method)
            return route is None or route.instant
        return False

    def methods(self) -> list[Method[Any, Any]]:
        """Every registered method, in registration order."""
        return [route.method for route in self._routes.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._routes

    async def handle(self, body: bytes, peer: Peer | None) -> bytes | None:
        """The reply to one framed message, or None when none is due."""
        return await self.handle_parsed(parse_message(body), peer)

    async def handle_parsed(
        self, parsed: list[Call | Invalid] | Call | Invalid, peer: Peer | None
    ) -> bytes | None:
        """The reply to one parsed message, or None when none is due."""
        if isinstance(parsed, list):
            replies: list[bytes | None] = [None] * len(parsed)

            async def run(index: int, item: Call | Invalid) -> None:
                replies[index] = await self._handle_one(item, peer)

            async with anyio.create_task_group() as tg:
                for index, item in enumerate(parsed):
                    tg.start_soon(run, index, item)
            answered = [reply for reply in replies if reply is not None]
            return encode_batch(answered) if answered else None
        return await self._handle_one(parsed, peer)

    async def _handle_one(
        self, item: Call | Invalid, peer: Peer | None
    ) -> bytes | None:
        if isinstance(item, Invalid):
            return encode_error(item.id, item.code, item.message)
        started = time.perf_counter()
        self.inflight += 1
        try:
            reply, outcome = await self._call(item, peer)
        finally:
            self.inflight -= 1
        elapsed = time.perf_counter() - started
        self.observer.request_done(
            item.method if item.method in self._routes else "(unknown)",
            outcome,
            elapsed,
            len(reply),
        )
        log.debug(
            "request",
            method=item.method,
            id=item.id,
            ms=round(elapsed * 1000, 3),
            outcome=outcome,
        )
        return None if item.is_notification else reply

    async def _call(self, call: Call, peer: Peer | None) -> tuple[bytes, str]:
        route = self._routes.get(call.method)
        if route is None:
            return (
                encode_error(
                    call.id,
                    ErrorCode.METHOD_NOT_FOUND,
                    f"method not found: {call.method}",
                    {"method": call.method},
                ),
                "method_not_found",
            )
        if call.params_shape == "array":
            message = "params must be an object of named parameters, not an array"
            return (
                encode_error(
                    call.id, ErrorCode.INVALID_PARAMS, message, {"field": "$"}
                ),
                "invalid_params",
            )
        try:
            params = route.decoder.decode(call.params)
        except msgspec.ValidationError as exc:
            return _invalid_params(call.id, exc), "invalid_params"
        if self.shutting_down and call.method != "server.info":
            message = "the daemon is stopping"
            return encode_error(
                call.id, ErrorCode.SHUTTING_DOWN, message
            ), "shutting_down"
        context = RequestContext(peer, call.id)
        try:
            if route.instant:
                result = await route.handler(params, context)
            else:
                result = await self._guarded(route, params, context, call.method)
            return encode_result(call.id, self._encoder.encode(result)), "ok"
        except RpcError as exc:
            return encode_error(call.id, exc.code, exc.message, exc.data), exc.code.kind
        except TimeoutError:
            message = (
                f"request exceeded the server's {self.request_timeout_s:g} s deadline"
            )
            return encode_error(call.id, ErrorCode.TIMEOUT, message), "timeout"
        except msgspec.ValidationError as exc:  # a handler decoding nested params
            return _invalid_params(call.id, exc), "invalid_params"
        except Exception:
            log.exception("handler_failed", method=call.method, id=call.id)
            message = "internal error"
            return encode_error(
                call.id, ErrorCode.INTERNAL_ERROR, message
            ), "internal_error"

    async def _guarded(
        self, route: _Route[Any, Any], params: Any, context: RequestContext, method: str
    ) -> Any:
        """Run a handler under the request deadline, with log context bound."""
        with structlog.contextvars.bound_contextvars(
            method=method, request_id=context.request_id
        ):
            with anyio.fail_after(self.request_timeout_s):
                return await route.handler(params, context)


def _invalid_params(request_id: RequestId, exc: msgspec.ValidationError) -> bytes:
    text = str(exc)
    return encode_error(
        request_id,
        ErrorCode.INVALID_PARAMS,
        f"invalid params: {text}",
        {"field": field_of(text)},
    )
