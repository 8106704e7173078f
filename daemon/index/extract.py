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

What the extractor adds (qualified names, methods, wrappers, sibling and
clause rules, stored name spellings) is described in
``daemon/index/nesting.py``, which nests the captured definitions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import tree_sitter_language_pack
from tree_sitter import Parser, Query, QueryCursor

from axd.daemon.index.chunker import chunk_file
from axd.daemon.index.languages import LANGUAGES, LanguageSpec, canonical_language
from axd.daemon.index.nesting import (
    Definition,
    nest_symbols,
    node_span,
    node_text,
    text_span,
    unquote,
)
from axd.daemon.index.parsing import ParseTimeoutError, parse
from axd.daemon.records import (
    SYMBOL_KINDS,
    Extraction,
    ImportRecord,
    ReferenceKind,
    ReferenceRecord,
    Span,
)

if TYPE_CHECKING:
    from tree_sitter import Node

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
# Per-file bounds, so one generated file cannot flood the store.
_MAX_REFERENCES = 50_000
_MAX_IMPORTS = 5_000


class UnknownLanguageError(ValueError):
    """The language is neither a registry name nor an alias."""


class QueryFileError(ValueError):
    """A query file does not compile or uses a capture outside the convention."""


# What a capture does in `extract` (references are told by
# `_REFERENCE_KINDS`, before any role is looked up).
_DEFINE = 1
_SCOPE = 2
_IMPORT = 3


@dataclass(slots=True)
class _Compiled:
    spec: LanguageSpec
    parser: Parser
    query: Query | None
    # Capture name -> its role; captures read only through another one
    # (@name, @receiver...), helpers and references are absent.
    roles: dict[str, int]
    body_field: int | None  # the grammar's field id of ``body``, if it has one


def _roles(query: Query | None) -> dict[str, int]:
    roles: dict[str, int] = {}
    for index in range(query.capture_count if query is not None else 0):
        capture = query.capture_name(index)  # type: ignore[union-attr]
        if capture.startswith("definition."):
            roles[capture] = _DEFINE
        elif capture == "scope":
            roles[capture] = _SCOPE
        elif capture == "import.module":
            roles[capture] = _IMPORT
    return roles


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


def compiled(language: str) -> None:
    """Build `language`'s parser and query now (a worker's preload)."""
    _compiled(language)


@functools.cache
def _compiled(language: str) -> _Compiled:
    """Parser and query for a registry language, built once per process."""
    spec = LANGUAGES[language]
    parser = tree_sitter_language_pack.get_parser(language)  # type: ignore[arg-type]
    path = QUERY_DIR / spec.query_file
    # A registered language whose query file is not written yet is still
    # chunked; it just has no symbols, references or imports.
    query = check_query(language, path.read_text("utf-8")) if path.exists() else None
    body_field = parser.language.field_id_for_name("body") if parser.language else None
    return _Compiled(spec, parser, query, _roles(query), body_field)


def _start_byte(node: Node) -> int:
    return node.start_byte


def _end_byte(node: Node) -> int:
    return node.end_byte


def _module_text(source: bytes, nodes: list[Node]) -> str:
    """An import's module: the span of its nodes, unquoted."""
    if len(nodes) == 1:
        text = node_text(source, nodes[0]).strip()
    else:
        start = min(node.start_byte for node in nodes)
        end = max(node.end_byte for node in nodes)
        text = source[start:end].decode("utf-8", "replace").strip()
    # C's `#include <stdio.h>`: the brackets say "system path", not part of
    # the name resolvers look up.
    if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
        return text[1:-1]
    return unquote(text)


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
    root = parse(compiled.parser, source, timeout_ms)

    definitions: list[Definition] = []
    scopes: list[tuple[int, int, str]] = []
    # Reference captures by start byte: the first pattern to see an
    # identifier gives its kind; sorting the keys puts them in file order.
    found_references: dict[int, tuple[ReferenceKind, Node]] = {}
    imports: list[ImportRecord] = []
    name_ranges: set[tuple[int, int]] = set()  # (start, end) of @name nodes
    name_starts: set[int] = set()  # their starts: most references are none
    dropped_references = dropped_imports = 0
    if compiled.query is not None:
        cursor = QueryCursor(compiled.query)
        if spec.query_max_start_depth is not None:
            cursor.set_max_start_depth(spec.query_max_start_depth)
        roles = compiled.roles
        reference_kinds = _REFERENCE_KINDS
        for pattern, captures in cursor.matches(root, _no_predicate):
            for capture, nodes in captures.items():
                # References first: three matches in four are one of them.
                kind = reference_kinds.get(capture)
                if kind is not None:
                    for node in nodes:
                        start = node.start_byte
                        if start in found_references:
                            continue  # two patterns saw the same identifier
                        if len(found_references) >= _MAX_REFERENCES:
                            dropped_references += 1
                            continue
                        found_references[start] = (kind, node)
                    continue
                role = roles.get(capture)
                if role is None:
                    continue  # a helper capture, or @name/@receiver/...
                if role == _DEFINE:
                    names = captures.get("name")
                    if names:
                        receiver = captures.get("receiver")
                        docstring = captures.get("docstring")
                        first = last = nodes[0]
                        if len(nodes) > 1:
                            first = min(nodes, key=_start_byte)
                            last = max(nodes, key=_end_byte)
                        name_node = names[0]
                        definitions.append(
                            Definition(
                                pattern,
                                capture[11:],
                                first,
                                last,
                                name_node,
                                receiver[0] if receiver else None,
                                docstring[0] if docstring else None,
                            )
                        )
                        name_start = name_node.start_byte
                        name_ranges.add((name_start, name_node.end_byte))
                        name_starts.add(name_start)
                elif role == _SCOPE:
                    scope_names = captures.get("scope.name")
                    if scope_names:
                        node = nodes[0]
                        scopes.append(
                            (
                                node.start_byte,
                                node.end_byte,
                                node_text(source, scope_names[0]),
                            )
                        )
                elif len(imports) >= _MAX_IMPORTS:
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

    # The patterns for calls also match a function's head where the grammar
    # makes it a call (Elixir `def f(x)`, Julia `f(x) = 1`): a definition's
    # own name is not a use of it.
    # No context line: the store reads it back from the chunks when asked.
    # In file order: by start byte, which orders as (line, column) does and
    # is unique (one reference per start), so no record needs a sort key.
    references: list[ReferenceRecord] = []
    for start in sorted(found_references):
        kind, node = found_references[start]
        end = node.end_byte
        if start in name_starts and (start, end) in name_ranges:
            continue
        text = source[start:end]
        references.append(
            ReferenceRecord(
                text.decode("utf-8", "replace"), kind, text_span(node, text)
            )
        )
    symbols, units, dropped_symbols = nest_symbols(
        source, spec, definitions, scopes, compiled.body_field
    )
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
