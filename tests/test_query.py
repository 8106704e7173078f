"""Queries: search ranking, definitions, references, outline, symbol search, chunks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from store_records import FileSpec, Sym, indexed

from axd.daemon.query import search as ranking
from axd.daemon.query import symbols as query
from axd.daemon.query.completions import completions, spellings
from axd.daemon.store.store import Store
from axd.protocol.errors import RpcError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import apsw

FILES = [
    FileSpec(
        "util/helpers.py",
        'def slugify(text):\n    """Turn text into a lowercase slug."""\n    return text\n',
        symbols=[
            Sym(
                "slugify",
                end_needle="return text",
                docstring="Turn text into a lowercase slug.",
            )
        ],
    ),
    FileSpec(
        "app/views.py",
        "def render(title):\n"
        "    # slugify the title, then slugify again, slugify everything\n"
        "    return slugify(slugify(title))\n",
        symbols=[Sym("render", end_needle="(title))")],
        refs=[("slugify", "call", "slugify(slugify")],
    ),
    FileSpec(
        "engine/config.py",
        "class Engine:\n    class Config:\n        def validate(self):\n            pass\n",
        symbols=[
            Sym("Engine", "class", end_needle="pass"),
            Sym("Config", "class", "Engine.Config", "class Config", "pass", parent=0),
            Sym(
                "validate",
                "method",
                "Engine.Config.validate",
                "def validate",
                "pass",
                parent=1,
            ),
        ],
    ),
    FileSpec(
        "report.py",
        "class ReportBuilder:\n    def build_report(self):\n        pass\n",
        symbols=[
            Sym("ReportBuilder", "class", end_needle="pass"),
            Sym(
                "build_report",
                "method",
                "ReportBuilder.build_report",
                end_needle="pass",
                parent=0,
            ),
        ],
    ),
    FileSpec(
        "server.go",
        "package server\n\nfunc (s *Server) HandleRequest() {}\n\nfunc Handler() {}\n\n"
        "var handleRequestCount = 0\n\nfunc rehandle() {}\n",
        language="go",
        symbols=[
            Sym("HandleRequest", "method", "Server.HandleRequest"),
            Sym("Handler"),
            Sym("handleRequestCount", "variable"),
            Sym("rehandle"),
        ],
        split_lines=[5, 7],
    ),
    FileSpec(
        "docs.py",
        'def frobnicate():\n    """Compute the quarterly zeppelin budget."""\n\n\n'
        "def other():\n    return 'zeppelin budget'\n",
        symbols=[
            Sym(
                "frobnicate",
                end_needle='budget."""',
                docstring="Compute the quarterly zeppelin budget.",
            ),
            Sym("other", end_needle="budget'"),
        ],
        split_lines=[5],
    ),
]


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apsw.Connection]:
    store = Store.open(tmp_path_factory.mktemp("query") / "index.db")
    store.apply_batch([indexed(spec) for spec in FILES], [])
    with store.reader() as reader:
        yield reader
    store.close()


# -- search -------------------------------------------------------------------------


def test_exact_name_definition_outranks_body_mentions(conn: apsw.Connection) -> None:
    hits = ranking.search(conn, "slugify")
    assert [h.path for h in hits] == ["util/helpers.py", "app/views.py"]
    first, second = hits
    assert first.factors.name == 1.0 and second.factors.name == 0.0
    assert second.factors.text == 1.0  # more mentions: the better bm25 alone
    assert first.symbol == "slugify" and first.kind == "function"
    assert first.score > second.score
    assert "def slugify" in first.snippet


def test_docstring_boost(conn: apsw.Connection) -> None:
    hits = ranking.search(conn, "zeppelin budget")
    assert hits[0].symbol == "frobnicate" and hits[0].factors.docstring == 1.0
    other = next(h for h in hits if h.symbol != "frobnicate")
    assert other.factors.docstring == 0.0


def test_results_are_sorted_and_unique(conn: apsw.Connection) -> None:
    hits = ranking.search(conn, "handle request", limit=50)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    keys = [(h.path, h.range.start_line, h.range.end_line) for h in hits]
    assert len(keys) == len(set(keys))
    assert hits[0].symbol == "Server.HandleRequest"


