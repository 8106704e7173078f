"""Column conversion of `axd lsp` (pure functions and its two caches)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.client.lsp.positions import (
    UTF8,
    UTF16,
    UTF32,
    BufferLines,
    LineCache,
    byte_col_to_character,
    character_to_index,
    word_at,
)

if TYPE_CHECKING:
    from pathlib import Path

LINE = "x = '𝒳é'; name"  # 𝒳: 4 UTF-8 bytes, 2 UTF-16 units; é: 2 bytes, 1 unit


def test_columns_in_each_encoding() -> None:
    data = LINE.encode()
    col = data.index(b"name")
    assert byte_col_to_character(data, col, UTF8) == col
    assert byte_col_to_character(data, col, UTF16) == LINE.index("name") + 1
    assert byte_col_to_character(data, col, UTF32) == LINE.index("name")
    assert byte_col_to_character(None, col, UTF16) == col  # line unknown
    assert byte_col_to_character(data, 3, UTF16) == 3  # an ASCII prefix


def test_characters_to_indices_are_clamped() -> None:
    name = LINE.index("name")
    assert character_to_index(LINE, name + 1, UTF16) == name
    assert character_to_index(LINE, name, UTF32) == name
    assert character_to_index(LINE, 1_000, UTF16) == len(LINE)
    assert character_to_index("abc", -4, UTF16) == 0
    assert word_at(LINE, len(LINE)) == ("name", len(LINE) - 4, len(LINE))
    assert word_at("x = 42", 5) is None  # a number is not an identifier


def test_buffer_lines_keep_the_newest_documents() -> None:
    lines = BufferLines(documents=2)
    texts = {uri: f"{uri}\r\nsecond" for uri in ("a", "b", "c")}
    for uri, text in texts.items():
        assert lines.line(uri, text, 0) == uri  # the \r is dropped
    assert lines.line("c", texts["c"], 2) is None  # past the end
    assert lines.line("c", texts["c"], -1) is None
    assert list(lines._split) == ["b", "c"]  # "a" went: least recently used


def test_line_cache_budget_changes_and_unreadable_files(tmp_path: Path) -> None:
    root = str(tmp_path)
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("ascii\nné = 1\n", encoding="utf-8")
    (tmp_path / "plain.py").write_text("all ascii\n")
    wide = "né = 1".encode()
    cache = LineCache(files=10, budget=len(wide))  # room for one file's lines
    assert cache.wide_lines(root, "a.py") == {2: wide}
    assert cache.wide_lines(root, "b.py", watched=True) == {2: wide}
    assert list(cache._files) == [(root, "b.py")]  # a.py evicted: over budget
    assert cache.wide_lines(root, "plain.py") is None
    assert cache.wide_lines(root, "missing.py") is None  # cannot stat
    assert cache.wide_lines(root, "missing.py", watched=True) is None  # cannot read
    # A watched file is trusted until forgotten; then read again.
    (tmp_path / "b.py").write_text("ascii\nascii\nü\n", encoding="utf-8")
    assert cache.wide_lines(root, "b.py", watched=True) == {2: wide}
    cache.forget(root, ["b.py"])
    assert cache.wide_lines(root, "b.py", watched=True) == {3: "ü".encode()}
    cache.clear()
    assert not cache._files and cache._held == 0
