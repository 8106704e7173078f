"""The LSP methods, answered from the daemon's index.

Every answer the index cannot give (no workspace for the file, no identifier
under the cursor, a daemon error or no daemon) is an empty result, never an
LSP error: editors show errors in the user's face for what is just "nothing
found". The daemon going away is said once per outage with showMessage.
"""

from __future__ import annotations

import asyncio
import logging
import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from axd.client.exchange import DaemonUnavailableError, RemoteError
from axd.client.lsp import convert, wire
from axd.client.lsp.backend import announce_once
from axd.client.lsp.convert import Place, Ranges
from axd.client.lsp.positions import (
    UTF16,
    BufferLines,
    LineCache,
    character_to_index,
    index_to_character,
    word_at,
)
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from axd.client.lsp.backend import Backend
    from axd.protocol.methods import Method

R = TypeVar("R")

log = logging.getLogger(__name__)  # stderr: stdout carries the protocol

REFERENCES_LIMIT = 2000
# workspace/symbol answers per request: most editors ask again as the user
# types (VS Code's and Helix's pickers, Telescope's dynamic workspace
# symbols); 100, as clangd answers by default. 50 would cut the added
# latency by a third on a loaded machine (perf/RESULTS.md, `axd lsp`).
SYMBOLS_LIMIT = 100
# PROTOCOL.md's kinds of documentation and data rather than code.
_DOCUMENT_KINDS = frozenset({"heading", "key"})


