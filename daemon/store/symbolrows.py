"""How a symbol is stored since migration 0003: what a row can derive, it omits.

``qualified_name`` is not stored where it equals ``name``, and only its
qualifier (``qual_prefix``) is where it is ``<qualifier>.<name>``; ``signature`` as
the text before and after its first occurrence of ``name`` (``sig_head``,
``sig_tail``; no tail: the name is not in it); ``kind`` as a one-byte code; the
end line and the selection's lines as offsets from the start line.
The schema turns them back into the old columns (generated columns with the
old names), so readers use ``qualified_name``, ``signature``, ``kind``,
``end_line`` ... as before. ``name_lower`` stays a stored column: the name
searches read it from its index alone.
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
    "id, file_id, chunk_id, parent_id, name, name_lower, initials, qual_name,"
    " qual_prefix, kind_code, start_line, start_col, end_lines, end_col,"
    " sel_line_offset, sel_start_col, sel_lines, sel_end_col, sig_head, sig_tail,"
    " docstring"
)
INSERT = (
    f"INSERT INTO symbols ({COLUMNS})"
    f" VALUES ({', '.join('?' * (COLUMNS.count(',') + 1))})"
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
    qualified, qual_prefix = _qualifier(name, symbol.qualified_name)
    sig_head, sig_tail = _around(name, symbol.signature)
    s, sel = symbol.span, symbol.selection
    return (
        symbol_id,
        file_id,
        chunk_id,
        parent_id,
        name,
        name.lower(),
        initials,
        qualified,
        qual_prefix,
        KIND_CODES.get(symbol.kind, symbol.kind),
        s.start_line,
        s.start_col,
        s.end_line - s.start_line,
        s.end_col,
        sel.start_line - s.start_line,
        sel.start_col,
        sel.end_line - sel.start_line,
        sel.end_col,
        sig_head,
        sig_tail,
        symbol.docstring,
    )


def _qualifier(name: str, qualified: str) -> tuple[str | None, str | None]:
    """(qual_name, qual_prefix): both None when `qualified` is `name`."""
    if qualified == name:
        return None, None
    if qualified.endswith("." + name):
        return None, qualified[: len(qualified) - len(name) - 1]
    return qualified, None


def _around(name: str, signature: str) -> tuple[str, str | None]:
    """(sig_head, sig_tail): `signature` split around the first `name`."""
    at = signature.find(name)
    if at < 0:
        return signature, None
    return signature[:at], signature[at + len(name) :]