def test_filters_limit_offset(conn: apsw.Connection) -> None:
    everything = ranking.search(conn, "handle", limit=50)
    assert len(everything) >= 2
    assert ranking.search(conn, "handle", limit=1) == everything[:1]
    assert ranking.search(conn, "handle", limit=1, offset=1) == everything[1:2]
    assert ranking.search(conn, "slugify", languages=["go"]) == []
    assert [h.path for h in ranking.search(conn, "slugify lang:python path:util/")] == [
        "util/helpers.py"
    ]
    assert [
        h.path for h in ranking.search(conn, "slugify", path_globs=["app/*.py"])
    ] == ["app/views.py"]
    assert all(
        h.kind == "variable" for h in ranking.search(conn, "handle kind:variable")
    )
    with pytest.raises(RpcError):
        ranking.search(conn, "x", kinds=["banana"])


def test_no_match_and_fallback_to_any_term(conn: apsw.Connection) -> None:
    assert ranking.search(conn, "zyzzyvaxqj") == []
    # Not every word is in one chunk: any-term matches still come back.
    assert ranking.search(conn, "slugify zyzzyvaxqj")
    assert [h.path for h in ranking.search(conn, "slugify -title")] == [
        "util/helpers.py"
    ]


def test_completion_spellings() -> None:
    assert spellings("NextEntryOff") == ["nextentryoff", "next_entry_off"]
    assert spellings("new_from_str") == ["new_from_str", "newfromstr"]
    assert spellings("handle") == ["handle"]


def test_completions_are_longer_defined_names_shortest_first(
    conn: apsw.Connection,
) -> None:
    # Names starting with the term as typed, in either spelling; not the
    # term itself (the search as typed finds it), not a name it is inside.
    assert completions(conn, "Handle") == [
        "handler",
        "handlerequest",
        "handlerequestcount",
    ]
    assert completions(conn, "handle_req") == ["handlerequest", "handlerequestcount"]
    assert completions(conn, "handlerequestcount") == []
    assert completions(conn, "zzz") == []
    # Only names the search's filters let it find.
    go, py = ([" AND f.language = ?", [lang]] for lang in ("go", "python"))
    assert completions(conn, "handle_req", *go) == [
        "handlerequest",
        "handlerequestcount",
    ]
    assert completions(conn, "handle_req", *py) == []
    assert completions(conn, "handle", " AND f.path = ?", ["docs.py"]) == []


def test_identifier_being_typed_finds_the_definitions_it_starts(
    conn: apsw.Connection,
) -> None:
    # In the other spelling too: handle_req → HandleRequest.
    hits = ranking.search(conn, "handle_req")
    assert hits[0].symbol == "Server.HandleRequest"
    assert hits[0].factors.name == 0.88  # the name as typed so far
    assert {h.symbol for h in hits} == {"Server.HandleRequest", "handleRequestCount"}
    # Filters apply to the completions too.
    assert ranking.search(conn, "handle_req", languages=["python"]) == []
    assert [h.symbol for h in ranking.search(conn, "handle_req", kinds=["method"])] == [
        "Server.HandleRequest"
    ]
    # Excluded words stay excluded from the completions' search.
    assert [h.symbol for h in ranking.search(conn, "handle_req -count")] == [
        "Server.HandleRequest"
    ]
    # Several words are no identifier being typed: nothing is completed
    # (Server.HandleRequest is found for "server" alone).
    hits = ranking.search(conn, "handle_req server")
    assert [(h.symbol, h.factors.name) for h in hits] == [("Server.HandleRequest", 0.3)]


