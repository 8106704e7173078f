"""Chunk text as stored, and the source lines read back from it.

Since migration 0002 a chunk's text is stored zlib-compressed in
``chunks.ztext`` (``chunks.text`` is '' for those rows; rows written before
the migration keep their text there and a NULL ``ztext``), and a reference's
context line is not stored at all: a file's chunks tile it byte for byte,
so the line is read back from the chunks that cover it (#16: the chunk text
and the context lines were 1.3x and 0.55x the source bytes on disk).
"""

from __future__ import annotations

import bisect
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    import apsw

# As `extract` trimmed the context lines it used to store.
CONTEXT_CHARS = 200


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

    One query per file, and only the chunks whose lines include a wanted
    one are decompressed. Chunks tile the file, so consecutive needed chunks
    join into a run of text starting at the first one's ``start_line``; a
    wanted line that begins in an earlier chunk makes that chunk needed too
    (it ends on the line), so a run never starts inside a wanted line.
    """
    by_file: dict[int, set[int]] = {}
    for file_id, line in wanted:
        by_file.setdefault(file_id, set()).add(line)
    out: dict[tuple[int, int], str] = {}
    for file_id, lines in by_file.items():
        found: dict[int, str] = {}
        ordered = sorted(lines)
        rows = conn.execute(
            "SELECT start_line, end_line, text, ztext FROM chunks"
            " WHERE file_id = ? AND start_line <= ? AND end_line >= ?"
            " ORDER BY start_byte",
            (file_id, ordered[-1], ordered[0]),
        )
        run: list[str] = []
        run_start = 0
        for start, end, text, ztext in rows:
            assert isinstance(start, int) and isinstance(end, int)
            at = bisect.bisect_left(ordered, start)
            if at < len(ordered) and ordered[at] <= end:
                if not run:
                    run_start = start
                run.append(chunk_text(text, ztext))
            elif run:
                _take(run, run_start, lines, found)
                run = []
        if run:
            _take(run, run_start, lines, found)
        for line in lines:
            out[file_id, line] = found.get(line, "")
    return out


def _take(run: list[str], first: int, lines: set[int], found: dict[int, str]) -> None:
    """The wanted lines in `run` (chunk texts starting at line `first`)."""
    source = "".join(run).split("\n")
    for line in lines:
        index = line - first
        if 0 <= index < len(source) and line not in found:
            found[line] = source[index].strip()[:CONTEXT_CHARS].strip()
