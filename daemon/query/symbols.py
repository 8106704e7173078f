"""Symbol and chunk queries over a reader connection.

Every function takes an apsw connection from `Store.reader()` and params the
caller has already normalised (workspace-relative ``/`` paths, canonical
language names), and returns the wire item types of `axd.protocol.types`;
the caller adds ``generation`` (`store.read_generation` on the same
connection) and ``took_ms``. Search lives in `ranking`, the import graph in
`graph`.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from axd.daemon.store.chunktext import chunk_text, line_contexts
from axd.daemon.store.fts import PathFilter, split_identifier
from axd.daemon.store.indexes import refs_source
from axd.daemon.store.refspots import unpack as unpack_spots
from axd.protocol.types import (
    Chunk,
    Definition,
    OutlineSymbol,
    Range,
    Reference,
    SymbolMatch,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import apsw

    from axd.daemon.store.refspots import Spot

__all__ = [
    "chunks",
    "definitions",
    "outline",
    "references",
    "symbol_search",
]


def as_int(value: object) -> int:
    """An INTEGER column's value (apsw types rows as any SQLite value)."""
    if isinstance(value, int):
        return value
    raise TypeError(f"expected an integer column, got {value!r}")


def make_range(a: object, b: object, c: object, d: object) -> Range:
    """A Range from four integer columns."""
    return Range(
        start_line=as_int(a), start_col=as_int(b), end_line=as_int(c), end_col=as_int(d)
    )


def _path_clause(path: str | None, column: str = "f.path") -> tuple[str, list[object]]:
    """Restrict to one file or a directory below it; globs allowed."""
    if not path:
        return "", []
    sql, params = PathFilter.parse(path).sql(column)
    return f" AND {sql}", params


def _last_component(name: str) -> str:
    for sep in ("::", "."):
        if sep in name:
            name = name.rsplit(sep, 1)[-1]
    return name


def definitions(
    conn: apsw.Connection,
    name: str,
    kind: str | None = None,
    path: str | None = None,
) -> list[Definition]:
    """Symbols whose name is `name`, or whose qualified name is or ends with it.

    Matching is case-sensitive and by whole dotted components:
    ``Config.validate`` matches ``Engine.Config.validate`` but
    ``Builder.build_report`` does not match ``ReportBuilder.build_report``.
    Uses the index on ``symbols.name_lower`` (the last component of every
    qualified name is the symbol's name; name_lower is its ``str.lower()``).
    Ordered by path and line, the documentation kinds (``heading``, ``key``)
    after every other.
    """
    if not name:
        return []
    last = _last_component(name)
    dotted = "." + name
    where, params = _path_clause(path)
    if kind is not None:
        where += " AND s.kind = ?"
        params.append(kind)
    rows = conn.execute(
        "SELECT s.name, s.qualified_name, s.kind, f.path, f.language,"
        " s.start_line, s.start_col, s.end_line, s.end_col,"
        " s.sel_start_line, s.sel_start_col, s.sel_end_line, s.sel_end_col,"
        " s.signature, s.docstring"
        " FROM symbols s JOIN files f ON f.id = s.file_id"
        " WHERE s.name_lower IN (?, ?) AND s.name IN (?, ?)"
        + where
        # Code first: a Markdown heading or a config key of the same name
        # (`## Typer` in forty changelogs) must not bury the class.
        + " ORDER BY s.kind IN ('heading', 'key'), f.path, s.start_line, s.id",
        [name.lower(), last.lower(), name, last, *params],
    )
    out: list[Definition] = []
    for row in rows:
        sym_name, qualified = str(row[0]), str(row[1])
        if not (sym_name == name or qualified == name or qualified.endswith(dotted)):
            continue
        out.append(
            Definition(
                name=sym_name,
                qualified_name=qualified,
                kind=str(row[2]),
                path=str(row[3]),
                language=row[4],
                range=make_range(*row[5:9]),
                selection_range=make_range(*row[9:13]),
                signature=str(row[13]),
                docstring=row[14],
            )
        )
    return out


def references(
    conn: apsw.Connection, name: str, path: str | None = None, limit: int = 200
) -> list[Reference]:
    """Uses (call, reference, import) of the last component of `name`."""
    target = _last_component(name)
    if not target or limit <= 0:
        return []
    where, params = _path_clause(path)
    # One row per file using the name, its positions packed in order
    # (store/refspots.py): files in path order, spots in position order.
    found: list[tuple[str, int, Spot]] = []
    # During a bulk first index part of them are staged (store/indexes.py).
    source = refs_source(conn)
    for path_, file_id, spots in conn.execute(
        f"SELECT f.path, r.file_id, r.spots FROM {source} r JOIN files f"
        " ON f.id = r.file_id WHERE r.name = ?" + where + " ORDER BY f.path",
        [target, *params],
    ):
        for spot in unpack_spots(target, str(spots)):
            found.append((str(path_), as_int(file_id), spot))
            if len(found) == limit:
                break
        if len(found) == limit:
            break
    # Context lines are read back from the chunks (store/chunktext.py).
    lines = line_contexts(conn, ((f, spot[1]) for _, f, spot in found))
    return [
        Reference(
            path=p,
            range=Range(start_line=a, start_col=b, end_line=c, end_col=d),
            kind=k,
            context=lines[f, a],
        )
        for p, f, (k, a, b, c, d) in found
    ]