# Ranking over a second, stdlib-like tree: qualified names and paths, partial
# matches, test files.
RANKED = [
    FileSpec(
        "futures/thread.py",
        "class ThreadPoolExecutor:\n    def submit(self, fn):\n        pass\n",
        symbols=[
            Sym("ThreadPoolExecutor", "class", end_needle="pass"),
            Sym("submit", "method", "ThreadPoolExecutor.submit", "def submit",
                "pass", parent=0),
        ],
    ),
    FileSpec(
        "futures/process.py",
        "class ProcessPoolExecutor:\n    def submit(self, fn):\n        pass\n",
        symbols=[
            Sym("ProcessPoolExecutor", "class", end_needle="pass"),
            Sym("submit", "method", "ProcessPoolExecutor.submit", "def submit",
                "pass", parent=0),
        ],
    ),
    FileSpec(
        "urls/parse.py",
        'def parse_qs(qs):\n    """Parse a query given as a string argument."""\n'
        "    return qs\n",
        symbols=[Sym("parse_qs", end_needle="return qs",
                     docstring="Parse a query given as a string argument.")],
    ),
    FileSpec(
        "urls/log.py",
        "def log(url):\n    # parse the url, log the query string\n    return url\n",
        symbols=[Sym("log", end_needle="return url")],
    ),
    FileSpec(
        "pkg/clock.py",
        "def tick_clock(n):\n    return n\n",
        symbols=[Sym("tick_clock", end_needle="return n")],
    ),
    FileSpec(
        "tests/clock.py",
        "def tick_clock(n):\n    return n\n",
        symbols=[Sym("tick_clock", end_needle="return n")],
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def ranked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apsw.Connection]:
    store = Store.open(tmp_path_factory.mktemp("ranked") / "index.db")
    store.apply_batch([indexed(spec) for spec in RANKED], [])
    with store.reader() as reader:
        yield reader
    store.close()


def test_qualified_name_words_count_for_the_name(ranked: apsw.Connection) -> None:
    hits = ranking.search(ranked, "thread pool executor submit")
    assert hits[0].path == "futures/thread.py"
    assert hits[0].factors.name > hits[1].factors.name


def test_chunks_missing_a_word_still_compete(ranked: apsw.Connection) -> None:
    # urls/log.py has every word; parse_qs lacks "url" but its name and
    # docstring answer the question.
    hits = ranking.search(ranked, "parse url query string")
    assert [h.path for h in hits] == ["urls/parse.py", "urls/log.py"]


def test_test_files_rank_below_the_code(ranked: apsw.Connection) -> None:
    hits = ranking.search(ranked, "tick clock")
    assert [h.path for h in hits] == ["pkg/clock.py", "tests/clock.py"]
    assert hits[0].score > hits[1].score
    # Asking for tests: no penalty, and the path's words count for the name.
    hits = ranking.search(ranked, "tick clock test")
    assert [h.path for h in hits] == ["tests/clock.py", "pkg/clock.py"]


@pytest.mark.parametrize(
    "path, is_test",
    [
        ("tests/clock.py", True),
        ("src/test/util.py", True),
        ("idlelib/idle_test/test_x.py", True),
        ("pkg/test_clock.py", True),
        ("server_test.go", True),
        ("web/app.spec.ts", True),
        ("conftest.py", True),
        ("unittest/case.py", False),
        ("pkg/testing_tools.py", False),
        ("contest/entry.py", False),
    ],
)
def test_is_test_path(path: str, is_test: bool) -> None:
    assert ranking.is_test_path(path) is is_test


def test_stem_joins_inflections() -> None:
    assert ranking.stem("directories") == ranking.stem("directory")
    assert ranking.stem("parsing") == ranking.stem("parse") == ranking.stem("parsed")
    assert ranking.stem("url") == "url"


# -- definitions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("validate", ["Engine.Config.validate"]),
        ("Config.validate", ["Engine.Config.validate"]),
        ("Engine.Config.validate", ["Engine.Config.validate"]),
        ("Config", ["Engine.Config"]),
        ("ReportBuilder.build_report", ["ReportBuilder.build_report"]),
        ("Builder.build_report", []),
        ("ReportBuilder.build", []),
        ("main.ReportBuilder.build_report", []),
        ("onfig.validate", []),
        ("Slugify", []),
        ("slugify", ["slugify"]),
        ("", []),
    ],
)
def test_definition_name_matching(
    conn: apsw.Connection, name: str, expected: list[str]
) -> None:
    assert [d.qualified_name for d in query.definitions(conn, name)] == expected


