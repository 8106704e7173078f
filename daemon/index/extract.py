"""Extraction: one parse of one file into chunks, symbols, references, imports.

Pure functions over bytes, run in the worker processes; nothing here touches
the disk except reading the bundled query files once per process.

Query-file capture convention (``daemon/index/queries/<language>.scm``; every
language follows it, so this module never branches on the language):

* ``@definition.<kind>`` on the node spanning the whole definition, ``<kind>``
  from ``records.SYMBOL_KINDS`` (function, method, class, struct, interface,
  trait, enum, module, namespace, type, constant, variable, field, property,
  macro, key, heading), with ``@name`` on the name node in the same pattern.
  A pattern without ``@name`` defines nothing. A ``@definition.*`` capture
  holding several nodes (Dart's signature and body are siblings, no node
  spans both) ranges from the first node's start to the last node's end.
* ``@receiver`` (optional, same pattern): the type that qualifies a definition
  not nested in it (Go ``func (s *Server) Handle`` -> ``Server.Handle``).
* ``@scope`` on a node that qualifies the definitions nested in it without
  being a symbol (Rust ``impl Cache {...}``), ``@scope.name`` on the name
  (for ``impl Trait for Type`` the Type).
* ``@docstring`` (optional, same pattern): the node whose text is the
  docstring (Python's leading string). Without it the docstring is the block
  of comment nodes right above the definition, with no blank line in between
  (``LanguageSpec.attach_comments``), and the symbol's range starts at the
  first of them, as LSP's DocumentSymbol does.
* ``@reference.call`` / ``@reference.reference`` / ``@reference.import`` on
  identifier nodes; the name is the node's text.
* ``@import.module`` on the node holding the module as written (quotes and
  C's ``<...>`` are stripped), one record per match; a capture holding several
  nodes is one module, the source text from the first node's start to the
  last node's end (Scala ``import a.b.c`` captures ``a`` and ``c``).
  ``@import`` on the whole statement gives the record its span, else the
  module's.
* Captures starting with ``_`` are helpers for predicates and are ignored.

What the extractor adds, so queries stay simple:

* Qualified names join the names of the enclosing definitions and scopes with
  ``.`` (``Engine.Config.validate``); no module or package prefix.
* A ``function`` whose innermost container is a class, struct, interface,
  trait, enum or a scope becomes a ``method``.
* A definition whose parent is one of ``LanguageSpec.wrapper_types`` and the
  only child of its type there (TS ``export_statement``, Python
  ``decorated_definition``) is ranged over that wrapper.
* When two patterns define the same name node, the wider definition wins and
  a tie goes to the pattern written first.
* Definitions on the same node (C++ ``double x, y;``) are siblings, never
  each other's parent.
* A name is stored as a lookup would spell it: JavaScript's private
  ``#name`` without ``#``, a Ruby symbol (``attr_reader :name``, node type
  ``simple_symbol``) without ``:``.
* A reference on a definition's ``@name`` node is dropped: a function head is
  often a call node in the grammar (Elixir ``def f(x)``, Julia ``f(x) = 1``).
* With ``LanguageSpec.merge_clauses``, consecutive definitions of the same
  qualified name and kind under the same parent are clauses of one function
  (Elixir ``def`` clauses, Haskell equations, Erlang clauses) and become one
  symbol spanning all of them.
"""

from __future__ import annotations

import functools
import inspect
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec
import tree_sitter_language_pack
from tree_sitter import Parser, Query, QueryCursor

from axd.daemon.index.chunker import Unit, chunk_file
from axd.daemon.index.languages import LANGUAGES, LanguageSpec, canonical_language
from axd.daemon.records import (
    SYMBOL_KINDS,
    Extraction,
    ImportRecord,
    ReferenceKind,
    ReferenceRecord,
    Span,
    SymbolRecord,
)

if TYPE_CHECKING:
    from tree_sitter import Node, Point

__all__ = [
    "ParseTimeoutError",
    "QueryFileError",
    "UnknownLanguageError",
    "extract",
    "node_span",
]

QUERY_DIR = Path(__file__).with_name("queries")

