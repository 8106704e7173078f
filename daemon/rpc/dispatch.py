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

from axd.daemon.ops.logging import debug_enabled
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
    waits: Callable[[Any], float] | None = None


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
        """Tell each observer; one that raises does not keep the request from
        the others (its exception is raised after they all were told)."""
        failure: Exception | None = None
        for observer in self._observers:
            try:
                observer.request_done(method, outcome, seconds, size)
            except Exception as exc:  # noqa: BLE001 - re-raised below
                failure = failure or exc
        if failure is not None:
            raise failure


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
        # Methods that mostly wait for an event (not work): they do not take
        # a slot of their connection's concurrency share, so an editor's
        # long-poll cannot hold back its own queries.
        self.waiting_methods: set[str] = {"index.wait"}
        # Observer calls that raised: the client still gets its answer (a
        # bug in metrics or telemetry must not cost it the connection); the
        # first is logged with its traceback, the rest only counted.
        self.observer_failures = 0

    def register(
        self,
        method: Method[P, R],
        handler: Handler[P, R],
        *,
        instant: bool = False,
        waits: Callable[[Any], float] | None = None,
    ) -> None:
        """Route `method` to `handler` (replacing any earlier one).

        `instant`: the handler never awaits anything that can block (it
        answers from memory), so it runs inline on the connection's read
        loop without a task, a deadline or log context: the hot path of
        `server.info`-style calls.

        `waits(params)`: how long the request may wait on purpose (its own
        `timeout_s`: `index.wait`, a query's `min_generation`). Its deadline
        is that plus `request_timeout_s`, so the wait ends first, with its
        own TIMEOUT error, however long the client asked to wait.
        """
        decoder: msgspec.json.Decoder[P] = msgspec.json.Decoder(method.params)
        self._routes[method.name] = _Route(method, handler, decoder, instant, waits)

    def deadline_s(self, route: _Route[P, Any], params: P) -> float:
        """The request deadline of one call: see `register`'s `waits`."""
        waited = route.waits(params) if route.waits is not None else 0.0
        return self.request_timeout_s + max(0.0, waited)

    def is_instant(self, parsed: list[Call | Invalid] | Call | Invalid) -> bool:
        """Whether a parsed message can be answered inline (see `register`)."""
        if isinstance(parsed, Invalid):
            return True
        if isinstance(parsed, Call):
            route = self._routes.get(parsed.method)
            return route is None or route.instant
        return False

    def is_unthrottled(self, parsed: list[Call | Invalid] | Call | Invalid) -> bool:
        """Instant, or one of `waiting_methods`: runs outside the fair share."""
        if isinstance(parsed, Call) and parsed.method in self.waiting_methods:
            return True
        return self.is_instant(parsed)

    def methods(self) -> list[Method[Any, Any]]:
        """Every registered method, in registration order."""
        return [route.method for route in self._routes.values()]

    def __contains__(self, name: object) -> bool:
        return name in self._routes

    async def handle(self, body: bytes, peer: Peer | None) -> bytes | None:
        """The reply to one framed message, or None when none is due."""
        return await self.handle_parsed(parse_message(body), peer)

    async def handle_parsed(
        self,
        parsed: list[Call | Invalid] | Call | Invalid,
        peer: Peer | None,
        *,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> bytes | None:
        """The reply to one parsed message, or None when none is due.

        `limiter`: the connection's share of concurrency; each batch element
        that is not instant runs under it, so a long batch queues behind its
        own connection instead of flooding the daemon.
        """
        if isinstance(parsed, list):
            replies: list[bytes | None] = [None] * len(parsed)

            async def run(index: int, item: Call | Invalid) -> None:
                if limiter is None or self.is_unthrottled(item):
                    replies[index] = await self._handle_one(item, peer)
                    return
                async with limiter:
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
        method = item.method if item.method in self._routes else "(unknown)"
        try:
            self.observer.request_done(method, outcome, elapsed, len(reply))
        except Exception:
            self.observer_failures += 1
            if self.observer_failures == 1:
                log.exception("request_observer_failed", method=method)
        if debug_enabled():
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
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            # DecodeError: the envelope kept params raw, so invalid UTF-8 or
            # malformed text inside them shows up only now.
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
            deadline = self.deadline_s(route, params)
            message = f"request exceeded the server's {deadline:g} s deadline"
            return encode_error(call.id, ErrorCode.TIMEOUT, message), "timeout"
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            # a handler decoding nested params
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
            with anyio.fail_after(self.deadline_s(route, params)):
                return await route.handler(params, context)


def _invalid_params(request_id: RequestId, exc: msgspec.MsgspecError) -> bytes:
    text = str(exc)
    return encode_error(
        request_id,
        ErrorCode.INVALID_PARAMS,
        f"invalid params: {text}",
        {"field": field_of(text)},
    )
