"""References stored one row per (name, file), their positions packed in text.

Since migration 0003 the ``refs`` table has one row per name per file
(``WITHOUT ROWID``, keyed ``(name, file_id)``): a name occurs ~3.7 times per
file that uses it (deno), and one row per occurrence with its two indexes
(``refs_name``, ``refs_file``) took 0.7x the source bytes on disk (#16). The
occurrences are the row's ``spots``: space-separated, ordered by
(start line, start column) and, for equal starts, as the worker listed them.
Each spot is ``<line delta><kind><start col>``: the line as a difference from
the previous spot's (the first from 0), the kind as one letter (``c`` call,
``r`` reference, ``i`` import). The end is implied when it is on the same line
``len(name)`` bytes on (every reference but one in deno); otherwise the spot
carries ``-<end line - start line>.<end col>``. Example: ``3c4 0r17 12i0-1.2``.

Migration 0003 builds the same text from the old rows in SQL; `pack` is the
one Python writer and `unpack` the one reader.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# One letter per reference kind (records.ReferenceKind); the SQL of
# migrations/0003 uses the same letters.
KIND_LETTERS: dict[str, str] = {"call": "c", "reference": "r", "import": "i"}
_KINDS: dict[str, str] = {letter: kind for kind, letter in KIND_LETTERS.items()}
_SPOT = re.compile(r"(\d+)([a-z])(\d+)(?:-(\d+)\.(\d+))?")

# (kind, start_line, start_col, end_line, end_col)
Spot = tuple[str, int, int, int, int]


def name_bytes(name: str) -> int:
    """The UTF-8 length of `name`: positions are byte columns (PROTOCOL.md)."""
    return len(name.encode("utf-8", "surrogatepass"))


def pack(name: str, spots: Iterable[Spot]) -> str:
    """The ``spots`` text of `name`'s references in one file.

    Sorted here by start (stable: equal starts keep their order), so callers
    pass them as the worker found them.
    """
    width = name_bytes(name)
    out: list[str] = []
    line = 0
    for kind, start_line, start_col, end_line, end_col in sorted(
        spots, key=lambda s: (s[1], s[2])
    ):
        piece = f"{start_line - line}{KIND_LETTERS[kind]}{start_col}"
        if end_line != start_line or end_col != start_col + width:
            piece += f"-{end_line - start_line}.{end_col}"
        out.append(piece)
        line = start_line
    return " ".join(out)


def unpack(name: str, text: str) -> Iterator[Spot]:
    """The references `pack` (or migration 0003) stored, in order.

    :raises ValueError: the text is not spots (a damaged row).
    """
    width = name_bytes(name)
    line = 0
    for piece in text.split():
        match = _SPOT.fullmatch(piece)
        if match is None or match[2] not in _KINDS:
            raise ValueError(f"bad reference spot {piece!r} for {name!r}")
        line += int(match[1])
        col = int(match[3])
        if match[4] is None:
            yield _KINDS[match[2]], line, col, line, col + width
        else:
            yield _KINDS[match[2]], line, col, line + int(match[4]), int(match[5])