_REFERENCE_KINDS: dict[str, ReferenceKind] = {
    "reference.call": "call",
    "reference.reference": "reference",
    "reference.import": "import",
}
# A function directly inside one of these is a method.
_CONTAINER_KINDS = frozenset({"class", "struct", "interface", "trait", "enum"})
# Small members: not chunk units, so a chunk with a class's fields or a
# module's constants can still be "exactly one definition".
_MEMBER_KINDS = frozenset({"variable", "constant", "field", "property"})
_SCOPE = "scope"  # the kind the nesting walk gives @scope nodes
_METHOD_CONTAINERS = _CONTAINER_KINDS | {_SCOPE}
# Per-file bounds, so one generated file cannot flood the store.
_MAX_REFERENCES = 50_000
_MAX_IMPORTS = 5_000
_SIGNATURE_CHARS = 200
_SIGNATURE_SCAN_BYTES = 1_000
_CONTEXT_CHARS = 200
_DOCSTRING_CHARS = 4_000
_WHITESPACE = re.compile(r"\s+")
# Comment markers of the languages we know, stripped from doc comments.
_COMMENT_OPEN = re.compile(r"^\s*(?:/\*\*?|\(\*\*?|\{-\|?|<!--|--\[\[)")
_COMMENT_CLOSE = re.compile(r"(?:\*/|\*\)|-\}|-->|\]\])\s*$")
_COMMENT_LINE = re.compile(r"^\s*(?:///?!?|#+!?|--+|;+|%+|\*(?!/))\s?")
_STRING_PREFIX = re.compile(r"^[rRbBuUfF]{0,2}")


class UnknownLanguageError(ValueError):
    """The language is neither a registry name nor an alias."""


class ParseTimeoutError(Exception):
    """Parsing took longer than the time limit."""


class QueryFileError(ValueError):
    """A query file does not compile or uses a capture outside the convention."""


@dataclass(slots=True)
class _Compiled:
    spec: LanguageSpec
    parser: Parser
    query: Query | None


@dataclass(slots=True)
class _Definition:
    pattern: int
    kind: str
    node: Node  # as captured; the first node of a multi-node capture
    end: Node  # the last node of the capture (`node` itself when just one)
    name: Node
    receiver: Node | None
    docstring: Node | None


@dataclass(slots=True)
class _Open:
    """A definition or scope the nesting walk is inside of."""

    start: int
    end: int
    qualified: str
    kind: str
    symbol: int | None  # index into the symbols; None for scopes
    depth: int
    # The symbol most recently placed directly inside this one, so a clause
    # right after it can be merged into it (LanguageSpec.merge_clauses).
    last_child: int | None = None


def node_span(node: Node) -> Span:
    """A node's range as a records.Span (1-based lines, byte columns)."""
    start = node.start_point
    end = node.end_point
    return Span(start.row + 1, start.column, end.row + 1, end.column)


def check_query(language: str, text: str) -> Query:
    """Compile `text` for `language` and check its capture names.

    :raises QueryFileError: on a syntax error or a capture the extractor
        does not know (a typo would otherwise silently extract nothing).
    """
    try:
        query = Query(tree_sitter_language_pack.get_language(language), text)  # type: ignore[arg-type]
    except (ValueError, NameError, SyntaxError) as exc:
        raise QueryFileError(f"{language}: {exc}") from exc
    known = {"name", "receiver", "scope", "scope.name", "docstring", "import"}
    known |= {"import.module", *_REFERENCE_KINDS}
    for index in range(query.capture_count):
        capture = query.capture_name(index)
        if capture.startswith("_") or capture in known:
            continue
        kind = capture.removeprefix("definition.")
        if capture.startswith("definition.") and kind in SYMBOL_KINDS:
            continue
        raise QueryFileError(f"{language}: unknown capture @{capture}")
    return query


@functools.cache
def _compiled(language: str) -> _Compiled:
    """Parser and query for a registry language, built once per process."""
    spec = LANGUAGES[language]
    parser = tree_sitter_language_pack.get_parser(language)  # type: ignore[arg-type]
    path = QUERY_DIR / spec.query_file
    # A registered language whose query file is not written yet is still
    # chunked; it just has no symbols, references or imports.
    query = check_query(language, path.read_text("utf-8")) if path.exists() else None
    return _Compiled(spec, parser, query)


def _text(source: bytes, node: Node) -> str:
    # Slicing our own bytes is cheaper than node.text's copy through C.
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1]
    return text


def _start_byte(node: Node) -> int:
    return node.start_byte


def _end_byte(node: Node) -> int:
    return node.end_byte


