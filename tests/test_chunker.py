from __future__ import annotations

import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import tree_sitter_language_pack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axd.daemon.index.chunker import Unit, chunk_file, chunk_lines
from axd.daemon.index.extract import extract

if TYPE_CHECKING:
    from axd.daemon.records import ChunkRecord


def assert_tiles(source: bytes, chunks: list[ChunkRecord], max_bytes: int) -> None:
    """Contiguous, in order, every byte once, each chunk within the limit."""
    position = 0
    for chunk in chunks:
        assert chunk.start_byte == position
        assert 0 < chunk.end_byte - chunk.start_byte <= max_bytes
        assert chunk.text == source[chunk.start_byte : chunk.end_byte].decode(
            "utf-8", "replace"
        )
        position = chunk.end_byte
    assert position == len(source)
    try:
        text = source.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert "".join(chunk.text for chunk in chunks) == text


def assert_positions(source: bytes, chunks: list[ChunkRecord]) -> None:
    """Spans agree with the bytes: 1-based lines, byte columns."""
    for chunk in chunks:
        before = source[: chunk.start_byte]
        assert chunk.span.start_line == before.count(b"\n") + 1
        assert chunk.span.start_col == len(before) - (before.rfind(b"\n") + 1)
        assert chunk.span.end_line >= chunk.span.start_line


def function(name: str, body_lines: int) -> str:
    body = "".join(f"    x{i} = {name}({i})\n" for i in range(body_lines))
    return f'def {name}(a, b):\n    """Doc for {name}."""\n{body}    return a\n'


PYTHON_WORDS = st.sampled_from(
    [
        "def f(x):\n",
        "    return x\n",
        "class A:\n",
        "    pass\n",
        "# comment\n",
        "\n",
        "import os\n",
        "x = [1,\n",
        "  2]\n",
        '"""doc"""\n',
        "if x:\n",
        "    y = 'caf\u00e9'\n",
        "\t",
        " ",
        "(",
        ")",
        ":",
        "\u2603",
    ]
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(PYTHON_WORDS, max_size=120), st.integers(64, 600))
def test_python_like_text_tiles(words: list[str], max_bytes: int) -> None:
    source = "".join(words).encode()
    chunks = extract(source, "python", max_chunk_bytes=max_bytes).chunks
    assert_tiles(source, chunks, max_bytes)
    assert_positions(source, chunks)


@settings(max_examples=200)
@given(st.text(max_size=3000), st.integers(64, 1000))
def test_any_text_tiles(text: str, max_bytes: int) -> None:
    source = text.encode("utf-8", "surrogatepass")
    chunks = extract(source, "typescript", max_chunk_bytes=max_bytes).chunks
    assert_tiles(source, chunks, max_bytes)
    assert_positions(source, chunks)


@settings(max_examples=200)
@given(st.binary(max_size=3000), st.integers(64, 1000))
def test_any_bytes_tile(source: bytes, max_bytes: int) -> None:
    assert_tiles(
        source, extract(source, "go", max_chunk_bytes=max_bytes).chunks, max_bytes
    )
    assert_tiles(source, chunk_lines(source, max_bytes=max_bytes), max_bytes)


def test_empty_file_has_no_chunks() -> None:
    assert chunk_lines(b"") == []
    assert extract(b"", "yaml").chunks == []


def test_small_file_is_one_chunk_named_after_its_only_definition() -> None:
    source = b'"""Helpers."""\nimport re\n\nWORD = 1\n\n\ndef slugify(text):\n    return text\n'
    chunks = extract(source, "python").chunks
    assert len(chunks) == 1
    assert (chunks[0].kind, chunks[0].symbol) == ("function", "slugify")


def test_definitions_are_units_and_doc_comments_stay_with_them() -> None:
    parts = [
        f"// Doc for f{i}.\nfunc f{i}() {{\n" + "\tx := 1\n" * 40 + "}\n\n"
        for i in range(6)
    ]
    source = ("package p\n\n" + "".join(parts)).encode()
    max_bytes = 400
    chunks = extract(source, "go", max_chunk_bytes=max_bytes).chunks
    assert_tiles(source, chunks, max_bytes)
    for i in range(6):
        owner = [c for c in chunks if f"func f{i}()" in c.text]
        assert len(owner) == 1, f"f{i} split although it fits"
        assert f"// Doc for f{i}." in owner[0].text
        assert (owner[0].kind, owner[0].symbol) == ("function", f"f{i}")
    # Chunk boundaries fall at line starts here.
    assert all(c.span.start_col == 0 for c in chunks)


