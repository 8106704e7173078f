"""Captured definitions → nested, named symbols (and the chunker's units).

The second half of extraction (``daemon/index/extract.py`` runs the query and
collects the captures): `nest_symbols` orders definitions and ``@scope``
nodes by range and gives each symbol its name, qualified name, kind, range,
docstring, signature and parent.

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

import inspect
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from axd.daemon.index.chunker import Unit
from axd.daemon.records import Span, SymbolRecord

if TYPE_CHECKING:
    from tree_sitter import Node, Point

    from axd.daemon.index.languages import LanguageSpec

__all__ = ["Definition", "nest_symbols", "node_span", "node_text", "unquote"]

# A function directly inside one of these is a method.
_CONTAINER_KINDS = frozenset({"class", "struct", "interface", "trait", "enum"})
# Small members: not chunk units, so a chunk with a class's fields or a
# module's constants can still be "exactly one definition".
_MEMBER_KINDS = frozenset({"variable", "constant", "field", "property"})
_SCOPE = "scope"  # the kind the nesting walk gives @scope nodes
_METHOD_CONTAINERS = _CONTAINER_KINDS | {_SCOPE}
_SIGNATURE_CHARS = 200
_SIGNATURE_SCAN_BYTES = 1_000
_DOCSTRING_CHARS = 4_000
# Comment markers of the languages we know, stripped from doc comments.
_COMMENT_OPEN = re.compile(r"^\s*(?:/\*\*?|\(\*\*?|\{-\|?|<!--|--\[\[)")
_COMMENT_CLOSE = re.compile(r"(?:\*/|\*\)|-\}|-->|\]\])\s*$")
_COMMENT_LINE = re.compile(r"^\s*(?:///?!?|#+!?|--+|;+|%+|\*(?!/))\s?")
_STRING_PREFIX = re.compile(r"^[rRbBuUfF]{0,2}")


@dataclass(slots=True)
class Definition:
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
    # The innermost symbol this entry is or is inside of (a parent's index).
    nearest: int | None
    # The symbol most recently placed directly inside this one, so a clause
    # right after it can be merged into it (LanguageSpec.merge_clauses).
    last_child: int | None = None


def node_span(node: Node) -> Span:
    """A node's range as a records.Span (1-based lines, byte columns)."""
    start = node.start_point
    end = node.end_point
    return Span(start.row + 1, start.column, end.row + 1, end.column)


def text_span(node: Node, text: bytes) -> Span:
    """`node`'s range, given `text`, its bytes: on one line the end column
    is the start's plus the length (tree-sitter's columns count bytes), so
    no second point is built (#16, worker CPU: most names and references)."""
    head = node.start_point
    line = head.row + 1
    if b"\n" in text:
        tail = node.end_point
        return Span(line, head.column, tail.row + 1, tail.column)
    return Span(line, head.column, line, head.column + len(text))


def node_text(source: bytes, node: Node) -> str:
    # Slicing our own bytes is cheaper than node.text's copy through C.
    return source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1]
    return text


def _outer(
    node: Node, wrappers: frozenset[str], counts: dict[int, Counter[str]]
) -> Node:
    """The definition grown to wrappers that hold only it.

    `counts` caches a wrapper's named children by type (key: the wrapper's
    node id), one per file: counting them again for every definition made a
    Go `const ( ... )` block of n specs cost n² (#16).
    """
    if not wrappers:
        return node  # most grammars: no need for `parent` (a walk from the root)
    while True:
        parent = node.parent
        if parent is None or parent.type not in wrappers:
            return node
        by_type = counts.get(parent.id)
        if by_type is None:
            by_type = Counter(child.type for child in parent.named_children)
            counts[parent.id] = by_type
        if by_type[node.type] != 1:
            return node
        node = parent


def _leading(source: bytes, node: Node, spec: LanguageSpec) -> tuple[Node, list[Node]]:
    """The first node attached above `node` and the comment nodes among them."""
    if not spec.attach_comments and not spec.attached_types:
        return node, []  # nothing can attach: no need for `prev_sibling`
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
    text = _STRING_PREFIX.sub("", node_text(source, node))
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
            "", _COMMENT_OPEN.sub("", node_text(source, comment).rstrip())
        )
        lines.extend(_COMMENT_LINE.sub("", line).rstrip() for line in text.splitlines())
    return inspect.cleandoc("\n".join(lines))[:_DOCSTRING_CHARS] or None