def _module_text(source: bytes, nodes: list[Node]) -> str:
    """An import's module: the span of its nodes, unquoted."""
    if len(nodes) == 1:
        text = _text(source, nodes[0]).strip()
    else:
        start = min(node.start_byte for node in nodes)
        end = max(node.end_byte for node in nodes)
        text = source[start:end].decode("utf-8", "replace").strip()
    # C's `#include <stdio.h>`: the brackets say "system path", not part of
    # the name resolvers look up.
    if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
        return text[1:-1]
    return _unquote(text)


class _SourceBuffer:
    """One reusable buffer per process for the read callback's source.

    py-tree-sitter 0.26 never releases what a read callback returns, so
    handing it slices of each file's bytes keeps every file a worker ever
    parsed alive (workers grew to 600+ MB on 100k files). Copying into one
    long-lived buffer leaks only a small memoryview per read.
    """

    def __init__(self) -> None:
        self._buffer = bytearray(1 << 20)
        self._view = memoryview(self._buffer)

    def load(self, source: bytes) -> memoryview:
        """A view of `source`'s bytes in the shared buffer."""
        size = len(source)
        if size > len(self._buffer):
            # Never resized in place (views of it may be alive): replaced.
            self._buffer = bytearray(max(size, 2 * len(self._buffer)))
            self._view = memoryview(self._buffer)
        self._buffer[:size] = source
        return self._view[:size]


_SOURCE = _SourceBuffer()


def _parse(compiled: _Compiled, source: bytes, timeout_ms: int) -> Node:
    """Parse with a deadline; tree-sitter checks it between steps."""
    deadline = time.monotonic() + timeout_ms / 1000
    whole = _SOURCE.load(source)
    size = len(source)

    def read(offset: int, _point: object) -> memoryview | bytes:
        if offset == 0:
            return whole
        return whole[offset:] if offset < size else b""

    def cancel(_offset: int, _has_error: bool) -> bool:
        return time.monotonic() > deadline

    try:
        tree = compiled.parser.parse(read, progress_callback=cancel)
    except ValueError as exc:
        # A cancelled parse keeps its state for resumption: drop it, or the
        # next file would continue this one.
        compiled.parser.reset()
        if time.monotonic() > deadline:
            raise ParseTimeoutError(f"parse exceeded {timeout_ms} ms") from exc
        raise
    # Only the callback form of parse() takes a progress callback, and its
    # tree holds no source, which query predicates (#eq?, #match?) read; a
    # re-parse with the finished tree as old tree reuses all of it (~5% of
    # the parse) and yields a tree that owns `source`.
    return compiled.parser.parse(source, tree).root_node


def _count_errors(root: Node) -> int:
    """ERROR and MISSING nodes, visiting only subtrees that contain one."""
    if not root.has_error:
        return 0
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        stack.extend(child for child in node.children if child.has_error)
    return count


def _no_predicate(
    predicate: str,
    args: list[tuple[str, Literal["capture", "string"]]],
    pattern_index: int,
    captures: dict[str, list[Node]],
) -> bool:
    # tree-sitter evaluates #eq?/#match?/#any-of? itself; anything else
    # (e.g. #set! directives borrowed from editors) is accepted.
    return True


def _outer(node: Node, wrappers: frozenset[str]) -> Node:
    """The definition grown to wrappers that hold only it."""
    while True:
        parent = node.parent
        if parent is None or parent.type not in wrappers:
            return node
        same = sum(1 for child in parent.named_children if child.type == node.type)
        if same != 1:
            return node
        node = parent


def _leading(source: bytes, node: Node, spec: LanguageSpec) -> tuple[Node, list[Node]]:
    """The first node attached above `node` and the comment nodes among them."""
    first = node
    comments: list[Node] = []
    sibling = node.prev_sibling
    while sibling is not None:
        is_comment = sibling.type in spec.comment_types
        if not (is_comment and spec.attach_comments) and (
            sibling.type not in spec.attached_types
        ):
            break
        gap = source[sibling.end_byte : first.start_byte]
        newlines = gap.count(b"\n") + source[
            sibling.end_byte - 1 : sibling.end_byte
        ].count(b"\n")
        if newlines > 1 or gap.strip():
            break  # a blank line (or code) separates them
        line_start = source.rfind(b"\n", 0, sibling.start_byte) + 1
        if source[line_start : sibling.start_byte].strip():
            break  # a trailing comment of the previous statement
        first = sibling
        if is_comment:
            comments.append(sibling)
        sibling = sibling.prev_sibling
    comments.reverse()
    return first, comments


