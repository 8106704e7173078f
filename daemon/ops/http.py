"""The HTTP listener for scrapers and probes: /metrics, /healthz, /readyz.

A deliberately small HTTP/1.1 server on anyio TCP listeners, so it lives in
the daemon's task group and stops with it (a WSGI server in a thread could
not be cancelled). One request per connection, answered with
`Connection: close`; only GET and HEAD; the request head is bounded in size
and time, and the body (if any) is never read.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

import anyio
import anyio.abc
import structlog
from anyio.streams.stapled import MultiListener

log = structlog.get_logger()

MAX_HEAD_BYTES = 8 * 1024
# A client gets this long to send its request head, and to take the answer.
IO_TIMEOUT_S = 10.0
# Requests answered at once; further connections wait in the accept backlog.
MAX_CONCURRENT = 32


@dataclass(frozen=True, slots=True)
class Response:
    """What a route answers."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


# A route gets the request's Accept header.
Route = Callable[[str | None], Awaitable[Response]]


def url_host(host: str) -> str:
    """The host as a URL spells it; a wildcard address becomes loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


class HttpServer:
    """Serves a fixed set of GET routes until cancelled."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.address: tuple[str, int] | None = None
        self._listeners: list[anyio.abc.SocketListener] = []
        self._slots = anyio.Semaphore(MAX_CONCURRENT)

    @property
    def url(self) -> str | None:
        """http://HOST:PORT of the bound listener."""
        if self.address is None:
            return None
        host, port = self.address
        return f"http://{url_host(host)}:{port}"

    async def bind(self, host: str, port: int) -> tuple[str, int]:
        """Listen on host:port (port 0: any free one); the bound address.

        :raises OSError: the address is in use or cannot be bound.
        """
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
        # A name like "localhost" gives one listener per address family, all
        # on one port (anyio reuses the first one's); the URL names the first.
        if isinstance(listener, MultiListener):
            listeners = [
                item
                for item in listener.listeners
                if isinstance(item, anyio.abc.SocketListener)
            ]
        else:
            listeners = [listener]
        bound = listeners[0].extra(anyio.abc.SocketAttribute.local_address)
        assert isinstance(bound, tuple)
        self._listeners = listeners
        self.address = (str(bound[0]), int(bound[1]))
        return self.address

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Accept and answer connections until cancelled; `bind` first."""
        assert self._listeners, "bind() first"
        try:
            async with anyio.create_task_group() as tg:
                for listener in self._listeners:
                    tg.start_soon(self._accept_loop, listener, tg)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                for listener in self._listeners:
                    await listener.aclose()
            self._listeners = []

    async def _accept_loop(
        self, listener: anyio.abc.SocketListener, tg: anyio.abc.TaskGroup
    ) -> None:
        while True:
            await self._slots.acquire()
            try:
                stream = await listener.accept()
            except OSError as exc:
                self._slots.release()
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    log.warning("http_accept_failed", error=exc.strerror)
                    await anyio.sleep(0.1)
                    continue
                raise
            except BaseException:
                self._slots.release()
                raise
            tg.start_soon(self._handle, stream)

    async def _handle(self, stream: anyio.abc.SocketStream) -> None:
        try:
            async with stream:
                await self._answer(stream)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # the client went away: nothing to answer
        except Exception:
            log.exception("http_request_failed")
        finally:
            self._slots.release()

    async def _answer(self, stream: anyio.abc.SocketStream) -> None:
        head = await _read_head(stream)
        if head is None:
            return
        if isinstance(head, Response):
            await _send(stream, head, with_body=True)
            return
        method, target, headers = head
        path = target.split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            response = _plain(HTTPStatus.METHOD_NOT_ALLOWED)
            await _send(stream, response, with_body=True, allow=True)
            return
        route = self.routes.get(path)
        if route is None:
            response = _plain(HTTPStatus.NOT_FOUND)
        else:
            response = await route(headers.get("accept"))
        await _send(stream, response, with_body=method == "GET")


def _plain(status: HTTPStatus) -> Response:
    return Response(status.value, f"{status.value} {status.phrase}\n".encode())


_Head = tuple[str, str, dict[str, str]]


async def _read_head(stream: anyio.abc.SocketStream) -> _Head | Response | None:
    """(method, target, headers), an error response, or None (no request)."""
    data = b""
    with anyio.move_on_after(IO_TIMEOUT_S):
        while b"\r\n\r\n" not in data and b"\n\n" not in data:
            if len(data) > MAX_HEAD_BYTES:
                return _plain(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            try:
                data += await stream.receive(4096)
            except anyio.EndOfStream:
                break
    if not data.strip():
        return None
    end = data.find(b"\r\n\r\n")
    head = data[:end] if end >= 0 else data.split(b"\n\n", 1)[0]
    if len(head) > MAX_HEAD_BYTES:
        return _plain(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
    parts = lines[0].split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        return _plain(HTTPStatus.BAD_REQUEST)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            return _plain(HTTPStatus.BAD_REQUEST)
        headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], headers


async def _send(
    stream: anyio.abc.SocketStream,
    response: Response,
    *,
    with_body: bool,
    allow: bool = False,
) -> None:
    status = HTTPStatus(response.status)
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        "Cache-Control: no-store",
        "Connection: close",
    ]
    if allow:
        lines.append("Allow: GET, HEAD")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    with anyio.move_on_after(IO_TIMEOUT_S):
        await stream.send(head + response.body if with_body else head)
