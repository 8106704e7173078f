"""The pygls server of `axd lsp`: capabilities, encoding choice, handlers."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInternalError
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from axd.client.lsp import wire
from axd.client.lsp.backend import Backend
from axd.client.lsp.convert import Ranges
from axd.client.lsp.features import Features
from axd.client.lsp.positions import UTF8, UTF16
from axd.client.lsp.router import (
    Feeder,
    Route,
    Router,
    read_chunks,
    read_pipe,
    route,
)
from axd.protocol import __version__

CHUNK = 1 << 16  # bytes read from stdin at a time

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator, Sequence
    from pathlib import Path
    from typing import BinaryIO


class AxdProtocol(LanguageServerProtocol):
    """pygls' protocol with axd's choice of position encoding.

    axd columns are UTF-8 bytes, so UTF-8 costs nothing to convert: take it
    whenever the client offers it, else the mandatory UTF-16 (pygls alone
    would take the client's first preference, e.g. UTF-32).
    """

    @lsp_method(lsp.INITIALIZE)
    def lsp_initialize(
        self, params: lsp.InitializeParams
    ) -> Generator[Any, Any, lsp.InitializeResult]:
        general = params.capabilities.general
        offered = (general.position_encodings if general else None) or []
        chosen = [lsp.PositionEncodingKind.Utf8 if UTF8 in offered else UTF16]
        if general is None:
            params.capabilities.general = lsp.GeneralClientCapabilities(
                position_encodings=chosen
            )
        else:
            general.position_encodings = chosen
        return (yield from super().lsp_initialize(params))


def folders_of(params: lsp.InitializeParams) -> list[str]:
    """Filesystem paths of the client's workspace folders (or its root)."""
    uris: Sequence[str] = [f.uri for f in params.workspace_folders or []]
    if not uris and params.root_uri:
        uris = [params.root_uri]
    paths = [p for uri in uris if (p := to_fs_path(uri))]
    if not paths and params.root_path:
        paths = [params.root_path]
    return [os.path.abspath(p) for p in paths]


def folder_paths(folders: Sequence[lsp.WorkspaceFolder]) -> list[str]:
    """Absolute paths of workspace folders."""
    return [os.path.abspath(p) for f in folders if (p := to_fs_path(f.uri))]


def routes(features: Features) -> dict[str, Route]:
    """The requests answered without pygls, and their handlers."""
    at = wire.TextDocumentPositionParams
    return {
        lsp.TEXT_DOCUMENT_DEFINITION: route(at, features.definition),
        lsp.TEXT_DOCUMENT_DECLARATION: route(at, features.definition),
        lsp.TEXT_DOCUMENT_REFERENCES: route(wire.ReferenceParams, features.references),
        lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL: route(
            wire.DocumentSymbolParams, features.document_symbols
        ),
        lsp.TEXT_DOCUMENT_HOVER: route(at, features.hover),
        lsp.WORKSPACE_SYMBOL: route(
            wire.WorkspaceSymbolParams, features.workspace_symbols
        ),
    }


def _answered_by_router(params: Any) -> None:
    raise JsonRpcInternalError("answered by axd's router, not pygls")


def build(backend: Backend) -> tuple[LanguageServer, Router]:
    """A LanguageServer answering from `backend`'s daemon, and its router."""
    server = LanguageServer("axd", __version__, protocol_cls=AxdProtocol)
    features = Features(server, backend)

    @server.feature(lsp.INITIALIZE)
    async def initialize(params: lsp.InitializeParams) -> None:
        chosen = server.workspace.position_encoding or UTF16
        encoding = str(getattr(chosen, "value", chosen))  # an Enum or a str
        features.ranges = Ranges(encoding, features.ranges.lines, backend.watching)
        await features.add_folders(folders_of(params))

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def folders_changed(params: lsp.DidChangeWorkspaceFoldersParams) -> None:
        features.remove_folders(folder_paths(params.event.removed))
        await features.add_folders(folder_paths(params.event.added))

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched_files_changed(params: lsp.DidChangeWatchedFilesParams) -> None:
        """Accepted and ignored: the daemon watches the files itself."""

    # Answered by the router, never by pygls: registered so that pygls
    # advertises them in the capabilities it computes at `initialize`.
    direct = routes(features)
    for method in direct:
        server.feature(method)(_answered_by_router)

    @server.command("axd.search")
    async def search(*args: Any) -> list[dict[str, object]]:
        return await features.search(args)

    @server.feature(lsp.SHUTDOWN)
    async def shutdown(params: None) -> None:
        await backend.close()

    return server, Router(server, direct)


def serve(
    socket_path: Path, state_dir: Path, *, start: bool, config_path: str | None
) -> int:
    """Serve LSP on stdin/stdout until the client says exit."""
    logging.basicConfig(level=logging.WARNING, format="axd lsp: %(message)s")
    backend = Backend(socket_path, state_dir, start=start, config_path=config_path)
    try:
        asyncio.run(_serve_stream(*build(backend)))
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return 0


def _is_pipe(fd: int) -> bool:
    """Whether `fd` is a pipe or a socket (what editors give a server)."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def _serve_stream(server: LanguageServer, router: Router) -> None:
    """Read stdin on the event loop itself and hand messages to the router.

    pygls' `start_io` reads stdin in a worker thread, one hop per header
    line and body; on a loaded machine each hop can cost a time slice, so
    the loop reads the pipe directly (the LSP layer should add <= 1 ms).
    """
    server._stop_event = stop = threading.Event()  # server.shutdown() sets it
    server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
    feeder = Feeder(router)
    if _is_pipe(sys.stdin.fileno()):
        await read_pipe(feeder, sys.stdin.buffer, stop.is_set)
    else:  # a file, a terminal, /dev/null: epoll cannot watch all of them
        await read_chunks(feeder, _blocking_chunks(sys.stdin.buffer), stop.is_set)


async def _blocking_chunks(stdin: BinaryIO) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    read = getattr(stdin, "read1", stdin.read)
    while data := await loop.run_in_executor(None, read, CHUNK):
        yield data
