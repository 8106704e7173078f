"""The Unix-socket server: the socket path, listening, accepting, limits.

The accept loop outlives any one client: a connection's failures stay in
its `Connection` (connection.py), a connection over `max_connections` is
refused in its own framing with a clean end of stream, and a connection
whose client has closed stops counting against the limit at once.
"""

from __future__ import annotations

import errno
import fcntl
import os
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
from axd.daemon.rpc.connection import (
    LAST_WORD_S,
    READ_SIZE,
    Connection,
    discard_unread,
    raw_socket,
)
from axd.daemon.supervise import fault_kind, report_crash
from axd.protocol.errors import ErrorCode
from axd.protocol.framing import Framing, detect_framing, encode
from axd.protocol.jsonrpc import encode_error

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from axd.daemon.config import ServerConfig
    from axd.daemon.rpc.dispatch import Registry

log = structlog.get_logger()

LISTEN_BACKLOG = 512
_SUN_PATH_MAX = 108  # sizeof(sockaddr_un.sun_path) on Linux
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


class Server:
    """Accepts connections on a Unix socket and serves them."""

    def __init__(
        self,
        config: ServerConfig,
        registry: Registry,
        socket_path: Path,
        *,
        on_connection_error: Callable[[str], None] | None = None,
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
        # and who else counts them (metrics).
        self.connection_errors: dict[str, int] = {}
        self._on_connection_error = on_connection_error

    def connection_failed(self, connection: Connection, failure: BaseException) -> None:
        """Log (once) and count a connection that ended on an unexpected error."""
        kind = fault_kind(failure)
        self.connection_errors[kind] = self.connection_errors.get(kind, 0) + 1
        report_crash("connection", failure, connection=connection.connection_id)
        if self._on_connection_error is not None:
            try:
                self._on_connection_error(kind)
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
            discard_unread(raw_socket(stream))
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
