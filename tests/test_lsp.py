"""`axd lsp` end to end: pytest-lsp's client drives the server as a subprocess.

Each test runs a real daemon on a real socket (the `daemon` fixture), indexes a
real sample tree (Python, TypeScript, Go, and a line of multi-byte text), and
starts `axd lsp --no-start` as a subprocess that an LSP client talks to over
stdio.

pytest-lsp and anyio: pytest-lsp's `@pytest_lsp.fixture` builds its fixtures
with pytest-asyncio, which this project disables (`-p no:asyncio` in
pyproject) because every async test runs under anyio's plugin. The client
itself (`pytest_lsp.LanguageClient`, built by `make_test_lsp_client()`) is
plain asyncio code, and anyio's plugin runs tests on the asyncio backend
(conftest.py pins it), so these tests create and stop that client inside an
ordinary anyio async context manager (`lsp_support.lsp_session`) on the same
event loop as the in-process daemon. pytest-lsp's plugin hooks, which find a
LanguageClient among a test's arguments, are not needed: the client's
`messages` and `log_messages` are checked directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest
from lsp_support import (
    AXD_LSP,
    lsp_session,
    open_document,
    position,
    span,
    uri,
    write_tree,
)
from lsprotocol import types as lsp
from support import environment_for

from axd.client.aio import AsyncClient
from axd.daemon.lifecycle import Daemon
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from anyio.abc import TaskGroup, TaskStatus
    from pytest_lsp import LanguageClient

    from axd.daemon.config import Config


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo")


READY_GUARD_S = 120


async def ready(client: AsyncClient, root: Path) -> int:
    """Wait until the daemon has indexed everything queued; the generation.
    `index.wait` answers at its timeout too, still `indexing` on a loaded
    machine: ask again until the state is `ready` (hang guard only)."""
    with anyio.fail_after(READY_GUARD_S):
        while True:
            status = await client.call(
                m.INDEX_WAIT, t.IndexWaitParams(root=str(root), timeout_s=30)
            )
            if status.state != "indexing":
                break
    assert status.state == "ready", status
    return status.generation


def at(
    root: Path, rel: str, marker: str, nth: int = 0
) -> lsp.TextDocumentPositionParams:
    return lsp.TextDocumentPositionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri(root, rel)),
        position=position(root, rel, marker, nth=nth),
    )


async def definition(
    lc: LanguageClient, root: Path, rel: str, marker: str, nth: int = 0
) -> list[lsp.Location]:
    where = at(root, rel, marker, nth)
    found = await lc.text_document_definition_async(
        lsp.DefinitionParams(text_document=where.text_document, position=where.position)
    )
    assert isinstance(found, list)
    return [loc for loc in found if isinstance(loc, lsp.Location)]


# (file with a use, marker of the use, nth, file of the definition, marker, nth)
DEFINITIONS = {
    "python": ("py/shapes.py", "helper", 1, "py/util.py", "helper", 0),
    "python-same-file": ("py/shapes.py", "area", 1, "py/shapes.py", "area", 0),
    "typescript": ("ts/app.ts", "greet", 1, "ts/lib.ts", "greet", 0),
    "go": ("go/main.go", "Start", 2, "go/main.go", "Start", 1),
}


@pytest.mark.parametrize("case", DEFINITIONS.values(), ids=DEFINITIONS.keys())
async def test_definition_and_declaration(
    config: Config,
    daemon: Daemon,
    client: AsyncClient,
    repo: Path,
    case: tuple[str, str, int, str, str, int],
) -> None:
    rel, marker, nth, target, target_marker, target_nth = case
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        expected = lsp.Location(
            uri=uri(repo, target),
            range=span(repo, target, target_marker, nth=target_nth),
        )
        # the cursor in the middle of the identifier, and just after its end
        where = at(repo, rel, marker, nth)
        where.position.character += 1
        found = await lc.text_document_definition_async(
            lsp.DefinitionParams(
                text_document=where.text_document, position=where.position
            )
        )
        assert found == [expected]
        where.position.character += len(marker) - 1
        declared = await lc.text_document_declaration_async(
            lsp.DeclarationParams(
                text_document=where.text_document, position=where.position
            )
        )
        assert declared == [expected]


async def test_definition_prefers_imports_over_the_workspace(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    # A second `helper` in a file shapes.py does not import.
    (repo / "py" / "other.py").write_text("def helper():\n    return 0\n")
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        found = await definition(lc, repo, "py/shapes.py", "helper", 1)
        assert [loc.uri for loc in found] == [uri(repo, "py/util.py")]
        # from a file that imports neither, both are candidates
        open_document(lc, repo, "py/uni.py", "helper()\n")
        anywhere = await lc.text_document_definition_async(
            lsp.DefinitionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri(repo, "py/uni.py")),
                position=lsp.Position(line=0, character=0),
            )
        )
        assert isinstance(anywhere, list)
        assert {loc.uri for loc in anywhere if isinstance(loc, lsp.Location)} == {
            uri(repo, "py/util.py"),
            uri(repo, "py/other.py"),
        }


async def test_definition_skips_headings_and_keys_when_code_defines_the_name(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    # `helper` is also a Markdown heading and a YAML key; `Roadmap` only a heading.
    (repo / "NOTES.md").write_text("# Notes\n\n## helper\n\n## Roadmap\n")
    (repo / "a.yaml").write_text("helper: on\n")
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        open_document(lc, repo, "py/uni.py", "helper()\nRoadmap\n")
        found: dict[int, set[str]] = {}
        for line in (0, 1):
            answer = await lc.text_document_definition_async(
                lsp.DefinitionParams(
                    text_document=lsp.TextDocumentIdentifier(
                        uri=uri(repo, "py/uni.py")
                    ),
                    position=lsp.Position(line=line, character=0),
                )
            )
            assert isinstance(answer, list)
            found[line] = {loc.uri for loc in answer if isinstance(loc, lsp.Location)}
        assert found[0] == {uri(repo, "py/util.py")}
        assert found[1] == {uri(repo, "NOTES.md")}


# (file, marker of a use, nth, the other uses as (file, marker, nth), definition)
REFERENCES = {
    "python": (
        "py/shapes.py",
        "helper",
        1,
        [("py/shapes.py", "helper", 0), ("py/shapes.py", "helper", 1)],
        ("py/util.py", "helper", 0),
    ),
    "typescript": (
        "ts/app.ts",
        "greet",
        1,
        [("ts/app.ts", "greet", 0), ("ts/app.ts", "greet", 1)],
        ("ts/lib.ts", "greet", 0),
    ),
    "go": (
        "go/main.go",
        "Start",
        2,
        [("go/main.go", "Start", 2)],
        ("go/main.go", "Start", 1),
    ),
}


@pytest.mark.parametrize("case", REFERENCES.values(), ids=REFERENCES.keys())
async def test_references_honour_include_declaration(
    config: Config,
    daemon: Daemon,
    client: AsyncClient,
    repo: Path,
    case: tuple[str, str, int, list[tuple[str, str, int]], tuple[str, str, int]],
) -> None:
    rel, marker, nth, uses, (def_rel, def_marker, def_nth) = case
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        where = at(repo, rel, marker, nth)
        expected_uses = {
            (uri(repo, r), _key(span(repo, r, mk, nth=n))) for r, mk, n in uses
        }
        declaration = (
            uri(repo, def_rel),
            _key(span(repo, def_rel, def_marker, nth=def_nth)),
        )
        for include in (False, True):
            found = await lc.text_document_references_async(
                lsp.ReferenceParams(
                    text_document=where.text_document,
                    position=where.position,
                    context=lsp.ReferenceContext(include_declaration=include),
                )
            )
            assert found is not None
            got = {(loc.uri, _key(loc.range)) for loc in found}
            wanted = expected_uses | ({declaration} if include else set())
            # the index may know more uses (imports, the Go method value);
            # the ones listed must be there, the declaration only on request
            assert wanted <= got, (include, got)
            assert (declaration in got) is include


def _key(r: lsp.Range) -> tuple[int, int, int, int]:
    return (r.start.line, r.start.character, r.end.line, r.end.character)


# (file, the outline as nested (name, kind, children))
OUTLINES = {
    "python": (
        "py/shapes.py",
        [
            ("Circle", lsp.SymbolKind.Class, [("area", lsp.SymbolKind.Method, [])]),
            ("make", lsp.SymbolKind.Function, []),
        ],
    ),
    "typescript": (
        "ts/app.ts",
        [
            (
                "Greeter",
                lsp.SymbolKind.Class,
                [
                    ("name", lsp.SymbolKind.Field, []),
                    ("hello", lsp.SymbolKind.Method, []),
                ],
            ),
            ("g", lsp.SymbolKind.Variable, []),
        ],
    ),
    "go": (
        "go/main.go",
        [
            ("Server", lsp.SymbolKind.Struct, [("Name", lsp.SymbolKind.Field, [])]),
            ("Start", lsp.SymbolKind.Method, []),
            ("main", lsp.SymbolKind.Function, []),
        ],
    ),
}

Tree = list[tuple[str, lsp.SymbolKind, "Tree"]]


def _shape(symbols: list[lsp.DocumentSymbol]) -> Tree:
    return [(s.name, s.kind, _shape(list(s.children or []))) for s in symbols]


@pytest.mark.parametrize("case", OUTLINES.values(), ids=OUTLINES.keys())
async def test_document_symbols_are_a_tree(
    config: Config,
    daemon: Daemon,
    client: AsyncClient,
    repo: Path,
    case: tuple[str, Tree],
) -> None:
    rel, expected = case
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        found = await lc.text_document_document_symbol_async(
            lsp.DocumentSymbolParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri(repo, rel))
            )
        )
        assert found is not None
        symbols = [s for s in found if isinstance(s, lsp.DocumentSymbol)]
        assert len(symbols) == len(found), "hierarchical, not SymbolInformation"
        assert _shape(symbols) == expected
        first = symbols[0]
        name = first.selection_range
        assert name.start.line >= first.range.start.line
        assert name.end.line <= first.range.end.line


# (file, marker, nth, text the hover must show)
HOVERS = {
    "python": (
        "py/shapes.py",
        "helper",
        1,
        ["def helper(x: float) -> float", "Square x."],
    ),
    "typescript": ("ts/app.ts", "greet", 1, ["greet(who: string)", "Greet someone."]),
    "go": (
        "go/main.go",
        "Start",
        2,
        ["func (s *Server) Start() error", "Start starts"],
    ),
}


@pytest.mark.parametrize("case", HOVERS.values(), ids=HOVERS.keys())
async def test_hover_shows_signature_and_docstring(
    config: Config,
    daemon: Daemon,
    client: AsyncClient,
    repo: Path,
    case: tuple[str, str, int, list[str]],
) -> None:
    rel, marker, nth, texts = case
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        where = at(repo, rel, marker, nth)
        hover = await lc.text_document_hover_async(
            lsp.HoverParams(text_document=where.text_document, position=where.position)
        )
        assert hover is not None and isinstance(hover.contents, lsp.MarkupContent)
        assert hover.contents.kind == lsp.MarkupKind.Markdown
        for text in texts:
            assert text in hover.contents.value
        assert hover.range == span(repo, rel, marker, nth=nth)


async def test_workspace_symbols_are_ranked_with_lsp_kinds(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        for query, name, kind, rel in [
            ("Circle", "Circle", lsp.SymbolKind.Class, "py/shapes.py"),
            ("Greeter", "Greeter", lsp.SymbolKind.Class, "ts/app.ts"),
            ("Server", "Server", lsp.SymbolKind.Struct, "go/main.go"),
            ("helper", "helper", lsp.SymbolKind.Function, "py/util.py"),
        ]:
            found = await lc.workspace_symbol_async(
                lsp.WorkspaceSymbolParams(query=query)
            )
            assert found, query
            best = found[0]
            assert isinstance(best, lsp.SymbolInformation)
            assert (best.name, best.kind, best.location.uri) == (
                name,
                kind,
                uri(repo, rel),
            )
        method = await lc.workspace_symbol_async(
            lsp.WorkspaceSymbolParams(query="area")
        )
        assert method and isinstance(method[0], lsp.SymbolInformation)
        assert method[0].container_name == "Circle"
        assert method[0].kind == lsp.SymbolKind.Method


async def test_axd_search_command(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    async with lsp_session(config, repo) as (lc, init):
        await ready(client, repo)
        provider = init.capabilities.execute_command_provider
        assert provider is not None and "axd.search" in provider.commands
        hits = await lc.workspace_execute_command_async(
            lsp.ExecuteCommandParams(command="axd.search", arguments=["square helper"])
        )
        assert isinstance(hits, list) and hits
        assert hits[0]["uri"] == uri(repo, "py/util.py")
        assert hits[0]["range"]["start"] == {"line": 0, "character": 0}
        filtered = await lc.workspace_execute_command_async(
            lsp.ExecuteCommandParams(
                command="axd.search",
                arguments=[{"query": "greet", "languages": ["go"], "limit": 5}],
            )
        )
        assert filtered == []


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["utf-16"], "utf-16"),
        (None, "utf-16"),
        (["utf-32", "utf-16", "utf-8"], "utf-8"),
        (["utf-8"], "utf-8"),
    ],
)
async def test_position_encoding_on_a_multibyte_line(
    config: Config,
    daemon: Daemon,
    client: AsyncClient,
    repo: Path,
    offered: list[str] | None,
    chosen: str,
) -> None:
    rel = "py/uni.py"
    async with lsp_session(config, repo, encodings=offered) as (lc, init):
        assert init.capabilities.position_encoding == chosen
        await ready(client, repo)
        # the second call of café comes after the 4-byte, 2-unit 𝒳
        for nth in (1, 2):
            where = position(repo, rel, "café", nth=nth, encoding=chosen)
            found = await lc.text_document_definition_async(
                lsp.DefinitionParams(
                    text_document=lsp.TextDocumentIdentifier(uri=uri(repo, rel)),
                    position=lsp.Position(
                        line=where.line, character=where.character + 3
                    ),
                )
            )
            assert found == [
                lsp.Location(
                    uri=uri(repo, rel), range=span(repo, rel, "café", encoding=chosen)
                )
            ]
        refs = await lc.text_document_references_async(
            lsp.ReferenceParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri(repo, rel)),
                position=position(repo, rel, "café", encoding=chosen),
                context=lsp.ReferenceContext(include_declaration=False),
            )
        )
        assert refs is not None
        assert sorted(_key(r.range) for r in refs) == sorted(
            _key(span(repo, rel, "café", nth=n, encoding=chosen)) for n in (1, 2)
        )


async def test_unsaved_buffer_decides_the_identifier(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    rel = "py/shapes.py"
    async with lsp_session(config, repo) as (lc, _):
        await ready(client, repo)
        # The editor's buffer has a new first line the file on disk lacks.
        open_document(lc, repo, rel, "x = helper(1)\n" + (repo / rel).read_text())
        here = lsp.TextDocumentIdentifier(uri=uri(repo, rel))
        found = await lc.text_document_definition_async(
            lsp.DefinitionParams(
                text_document=here, position=lsp.Position(line=0, character=6)
            )
        )
        assert found == [
            lsp.Location(
                uri=uri(repo, "py/util.py"), range=span(repo, "py/util.py", "helper")
            )
        ]
        # an edit moves `Circle` onto line 0: the buffer, not the disk, is read
        lc.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(
                    uri=here.uri, version=2
                ),
                content_changes=[
                    lsp.TextDocumentContentChangeWholeDocument(text="y = Circle()\n")
                ],
            )
        )
        moved = await lc.text_document_definition_async(
            lsp.DefinitionParams(
                text_document=here, position=lsp.Position(line=0, character=5)
            )
        )
        assert moved == [lsp.Location(uri=here.uri, range=span(repo, rel, "Circle"))]


async def test_an_edit_on_disk_is_visible_to_the_next_request(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    async with lsp_session(config, repo) as (lc, _):
        before = await ready(client, repo)
        query = lsp.WorkspaceSymbolParams(query="brand_new_function")
        assert await lc.workspace_symbol_async(query) == []
        (repo / "py" / "fresh.py").write_text("def brand_new_function():\n    pass\n")
        # what an editor that watches files would send: accepted, ignored
        lc.workspace_did_change_watched_files(
            lsp.DidChangeWatchedFilesParams(
                changes=[
                    lsp.FileEvent(
                        uri=uri(repo, "py/fresh.py"), type=lsp.FileChangeType.Created
                    )
                ]
            )
        )
        await client.call(
            m.INDEX_WAIT,
            t.IndexWaitParams(
                root=str(repo), generation=before + 1, timeout_s=READY_GUARD_S
            ),
        )
        found = await lc.workspace_symbol_async(query)
        assert found and isinstance(found[0], lsp.SymbolInformation)
        assert found[0].location.uri == uri(repo, "py/fresh.py")
        assert lc.messages == []


async def test_utf16_columns_follow_a_file_that_becomes_non_ascii(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path
) -> None:
    # The server remembers that a file is ASCII (byte columns are UTF-16
    # columns there) until the daemon reports the file changed: the symbol's
    # end column must follow an edit that puts multi-byte text before it.
    rel = "py/late.py"
    path = repo / rel
    path.write_text('def late_target():\n    return "ab"\n')
    query = lsp.WorkspaceSymbolParams(query="late_target")

    async def end_character() -> int:
        found = await lc.workspace_symbol_async(query)
        assert found and isinstance(found[0], lsp.SymbolInformation)
        return found[0].location.range.end.character

    async with lsp_session(config, repo) as (lc, init):
        assert init.capabilities.position_encoding == "utf-16"
        before = await ready(client, repo)
        assert await end_character() == len('    return "ab"')
        path.write_text('def late_target():\n    return "éé"\n')
        await client.call(
            m.INDEX_WAIT,
            t.IndexWaitParams(
                root=str(repo), generation=before + 1, timeout_s=READY_GUARD_S
            ),
        )
        indexed = await client.call(
            m.SYMBOLS_SEARCH, t.SymbolSearchParams(root=str(repo), query="late_target")
        )
        assert indexed.symbols[0].range.end_col == len('    return "éé"'.encode())
        # index.changed reaches the server on its own connection; ask until it
        # has (the guard only bounds a hang)
        with anyio.fail_after(30):
            while await end_character() != len('    return "éé"'):
                pass


async def test_what_the_index_cannot_answer_is_empty_not_an_error(
    config: Config, daemon: Daemon, client: AsyncClient, repo: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text("def helper():\n    pass\n")
    gone = tmp_path / "no-such-folder"  # a folder the daemon refuses
    async with lsp_session(config, repo, folders=[gone, repo]) as (lc, _):
        await ready(client, repo)
        assert await lc.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="make"))
        blank = lsp.TextDocumentIdentifier(uri=uri(repo, "py/shapes.py"))
        between = lsp.Position(line=1, character=0)  # an empty line
        assert (
            await lc.text_document_definition_async(
                lsp.DefinitionParams(text_document=blank, position=between)
            )
            == []
        )
        assert (
            await lc.text_document_hover_async(
                lsp.HoverParams(text_document=blank, position=between)
            )
            is None
        )
        far = lsp.Position(line=999, character=999)
        assert (
            await lc.text_document_definition_async(
                lsp.DefinitionParams(text_document=blank, position=far)
            )
            == []
        )
        # a file in no workspace, and one that does not exist
        for elsewhere in (outside.as_uri(), uri(repo, "py/missing.py")):
            doc = lsp.TextDocumentIdentifier(uri=elsewhere)
            assert (
                await lc.text_document_definition_async(
                    lsp.DefinitionParams(
                        text_document=doc, position=lsp.Position(line=0, character=5)
                    )
                )
                == []
            )
            assert (
                await lc.text_document_document_symbol_async(
                    lsp.DocumentSymbolParams(text_document=doc)
                )
                == []
            )
        assert (
            await lc.workspace_symbol_async(lsp.WorkspaceSymbolParams(query="")) == []
        )
        assert (
            await lc.workspace_execute_command_async(
                lsp.ExecuteCommandParams(
                    command="axd.search", arguments=[{"query": ""}]
                )
            )
            == []
        )
        assert lc.messages == []


async def start_daemon(tg: TaskGroup, config: Config) -> Callable[[], Awaitable[None]]:
    """An in-process daemon in `tg`; the coroutine function that stops it."""
    instance, stopped = Daemon(config), anyio.Event()

    async def run(*, task_status: TaskStatus[None]) -> None:
        try:
            await instance.run(task_status=task_status)
        finally:
            stopped.set()

    await tg.start(run)

    async def stop() -> None:
        instance.request_stop()
        await stopped.wait()

    return stop


async def test_a_daemon_that_goes_away_is_reconnected_with_one_message(
    config: Config, repo: Path
) -> None:
    outline = lsp.DocumentSymbolParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri(repo, "py/util.py"))
    )
    async with anyio.create_task_group() as tg:
        stop = await start_daemon(tg, config)
        async with lsp_session(config, repo) as (lc, _):
            async with await AsyncClient.connect(str(config.socket_path)) as client:
                await ready(client, repo)
            assert await lc.text_document_document_symbol_async(outline)
            assert lc.messages == []

            # A restart between two requests: reconnected, said once.
            await stop()
            stop = await start_daemon(tg, config)
            assert await lc.text_document_document_symbol_async(outline)
            assert await lc.text_document_document_symbol_async(outline)
            assert [m.type for m in lc.messages] == [lsp.MessageType.Info]

            # An outage: empty answers, one warning however many requests.
            await stop()
            assert await lc.text_document_document_symbol_async(outline) == []
            assert (
                await lc.workspace_symbol_async(
                    lsp.WorkspaceSymbolParams(query="helper")
                )
                == []
            )
            assert [m.type for m in lc.messages][1:] == [lsp.MessageType.Warning]
            assert "axd.sock" in lc.messages[1].message

            # Back: answers again, without another message.
            stop = await start_daemon(tg, config)
            assert await lc.text_document_document_symbol_async(outline)
            assert len(lc.messages) == 2
        await stop()


async def test_no_daemon_one_is_started_as_the_cli_does(
    config: Config, repo: Path
) -> None:
    async with lsp_session(config, repo, start=True) as (lc, _):
        try:
            async with await AsyncClient.connect(str(config.socket_path)) as client:
                await ready(client, repo)
            found = await lc.workspace_symbol_async(
                lsp.WorkspaceSymbolParams(query="Circle")
            )
            assert found and found[0].name == "Circle"
            assert lc.messages == []
        finally:
            stopped = await anyio.run_process(
                [*AXD_LSP[:-1], "stop"], env=environment_for(config), check=False
            )
            assert stopped.returncode == 0, stopped.stderr
