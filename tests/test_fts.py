"""Identifier splitting and the query translator: no input breaks FTS5."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_records import FileSpec, Sym, indexed

from axd.daemon.query import search as ranking
from axd.daemon.store.fts import compound_terms, parse_query, split_identifier
from axd.daemon.store.store import Store
from axd.protocol.errors import ErrorCode, RpcError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.mark.parametrize(
    "identifier, words",
    [
        ("parseFile", ["parse", "file"]),
        ("parse_file", ["parse", "file"]),
        ("ParseFile", ["parse", "file"]),
        ("utf8Decode", ["utf", "8", "decode"]),
        ("HTTPServer", ["http", "server"]),
        ("IOError", ["io", "error"]),
        ("getHTTPResponseCode", ["get", "http", "response", "code"]),
        ("SCREAMING_SNAKE", ["screaming", "snake"]),
        ("__init__", ["init"]),
        ("x", ["x"]),
        ("v2", ["v", "2"]),
        ("kebab-case-name", ["kebab", "case", "name"]),
        ("ÜberCöntrol", ["über", "cöntrol"]),
        ("", []),
        ("___", []),
    ],
)
def test_split_identifier(identifier: str, words: list[str]) -> None:
    assert split_identifier(identifier) == words


def test_compound_terms_lists_only_split_identifiers() -> None:
    assert compound_terms("def parseFile(x): return slugify(x)") == "parse file"


def test_query_words_phrases_exclusions_and_filters() -> None:
    parsed = parse_query('parse "exact phrase" -skip lang:py path:src/ kind:function')
    assert parsed.match_all == '("parse" AND "exact phrase") NOT ("skip")'
    assert parsed.languages == ["python"]
    assert [(p.pattern, p.is_glob) for p in parsed.paths] == [("src/", False)]
    assert parsed.kinds == ["function"]
    assert parsed.words == ["parse", "exact", "phrase"]


def test_compound_identifier_also_matches_its_split_form() -> None:
    # The split form only among identifiers (split in ``terms``/``names``),
    # not in prose.
    assert parse_query("parseFile xy").match_all == (
        '(("parseFile" OR {terms names} : "parse file") AND "xy")'
    )
    parsed = parse_query("parseFile")
    assert parsed.match_all == '(("parseFile" OR {terms names} : "parse file"))'
    assert parse_query("parse_file").match_all == '("parse file")'  # as typed
    # Alone, it may be an identifier being typed: search completes it from
    # the defined names when it finds too little as typed.
    assert parsed.prefix == "parseFile"
    assert parse_query("parseFile xy").prefix is None
    assert parse_query("ab").prefix is None  # too short to complete
    assert parse_query('"parse file"').prefix is None  # a phrase is whole
    # Completions are searched as spelled, one term or a phrase each, and
    # the excluded terms stay excluded.
    parsed = parse_query("parse_fi -legacy")
    assert parsed.prefix == "parse_fi"
    assert parsed.match_names(["parse_file", "parseFileAt"]) == (
        '("parse file" OR "parseFileAt") NOT ("legacy")'
    )
    assert parsed.match_names([]) is None


def test_question_words_are_dropped_unless_nothing_else_is_left() -> None:
    parsed = parse_query("where is the cookie parsed")
    # Several words are a question: its last word is whole, no prefix.
    assert parsed.match_all == '("cookie" AND "parsed")'
    assert parsed.words == ["cookie", "parsed"]
    assert parse_query("the").match_all == '("the")'


def test_quotes_are_doubled_and_operators_are_plain_words() -> None:
    parsed = parse_query('NOT NEAR( a"b AND')
    assert parsed.match_all is not None
    assert '"NOT"' in parsed.match_all and '"NEAR"' in parsed.match_all
    # `AND` is an English word here: dropped, never an operator.
    assert " AND " not in parsed.match_all.replace('" AND "', "")
    assert '"a b"' in parsed.match_all


@pytest.mark.parametrize(
    "query", ["", "   ", "*", '"', '""', "-", "--", "-x", "lang:go", "(", ")"]
)
def test_queries_without_words_match_nothing(query: str) -> None:
    assert parse_query(query).match_all is None


@pytest.mark.parametrize("query", ["lang:klingon x", "kind:banana x", "LANG:nope"])
def test_unknown_filter_values_are_invalid_params(query: str) -> None:
    with pytest.raises(RpcError) as info:
        parse_query(query)
    assert info.value.code == ErrorCode.INVALID_PARAMS
    assert info.value.data["field"] == "$.query"


def test_glob_paths() -> None:
    parsed = parse_query("x path:*.py path:./web/")
    assert [(p.pattern, p.is_glob) for p in parsed.paths] == [
        ("*.py", True),
        ("web/", False),
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    opened = Store.open(tmp_path_factory.mktemp("fts") / "index.db")
    text = 'def parseFile(path):\n    """Read "quoted" * stuff (NEAR) -x."""\n    return path\n'
    opened.apply_batch(
        [
            indexed(
                FileSpec(
                    "a.py", text, symbols=[Sym("parseFile", end_needle="return path")]
                )
            )
        ],
        [],
    )
    yield opened
    opened.close()


HOSTILE = [
    '"', '""', '"""', "*", "**", "NEAR(", "NEAR(a b", "-", "--x", "AND", "OR", "NOT",
    "a AND", "OR b", "(", ")", "()", "^", "a:b", "col:x", ":", "{a b}", "a + b",
    "\x00", "é", "日本語", "🙂", "a\u0301", "\u200b", "\\", "'", "lang:", "path:", "kind:",
    "-lang:py", 'path:"', "path:[", "x path:[", "²", "½", "Ⅻ",
]  # fmt: skip


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_reach_sqlite_as_syntax(store: Store, query: str) -> None:
    with store.reader() as conn:
        ranking.search(conn, query)
        ranking.search(conn, query + " parse", limit=3)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.text(max_size=40))
def test_random_unicode_never_raises_from_sqlite(store: Store, query: str) -> None:
    with store.reader() as conn:
        try:
            ranking.search(conn, query, limit=5)
        except RpcError as exc:  # an unknown lang:/kind: value is the only refusal
            assert exc.code == ErrorCode.INVALID_PARAMS


def test_split_form_is_an_identifier_not_prose(tmp_path: Path) -> None:
    opened = Store.open(tmp_path / "index.db")
    try:
        opened.apply_batch(
            [
                indexed(
                    FileSpec("prose.py", "# Look up the loader for class names.\n")
                ),
                indexed(FileSpec("snake.py", "loader = for_class(name)\n")),
                indexed(FileSpec("camel.py", "loader = forClass(name)\n")),
            ],
            [],
        )
        with opened.reader() as conn:
            found = {h.path for h in ranking.search(conn, "forClass")}
            assert found == {"snake.py", "camel.py"}
            # Words typed as words still find the prose.
            assert "prose.py" in {h.path for h in ranking.search(conn, "for class")}
    finally:
        opened.close()


def test_found_through_split_identifier(store: Store) -> None:
    with store.reader() as conn:
        for query in ("parse file", "parse_file", "parseFile", "PARSE FILE"):
            assert [h.path for h in ranking.search(conn, query)] == ["a.py"], query
