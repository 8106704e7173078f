"""The "ctags disagrees" rules of perf/symbol_recall.py that re-ask ctags
(JavaScript): they must confirm only what ctags itself confirms, and never
an axd name that is not a function's name."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "perf"))
import symbol_recall

CTAGS = shutil.which("ctags")
JS = next(t for t in symbol_recall.TARGETS if t.language == "javascript")

# ctags 5.9 tags `createError` once in this file (name and scope already
# seen); the second one, in another test's callback, is a real definition.
REPEATED = """\
it('a', function () {
  route.all(function createError (req) { return 1 })
})
it('b', function () {
  route.all(function createError (req) { return 2 })
})
"""


def _tag(path: Path, name: str, line: int) -> symbol_recall.Tag:
    text = path.read_text().splitlines()[line - 1]
    match = re.search(rf"\b{name}\b", text)
    assert match is not None
    column = match.start()
    return symbol_recall.Tag(str(path), name, line, "function", "", name, column)


@pytest.mark.parametrize(
    ("source", "name", "expected"),
    [
        ("a.f = function () {}\n", "f", True),
        ("a.g = a.f = function () {}\n", "g", True),
        ("var o = { f: function () {} }\n", "f", True),
        ("var f = function () {}\n", "f", True),
        ("run(function f() {})\n", "f", True),
        ("route.all(function f() {})\n", "all", False),  # a call, not a definition
        ("a.f = compute()\n", "f", False),  # assigned a value, not a function
        (
            "a.f =\n  function () {}\n",
            "f",
            False,
        ),  # the function starts on another line
    ],
)
def test_names_function(tmp_path: Path, source: str, name: str, expected: bool) -> None:
    path = tmp_path / "probe.js"
    path.write_text(source)
    symbol_recall._tree.cache_clear()
    assert symbol_recall._names_function("javascript", _tag(path, name, 1)) is expected


@pytest.mark.skipif(CTAGS is None, reason="Universal Ctags is not installed")
def test_repeated_name_is_confirmed_by_rerunning_ctags(tmp_path: Path) -> None:
    assert CTAGS is not None
    path = tmp_path / "repeated.js"
    path.write_text(REPEATED)
    tags = {
        e["line"] for e in symbol_recall._ctags_file(CTAGS, "JavaScript", str(path))
    }
    assert 2 in tags and 5 not in tags  # the behaviour the rule is about
    result = symbol_recall.Result("javascript", "probe")
    second = _tag(path, "createError", 5)
    not_a_definition = _tag(path, "all", 5)  # `route.all(...)` is a call
    result.extra = [second, not_a_definition]
    symbol_recall.confirm_by_ctags(CTAGS, JS, result)
    assert result.axd_unconfirmed == {"repeated name ctags drops": 1}
    assert result.extra == [not_a_definition]


@pytest.mark.skipif(CTAGS is None, reason="Universal Ctags is not installed")
def test_a_name_ctags_never_tags_stays_unconfirmed(tmp_path: Path) -> None:
    assert CTAGS is not None
    path = tmp_path / "alone.js"
    path.write_text("var n = count(1)\nfunction f() {}\n")
    result = symbol_recall.Result("javascript", "probe")
    result.extra = [_tag(path, "count", 1)]
    symbol_recall.confirm_by_ctags(CTAGS, JS, result)
    assert not result.axd_unconfirmed
    assert [t.name for t in result.extra] == ["count"]
