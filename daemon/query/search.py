"""``search``: BM25 over chunks, re-ranked with symbol metadata.

1. The query is translated by `fts.parse_query`; FTS5 returns the best
   `_POOL` chunks by ``bm25(chunks_fts, 1.0, 1.5, 4.0, 1.5)`` (text, split
   identifier terms, defined names, docstrings) with all terms required, plus
   (with several terms) the best `_ANY_POOL` chunks with any term: a
   docstring that says "query string" but not "url" still answers "parse url
   query string". A lone term found in fewer than `_COMPLETE_BELOW` chunks
   may be an identifier being typed (``NextEntryOff``): the defined names it
   starts (`completions`) are searched too, their bm25 scaled so that none
   outscores on text a chunk with the term as typed. Only the hits' chunk
   text is read (snippets), and the any-term pool's (coverage).
2. Each candidate gets four factors in [0, 1] (`SearchFactors`):
   * ``text``: its bm25 score divided by the best candidate's;
   * ``name``: the best symbol defined in the chunk (its name starts in the
     chunk; with a kind filter, one of those kinds): 1.0 exact name
     (case-sensitive), 0.95 case-insensitive, 0.9 same words
     (``parse file`` ~ ``parse_file``/``parseFile``), 0.85 when the query is
     the tail of its qualified name's words (``timedelta total seconds``),
     else 0.6 × the share of query words among the name's words, a word found
     only in the qualified name or the file's path counting half
     (``thread pool executor submit`` → ``ThreadPoolExecutor.submit`` before
     ``Executor.submit``); ties go to the symbol whose own docstring matches
     more. That symbol is the hit's ``symbol``/``kind``;
   * ``docstring``: share of query words in the docstrings of its symbols,
     a word only past the summary (the first paragraph) counting half;
   * ``kind``: 1.0 for definitions (function, class, …) or a kind the query
     asked for, 0.6 for variables/constants/fields, 0.5 for config keys and
     headings, 0.2 for plain blocks — of the matched symbol if the name
     matched, else of the chunk.
   Words are compared after a crude `stem` (``directories`` ~ ``directory``).
3. ``score = 0.35 text + 0.35 name + 0.15 docstring + 0.15 kind``, times
   ``0.5 + 0.5 × coverage`` for a chunk missing some query words (coverage:
   the share it has) and × `TEST_PENALTY` for test code (`is_test_path`)
   unless the query says "test"; best first; results overlapping an earlier
   (better) one in the same file are dropped.

Measured on the standard library by ``perf/relevance.py`` (MRR@10 against
plain BM25 on the chunk text; see perf/RESULTS.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from axd.daemon.flags.runtime import flag_on
from axd.daemon.index.languages import canonical_language
from axd.daemon.query.completions import completions
from axd.daemon.query.factors import (
    NameQuery,
    Symbol,
    doc_score,
    kind_weight,
    stem,
    stems,
)
from axd.daemon.query.symbols import as_int, make_range
from axd.daemon.records import SYMBOL_KINDS
from axd.daemon.store.chunktext import chunk_text
from axd.daemon.store.fts import PathFilter, parse_query, split_identifier
from axd.protocol.errors import invalid_params
from axd.protocol.types import SearchFactors, SearchHit

if TYPE_CHECKING:
    from collections.abc import Sequence

    import apsw

WEIGHTS = {"text": 0.35, "name": 0.35, "docstring": 0.15, "kind": 0.15}
_BM25 = "bm25(chunks_fts, 1.0, 1.5, 4.0, 1.5)"
_POOL_MIN, _POOL_MAX = 100, 1000
_ANY_POOL = 50  # extra candidates matching some of the words
# A lone term found in fewer chunks than this as typed is completed
# (`completions`); a fixed number, so that every page of results agrees.
_COMPLETE_BELOW = 20
_SNIPPET_LINES = 4
_MAX_LINE = 300
_WORD = re.compile(r"\w+")
# Test code: directories named test(s)/testing/__tests__/*_test(s), files
# test_*.py, *_test(s).ext, *.test.ext, *.spec.ext, conftest.py.
_TEST_PATH = re.compile(
    r"(?:^|/)(?:tests?|testing|__tests__|[^/]*_tests?)/"
    r"|(?:^|/)(?:test_[^/]*|[^/]*_tests?\.\w+|[^/]*\.(?:test|spec)\.\w+|conftest\.py)$"
)
TEST_PENALTY = 0.8  # score multiplier for test code, unless the query says "test"
EXACT_NAME_BOOST = 1.25  # behind flag search.exact_name_boost (flags/runtime.py)


@dataclass(slots=True)
class _Candidate:
    chunk_id: int
    bm25: float
    path: str
    language: str | None
    kind: str
    symbol: str | None
    span: tuple[int, int, int, int]
    text: str = ""  # read only where needed: `_coverage`, the hits' snippets


def is_test_path(path: str) -> bool:
    """Tests, fixtures and specs: ``test/``, ``tests/``, ``test_x.py``, ``x_test.go``…"""
    return _TEST_PATH.search(path) is not None


def _coverage(cand: _Candidate, symbols: list[Symbol], words: list[str]) -> float:
    """Share of the query words in the chunk (for hits of the any-term pool)."""
    if not words:
        return 1.0
    haystack = cand.text.lower()
    names = " ".join(s.qualified_name.lower() for s in symbols)
    found = sum(
        1 for w in set(words) if w in haystack or w in names or stem(w) in haystack
    )
    return found / len(set(words))


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
    conn: apsw.Connection,
    match: str,
    where: str,
    params: list[object],
    pool: int,
    with_text: bool = False,
) -> list[_Candidate]:
    # Rank first on ids alone, then fetch the pool's rows: sorting every
    # match together with its chunk text would dominate the query. The text
    # (overflow pages of a large row) only `with_text`: most candidates
    # never need it.
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
        " c.start_col, c.end_line, c.end_col"
        + (", c.text, c.ztext" if with_text else ", '', NULL")
        + " FROM chunks c JOIN files f ON f.id = c.file_id"
        " WHERE c.id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(scores)),),
    )
    return [
        _Candidate(as_int(r[0]), scores[as_int(r[0])], str(r[1]), r[2], str(r[3]),
                   r[4], (as_int(r[5]), as_int(r[6]), as_int(r[7]), as_int(r[8])),
                   chunk_text(r[9], r[10]))
        for r in rows
    ]  # fmt: skip


def _read_texts(conn: apsw.Connection, found: list[_Candidate]) -> None:
    """Fill in the text of the candidates that have none yet."""
    missing = {c.chunk_id: c for c in found if not c.text}
    if missing:
        for chunk_id, text, ztext in conn.execute(
            "SELECT id, text, ztext FROM chunks"
            " WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(missing)),),
        ):
            missing[as_int(chunk_id)].text = chunk_text(text, ztext)


def _symbols_of(conn: apsw.Connection, ids: list[int]) -> dict[int, list[Symbol]]:
    # Thousands of rows for a pool of chunks: built with as little Python
    # per row as possible (the columns are NOT NULL TEXT/INTEGER, STRICT).
    out: dict[int, list[Symbol]] = {}
    for row in conn.execute(
        "SELECT chunk_id, name, qualified_name, kind, docstring, sel_start_line"
        " FROM symbols WHERE chunk_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps(ids),),
    ):
        out.setdefault(row[0], []).append(Symbol(*row[1:]))
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
    if parsed.prefix is not None and len(found) < _COMPLETE_BELOW:
        # An identifier being typed (`NextEntryOff`): the defined names it
        # starts are searched too (`completions`).
        expanded = parsed.match_names(completions(conn, parsed.prefix, where, params))
        if expanded is not None:
            seen = {c.chunk_id for c in found}
            more = [
                c
                for c in _candidates(conn, expanded, where, params, pool)
                if c.chunk_id not in seen
            ]
            # bm25 of another expression: no completion outscores on text
            # any chunk with the term as typed.
            exact, best = (
                min((c.bm25 for c in found), default=0.0),
                max((c.bm25 for c in more), default=0.0),
            )
            if 0 < exact < best:
                for c in more:
                    c.bm25 *= exact / best
            found += more
    complete = {c.chunk_id for c in found}
    if parsed.match_any is not None:
        # Chunks with most but not all of the words: a docstring that says
        # "query string" but not "url" still answers "parse url query string".
        found += [
            c
            for c in _candidates(
                conn, parsed.match_any, where, params, _ANY_POOL, with_text=True
            )
            if c.chunk_id not in complete
        ]
    if not found:
        return []
    symbols = _symbols_of(conn, [c.chunk_id for c in found])
    best_text = max(c.bm25 for c in found) or 1.0
    raw = " ".join(parsed.terms)
    words = parsed.words
    wanted = stems(words)
    naming = NameQuery(raw, tuple(words), wanted)
    penalise_tests = not {"test", "tests", "testing"} & set(words)
    exact_boost = flag_on("search.exact_name_boost")
    contexts: dict[str, frozenset[str]] = {}
    scored: list[tuple[float, _Candidate, Symbol | None, SearchFactors, str]] = []
    for cand in found:
        defined = symbols.get(cand.chunk_id, [])
        context = contexts.get(cand.path)
        if context is None:
            context = contexts[cand.path] = stems(
                split_identifier(cand.path.rsplit(".", 1)[0])
            )
        # With a kind filter, the symbol that explains the hit must be of it.
        eligible = [d for d in defined if d.kind in wanted_kinds] or defined
        # The first symbol with the best (name, own docstring) scores; the
        # docstring only decides between the best names, so only those
        # read it.
        values = [naming.score(symbol, context) for symbol in eligible]
        top = max(values, default=0.0)
        name, doc, match = 0.0, 0.0, None
        for symbol, value in zip(eligible, values, strict=True):
            if value == top:
                own = doc_score([symbol], wanted) if symbol.docstring else 0.0
                if (value, own) > (name, doc):
                    (name, doc), match = (value, own), symbol
        kind = match.kind if match is not None else cand.kind
        factors = SearchFactors(
            text=round(max(cand.bm25, 0.0) / best_text, 4),
            name=round(name, 4),
            docstring=round(doc_score(defined, wanted), 4),
            kind=kind_weight(kind, wanted_kinds),
        )
        score = (
            WEIGHTS["text"] * factors.text
            + WEIGHTS["name"] * factors.name
            + WEIGHTS["docstring"] * factors.docstring
            + WEIGHTS["kind"] * factors.kind
        )
        if cand.chunk_id not in complete:
            score *= 0.5 + 0.5 * _coverage(cand, defined, words)
        if penalise_tests and is_test_path(cand.path):
            score *= TEST_PENALTY
        if exact_boost and match is not None and match.name == raw:
            score *= EXACT_NAME_BOOST
        scored.append((score, cand, match, factors, kind))
    scored.sort(key=lambda item: (-item[0], item[1].path, item[1].span))
    kept: list[tuple[float, _Candidate, Symbol | None, SearchFactors, str]] = []
    skipped = 0
    taken: dict[str, list[tuple[int, int, int, int]]] = {}
    for item in scored:
        s = item[1].span
        spans = taken.setdefault(item[1].path, [])
        if any((s[0], s[1]) < (b[2], b[3]) and (b[0], b[1]) < (s[2], s[3])
               for b in spans):  # fmt: skip
            continue  # overlaps a better hit in the same file
        spans.append(s)
        if skipped < offset:
            skipped += 1
            continue
        kept.append(item)
        if len(kept) >= limit:
            break
    _read_texts(conn, [item[1] for item in kept])
    return [
        SearchHit(
            path=cand.path,
            language=cand.language,
            range=make_range(*cand.span),
            kind=kind,
            symbol=match.qualified_name if match is not None else cand.symbol,
            score=round(score, 4),
            snippet=_snippet(
                cand.text, cand.span[0], match.line if match else None, words
            ),
            factors=factors,
        )
        for score, cand, match, factors, kind in kept
    ]
