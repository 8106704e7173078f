"""Query predicates see the file's text after the deadline parse
(`daemon/index/parsing.py`), long nodes and reused buffers included."""

from __future__ import annotations

import tracemalloc

import tree_sitter_language_pack

from axd.daemon.index import parsing
from axd.daemon.index.extract import extract


def test_predicates_see_the_text_of_long_nodes() -> None:
    # python.scm: an ALL_CAPS name is a constant (#match?), any other a
    # variable (#not-match?); with predicates ignored both patterns match.
    long_name = "LIMIT_" + "X" * 600
    source = f"{long_name} = 1\nlower = 2\nMIXED_case = 3\n".encode()
    kinds = {s.name: s.kind for s in extract(source, "python").symbols}
    assert kinds == {
        long_name: "constant",
        "lower": "variable",
        "MIXED_case": "variable",
    }


def test_eq_predicate_selects_require_calls() -> None:
    # javascript.scm: a call is an import only when the callee #eq? "require".
    source = b'const a = require("./a")\nconst b = load("./b")\n'
    modules = [i.module for i in extract(source, "javascript").imports]
    assert modules == ["./a"]


def test_files_in_a_row_do_not_share_text() -> None:
    # The read callback reuses one buffer: a later, shorter file must not see
    # the earlier file's bytes through a predicate.
    first = b"require('x')\n" + b"// " + b"y" * 5000 + b"\n"
    assert [i.module for i in extract(first, "javascript").imports] == ["x"]
    second = b"requirf('z')\n"
    assert extract(second, "javascript").imports == []


def test_parsing_many_files_keeps_nothing_of_them() -> None:
    # py-tree-sitter 0.26.1 keeps a reference to every object the read
    # callback returns (~2 per parse of this file, ~8 per real file);
    # `parsing` gives them back. 200 parses leaked ~84 KB without that.
    parser = tree_sitter_language_pack.get_parser("typescript")
    source = b"let x = 1;\n" * 2000
    parsing.parse(parser, source, 5000)  # the one-time measurement first
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for _ in range(200):
            parsing.parse(parser, source, 5000)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert grown < 16_000
