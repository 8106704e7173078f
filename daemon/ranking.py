"""``search``: BM25 over chunks, re-ranked with symbol metadata.

1. The query is translated by `fts.parse_query`; FTS5 returns the best
   `_POOL` chunks by ``bm25(chunks_fts, 1.0, 1.5, 4.0, 1.5)`` (text, split
   identifier terms, defined names, docstrings), all terms required — or, if
   that finds nothing, any term.
2. Each candidate gets four factors in [0, 1] (`SearchFactors`):
   * ``text``: its bm25 score divided by the best candidate's;
   * ``name``: the best symbol defined in the chunk (its name starts in the
     chunk; with a kind filter, one of those kinds): 1.0 exact name
     (case-sensitive), 0.95 case-insensitive, 0.9 same words
     (``parse file`` ~ ``parse_file``/``parseFile``), else 0.6 × the share of
     query words among the name's words; ties go to the symbol whose own
     docstring matches more. That symbol is the hit's ``symbol``/``kind``;
   * ``docstring``: share of query words in the docstrings of its symbols;
   * ``kind``: 1.0 for definitions (function, class, …) or a kind the query
     asked for, 0.6 for variables/constants/fields, 0.5 for config keys and
     headings, 0.2 for plain blocks — of the matched symbol if the name
     matched, else of the chunk.
3. ``score = 0.40 text + 0.35 name + 0.10 docstring + 0.15 kind``, best first;
   results overlapping an earlier (better) one in the same file are dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from axd.daemon.fts import PathFilter, parse_query, split_identifier
from axd.daemon.languages import canonical_language
from axd.daemon.query import as_int, make_range
from axd.daemon.records import SYMBOL_KINDS
from axd.protocol.errors import invalid_params
from axd.protocol.types import SearchFactors, SearchHit

if TYPE_CHECKING:
    from collections.abc import Sequence

    import apsw

WEIGHTS = {"text": 0.40, "name": 0.35, "docstring": 0.10, "kind": 0.15}
_BM25 = "bm25(chunks_fts, 1.0, 1.5, 4.0, 1.5)"
_POOL_MIN, _POOL_MAX = 100, 1000
_DEFINITION_KINDS = frozenset(
    {"function", "method", "class", "struct", "interface", "trait", "enum", "module",
     "namespace", "type", "macro"}
)  # fmt: skip
_VALUE_KINDS = frozenset({"constant", "variable", "field", "property"})
_SNIPPET_LINES = 4
_MAX_LINE = 300
_WORD = re.compile(r"\w+")


@dataclass(slots=True)
class _Symbol:
    name: str
    qualified_name: str
    kind: str
    docstring: str | None
    line: int


@dataclass(slots=True)
class _Candidate:
    chunk_id: int
    bm25: float
    path: str
    language: str | None
    kind: str
    symbol: str | None
    span: tuple[int, int, int, int]
    text: str


def _kind_weight(kind: str, wanted: Sequence[str]) -> float:
    if kind in wanted or kind in _DEFINITION_KINDS:
        return 1.0
    if kind in _VALUE_KINDS:
        return 0.6
    if kind in ("key", "heading"):
        return 0.5
    return 0.2


def _name_score(symbol: _Symbol, raw: str, words: list[str]) -> float:
    if symbol.name == raw:
        return 1.0
    if symbol.name.lower() == raw.lower():
        return 0.95
    parts = split_identifier(symbol.name)
    if parts == words:
        return 0.9
    if not words:
        return 0.0
    wanted = set(words)
    return 0.6 * len(wanted & set(parts)) / len(wanted)


def _doc_score(symbols: list[_Symbol], words: list[str]) -> float:
    if not words:
        return 0.0
    found: set[str] = set()
    for symbol in symbols:
        if symbol.docstring:
            found.update(split_identifier(symbol.docstring))
    wanted = set(words)
    return len(wanted & found) / len(wanted)


def _snippet(text: str, start_line: int, focus: int | None, words: list[str]) -> str:
    lines = text.split("\n")
    index: int | None = None
    if focus is not None and 0 <= focus - start_line < len(lines):
        index = focus - start_line
    else:
        for i, line in enumerate(lines):
            lowered = line.lower()
            if any(w in lowered for w in words):
                index = i
                break
    if index is None:
        index = 0
    begin = max(0, index - 1)
    picked = lines[begin : begin + _SNIPPET_LINES]
    while picked and not picked[-1].strip():
        picked.pop()
    while picked and not picked[0].strip():
        picked.pop(0)
    return "\n".join(line[:_MAX_LINE] for line in picked)


def _filters(
    languages: Sequence[str] | None,
    paths: Sequence[PathFilter],
    kinds: Sequence[str],
) -> tuple[str, list[object]]:
    sql, params = "", list[object]()
    if languages:
        sql += " AND f.language IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(list(languages)))
    if paths:
        parts = []
        for path in paths:
            fragment, extra = path.sql("f.path")
            parts.append(fragment)
            params.extend(extra)
        sql += " AND (" + " OR ".join(parts) + ")"
    if kinds:
        sql += (
            " AND (c.kind IN (SELECT value FROM json_each(?)) OR EXISTS (SELECT 1"
            " FROM symbols s WHERE s.chunk_id = c.id"
            " AND s.kind IN (SELECT value FROM json_each(?))))"
        )
        params += [json.dumps(list(kinds))] * 2
    return sql, params


def _candidates(
    conn: apsw.Connection, match: str, where: str, params: list[object], pool: int
) -> list[_Candidate]:
    # Rank first on ids alone, then fetch the pool's rows: sorting every
    # match together with its chunk text would dominate the query.
    if where:
        ranked = conn.execute(
            f"SELECT c.id, {_BM25} FROM chunks_fts"
            " JOIN chunks c ON c.id = chunks_fts.rowid JOIN files f ON f.id = c.file_id"
            " WHERE chunks_fts MATCH ?" + where + f" ORDER BY {_BM25} LIMIT ?",
            [match, *params, pool],
        ).fetchall()
    else:
        ranked = conn.execute(
            f"SELECT rowid, {_BM25} FROM chunks_fts WHERE chunks_fts MATCH ?"
            f" ORDER BY {_BM25} LIMIT ?",
            [match, pool],
        ).fetchall()
    if not ranked:
        return []
    scores = {as_int(i): -float(b) for i, b in ranked}  # type: ignore[arg-type]
    rows = conn.execute(
        "SELECT c.id, f.path, f.language, c.kind, c.symbol, c.start_line,"
        " c.start_col, c.end_line, c.end_col, c.text FROM chunks c"
        " JOIN files f ON f.id = c.file_id"
        " WHERE c.id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(scores)),),
    )
    return [
        _Candidate(as_int(r[0]), scores[as_int(r[0])], str(r[1]), r[2], str(r[3]),
                   r[4], (as_int(r[5]), as_int(r[6]), as_int(r[7]), as_int(r[8])),
                   str(r[9]))
        for r in rows
    ]  # fmt: skip


def _symbols_of(conn: apsw.Connection, ids: list[int]) -> dict[int, list[_Symbol]]:
    out: dict[int, list[_Symbol]] = {}
    for chunk_id, name, qualified, kind, doc, line in conn.execute(
        "SELECT chunk_id, name, qualified_name, kind, docstring, sel_start_line"
        " FROM symbols WHERE chunk_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps(ids),),
    ):
        out.setdefault(int(chunk_id), []).append(
            _Symbol(str(name), str(qualified), str(kind), doc, int(line))
        )
    return out


def search(
    conn: apsw.Connection,
    query: str,
    limit: int = 20,
    offset: int = 0,
    languages: Sequence[str] | None = None,
    path_globs: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
) -> list[SearchHit]:
    """Chunks matching `query`, best first (see the module docstring).

    `languages` may be names or aliases; `path_globs` are globs or prefixes.

    :raises RpcError: invalid params for an unknown language or kind, in the
        query (``$.query``) or in `languages`/`kinds`.
    """
    parsed = parse_query(query)
    canonical: list[str] = []
    for i, language in enumerate(languages or ()):
        known = canonical_language(language)  # idempotent on canonical names
        if known is None:
            raise invalid_params(
                f"unknown language {language!r}", field=f"$.languages[{i}]"
            )
        canonical.append(known)
    languages = canonical
    for kind in kinds or ():
        if kind not in SYMBOL_KINDS and kind != "block":
            raise invalid_params(f"unknown kind {kind!r}", field="$.kinds")
    if parsed.match_all is None or limit <= 0:
        return []
    wanted_kinds = [*(kinds or ()), *parsed.kinds]
    where, params = "", []
    for langs, paths, kind_list in (
        (languages, [PathFilter.parse(p) for p in path_globs or ()], list(kinds or ())),
        (parsed.languages, parsed.paths, parsed.kinds),
    ):
        fragment, extra = _filters(langs, paths, kind_list)
        where += fragment
        params += extra
    pool = min(_POOL_MAX, max(_POOL_MIN, 4 * (offset + limit)))
    found = _candidates(conn, parsed.match_all, where, params, pool)
    if not found and parsed.match_any is not None:
        found = _candidates(conn, parsed.match_any, where, params, pool)
    if not found:
        return []
    symbols = _symbols_of(conn, [c.chunk_id for c in found])
    best_text = max(c.bm25 for c in found) or 1.0
    raw = " ".join(parsed.terms)
    words = parsed.words
    Pos = tuple[int, int]
    scored: list[tuple[float, SearchHit, tuple[Pos, Pos]]] = []
    for cand in found:
        defined = symbols.get(cand.chunk_id, [])
        # With a kind filter, the symbol that explains the hit must be of it.
        eligible = [d for d in defined if d.kind in wanted_kinds] or defined
        name, doc, match = 0.0, 0.0, None
        for symbol in eligible:
            value = (_name_score(symbol, raw, words), _doc_score([symbol], words))
            if value > (name, doc):
                (name, doc), match = value, symbol
        kind = match.kind if match is not None else cand.kind
        factors = SearchFactors(
            text=round(max(cand.bm25, 0.0) / best_text, 4),
            name=round(name, 4),
            docstring=round(_doc_score(defined, words), 4),
            kind=_kind_weight(kind, wanted_kinds),
        )
        score = (
            WEIGHTS["text"] * factors.text
            + WEIGHTS["name"] * factors.name
            + WEIGHTS["docstring"] * factors.docstring
            + WEIGHTS["kind"] * factors.kind
        )
        s = cand.span
        hit = SearchHit(
            path=cand.path,
            language=cand.language,
            range=make_range(*s),
            kind=kind,
            symbol=match.qualified_name if match is not None else cand.symbol,
            score=round(score, 4),
            snippet=_snippet(cand.text, s[0], match.line if match else None, words),
            factors=factors,
        )
        scored.append((score, hit, ((s[0], s[1]), (s[2], s[3]))))
    scored.sort(key=lambda item: (-item[0], item[1].path, item[2]))
    kept: list[SearchHit] = []
    taken: dict[str, list[tuple[Pos, Pos]]] = {}
    for _score, hit, (first, last) in scored:
        spans = taken.setdefault(hit.path, [])
        if any(first < b and a < last for a, b in spans):
            continue  # overlaps a better hit in the same file
        spans.append((first, last))
        kept.append(hit)
    return kept[offset : offset + limit]