def _string_docstring(source: bytes, node: Node) -> str | None:
    text = _STRING_PREFIX.sub("", _text(source, node))
    for quote in ('"""', "'''", '"', "'"):
        if (
            text.startswith(quote)
            and text.endswith(quote)
            and len(text) >= 2 * len(quote)
        ):
            text = text[len(quote) : -len(quote)]
            break
    return inspect.cleandoc(text)[:_DOCSTRING_CHARS] or None


def _comment_docstring(source: bytes, comments: list[Node]) -> str | None:
    lines: list[str] = []
    for comment in comments:
        text = _COMMENT_CLOSE.sub(
            "", _COMMENT_OPEN.sub("", _text(source, comment).rstrip())
        )
        lines.extend(_COMMENT_LINE.sub("", line).rstrip() for line in text.splitlines())
    return inspect.cleandoc("\n".join(lines))[:_DOCSTRING_CHARS] or None


def _signature(source: bytes, node: Node, outer: Node, name: Node) -> str:
    """The header from the name's line up to the body, whitespace collapsed."""
    line_start = source.rfind(b"\n", 0, name.start_byte) + 1
    start = max(line_start, outer.start_byte)
    body = node.child_by_field_name("body")
    if body is not None and body.start_byte >= name.end_byte:
        end = body.start_byte
    else:
        end = source.find(b"\n", name.end_byte)
        end = outer.end_byte if end < 0 else min(end, outer.end_byte)
    end = max(min(end, start + _SIGNATURE_SCAN_BYTES), name.end_byte)
    text = _WHITESPACE.sub(" ", source[start:end].decode("utf-8", "replace")).strip()
    return text.rstrip(" {:").strip()[:_SIGNATURE_CHARS] or _text(source, name)


def _context(source: bytes, node: Node) -> str:
    start = source.rfind(b"\n", 0, node.start_byte) + 1
    end = source.find(b"\n", node.start_byte)
    line = source[start : end if end >= 0 else len(source)]
    return line.decode("utf-8", "replace").strip()[:_CONTEXT_CHARS]