class Features:
    """State shared by the handlers: the daemon, the workspaces, the encoding."""

    def __init__(self, server: LanguageServer, backend: Backend) -> None:
        self.server = server
        self.backend = backend
        self.ranges = Ranges(UTF16, LineCache(), backend.watching)
        self.folders: list[Place] = []  # the client's workspace folders
        self._known: list[Place] = []  # other daemon workspaces seen since
        self._pending: list[str] = []  # folders not added yet (no daemon)
        self._outage = announce_once()
        self._buffers = BufferLines()
        self._markdown: bool | None = None  # hover format, once capabilities are known
        backend.on_change = self._files_changed
        backend.on_reset = self._forget_files

    # -- plumbing ----------------------------------------------------------------

    async def call(self, method: Method[Any, R], params: Any) -> R | None:
        """`method`'s result, or None when the index cannot answer."""
        try:
            return await self.checked_call(method, params)
        except DaemonUnavailableError:
            return None
        except RemoteError as exc:
            log.debug("%s failed: %s", method.name, exc.kind)
            return None

    async def checked_call(self, method: Method[Any, R], params: Any) -> R:
        """`method`'s result; an outage is told to the user once.

        :raises DaemonUnavailableError: no daemon, even after reconnecting.
        :raises RemoteError: the daemon answered with an error.
        """
        try:
            result, reconnected = await self.backend.call(method, params)
        except DaemonUnavailableError as exc:
            if self._outage(True):
                self._say(lsp.MessageType.Warning, f"axd: {exc}; answers stay empty")
            raise
        if self._outage(reconnected):
            self._say(lsp.MessageType.Info, "axd: the daemon went away; reconnected")
        return result

    def _files_changed(self, root: str, paths: list[str]) -> None:
        self.ranges.lines.forget(root, paths)

    def _forget_files(self) -> None:
        self.ranges.lines.clear()

    def spawn(self, method: Method[Any, R], params: Any) -> asyncio.Task[R | None]:
        """`call` as a task, to run several calls at once."""
        pending = self.call(method, params)  # no context: mypy infers R, not R | None
        return asyncio.ensure_future(pending)

    def _say(self, kind: lsp.MessageType, message: str) -> None:
        self.server.window_show_message(
            lsp.ShowMessageParams(type=kind, message=message)
        )

    async def add_folders(self, paths: list[str]) -> None:
        """Add the client's folders as daemon workspaces (later if no daemon)."""
        paths = [p for p in paths if p not in self._pending]
        for path in [*self._pending, *paths]:
            if path in self._pending:
                self._pending.remove(path)
            try:
                added = await self.checked_call(
                    m.WORKSPACE_ADD, t.WorkspaceAddParams(root=path)
                )
            except DaemonUnavailableError:
                self._pending.append(path)  # tried again on the next request
                continue
            except RemoteError as exc:  # e.g. the folder does not exist
                log.warning("cannot add %s as a workspace: %s", path, exc.message)
                continue
            if all(p.root != added.root for p in self.folders):
                self.folders.append(Place(added.root, path))
            await self.backend.watch(added.root)
        self.backend.roots = [p.root for p in self.folders]
        real_path.cache_clear()

    def remove_folders(self, paths: list[str]) -> None:
        """Stop answering for these folders (the daemon keeps them: shared)."""
        self.folders = [p for p in self.folders if p.folder not in paths]
        self._pending = [p for p in self._pending if p not in paths]
        self.backend.roots = [p.root for p in self.folders]
        real_path.cache_clear()

    async def place_of(self, uri: str) -> tuple[Place, str] | None:
        """The workspace holding the document, and its relative path."""
        if self._pending:
            await self.add_folders([])
        real = real_path(uri)
        if real is None:
            return None
        found = _longest(real, [*self.folders, *self._known])
        if found is None:
            listing = await self.call(m.WORKSPACE_LIST, t.Empty())
            if listing is not None:
                self._known = [Place(w.root, w.root) for w in listing.workspaces]
            found = _longest(real, self._known)
        if found is None:
            return None
        return found, relative(real, found.root)

    def word(self, uri: str, position: wire.Position) -> tuple[str, wire.Range] | None:
        """The identifier under the cursor, from the editor's buffer."""
        try:
            source = self.server.workspace.get_text_document(uri).source
        except (OSError, UnicodeDecodeError):
            return None
        text = self._buffers.line(uri, source, position.line)
        if text is None:
            return None
        encoding = self.ranges.encoding
        found = word_at(text, character_to_index(text, position.character, encoding))
        if found is None:
            return None
        name, start, end = found
        span = wire.Range(
            start=wire.Position(
                line=position.line,
                character=index_to_character(text, start, encoding),
            ),
            end=wire.Position(
                line=position.line, character=index_to_character(text, end, encoding)
            ),
        )
        return name, span

    # -- methods -----------------------------------------------------------------

    async def definitions(
        self, params: wire.TextDocumentPositionParams
    ) -> tuple[Place, list[t.Definition], wire.Range | None]:
        """Definitions of the identifier under the cursor, best tier only.

        The same file first, then the files it imports, then the workspace.
        """
        located = await self.place_of(params.text_document.uri)
        found = self.word(params.text_document.uri, params.position)
        if located is None or found is None:
            return Place("", ""), [], None
        (place, rel), (name, span) = located, found
        # The same file first, asked as such: a common name (`__init__`, `get`)
        # has thousands of definitions that the first tier does not need.
        local = await self.call(
            m.SYMBOLS_DEFINITION,
            t.DefinitionParams(root=place.root, name=name, path=rel),
        )
        if local is not None and local.definitions:
            return place, local.definitions, span
        result = await self.call(
            m.SYMBOLS_DEFINITION, t.DefinitionParams(root=place.root, name=name)
        )
        defs = result.definitions if result else []
        # Outside the file itself, a Markdown heading or a config key of the
        # name (`## Typer` in every changelog) is a jump target only when
        # nothing else defines it.
        defs = [d for d in defs if d.kind not in _DOCUMENT_KINDS] or defs
        same = [d for d in defs if d.path == rel]
        if same or len(defs) <= 1:
            return place, same or defs, span
        imports = await self.call(
            m.GRAPH_IMPORTS, t.PathParams(root=place.root, path=rel)
        )
        imported = {e.path for e in imports.imports if e.path} if imports else set()
        return place, [d for d in defs if d.path in imported] or defs, span

    async def definition(
        self, params: wire.TextDocumentPositionParams
    ) -> list[wire.Location]:
        """textDocument/definition and textDocument/declaration."""
        place, defs, _ = await self.definitions(params)
        return [self.ranges.location(place, d.path, d.selection_range) for d in defs]

    async def references(self, params: wire.ReferenceParams) -> list[wire.Location]:
        """textDocument/references; includeDeclaration adds the definitions."""
        located = await self.place_of(params.text_document.uri)
        found = self.word(params.text_document.uri, params.position)
        if located is None or found is None:
            return []
        place, name = located[0], found[0]
        refs_task = self.spawn(
            m.SYMBOLS_REFERENCES,
            t.ReferencesParams(root=place.root, name=name, limit=REFERENCES_LIMIT),
        )
        defs = await self.call(
            m.SYMBOLS_DEFINITION, t.DefinitionParams(root=place.root, name=name)
        )
        refs = await refs_task
        declared = [
            self.ranges.location(place, d.path, d.selection_range)
            for d in (defs.definitions if defs else [])
        ]
        uses = [
            self.ranges.location(place, r.path, r.range)
            for r in (refs.references if refs else [])
        ]
        declared_set = set(declared)
        uses = [u for u in uses if u not in declared_set]
        return declared + uses if params.context.include_declaration else uses

    async def document_symbols(
        self, params: wire.DocumentSymbolParams
    ) -> list[wire.DocumentSymbol]:
        """textDocument/documentSymbol: the outline as a tree."""
        located = await self.place_of(params.text_document.uri)
        if located is None:
            return []
        place, rel = located
        result = await self.call(
            m.SYMBOLS_OUTLINE, t.PathParams(root=place.root, path=rel)
        )
        if result is None:
            return []
        return convert.document_symbols(self.ranges, place, rel, result.symbols)

    async def hover(self, params: wire.TextDocumentPositionParams) -> wire.Hover | None:
        """Signature and docstring of the definition under the cursor."""
        _, defs, span = await self.definitions(params)
        if not defs:
            return None
        if self._markdown is None:
            self._markdown = lsp.MarkupKind.Markdown in _hover_formats(self.server)
        text = convert.hover_markdown(defs[0])
        kind = lsp.MarkupKind.Markdown if self._markdown else lsp.MarkupKind.PlainText
        return wire.Hover(
            contents=wire.MarkupContent(kind=kind.value, value=text), range=span
        )

    async def workspace_symbols(
        self, params: wire.WorkspaceSymbolParams
    ) -> list[wire.SymbolInformation]:
        """workspace/symbol over every folder, best scores first."""
        query = params.query
        if self._pending:
            await self.add_folders([])
        places = self.folders or self._known
        if len(places) == 1:  # the common case: no task, no merge
            place = places[0]
            found = await self.call(
                m.SYMBOLS_SEARCH,
                t.SymbolSearchParams(root=place.root, query=query, limit=SYMBOLS_LIMIT),
            )
            return [
                convert.workspace_symbol(self.ranges, place, match)
                for match in (found.symbols[:SYMBOLS_LIMIT] if found else [])
            ]
        tasks = []
        for place in places:
            task = self.spawn(
                m.SYMBOLS_SEARCH,
                t.SymbolSearchParams(root=place.root, query=query, limit=SYMBOLS_LIMIT),
            )
            tasks.append(task)
        results = [await task for task in tasks]
        ranked = sorted(
            (
                (match.score, i, place, match)
                for i, (place, result) in enumerate(zip(places, results, strict=True))
                if result is not None
                for match in result.symbols
            ),
            key=lambda entry: (-entry[0], entry[1]),
        )
        return [
            convert.workspace_symbol(self.ranges, place, match)
            for _, _, place, match in ranked[:SYMBOLS_LIMIT]
        ]

    async def search(self, args: tuple[Any, ...]) -> list[dict[str, object]]:
        """`axd.search`: ranked code search; args `[query]` or `[{query, ...}]`."""
        options: dict[str, Any] = {}
        if args and isinstance(args[0], str):
            options = {"query": args[0]}
        elif args and isinstance(args[0], dict):
            options = dict(args[0])
        query, limit = options.get("query"), options.get("limit", 20)
        if not isinstance(query, str) or not query.strip():
            return []
        if not isinstance(limit, int) or limit < 1:
            limit = 20
        languages, paths, kinds = (
            [str(x) for x in v] if isinstance(v := options.get(k), list) else None
            for k in ("languages", "paths", "kinds")
        )
        places = self.folders or self._known
        tasks = []
        for place in places:
            task = self.spawn(
                m.SEARCH,
                t.SearchParams(
                    root=place.root,
                    query=query,
                    limit=limit,
                    languages=languages,
                    paths=paths,
                    kinds=kinds,
                ),
            )
            tasks.append(task)
        results = [await task for task in tasks]
        hits = sorted(
            (
                (hit.score, place, hit)
                for place, result in zip(places, results, strict=True)
                if result is not None
                for hit in result.results
            ),
            key=lambda entry: -entry[0],
        )
        return [
            convert.search_hit(self.ranges, place, hit)
            for _, place, hit in hits[:limit]
        ]


@lru_cache(maxsize=1024)
def real_path(uri: str) -> str | None:
    """The resolved filesystem path of a file URI (the daemon resolves roots).

    Cached: an editor asks about the same few files over and over, and
    resolving costs one `lstat` per path component. A symlink re-pointed
    while the editor runs is seen once the client's folders change (the
    cache is cleared then) or the entry ages out.
    """
    fs_path = to_fs_path(uri)
    return os.path.realpath(fs_path) if fs_path else None


def relative(path: str, root: str) -> str:
    """`path` relative to `root`, `/`-separated as on the wire."""
    return os.path.relpath(path, root).replace(os.sep, "/")


def _longest(path: str, places: list[Place]) -> Place | None:
    best: Place | None = None
    for place in places:
        root = place.root.rstrip("/")
        inside = path == root or path.startswith(root + "/")
        if inside and (best is None or len(root) > len(best.root)):
            best = place
    return best


def _hover_formats(server: LanguageServer) -> list[str]:
    hover = server.client_capabilities.text_document
    formats = hover.hover.content_format if hover and hover.hover else None
    return list(formats or [lsp.MarkupKind.PlainText])