def test_definition_fields_kind_and_path(conn: apsw.Connection) -> None:
    (found,) = query.definitions(conn, "slugify")
    assert (found.path, found.language, found.kind) == (
        "util/helpers.py",
        "python",
        "function",
    )
    assert (
        found.selection_range.start_line == 1 and found.selection_range.start_col == 4
    )
    assert found.range.end_line == 3 and found.docstring
    assert found.signature == "def slugify(text):"
    assert query.definitions(conn, "Config", kind="class")
    assert query.definitions(conn, "Config", kind="function") == []
    assert query.definitions(conn, "Config", path="engine/config.py")
    assert query.definitions(conn, "Config", path="engine/")
    assert query.definitions(conn, "Config", path="engine")
    assert query.definitions(conn, "Config", path="report.py") == []


# -- references, outline, chunks ------------------------------------------------------


def test_references(conn: apsw.Connection) -> None:
    (ref,) = query.references(conn, "slugify")
    assert (ref.path, ref.kind, ref.range.start_line) == ("app/views.py", "call", 3)
    assert ref.context == "return slugify(slugify(title))"
    assert query.references(conn, "helpers.slugify") == [ref]
    assert query.references(conn, "slugify", path="util/") == []
    assert query.references(conn, "slugify", limit=0) == []


def test_outline_nests(conn: apsw.Connection) -> None:
    (engine,) = query.outline(conn, "engine/config.py")
    assert engine.name == "Engine" and engine.kind == "class"
    (config,) = engine.children
    assert config.qualified_name == "Engine.Config"
    assert [c.name for c in config.children] == ["validate"]
    assert query.outline(conn, "nope.py") == []


def test_chunks_cover_the_file_and_filter_by_line(conn: apsw.Connection) -> None:
    spec = FILES[4]
    chunks = query.chunks(conn, spec.path)
    assert "".join(c.text for c in chunks) == spec.text
    assert len(chunks) == 3
    (at,) = query.chunks(conn, spec.path, line=5)
    assert at.range.start_line == 5 and "Handler" in at.text
    assert query.chunks(conn, spec.path, line=999) == []


# -- symbols.search ------------------------------------------------------------------------


def test_symbol_search_tiers(conn: apsw.Connection) -> None:
    names = [s.name for s in query.symbol_search(conn, "handle")]
    # no exact "handle"; prefix (shorter first), then substring
    assert names[:3] == ["Handler", "HandleRequest", "handleRequestCount"]
    assert names[-1] == "rehandle"
    exact = query.symbol_search(conn, "handler")
    assert exact[0].name == "Handler" and exact[0].score > exact[-1].score


@pytest.mark.parametrize("typed", ["HR", "hr", "hanReq", "HandReq", "hReq"])
def test_symbol_search_camel_humps(conn: apsw.Connection, typed: str) -> None:
    found = query.symbol_search(conn, typed)
    assert found and found[0].name in ("HandleRequest", "handleRequestCount"), found
    assert "HandleRequest" in [s.name for s in found]


def test_symbol_search_order_exact_prefix_hump_substring(conn: apsw.Connection) -> None:
    found = query.symbol_search(conn, "re")
    names = [s.name for s in found]
    # prefixes (shorter first) before substrings (HandleRequest, …)
    assert names[:3] == ["render", "rehandle", "ReportBuilder"]
    assert "HandleRequest" in names[3:]
    assert found[2].score > found[3].score
    kinds = query.symbol_search(conn, "handle", kinds=["variable"])
    assert [s.name for s in kinds] == ["handleRequestCount"]
    assert query.symbol_search(conn, "   ") == []


def test_symbol_search_word_starts_on_large_workspaces(
    conn: apsw.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = [s.name for s in query.symbol_search(conn, "request")]
    assert "HandleRequest" in full and "handleRequestCount" in full
    assert "rehandle" in [s.name for s in query.symbol_search(conn, "andle")]
    # Past the scan limit: word starts through FTS, no mid-word substrings.
    monkeypatch.setattr(query, "_SUBSTRING_SCAN_MAX", 0)
    assert sorted(s.name for s in query.symbol_search(conn, "request")) == sorted(
        n for n in full if "request" in n.lower()
    )
    assert query.symbol_search(conn, "andle") == []