def outline(conn: apsw.Connection, path: str) -> list[OutlineSymbol]:
    """The file's symbols nested by parent, in source order."""
    rows = conn.execute(
        "SELECT s.id, s.parent_id, s.name, s.qualified_name, s.kind,"
        " s.start_line, s.start_col, s.end_line, s.end_col,"
        " s.sel_start_line, s.sel_start_col, s.sel_end_line, s.sel_end_col"
        " FROM symbols s JOIN files f ON f.id = s.file_id WHERE f.path = ?"
        " ORDER BY s.id",
        (path,),
    ).fetchall()
    children: dict[int | None, list[int]] = {}
    by_id = {as_int(r[0]): r for r in rows}
    for row in rows:
        parent = as_int(row[1]) if row[1] in by_id else None
        children.setdefault(parent, []).append(as_int(row[0]))

    # Built bottom-up without recursion: ids grow in source order and a
    # parent always precedes its children, so reverse id order sees children
    # first.
    built: dict[int, OutlineSymbol] = {}
    for symbol_id in sorted(by_id, reverse=True):
        r = by_id[symbol_id]
        built[symbol_id] = OutlineSymbol(
            name=str(r[2]),
            qualified_name=str(r[3]),
            kind=str(r[4]),
            range=make_range(*r[5:9]),
            selection_range=make_range(*r[9:13]),
            children=[built[c] for c in children.get(symbol_id, [])],
        )
    return [built[c] for c in children.get(None, [])]


def chunks(conn: apsw.Connection, path: str, line: int | None = None) -> list[Chunk]:
    """The file's chunks in order, or only the one(s) containing `line`."""
    sql = (
        "SELECT c.id, f.path, f.language, c.kind, c.symbol, c.start_line, c.start_col,"
        " c.end_line, c.end_col, c.text, c.ztext"
        " FROM chunks c JOIN files f ON f.id = c.file_id"
        " WHERE f.path = ?"
    )
    params: list[object] = [path]
    if line is not None:
        # A chunk ending at column 0 of `line` ends before it (exclusive end).
        sql += (
            " AND c.start_line <= ? AND (c.end_line > ? OR (c.end_line = ?"
            " AND (c.end_col > 0 OR c.start_line = ?)))"
        )
        params += [line, line, line, line]
    rows = conn.execute(sql + " ORDER BY c.start_byte", params)
    return [
        Chunk(
            id=as_int(r[0]),
            path=str(r[1]),
            language=r[2],
            kind=str(r[3]),
            symbol=r[4],
            range=make_range(*r[5:9]),
            text=chunk_text(r[9], r[10]),
        )
        for r in rows
    ]


# -- symbols.search ------------------------------------------------------------------

_EXACT, _PREFIX, _HUMP, _SUBSTRING = 1.0, 0.8, 0.6, 0.4
_SCAN_CAP = 5_000  # rows examined per tier; keeps broad queries bounded
# Above this many symbols (~10 ms of scanning), the substring tier matches
# word starts through the FTS index instead of scanning every name.
_SUBSTRING_SCAN_MAX = 250_000
_WORDS = re.compile(r"[^\W_]+")


def _symbol_rows(conn: apsw.Connection) -> int:
    """About how many symbols there are: the largest id, read from the
    primary key's b-tree in O(log n)."""
    row = conn.execute("SELECT max(id) FROM symbols").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _hump_segments(query: str) -> list[str]:
    """Query pieces for camel-hump matching: ``hanReq`` → han, req; ``HR`` → h, r."""
    pieces = split_identifier(query)
    if len(pieces) == 1 and query.isalpha() and (query.isupper() or len(query) <= 4):
        return list(query.lower())  # initials typed as one word: HR, hr
    return pieces


def hump_match(segments: Sequence[str], words: Sequence[str]) -> bool:
    """Each segment a prefix of consecutive words, starting at the first word."""
    if not segments or len(segments) > len(words):
        return False
    return all(w.startswith(s) for s, w in zip(segments, words, strict=False))


