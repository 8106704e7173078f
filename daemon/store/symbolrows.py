"""How a symbol is stored since migration 0003: what a row can derive, it omits.

``name_lower`` and ``qualified_name`` are stored (as ``lower_name`` and
``qual_name``) only where they differ from ``name``; ``kind`` is a one-byte
code; the end line and the selection's lines are offsets from the start line.
The schema turns them back into the old columns (generated columns with the
old names), so readers and indexes use ``name_lower``, ``kind``, ``end_line``
... as before. Together ~4 MB of deno's 28 MB symbols table (#16).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from axd.daemon.records import SymbolRecord

# The codes of migrations/0003's generated ``kind`` column, in its order. A
# kind without a code (one added to records.SYMBOL_KINDS later) is stored as
# its text, which the generated column passes through.
KIND_CODES: dict[str, int] = {
    kind: code
    for code, kind in enumerate(
        (
            "function",
            "method",
            "class",
            "struct",
            "interface",
            "trait",
            "enum",
            "module",
            "namespace",
            "type",
            "constant",
            "variable",
            "field",
            "property",
            "macro",
            "key",
            "heading",
        ),
        start=1,
    )
}

# The stored columns, in the order `symbol_row` returns them.
COLUMNS = (
    "id, file_id, chunk_id, parent_id, name, lower_name, initials, qual_name,"
    " kind_code, start_line, start_col, end_lines, end_col, sel_line_offset,"
    " sel_start_col, sel_lines, sel_end_col, signature, docstring"
)


def symbol_row(
    symbol_id: int,
    file_id: int,
    chunk_id: int | None,
    parent_id: int | None,
    initials: str,
    symbol: SymbolRecord,
) -> tuple[object, ...]:
    """The stored columns of one symbol (`COLUMNS`)."""
    name = symbol.name
    lower = name.lower()
    s, sel = symbol.span, symbol.selection
    return (
        symbol_id,
        file_id,
        chunk_id,
        parent_id,
        name,
        None if lower == name else lower,
        initials,
        None if symbol.qualified_name == name else symbol.qualified_name,
        KIND_CODES.get(symbol.kind, symbol.kind),
        s.start_line,
        s.start_col,
        s.end_line - s.start_line,
        s.end_col,
        sel.start_line - s.start_line,
        sel.start_col,
        sel.end_line - sel.start_line,
        sel.end_col,
        symbol.signature,
        symbol.docstring,
    )