def _symbols(
    source: bytes,
    spec: LanguageSpec,
    definitions: list[_Definition],
    scopes: list[tuple[int, int, str]],
) -> tuple[list[SymbolRecord], list[Unit], int]:
    """Nest definitions and scopes by range; name, kind and parent each one.

    Also returns the chunker's units (the definitions it keeps whole) and how
    many definitions `spec.max_symbols` left out.
    """
    # One definition per name node: widest wins, then the earlier pattern.
    # Values: (definition, node grown to its wrappers, end byte).
    best: dict[tuple[int, int], tuple[_Definition, Node, int]] = {}
    for definition in definitions:
        outer = _outer(definition.node, spec.wrapper_types)
        end = max(outer.end_byte, definition.end.end_byte)
        key = (definition.name.start_byte, definition.name.end_byte)
        held = best.get(key)
        if held is not None:
            held_size = held[2] - held[1].start_byte
            size = end - outer.start_byte
            if size < held_size or (
                size == held_size and definition.pattern >= held[0].pattern
            ):
                continue
        best[key] = (definition, outer, end)

    # (start, -end, tiebreak, index into `entries`); scopes have negative index.
    order: list[tuple[int, int, int, int]] = []
    entries = list(best.values())
    for index, (_definition, outer, end) in enumerate(entries):
        order.append((outer.start_byte, -end, 1, index))
    for index, (start, end, _name) in enumerate(scopes):
        order.append((start, -end, 0, -1 - index))
    order.sort()

    symbols: list[SymbolRecord] = []
    units: list[Unit] = []
    dropped = [0]  # definitions past spec.max_symbols
    # The definitions and scopes the walk is inside of, innermost last; the
    # file itself stands for the top level, so top-level clauses merge too.
    stack: list[_Open] = []
    top_level = _Open(-1, len(source), "", "", None, 0)
    unit_of: dict[int, int] = {}  # symbol index -> index into `units`
    max_depth = spec.max_symbol_depth
    merge = spec.merge_clauses
    for start, negative_end, _tie, index in order:
        end = -negative_end
        while stack and stack[-1].end < end:  # not inside the top container
            stack.pop()
        if index >= 0:
            # Definitions on one node (`double x, y;`) are siblings: the one
            # first in the order must not become the other's parent.
            while (
                stack
                and stack[-1].start == start
                and stack[-1].end == end
                and stack[-1].kind != _SCOPE
            ):
                stack.pop()
        container = stack[-1] if stack else top_level
        prefix = container.qualified
        depth = container.depth
        if index < 0:
            name = scopes[-1 - index][2]
            qualified = f"{prefix}.{name}" if prefix else name
            # A scope between two clauses means they are not consecutive.
            container.last_child = None
            stack.append(_Open(start, end, qualified, _SCOPE, None, depth))
            continue
        definition, outer, _end = entries[index]
        # JavaScript's private `#name` is stored bare: a lookup of `name`
        # must find it (the `#` is syntax, like `$` before PHP variables).
        name = _unquote(_text(source, definition.name)).removeprefix("#")
        if definition.name.type == "simple_symbol":
            name = name.removeprefix(":")  # Ruby `attr_reader :name`
        if definition.receiver is not None:
            name_path = f"{_text(source, definition.receiver)}.{name}"
        else:
            name_path = name
        qualified = f"{prefix}.{name_path}" if prefix else name_path
        kind = definition.kind
        if kind == "function" and container.kind in _METHOD_CONTAINERS:
            kind = "method"
        too_deep = max_depth is not None and depth >= max_depth
        symbol_index: int | None = None
        previous = container.last_child
        if (
            merge
            and previous is not None
            and symbols[previous].qualified_name == qualified
            and symbols[previous].kind == kind
        ):
            # Another clause of the function just before: grow that symbol
            # (and its chunk unit) rather than adding a second one.
            symbol_index = previous
            clause = symbols[previous]
            end_point = _end_point(outer, definition.end)
            symbols[previous] = msgspec.structs.replace(
                clause,
                span=Span(
                    clause.span.start_line,
                    clause.span.start_col,
                    end_point.row + 1,
                    end_point.column,
                ),
            )
            unit_index = unit_of.get(previous)
            if unit_index is not None:
                unit = units[unit_index]
                units[unit_index] = Unit(
                    unit.start, end, unit.kind, unit.qualified_name, unit.node_start
                )
        elif not too_deep and len(symbols) >= spec.max_symbols:
            dropped[0] += 1
        elif not too_deep:
            parent = next(
                (entry.symbol for entry in reversed(stack) if entry.symbol is not None),
                None,
            )
            first, comments = _leading(source, outer, spec)
            if definition.docstring is not None:
                docstring = _string_docstring(source, definition.docstring)
            else:
                docstring = _comment_docstring(source, comments) if comments else None
            start_point = first.start_point
            end_point = _end_point(outer, definition.end)
            symbol_index = len(symbols)
            symbols.append(
                SymbolRecord(
                    name=name,
                    qualified_name=qualified,
                    kind=kind,
                    span=Span(
                        start_point.row + 1,
                        start_point.column,
                        end_point.row + 1,
                        end_point.column,
                    ),
                    selection=node_span(definition.name),
                    signature=_signature(
                        source, definition.node, outer, definition.name
                    ),
                    docstring=docstring,
                    parent=parent,
                )
            )
            if kind not in _MEMBER_KINDS:
                unit_of[symbol_index] = len(units)
                units.append(
                    Unit(first.start_byte, end, kind, qualified, outer.start_byte)
                )
        container.last_child = symbol_index
        stack.append(_Open(start, end, qualified, kind, symbol_index, depth + 1))
    return symbols, units, dropped[0]


def _end_point(outer: Node, last: Node) -> Point:
    """Where a definition ends: its wrapper's end, or its last node's."""
    return last.end_point if last.end_byte > outer.end_byte else outer.end_point


