"""An identifier being typed: the defined names it is the start of.

``search`` treats a lone term (``NextEntryOff``, ``new_from_str``) as the
start of an identifier when it finds too little as typed. FTS5's own prefix
query cannot serve that within the latency budget: ``"next entry off" *``
merges the doclists of every indexed term starting with the last word
(``off*``: offset, office, offer, …) over the whole index before matching
anything — 0.2-1.6 s on the 100,000-file corpus (perf/RESULTS.md), however
rare the rest of the phrase. Instead the names defined in the workspace
that start with what was typed are looked up in the ``symbols_name_lower``
index (a bounded range scan, in three spellings: as typed, snake_case and
run together, so ``newFromStr`` finds ``new_from_string`` and
``new_from_str`` finds ``NewFromString``), and the nearest few (shortest
first) are searched as ordinary terms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.daemon.store.fts import split_identifier

if TYPE_CHECKING:
    from collections.abc import Sequence

    import apsw

MAX_COMPLETIONS = 10  # names searched for one prefix
_SCAN = 5_000  # index entries examined per spelling: broad prefixes stay bounded


def spellings(typed: str) -> list[str]:
    """The lower-cased forms a name starting with `typed` may have."""
    words = split_identifier(typed)
    forms = [typed.lower(), "_".join(words), "".join(words)]
    return [f for i, f in enumerate(forms) if f and f not in forms[:i]]


def completions(
    conn: apsw.Connection,
    typed: str,
    where: str = "",
    params: Sequence[object] = (),
) -> list[str]:
    """Lower-cased names of defined symbols that start with `typed` (and
    are longer), the shortest first, at most `MAX_COMPLETIONS`.

    `where`/`params`: search's filters (`` AND …`` on ``f`` files and ``c``
    chunks), so that the names completed are ones the search can find.
    """
    if where:
        scan = (
            "SELECT s.name_lower AS name_lower FROM symbols s"
            " JOIN chunks c ON c.id = s.chunk_id JOIN files f ON f.id = s.file_id"
            " WHERE s.name_lower > ? AND s.name_lower < ?" + where + " LIMIT ?"
        )
    else:
        scan = (
            "SELECT name_lower FROM symbols"
            " WHERE name_lower > ? AND name_lower < ? LIMIT ?"
        )
    names: set[str] = set()
    for form in spellings(typed):
        names.update(
            str(name)
            for (name,) in conn.execute(
                f"SELECT DISTINCT name_lower FROM ({scan})",
                (form, form + "\U0010ffff", *params, _SCAN),
            )
        )
    return sorted(names, key=lambda name: (len(name), name))[:MAX_COMPLETIONS]
