"""axd results as LSP types: kinds, ranges, locations, symbols, hover text.

Mapping choices are written down in docs/protocol.md ("LSP front end").
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

from lsprotocol import types as lsp
from pygls.uris import from_fs_path

from axd.client.lsp.positions import UTF8, LineCache, byte_col_to_character

if TYPE_CHECKING:
    from axd.protocol import types as t

# PROTOCOL.md's fixed kind vocabulary -> LSP SymbolKind. LSP has no "type
# alias", "trait", "macro", "key" or "heading" kinds; the nearest are used.
KINDS: dict[str, lsp.SymbolKind] = {
    "function": lsp.SymbolKind.Function,
    "method": lsp.SymbolKind.Method,
    "class": lsp.SymbolKind.Class,
    "struct": lsp.SymbolKind.Struct,
    "interface": lsp.SymbolKind.Interface,
    "trait": lsp.SymbolKind.Interface,
    "enum": lsp.SymbolKind.Enum,
    "module": lsp.SymbolKind.Module,
    "namespace": lsp.SymbolKind.Namespace,
    "type": lsp.SymbolKind.TypeParameter,
    "constant": lsp.SymbolKind.Constant,
    "variable": lsp.SymbolKind.Variable,
    "field": lsp.SymbolKind.Field,
    "property": lsp.SymbolKind.Property,
    "macro": lsp.SymbolKind.Function,
    "key": lsp.SymbolKind.Key,
    "heading": lsp.SymbolKind.String,
}


def symbol_kind(kind: str) -> lsp.SymbolKind:
    """The LSP kind of an axd kind (Variable for one this version lacks)."""
    return KINDS.get(kind, lsp.SymbolKind.Variable)


class Place:
    """Where a workspace's results live: the daemon's root and the client's."""

    def __init__(self, root: str, folder: str) -> None:
        self.root = root  # resolved, as the daemon names it
        self.folder = folder  # as the client named it (symlinks kept)

    def disk_path(self, rel: str) -> str:
        """The file the index read, for column conversion."""
        return os.path.join(self.root, rel)

    def uri(self, rel: str) -> str:
        """The URI the client knows the file by."""
        return file_uri(os.path.join(self.folder, rel))


@lru_cache(maxsize=4096)
def file_uri(path: str) -> str:
    """`file://` URI of an absolute path (cached: results repeat files)."""
    return from_fs_path(path) or ""


class Ranges:
    """Converts axd ranges (1-based lines, byte columns) to LSP ranges."""

    def __init__(self, encoding: str, lines: LineCache) -> None:
        self.encoding = encoding
        self._lines = lines

    def range(self, path: str, r: t.Range) -> lsp.Range:
        """The LSP range of `r` in the file at `path`."""
        lines = None
        if self.encoding != UTF8 and (r.start_col or r.end_col):
            lines = self._lines.lines(path)
        return lsp.Range(
            start=self._position(lines, r.start_line, r.start_col),
            end=self._position(lines, r.end_line, r.end_col),
        )

    def _position(self, lines: list[bytes] | None, line: int, col: int) -> lsp.Position:
        text = (
            lines[line - 1] if lines is not None and 1 <= line <= len(lines) else None
        )
        character = byte_col_to_character(text, col, self.encoding)
        return lsp.Position(line=max(line - 1, 0), character=character)

    def location(self, place: Place, rel: str, r: t.Range) -> lsp.Location:
        """A Location for a workspace-relative path and range."""
        return lsp.Location(
            uri=place.uri(rel), range=self.range(place.disk_path(rel), r)
        )


def _contains(outer: lsp.Range, inner: lsp.Range) -> bool:
    def key(p: lsp.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(outer.start) <= key(inner.start) and key(inner.end) <= key(outer.end)


def document_symbols(
    ranges: Ranges, path: str, symbols: list[t.OutlineSymbol]
) -> list[lsp.DocumentSymbol]:
    """symbols.outline's tree as hierarchical DocumentSymbols."""
    out: list[lsp.DocumentSymbol] = []
    for symbol in symbols:
        whole = ranges.range(path, symbol.range)
        name = ranges.range(path, symbol.selection_range)
        if not _contains(whole, name):  # LSP requires it; never send a bad tree
            name = lsp.Range(start=whole.start, end=whole.start)
        out.append(
            lsp.DocumentSymbol(
                name=symbol.name or "?",
                kind=symbol_kind(symbol.kind),
                range=whole,
                selection_range=name,
                detail=symbol.kind,
                children=document_symbols(ranges, path, symbol.children),
            )
        )
    return out


def container(qualified_name: str, name: str) -> str | None:
    """`Engine.Config` for `Engine.Config.validate`; None at top level."""
    if qualified_name.endswith("." + name):
        return qualified_name[: -len(name) - 1] or None
    return None


def workspace_symbol(
    ranges: Ranges, place: Place, match: t.SymbolMatch
) -> lsp.SymbolInformation:
    """One symbols.search match as SymbolInformation."""
    return lsp.SymbolInformation(
        name=match.name,
        kind=symbol_kind(match.kind),
        location=ranges.location(place, match.path, match.range),
        container_name=container(match.qualified_name, match.name),
    )


def hover_markdown(definition: t.Definition) -> str:
    """Signature in a fenced block, then the docstring."""
    parts = []
    if definition.signature:
        fence = "```" + (definition.language or "")
        parts.append(f"{fence}\n{definition.signature}\n```")
    else:
        parts.append(f"`{definition.qualified_name}`")
    if definition.docstring:
        parts.append(definition.docstring.strip())
    parts.append(f"*{definition.kind}* in `{definition.path}`")
    return "\n\n".join(parts)


def search_hit(ranges: Ranges, place: Place, hit: t.SearchHit) -> dict[str, object]:
    """One ranked search hit for `axd.search`: a Location plus what to show."""
    location = ranges.location(place, hit.path, hit.range)
    return {
        "uri": location.uri,
        "range": {
            "start": {
                "line": location.range.start.line,
                "character": location.range.start.character,
            },
            "end": {
                "line": location.range.end.line,
                "character": location.range.end.character,
            },
        },
        "path": hit.path,
        "language": hit.language,
        "kind": hit.kind,
        "symbol": hit.symbol,
        "score": hit.score,
        "snippet": hit.snippet,
    }
