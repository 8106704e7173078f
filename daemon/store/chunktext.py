"""Chunk text as stored, and the source lines read back from it.

Since migration 0002 a chunk's text is stored zlib-compressed in
``chunks.ztext`` (``chunks.text`` is '' for those rows; rows written before
the migration keep their text there and a NULL ``ztext``), and a reference's
context line is not stored at all: a file's chunks tile it byte for byte,
so the line is read back from the chunks that cover it (#16: the chunk text
and the context lines were 1.3x and 0.55x the source bytes on disk).
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    import apsw

# As `extract` trimmed the context lines it used to store.
CONTEXT_CHARS = 200

# The chunk text of a `chunks` row aliased `c`, in the form `chunk_text` reads.
TEXT_COLUMNS = "c.text, c.ztext"


def pack(text: str) -> bytes:
    """Chunk text as stored in ``chunks.ztext`` (level 6: ~6% smaller than
    level 1 on source text; the worker pays for it, not the writer)."""
    return zlib.compress(text.encode("utf-8", "surrogatepass"), 6)


def chunk_text(text: object, ztext: object) -> str:
    """A chunk's text from its two columns (see the module docstring)."""
    if isinstance(ztext, bytes):
        return zlib.decompress(ztext).decode("utf-8", "surrogatepass")
    return str(text)


def line_contexts(
    conn: apsw.Connection, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """Source lines of files, keyed (file_id, line), trimmed and cut to
    `CONTEXT_CHARS`, from the chunks that cover them; '' where none does.

    One query per file: its chunks from the one holding the first wanted
    line to the one holding the last. They are contiguous (chunks tile the
    file), and the first holds the first byte of that line (a chunk that
    began inside the line would make the one before it end on it too, and
    so be selected first).
    """
    by_file: dict[int, set[int]] = {}
    for file_id, line in wanted:
        by_file.setdefault(file_id, set()).add(line)
    out: dict[tuple[int, int], str] = {}
    for file_id, lines in by_file.items():
        low, high = min(lines), max(lines)
        rows = conn.execute(
            "SELECT start_line, text, ztext FROM chunks"
            " WHERE file_id = ? AND start_line <= ? AND end_line >= ?"
            " ORDER BY start_byte",
            (file_id, high, low),
        ).fetchall()
        source: list[str] = []
        first = 0
        if rows:
            start = rows[0][0]
            assert isinstance(start, int)
            first = start
            source = "".join(chunk_text(t, z) for _, t, z in rows).split("\n")
        for line in lines:
            index = line - first
            text = source[index] if 0 <= index < len(source) else ""
            out[file_id, line] = text.strip()[:CONTEXT_CHARS].strip()
    return out