def extract(
    source: bytes,
    language: str,
    *,
    max_chunk_bytes: int = 4096,
    timeout_ms: int = 5000,
) -> Extraction:
    """Parse `source` as `language` (name or alias) and extract everything.

    A file with syntax errors yields what its partial tree holds, with
    `parse_errors` counting the ERROR/MISSING nodes.

    :raises UnknownLanguageError: `language` is not in the registry.
    :raises ParseTimeoutError: parsing took longer than `timeout_ms`.
    """
    name = canonical_language(language)
    if name is None:
        raise UnknownLanguageError(f"unknown language {language!r}")
    compiled = _compiled(name)
    if not source:
        return Extraction(
            chunks=[], symbols=[], references=[], imports=[], parse_errors=0
        )
    spec = compiled.spec
    root = _parse(compiled, source, timeout_ms)

    definitions: list[_Definition] = []
    scopes: list[tuple[int, int, str]] = []
    found_references: list[tuple[ReferenceKind, Node]] = []
    imports: list[ImportRecord] = []
    seen_references: set[int] = set()
    name_ranges: set[tuple[int, int]] = set()  # (start, end) of @name nodes
    dropped_references = dropped_imports = 0
    if compiled.query is not None:
        cursor = QueryCursor(compiled.query)
        if spec.query_max_start_depth is not None:
            cursor.set_max_start_depth(spec.query_max_start_depth)
        for pattern, captures in cursor.matches(root, _no_predicate):
            for capture, nodes in captures.items():
                if capture.startswith("definition."):
                    names = captures.get("name")
                    if names:
                        receiver = captures.get("receiver")
                        docstring = captures.get("docstring")
                        first = last = nodes[0]
                        if len(nodes) > 1:
                            first = min(nodes, key=_start_byte)
                            last = max(nodes, key=_end_byte)
                        definitions.append(
                            _Definition(
                                pattern,
                                capture[11:],
                                first,
                                last,
                                names[0],
                                receiver[0] if receiver else None,
                                docstring[0] if docstring else None,
                            )
                        )
                        name_node = names[0]
                        name_ranges.add((name_node.start_byte, name_node.end_byte))
                elif capture == "scope":
                    scope_names = captures.get("scope.name")
                    if scope_names:
                        node = nodes[0]
                        scopes.append(
                            (
                                node.start_byte,
                                node.end_byte,
                                _text(source, scope_names[0]),
                            )
                        )
                elif capture == "import.module":
                    if len(imports) >= _MAX_IMPORTS:
                        dropped_imports += 1
                    else:
                        statement = captures.get("import")
                        if statement:
                            span = node_span(statement[0])
                        elif len(nodes) == 1:
                            span = node_span(nodes[0])
                        else:
                            head = min(nodes, key=_start_byte).start_point
                            tail = max(nodes, key=_end_byte).end_point
                            span = Span(
                                head.row + 1, head.column, tail.row + 1, tail.column
                            )
                        imports.append(ImportRecord(_module_text(source, nodes), span))
                else:
                    kind = _REFERENCE_KINDS.get(capture)
                    if kind is None:
                        continue
                    for node in nodes:
                        if node.start_byte in seen_references:
                            continue  # two patterns saw the same identifier
                        if len(found_references) >= _MAX_REFERENCES:
                            dropped_references += 1
                            continue
                        seen_references.add(node.start_byte)
                        found_references.append((kind, node))

    # The patterns for calls also match a function's head where the grammar
    # makes it a call (Elixir `def f(x)`, Julia `f(x) = 1`): a definition's
    # own name is not a use of it.
    references = [
        ReferenceRecord(
            _text(source, node), kind, node_span(node), _context(source, node)
        )
        for kind, node in found_references
        if (node.start_byte, node.end_byte) not in name_ranges
    ]
    symbols, units, dropped_symbols = _symbols(source, spec, definitions, scopes)
    references.sort(key=lambda r: (r.span.start_line, r.span.start_col))
    imports.sort(key=lambda i: (i.span.start_line, i.span.start_col))
    chunks = chunk_file(
        source,
        root,
        units,
        max_bytes=max_chunk_bytes,
        comment_types=spec.comment_types,
    )
    return Extraction(
        chunks=chunks,
        symbols=symbols,
        references=references,
        imports=imports,
        parse_errors=_count_errors(root),
        shortfall=_shortfall(
            ("symbols", len(symbols), dropped_symbols, spec.max_symbols),
            ("references", len(references), dropped_references, _MAX_REFERENCES),
            ("imports", len(imports), dropped_imports, _MAX_IMPORTS),
        ),
    )


def _shortfall(*counts: tuple[str, int, int, int]) -> str | None:
    """`files.explain`'s words for what per-file limits left out, if any."""
    parts = [
        f"{what}: kept {kept} of {kept + dropped} (limit {limit} per file)"
        for what, kept, dropped, limit in counts
        if dropped
    ]
    return "; ".join(parts) or None
