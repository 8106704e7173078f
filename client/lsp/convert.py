"""axd results as LSP wire shapes: kinds, ranges, locations, symbols, hover text.

Results are `wire` Structs, encoded to JSON in one msgspec call (no
lsprotocol objects, no cattrs on the hot path). Mapping choices are written
down in docs/protocol.md ("LSP front end").
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import msgspec
from lsprotocol.types import SymbolKind
from pygls.uris import from_fs_path

from axd.client.lsp import wire
from axd.client.lsp.positions import UTF8, LineCache, Wide, byte_col_to_character

if TYPE_CHECKING:
    from axd.protocol import types as t

# PROTOCOL.md's fixed kind vocabulary -> LSP SymbolKind. LSP has no "type
# alias", "trait", "macro", "key" or "heading" kinds; the nearest are used.
_LSP_KINDS: dict[str, SymbolKind] = {
    "function": SymbolKind.Function,
    "method": SymbolKind.Method,
    "class": SymbolKind.Class,
    "struct": SymbolKind.Struct,
    "interface": SymbolKind.Interface,
    "trait": SymbolKind.Interface,
    "enum": SymbolKind.Enum,
    "module": SymbolKind.Module,
    "namespace": SymbolKind.Namespace,
    "type": SymbolKind.TypeParameter,
    "constant": SymbolKind.Constant,
    "variable": SymbolKind.Variable,
    "field": SymbolKind.Field,
    "property": SymbolKind.Property,
    "macro": SymbolKind.Function,
    "key": SymbolKind.Key,
    "heading": SymbolKind.String,
}
KINDS: dict[str, int] = {name: int(kind) for name, kind in _LSP_KINDS.items()}
OTHER_KIND = int(SymbolKind.Variable)


def symbol_kind(kind: str) -> int:
    """The LSP kind of an axd kind (Variable for one this version lacks)."""
    return KINDS.get(kind, OTHER_KIND)


class Place:
    """Where a workspace's results live: the daemon's root and the client's."""

    def __init__(self, root: str, folder: str) -> None:
        self.root = root  # resolved, as the daemon names it
        self.folder = folder  # as the client named it (symlinks kept)
        self._uris: dict[str, str] = {}

    def uri(self, rel: str) -> str:
        """The URI the client knows the file by (cached: results repeat files)."""
        found = self._uris.get(rel)
        if found is None:
            if len(self._uris) >= URIS_PER_PLACE:
                self._uris.clear()  # rare; refilled as results come
            found = from_fs_path(os.path.join(self.folder, rel)) or ""
            self._uris[rel] = found
        return found


URIS_PER_PLACE = 100_000


class Ranges:
    """Converts axd ranges (1-based lines, byte columns) to LSP ranges.

    `watched` holds the daemon roots whose changes reach `lines.forget`
    (`Backend.watching`): their files are not `stat`ed per result.
    """

    def __init__(self, encoding: str, lines: LineCache, watched: set[str]) -> None:
        self.encoding = encoding
        self.lines = lines
        self.watched = watched
        self._convert = encoding != UTF8

    def range(self, place: Place, rel: str, r: t.Range) -> wire.Range:
        """The LSP range of `r` in workspace file `rel`."""
        start_col, end_col = r.start_col, r.end_col
        if self._convert and (start_col or end_col):
            root = place.root
            wide = self.lines.wide_lines(root, rel, watched=root in self.watched)
            if wide is not None:
                start_col = _character(wide, r.start_line, start_col, self.encoding)
                end_col = _character(wide, r.end_line, end_col, self.encoding)
        return wire.Range(
            wire.Position(r.start_line - 1 if r.start_line > 0 else 0, start_col),
            wire.Position(r.end_line - 1 if r.end_line > 0 else 0, end_col),
        )

    def location(self, place: Place, rel: str, r: t.Range) -> wire.Location:
        """A Location for a workspace-relative path and range."""
        return wire.Location(place.uri(rel), self.range(place, rel, r))


def _character(wide: Wide, line: int, col: int, encoding: str) -> int:
    text = wide.get(line)  # None: an ASCII line, where bytes are characters
    return col if text is None else byte_col_to_character(text, col, encoding)


def _contains(outer: wire.Range, inner: wire.Range) -> bool:
    def key(p: wire.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(outer.start) <= key(inner.start) and key(inner.end) <= key(outer.end)


def document_symbols(
    ranges: Ranges, place: Place, rel: str, symbols: list[t.OutlineSymbol]
) -> list[wire.DocumentSymbol]:
    """symbols.outline's tree as hierarchical DocumentSymbols."""
    out: list[wire.DocumentSymbol] = []
    for symbol in symbols:
        whole = ranges.range(place, rel, symbol.range)
        name = ranges.range(place, rel, symbol.selection_range)
        if not _contains(whole, name):  # LSP requires it; never send a bad tree
            name = wire.Range(start=whole.start, end=whole.start)
        out.append(
            wire.DocumentSymbol(
                name=symbol.name or "?",
                kind=symbol_kind(symbol.kind),
                range=whole,
                selection_range=name,
                detail=symbol.kind,
                children=document_symbols(ranges, place, rel, symbol.children),
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
) -> wire.SymbolInformation:
    """One symbols.search match as SymbolInformation."""
    name = match.name
    return wire.SymbolInformation(
        name,
        KINDS.get(match.kind, OTHER_KIND),
        ranges.location(place, match.path, match.range),
        container(match.qualified_name, name),
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
        "range": msgspec.to_builtins(location.range),
        "path": hit.path,
        "language": hit.language,
        "kind": hit.kind,
        "symbol": hit.symbol,
        "score": hit.score,
        "snippet": hit.snippet,
    }