def _signature(
    source: bytes, node: Node, outer: Node, name: Node, body_field: int | None
) -> str:
    """The header from the name's line up to the body, whitespace collapsed."""
    line_start = source.rfind(b"\n", 0, name.start_byte) + 1
    start = max(line_start, outer.start_byte)
    body = None if body_field is None else node.child_by_field_id(body_field)
    if body is not None and body.start_byte >= name.end_byte:
        end = body.start_byte
    else:
        end = source.find(b"\n", name.end_byte)
        end = outer.end_byte if end < 0 else min(end, outer.end_byte)
    end = max(min(end, start + _SIGNATURE_SCAN_BYTES), name.end_byte)
    # Whitespace runs to one space, ends trimmed: str.split's whitespace is
    # exactly the regex `\s` of str patterns, and cheaper than re.sub.
    text = " ".join(source[start:end].decode("utf-8", "replace").split())
    return text.rstrip(" {:").strip()[:_SIGNATURE_CHARS] or node_text(source, name)


def nest_symbols(
    source: bytes,
    spec: LanguageSpec,
    definitions: list[Definition],
    scopes: list[tuple[int, int, str]],
    body_field: int | None,
) -> tuple[list[SymbolRecord], list[Unit], int]:
    """Nest definitions and scopes by range; name, kind and parent each one.

    `body_field` is the grammar's id of the field ``body`` (None: it has
    none), where a signature ends.

    Also returns the chunker's units (the definitions it keeps whole) and how
    many definitions `spec.max_symbols` left out.
    """
    # One definition per name node: widest wins, then the earlier pattern.
    # Values: (definition, node grown to its wrappers, end byte, start byte).
    best: dict[tuple[int, int], tuple[Definition, Node, int, int]] = {}
    wrapper_counts: dict[int, Counter[str]] = {}
    wrappers = spec.wrapper_types
    for definition in definitions:
        node = definition.node
        outer = _outer(node, wrappers, wrapper_counts)
        outer_start = outer.start_byte
        end = outer.end_byte
        if definition.end is not node:  # else inside `outer`, which holds `node`
            end = max(end, definition.end.end_byte)
        name_node = definition.name
        key = (name_node.start_byte, name_node.end_byte)
        held = best.get(key)
        if held is not None:
            held_size = held[2] - held[3]
            size = end - outer_start
            if size < held_size or (
                size == held_size and definition.pattern >= held[0].pattern
            ):
                continue
        best[key] = (definition, outer, end, outer_start)

    # (start, -end, tiebreak, index into `entries`); scopes have negative index.
    order: list[tuple[int, int, int, int]] = []
    entries = list(best.values())
    for index, (_definition, _outer_node, end, outer_start) in enumerate(entries):
        order.append((outer_start, -end, 1, index))
    for index, (start, end, _name) in enumerate(scopes):
        order.append((start, -end, 0, -1 - index))
    order.sort()

    symbols: list[SymbolRecord] = []
    units: list[Unit] = []
    dropped = [0]  # definitions past spec.max_symbols
    # The definitions and scopes the walk is inside of, innermost last; the
    # file itself stands for the top level, so top-level clauses merge too.
    stack: list[_Open] = []
    top_level = _Open(-1, len(source), "", "", None, 0, None)
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
            stack.append(
                _Open(start, end, qualified, _SCOPE, None, depth, container.nearest)
            )
            continue
        definition, outer, _end, outer_start = entries[index]
        # JavaScript's private `#name` is stored bare: a lookup of `name`
        # must find it (the `#` is syntax, like `$` before PHP variables).
        name_node = definition.name
        name_bytes = source[name_node.start_byte : name_node.end_byte]
        name = unquote(name_bytes.decode("utf-8", "replace")).removeprefix("#")
        if name_node.type == "simple_symbol":
            name = name.removeprefix(":")  # Ruby `attr_reader :name`
        if definition.receiver is not None:
            name_path = f"{node_text(source, definition.receiver)}.{name}"
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
            parent = container.nearest
            first, comments = _leading(source, outer, spec)
            if definition.docstring is not None:
                docstring = _string_docstring(source, definition.docstring)
            else:
                docstring = _comment_docstring(source, comments) if comments else None
            start_point = first.start_point
            if definition.end is definition.node:
                end_point = outer.end_point  # `outer` holds `node`
            else:
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
                    selection=text_span(name_node, name_bytes),
                    signature=_signature(
                        source, definition.node, outer, definition.name, body_field
                    ),
                    docstring=docstring,
                    parent=parent,
                )
            )
            if kind not in _MEMBER_KINDS:
                unit_of[symbol_index] = len(units)
                units.append(Unit(first.start_byte, end, kind, qualified, outer_start))
        container.last_child = symbol_index
        nearest = container.nearest if symbol_index is None else symbol_index
        stack.append(
            _Open(start, end, qualified, kind, symbol_index, depth + 1, nearest)
        )
    return symbols, units, dropped[0]


def _end_point(outer: Node, last: Node) -> Point:
    """Where a definition ends: its wrapper's end, or its last node's."""
    return last.end_point if last.end_byte > outer.end_byte else outer.end_point