def test_large_definition_is_split_at_child_boundaries() -> None:
    source = (
        "import os\n\n\nclass Big:\n"
        + "".join(
            "    " + line + "\n"
            for i in range(30)
            for line in function(f"m{i}", 5).splitlines()
        )
        + "\n\ndef tail():\n    pass\n"
    ).encode()
    max_bytes = 512
    extraction = extract(source, "python", max_chunk_bytes=max_bytes)
    chunks = extraction.chunks
    assert_tiles(source, chunks, max_bytes)
    assert len(chunks) > 5
    # Each method fits, so each lies inside one chunk.
    for i in range(30):
        assert sum(f"def m{i}(" in c.text for c in chunks) == 1
    # Pieces of the class name the class (or the one method they hold).
    inner = chunks[1:-1]
    assert all(c.symbol is not None and c.symbol.startswith("Big") for c in inner)
    assert all(c.span.start_col == 0 for c in chunks)


def test_huge_line_is_cut_on_character_boundaries() -> None:
    source = ("x = '" + "\u00e9" * 5000 + "'\n").encode()
    chunks = extract(source, "python", max_chunk_bytes=1000).chunks
    assert_tiles(source, chunks, 1000)
    assert all("\ufffd" not in c.text for c in chunks)


def test_data_files_are_chunked_by_top_level_keys() -> None:
    source = "".join(
        f"section{i}:\n" + "".join(f"  key{j}: value {j}\n" for j in range(20))
        for i in range(10)
    ).encode()
    chunks = extract(source, "yaml", max_chunk_bytes=600).chunks
    assert_tiles(source, chunks, 600)
    assert all(c.span.start_col == 0 for c in chunks)
    assert all(c.text.startswith("section") for c in chunks)


def test_chunk_spans_exclude_the_final_newline() -> None:
    source = b"a = 1\nb = 2\n"
    (chunk,) = chunk_lines(source)
    assert (chunk.span.start_line, chunk.span.end_line, chunk.span.end_col) == (1, 2, 5)


def test_chunk_names_come_from_the_units_it_holds() -> None:
    source = b"one\ntwo\nthree\n"
    root = tree_sitter_language_pack.get_parser("python").parse(source).root_node
    # Exactly one outermost unit (statements around it do not count).
    chunks = chunk_file(source, root, [Unit(0, 3, "function", "one")])
    assert [(c.kind, c.symbol) for c in chunks] == [("function", "one")]
    units = [Unit(0, 3, "function", "one"), Unit(4, 7, "function", "two")]
    assert [(c.kind, c.symbol) for c in chunk_file(source, root, units)] == [
        ("block", None)
    ]
    # Nested units do not count twice; an enclosing one names the chunk.
    units = [Unit(0, 14, "class", "All"), Unit(4, 7, "method", "All.two")]
    assert [(c.kind, c.symbol) for c in chunk_file(source, root, units)] == [
        ("class", "All")
    ]
    units = [Unit(0, 14, "class", "All")]
    chunks = chunk_file(source, root, units, max_bytes=64)
    assert [(c.kind, c.symbol) for c in chunks] == [("class", "All")]
    # Without a tree: lines only.
    assert [c.text for c in chunk_lines(source)] == ["one\ntwo\nthree\n"]


STDLIB = Path(sysconfig.get_paths()["stdlib"])


@pytest.mark.parametrize(
    "name", ["typing.py", "dataclasses.py", "argparse.py", "json/decoder.py"]
)
def test_real_files_tile(name: str) -> None:
    source = (STDLIB / name).read_bytes()
    extraction = extract(source, "python", max_chunk_bytes=2048)
    assert_tiles(source, extraction.chunks, 2048)
    assert_positions(source, extraction.chunks)
    named = sum(c.symbol is not None for c in extraction.chunks)
    assert named >= len(extraction.chunks) // 2


@pytest.mark.parametrize("language", ["python", "go"])
def test_deeply_nested_tree_tiles_without_recursion_error(language: str) -> None:
    # A generated 3000-operand sum nests one tree level per operand; the
    # splitter cuts past a depth bound at newlines instead of overflowing.
    operands = " +\n\t".join(["1"] * 3000)
    if language == "python":
        source = f"x = ({operands})\n".encode()
    else:
        source = f"package p\n\nvar x = {operands}\n".encode()
    extraction = extract(source, language, max_chunk_bytes=64)
    assert_tiles(source, extraction.chunks, 64)
    assert_positions(source, extraction.chunks)