def symbol_search(
    conn: apsw.Connection,
    query: str,
    limit: int = 50,
    kinds: Sequence[str] | None = None,
) -> list[SymbolMatch]:
    """Symbols ranked exact > prefix > camel-hump > substring, case-insensitive.

    Exact and prefix use the ``name_lower`` index (a range scan), camel-hump
    the ``initials`` index, and the substring tier (only run when the others
    leave room) a scan bounded by `_SCAN_CAP` matches — on workspaces of more
    than `_SUBSTRING_SCAN_MAX` symbols only names with a word that starts
    with the query (an FTS prefix query on the ``names`` column), since a
    full scan would take hundreds of milliseconds. Within a tier shorter
    names rank first; an exact case-sensitive match gets a small bonus.
    """
    q = query.strip()
    if not q or limit <= 0:
        return []
    ql = q.lower()
    kind_sql, kind_params = "", list[object]()
    if kinds:
        kind_sql = " AND s.kind IN (SELECT value FROM json_each(?))"
        kind_params = [json.dumps(list(kinds))]
    # Tiers score on (id, name) alone — the prefix and substring tiers read
    # only the name_lower index — and the details of the best `limit` are
    # fetched afterwards.
    found: dict[int, float] = {}

    def add(
        sql: str, params: list[object], base: float, hump: Sequence[str] = ()
    ) -> None:
        scan = "SELECT s.id AS id, " + sql + kind_sql + " LIMIT ?"
        args = [*params, *kind_params, _SCAN_CAP]
        if not hump:
            # The tier's order (case-exact first, then shorter, then id) in
            # SQL: only the rows that can make the cut reach Python.
            scan = (
                f"SELECT id, name FROM ({scan})"
                " ORDER BY name = ? DESC, length(name), id LIMIT ?"
            )
            args += [q, limit + len(found)]
        for symbol_id, name in conn.execute(scan, args):
            if symbol_id in found:
                continue
            if hump and not hump_match(hump, split_identifier(name)):
                continue
            # Shorter extra text ranks higher inside a tier, never crossing tiers.
            extra = max(0, len(name) - len(q))
            found[symbol_id] = base + 0.1 / (1 + extra) + (0.05 if name == q else 0.0)

    # Tiers never cross: once `limit` are found, lower tiers cannot place.
    add("s.name AS name FROM symbols s WHERE s.name_lower = ?", [ql], _EXACT)
    if len(found) < limit:
        add(
            "s.name_lower AS name FROM symbols s"
            " WHERE s.name_lower > ? AND s.name_lower < ?",
            [ql, ql + "\U0010ffff"],
            _PREFIX,
        )
    segments = _hump_segments(q)
    if len(segments) > 1 and len(found) < limit:
        initials = "".join(s[0] for s in segments)
        # Every segment is part of the lower-cased name: filtering on that in
        # SQL leaves few rows for hump_match to check in Python.
        add(
            "s.name AS name FROM symbols s WHERE s.initials >= ? AND s.initials < ?"
            + " AND instr(s.name_lower, ?) > 0" * len(segments),
            [initials, initials + "\U0010ffff", *segments],
            _HUMP,
            segments,
        )
    if len(found) < limit:
        if _symbol_rows(conn) <= _SUBSTRING_SCAN_MAX:
            add(
                "s.name_lower AS name FROM symbols s WHERE instr(s.name_lower, ?) > 0",
                [ql],
                _SUBSTRING,
            )
        elif _WORDS.fullmatch(ql) and len(ql) >= 3:
            # Too many symbols to scan: names with a word starting with the
            # query, found through the FTS ``names`` column (whole and split
            # names), e.g. ``metadata`` → ``IIOMetadataFormatImpl``. Queries
            # of several words are left to the prefix and camel-hump tiers.
            match = '{names} : "' + ql + '" *'
            add(
                "s.name_lower AS name FROM symbols s WHERE s.chunk_id IN"
                " (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)"
                " AND instr(s.name_lower, ?) > 0",
                [match, ql],
                _SUBSTRING,
            )
    best = sorted(found.items(), key=lambda item: (-item[1], item[0]))[:limit]
    rows = conn.execute(
        "SELECT s.id, s.name, s.qualified_name, s.kind, f.path, s.start_line,"
        " s.start_col, s.end_line, s.end_col FROM symbols s"
        " JOIN files f ON f.id = s.file_id"
        " WHERE s.id IN (SELECT value FROM json_each(?))",
        (json.dumps([symbol_id for symbol_id, _ in best]),),
    ).fetchall()
    ranked = sorted(
        ((found[as_int(r[0])], r) for r in rows),
        key=lambda x: (-x[0], str(x[1][4]), as_int(x[1][5])),
    )
    return [
        SymbolMatch(
            name=str(r[1]),
            qualified_name=str(r[2]),
            kind=str(r[3]),
            path=str(r[4]),
            range=make_range(*r[5:9]),
            score=round(score, 4),
        )
        for score, r in ranked
    ]
