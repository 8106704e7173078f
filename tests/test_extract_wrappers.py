"""A definition grows to the wrappers that hold only it (`nesting._outer`).

Generated files with thousands of definitions in one wrapper (a Go
`const ( ... )` block of errno values) must keep the exact symbols: every
spec of a block stays its own line, a lone spec grows to its declaration.
(#16: the check used to count a wrapper's children once per definition.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.daemon.index.extract import extract

if TYPE_CHECKING:
    from axd.daemon.records import Extraction

Row = tuple[str, str, tuple[int, int, int, int], str, int | None]

BLOCK = 3000


def rows(extraction: Extraction) -> list[Row]:
    return [
        (
            s.qualified_name,
            s.kind,
            (s.span.start_line, s.span.start_col, s.span.end_line, s.span.end_col),
            s.signature,
            s.parent,
        )
        for s in extraction.symbols
    ]


def test_large_go_blocks_keep_each_spec_and_grow_lone_ones() -> None:
    lines = ["package errno", "", "const ("]
    expected: list[Row] = []
    for i in range(BLOCK):
        text = f"E{i} = Errno({i})"
        lines.append(f"\t{text}")
        expected.append(
            (
                f"E{i}",
                "constant",
                (len(lines), 1, len(lines), 1 + len(text)),
                text,
                None,
            )
        )
    lines += [")", ""]
    lines.append("const Only = 1")
    expected.append(
        ("Only", "constant", (len(lines), 0, len(lines), 14), "const Only = 1", None)
    )
    lines += ["", "type ("]
    for name, body in (("A", "int"), ("B", "string")):
        lines.append(f"\t{name} {body}")
        end = 1 + len(name) + 1 + len(body)
        expected.append(
            (name, "type", (len(lines), 1, len(lines), end), f"{name} {body}", None)
        )
    lines += [")", "", "type T struct{}"]
    expected.append(
        ("T", "struct", (len(lines), 0, len(lines), 15), "type T struct{}", None)
    )
    lines += ["", "var ("]
    for i in range(BLOCK):
        text = f"V{i} int"
        lines.append(f"\t{text}")
        expected.append(
            (
                f"V{i}",
                "variable",
                (len(lines), 1, len(lines), 1 + len(text)),
                text,
                None,
            )
        )
    lines += [")", "", "var W = 1"]
    expected.append(
        ("W", "variable", (len(lines), 0, len(lines), 9), "var W = 1", None)
    )
    source = "\n".join(lines) + "\n"

    assert rows(extract(source.encode(), "go")) == expected


def test_large_python_module_grows_decorated_definitions() -> None:
    lines: list[str] = []
    expected: list[Row] = []
    for i in range(BLOCK):
        first = len(lines) + 1
        if i % 2:
            lines.append("@register")
        lines += [f"def f{i}(x):", "    return x", ""]
        # Decorated: the span starts at the decorator (the wrapper holds only it).
        expected.append(
            (
                f"f{i}",
                "function",
                (first, 0, first + 1 + i % 2, 12),
                f"def f{i}(x)",
                None,
            )
        )
        lines.append(f"C{i} = {i}")
        text = f"C{i} = {i}"
        expected.append(
            (f"C{i}", "constant", (len(lines), 0, len(lines), len(text)), text, None)
        )
    class_line = len(lines) + 1
    lines += ["class K:", "    @property", "    def p(self):", "        return 1"]
    expected.append(
        ("K", "class", (class_line, 0, class_line + 3, 16), "class K", None)
    )
    expected.append(
        (
            "K.p",
            "method",
            (class_line + 1, 4, class_line + 3, 16),
            "def p(self)",
            2 * BLOCK,
        )
    )
    source = "\n".join(lines) + "\n"

    assert rows(extract(source.encode(), "python")) == expected


def test_typescript_exports_grow_to_the_export_statement() -> None:
    lines: list[str] = []
    expected: list[Row] = []
    for i in range(BLOCK):
        text = f"export function g{i}() {{}}"
        lines.append(text)
        expected.append(
            (
                f"g{i}",
                "function",
                (i + 1, 0, i + 1, len(text)),
                f"export function g{i}()",
                None,
            )
        )
    line = len(lines) + 1
    lines.append("export const a = 1, b = 2;")
    # One declaration defines both: each grows to the whole statement.
    statement = (line, 0, line, 26)
    expected += [
        (name, "variable", statement, "export const a = 1, b = 2;", None)
        for name in ("a", "b")
    ]
    source = "\n".join(lines) + "\n"

    assert rows(extract(source.encode(), "typescript")) == expected
