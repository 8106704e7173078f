"""Store + queries on records from the real extractor (a slice of the sample repo)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from axd.daemon.index.extract import extract
from axd.daemon.index.languages import detect_language
from axd.daemon.query import graph
from axd.daemon.query import search as ranking
from axd.daemon.query import symbols as query
from axd.daemon.records import FileOutcome
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import apsw

SOURCES = {
    "a.py": 'import b\n\n\ndef parse_file(path):\n    """Parse a file."""\n'
    "    return open(path).read().splitlines()\n\n\ndef alpha():\n    return b.beta()\n",
    "b.py": "import a\n\n\ndef beta():\n    return 2\n\n\ndef call_alpha():\n"
    "    return a.alpha()\n",
    "main.py": "import os\nimport a\nfrom util.helpers import slugify\n\n\n"
    "class ReportBuilder:\n    def build_report(self, title):\n"
    "        name = slugify(title)\n        return a.parse_file(name)\n",
    "util/__init__.py": "",
    "util/helpers.py": 'def slugify(text):\n    """Turn text into a lowercase slug."""\n'
    "    return text.lower()\n",
    "web/src/parser.ts": 'import { formatName } from "./format";\n\n'
    "export function parseFile(path: string): string[] {\n"
    "  return [formatName(path)];\n}\n",
    "web/src/format.ts": "export function formatName(value: string): string {\n"
    "  return value.trim();\n}\n",
    "config/settings.yaml": "service:\n  name: pangolin-gateway\n",
}


def extracted(sources: dict[str, str]) -> list[FileOutcome]:
    """Each source through the real extractor, as a worker's outcome."""
    outcomes = []
    for path, text in sources.items():
        data = text.encode()
        language = detect_language(path, data[:256])
        assert language is not None
        outcomes.append(
            FileOutcome(
                path=path,
                status="indexed",
                language=language,
                size=len(data),
                content_hash=str(hash(data)),
                extraction=extract(data, language),
            )
        )
    return outcomes


@pytest.fixture(scope="module")
def conn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apsw.Connection]:
    store = Store.open(tmp_path_factory.mktemp("extracted") / "index.db")
    store.apply_batch(extracted(SOURCES), [])
    with store.reader() as reader:
        yield reader
    store.close()


def test_search_ranks_the_definition_first(conn: apsw.Connection) -> None:
    hits = ranking.search(conn, "slugify")
    assert hits[0].path == "util/helpers.py"
    assert {h.path for h in hits} >= {"util/helpers.py", "main.py"}


def test_search_finds_both_spellings(conn: apsw.Connection) -> None:
    hits = ranking.search(conn, "parse file")
    found = {(h.path, h.symbol) for h in hits}
    assert ("a.py", "parse_file") in found and (
        "web/src/parser.ts",
        "parseFile",
    ) in found
    assert ranking.search(conn, "pangolin")[0].path == "config/settings.yaml"
    only_ts = ranking.search(conn, "parse file", languages=["ts"])
    assert [h.path for h in only_ts] == ["web/src/parser.ts"]


def test_search_finds_an_identifier_from_its_first_letters(
    conn: apsw.Connection,
) -> None:
    # Typed so far, in either spelling: the definition comes first.
    assert (ranking.search(conn, "ReportBuil")[0].symbol) == "ReportBuilder"
    assert (ranking.search(conn, "build_rep")[0].symbol) == (
        "ReportBuilder.build_report"
    )
    assert ranking.search(conn, "slugif")[0].path == "util/helpers.py"
    assert ranking.search(conn, "sl") == []  # too short to be a prefix


def test_search_ignores_the_function_words_of_a_question(
    conn: apsw.Connection,
) -> None:
    hits = ranking.search(conn, "how do I turn the text into a slug")
    assert hits[0].path == "util/helpers.py"
    assert hits[0].symbol == "slugify"


def test_definitions_and_references(conn: apsw.Connection) -> None:
    (found,) = query.definitions(conn, "ReportBuilder.build_report")
    assert found.kind == "method" and found.path == "main.py"
    assert query.definitions(conn, "Builder.build_report") == []
    calls = [r for r in query.references(conn, "slugify") if r.kind == "call"]
    assert [(r.path, r.context) for r in calls] == [
        ("main.py", "name = slugify(title)")
    ]


def test_graph(conn: apsw.Connection) -> None:
    edges = {(e.module, e.path) for e in graph.imports(conn, "main.py")}
    assert edges == {("os", None), ("a", "a.py"), ("util.helpers", "util/helpers.py")}
    ts = [(e.module, e.path) for e in graph.imports(conn, "web/src/parser.ts")]
    assert ts == [("./format", "web/src/format.ts")]
    assert graph.cycles(conn) == [["a.py", "b.py"]]
    deps = {p.path: p.depth for p in graph.dependencies(conn, "main.py")}
    assert deps == {"a.py": 1, "util/helpers.py": 1, "b.py": 2}


def test_code_definitions_come_before_headings_and_keys(tmp_path: Path) -> None:
    # Paths chosen so that path order alone would put the documents first.
    sources = {
        "CHANGELOG.md": "# Changes\n\n## Typer\n\nFaster.\n",
        "a-config.yaml": "Typer: strict\n",
        "zz/typer.py": "class Typer:\n    pass\n",
        "zz/typer_test.py": "def Typer():\n    pass\n",
    }
    store = Store.open(tmp_path / "index.db")
    try:
        store.apply_batch(extracted(sources), [])
        with store.reader() as conn:
            found = [(d.path, d.kind) for d in query.definitions(conn, "Typer")]
    finally:
        store.close()
    assert found == [
        ("zz/typer.py", "class"),
        ("zz/typer_test.py", "function"),
        ("CHANGELOG.md", "heading"),
        ("a-config.yaml", "key"),
    ]
