"""A sample tree and an `axd lsp` session for the LSP tests (pytest-lsp's client)."""

from __future__ import annotations

import os
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client
from support import environment_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from axd.daemon.config import Config

AXD_LSP = [sys.executable, "-c", "from axd.client.cli import run; run()", "lsp"]

TREE = {
    "py/__init__.py": "",
    "py/util.py": 'def helper(x: float) -> float:\n    """Square x."""\n    return x * x\n',
    "py/shapes.py": (
        '"""Shapes."""\n'
        "\n"
        "from py.util import helper\n"
        "\n"
        "\n"
        "class Circle:\n"
        '    """A round shape."""\n'
        "\n"
        "    def area(self, r: float) -> float:\n"
        '        """Area of the circle."""\n'
        "        return helper(r) * 3.14\n"
        "\n"
        "\n"
        "def make() -> Circle:\n"
        "    c = Circle()\n"
        "    c.area(2.0)\n"
        "    return c\n"
    ),
    # Multi-byte characters before the identifiers: 2-byte (é, ü, ï), 3-byte
    # (€) and a 4-byte one outside the BMP (𝒳: two UTF-16 units).
    "py/uni.py": (
        "def café(x):\n"
        "    return x\n"
        'ünï = "€€€"; value = café(ünï); 𝒳 = value; other = café(𝒳)\n'
    ),
    "ts/lib.ts": (
        "/** Greet someone. */\n"
        "export function greet(who: string): string {\n"
        '  return "héllo " + who;\n'
        "}\n"
    ),
    "ts/app.ts": (
        'import { greet } from "./lib";\n'
        "\n"
        "export class Greeter {\n"
        "  name: string;\n"
        "  hello(): string {\n"
        "    return greet(this.name);\n"
        "  }\n"
        "}\n"
        "\n"
        "const g = new Greeter();\n"
    ),
    "go/main.go": (
        "package main\n"
        "\n"
        'import "fmt"\n'
        "\n"
        "// Server serves.\n"
        "type Server struct {\n"
        "\tName string\n"
        "}\n"
        "\n"
        "// Start starts the server.\n"
        "func (s *Server) Start() error {\n"
        "\tfmt.Println(s.Name)\n"
        "\treturn nil\n"
        "}\n"
        "\n"
        "func main() {\n"
        '\ts := &Server{Name: "x"}\n'
        "\ts.Start()\n"
        "}\n"
    ),
}


def write_tree(root: Path) -> Path:
    """The sample tree under `root`; its resolved path."""
    for rel, text in TREE.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root.resolve()


def units(text: str, encoding: str) -> int:
    """Length of `text` in `encoding` code units (the tests' own oracle)."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    return len(text.encode("utf-16-le")) // 2


def position(
    root: Path, rel: str, marker: str, *, nth: int = 0, encoding: str = "utf-16"
) -> lsp.Position:
    """The LSP position of the `nth` occurrence of `marker` in `rel`."""
    lines = TREE[rel].split("\n")
    seen = 0
    for number, line in enumerate(lines):
        start = line.find(marker)
        while start >= 0:
            if seen == nth:
                return lsp.Position(
                    line=number, character=units(line[:start], encoding)
                )
            seen += 1
            start = line.find(marker, start + 1)
    raise AssertionError(f"{marker!r} #{nth} not in {rel}")


def span(
    root: Path, rel: str, marker: str, *, nth: int = 0, encoding: str = "utf-16"
) -> lsp.Range:
    """The LSP range of the `nth` occurrence of `marker` in `rel`."""
    start = position(root, rel, marker, nth=nth, encoding=encoding)
    end = lsp.Position(
        line=start.line, character=start.character + units(marker, encoding)
    )
    return lsp.Range(start=start, end=end)


def uri(root: Path, rel: str) -> str:
    return (root / rel).as_uri()


def capabilities(encodings: list[str] | None) -> lsp.ClientCapabilities:
    """Neovim 0.11's capabilities, offering `encodings` (None: no offer)."""
    caps = client_capabilities("neovim@v0.11.0")
    assert caps.general is not None
    caps.general.position_encodings = encodings  # type: ignore[assignment]
    return caps


@asynccontextmanager
async def lsp_session(
    config: Config,
    root: Path,
    *,
    encodings: list[str] | None = None,
    folders: list[Path] | None = None,
    start: bool = False,
) -> AsyncIterator[tuple[LanguageClient, lsp.InitializeResult]]:
    """`axd lsp` as a subprocess, initialized on `folders`.

    Without `start`, `--no-start`: the test provides the daemon.
    """
    client = make_test_lsp_client()
    options = [] if start else ["--no-start"]
    await client.start_io(*AXD_LSP, *options, env=environment_for(config))
    try:
        result = await client.initialize_session(
            lsp.InitializeParams(
                capabilities=capabilities(encodings),
                root_uri=root.as_uri(),
                workspace_folders=[
                    lsp.WorkspaceFolder(uri=f.as_uri(), name=f.name)
                    for f in folders or [root]
                ],
            )
        )
        yield client, result
        await client.shutdown_session()
    finally:
        server = client._server  # pygls' stop() waits for the process to exit
        if server is not None and server.returncode is None:
            server.terminate()
        await client.stop()


def open_document(client: LanguageClient, root: Path, rel: str, text: str) -> None:
    """didOpen with the editor's (possibly unsaved) text."""
    language = {"py": "python", "ts": "typescript", "go": "go"}[
        os.path.splitext(rel)[1][1:]
    ]
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri(root, rel), language_id=language, version=1, text=text
            )
        )
    )
