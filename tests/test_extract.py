from __future__ import annotations

import msgspec
import pytest

from axd.daemon.index.extract import (
    ParseTimeoutError,
    QueryFileError,
    UnknownLanguageError,
    check_query,
    extract,
)
from axd.daemon.records import SYMBOL_KINDS, Extraction, SymbolRecord

MAIN_PY = '''\
import os
import a
from util.helpers import slugify


class ReportBuilder:
    """Builds a report from files."""

    def __init__(self, root):
        self.root = root

    def build_report(self, title):
        name = slugify(title)
        lines = a.parse_file(os.path.join(self.root, name))
        return len(lines)


def main():
    builder = ReportBuilder(".")
    return builder.build_report("Hello World")
'''

HELPERS_PY = '''\
"""Small text helpers."""
import re

_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text):
    """Turn text into a lowercase slug."""
    return _NON_WORD.sub("-", text.lower()).strip("-")
'''

PARSER_TS = """\
import { readFileSync } from "fs";
import { formatName } from "./format";

export interface ParseOptions {
  strict: boolean;
}

/** Parse a file into trimmed lines. */
export function parseFile(path: string, options?: ParseOptions): string[] {
  const text = readFileSync(path, "utf8");
  return text.split("\\n").map(formatName);
}

export class TokenStream {
  private position = 0;

  constructor(private readonly tokens: string[]) {}

  nextToken(): string | undefined {
    return this.tokens[this.position++];
  }
}
"""

INDEX_TS = """\
import { parseFile } from "./parser";

export function countLines(path: string): number {
  const lines = parseFile(path);
  return lines.length;
}
"""

SERVER_GO = """\
package server

import (
\t"fmt"
\t"strings"
)

// Server answers requests for one site.
type Server struct {
\tName string
}

// NewServer builds a Server with a trimmed name.
func NewServer(name string) *Server {
\treturn &Server{Name: strings.TrimSpace(name)}
}

// HandleRequest renders the response for a path.
func (s *Server) HandleRequest(path string) string {
\treturn fmt.Sprintf("%s:%s", s.Name, path)
}
"""

LIB_RS = """\
use std::collections::HashMap;

/// A small in-memory cache.
pub struct Cache {
    items: HashMap<String, String>,
}

impl Cache {
    pub fn new() -> Self {
        Cache { items: HashMap::new() }
    }

    pub fn lookup_entry(&self, key: &str) -> Option<&String> {
        self.items.get(key)
    }
}

pub trait Storage {
    fn store(&mut self, key: String, value: String);
}

pub fn compute_checksum(data: &[u8]) -> u32 {
    data.iter().map(|b| *b as u32).sum()
}
"""

INVENTORY_JAVA = """\
package com.example;

import java.util.ArrayList;
import java.util.List;

/** Keeps an in-memory list of items. */
public class InventoryService {
    private final List<String> items = new ArrayList<>();

    public void addItem(String item) {
        items.add(item);
    }

    public int countItems() {
        return items.size();
    }
}
"""

SETTINGS_YAML = """\
service:
  name: pangolin-gateway
  retry_backoff_seconds: 30
database:
  host: localhost
  port: 5432
"""

CARGO_TOML = """\
[package]
name = "wombat_cache"
version = "0.1.0"
edition = "2021"

[dependencies]
"""

PACKAGE_JSON = """\
{
  "name": "sample-web",
  "version": "1.0.0",
  "description": "quokka telemetry dashboard",
  "main": "src/index.ts"
}
"""

# (source, language, name, kind, qualified name, text on the name's line,
#  text on the range's first line)
EXPECTED = [
    (
        MAIN_PY,
        "python",
        "ReportBuilder",
        "class",
        "ReportBuilder",
        "class R",
        "class R",
    ),
    (
        MAIN_PY,
        "python",
        "__init__",
        "method",
        "ReportBuilder.__init__",
        "def __",
        "def __",
    ),
    (
        MAIN_PY,
        "python",
        "build_report",
        "method",
        "ReportBuilder.build_report",
        "def b",
        "def b",
    ),
    (MAIN_PY, "python", "main", "function", "main", "def main", "def main"),
    (HELPERS_PY, "python", "slugify", "function", "slugify", "def slug", "def slug"),
    (
        PARSER_TS,
        "typescript",
        "parseFile",
        "function",
        "parseFile",
        "export function",
        "/**",
    ),
    (
        PARSER_TS,
        "typescript",
        "ParseOptions",
        "interface",
        "ParseOptions",
        "export i",
        "export i",
    ),
    (
        PARSER_TS,
        "typescript",
        "TokenStream",
        "class",
        "TokenStream",
        "export c",
        "export c",
    ),
    (
        PARSER_TS,
        "typescript",
        "nextToken",
        "method",
        "TokenStream.nextToken",
        "nextT",
        "nextT",
    ),
    (
        INDEX_TS,
        "typescript",
        "countLines",
        "function",
        "countLines",
        "export f",
        "export f",
    ),
    (SERVER_GO, "go", "Server", "struct", "Server", "type Server", "// Server"),
    (
        SERVER_GO,
        "go",
        "NewServer",
        "function",
        "NewServer",
        "func NewServer",
        "// NewServer",
    ),
    (
        SERVER_GO,
        "go",
        "HandleRequest",
        "method",
        "Server.HandleRequest",
        "func (s",
        "// Handle",
    ),
    (LIB_RS, "rust", "Cache", "struct", "Cache", "pub struct Cache", "/// A small"),
    (
        LIB_RS,
        "rust",
        "lookup_entry",
        "method",
        "Cache.lookup_entry",
        "pub fn lookup",
        "pub fn look",
    ),
    (LIB_RS, "rust", "Storage", "trait", "Storage", "pub trait", "pub trait"),
    (LIB_RS, "rust", "store", "method", "Storage.store", "fn store", "fn store"),
    (
        LIB_RS,
        "rust",
        "compute_checksum",
        "function",
        "compute_checksum",
        "pub fn com",
        "pub fn com",
    ),
    (
        INVENTORY_JAVA,
        "java",
        "InventoryService",
        "class",
        "InventoryService",
        "public class",
        "/**",
    ),
    (
        INVENTORY_JAVA,
        "java",
        "addItem",
        "method",
        "InventoryService.addItem",
        "public void",
        "public v",
    ),
    (
        INVENTORY_JAVA,
        "java",
        "countItems",
        "method",
        "InventoryService.countItems",
        "public int",
        "public i",
    ),
    (SETTINGS_YAML, "yaml", "name", "key", "service.name", "  name:", "  name:"),
    (SETTINGS_YAML, "yaml", "port", "key", "database.port", "  port", "  port"),
    (CARGO_TOML, "toml", "name", "key", "package.name", "name =", "name ="),
    (CARGO_TOML, "toml", "dependencies", "key", "dependencies", "[dep", "[dep"),
    (PACKAGE_JSON, "json", "description", "key", "description", '  "desc', '  "desc'),
]


def line_of(text: str, needle: str) -> int:
    """1-based number of the first line that starts with `needle` (stripped)."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith(needle.lstrip()):
            return number
    raise AssertionError(f"{needle!r} not in text")


def find(extraction: Extraction, qualified: str) -> SymbolRecord:
    found = [s for s in extraction.symbols if s.qualified_name == qualified]
    assert len(found) == 1, [s.qualified_name for s in extraction.symbols]
    return found[0]


@pytest.mark.parametrize(
    ("source", "language", "name", "kind", "qualified", "name_line", "first_line"),
    EXPECTED,
    ids=[f"{row[1]}-{row[4]}" for row in EXPECTED],
)
def test_definitions(
    source: str,
    language: str,
    name: str,
    kind: str,
    qualified: str,
    name_line: str,
    first_line: str,
) -> None:
    symbol = find(extract(source.encode(), language), qualified)
    assert (symbol.name, symbol.kind) == (name, kind)
    line = line_of(source, name_line)
    column = source.splitlines()[line - 1].index(name)
    if language == "json":
        column = source.splitlines()[line - 1].index(f'"{name}"') + 1
    assert msgspec.structs.astuple(symbol.selection) == (
        line,
        column,
        line,
        column + len(name),
    )
    assert symbol.span.start_line == line_of(source, first_line)
    assert (symbol.span.end_line, symbol.span.end_col) > (line, column + len(name))


@pytest.mark.parametrize(
    ("source", "language"),
    [
        (MAIN_PY, "python"),
        (PARSER_TS, "typescript"),
        (PARSER_TS, "tsx"),
        (SERVER_GO, "go"),
        (LIB_RS, "rust"),
        (INVENTORY_JAVA, "java"),
        (SETTINGS_YAML, "yaml"),
        (CARGO_TOML, "toml"),
        (PACKAGE_JSON, "json"),
    ],
)
def test_sample_files_extract_cleanly(source: str, language: str) -> None:
    extraction = extract(source.encode(), language)
    assert extraction.parse_errors == 0
    assert "".join(chunk.text for chunk in extraction.chunks) == source
    assert extraction.symbols
    assert {s.kind for s in extraction.symbols} <= SYMBOL_KINDS
    starts = [(s.span.start_line, s.span.start_col) for s in extraction.symbols]
    assert starts == sorted(starts)
    for index, symbol in enumerate(extraction.symbols):
        if symbol.parent is not None:
            parent = extraction.symbols[symbol.parent]
            assert symbol.parent < index
            assert symbol.qualified_name.startswith(parent.qualified_name + ".")
    # msgspec round trip: what the worker sends is what the writer gets.
    wire = msgspec.msgpack.encode(extraction)
    assert msgspec.msgpack.decode(wire, type=Extraction) == extraction


def test_python_fields() -> None:
    extraction = extract(HELPERS_PY.encode(), "py")
    slugify = find(extraction, "slugify")
    assert slugify.signature == "def slugify(text)"
    assert slugify.docstring == "Turn text into a lowercase slug."
    last = HELPERS_PY.splitlines()[-1]
    assert msgspec.structs.astuple(slugify.span) == (7, 0, 9, len(last.encode()))
    assert find(extraction, "_NON_WORD").kind == "constant"
    builder = find(extract(MAIN_PY.encode(), "python"), "ReportBuilder")
    assert builder.docstring == "Builds a report from files."


def test_parent_links_methods_to_their_class() -> None:
    extraction = extract(MAIN_PY.encode(), "python")
    names = [s.qualified_name for s in extraction.symbols]
    method = extraction.symbols[names.index("ReportBuilder.build_report")]
    assert method.parent == names.index("ReportBuilder")
    assert extraction.symbols[names.index("main")].parent is None


def test_doc_comments_become_docstrings() -> None:
    go = extract(SERVER_GO.encode(), "go")
    assert find(go, "Server").docstring == "Server answers requests for one site."
    assert find(go, "Server.HandleRequest").signature.startswith(
        "func (s *Server) Handle"
    )
    rust = extract(LIB_RS.encode(), "rust")
    assert find(rust, "Cache").docstring == "A small in-memory cache."
    assert find(rust, "Cache").signature == "pub struct Cache"
    ts = extract(PARSER_TS.encode(), "typescript")
    assert find(ts, "parseFile").docstring == "Parse a file into trimmed lines."
    java = extract(INVENTORY_JAVA.encode(), "java")
    assert (
        find(java, "InventoryService").docstring == "Keeps an in-memory list of items."
    )
    assert find(java, "InventoryService.addItem").docstring is None


def test_blank_line_detaches_a_comment() -> None:
    source = b"// License header.\n\n// Run runs.\nfunc Run() {}\n"
    run = find(extract(source, "go"), "Run")
    assert run.span.start_line == 3
    assert run.docstring == "Run runs."


def test_trailing_comment_of_previous_line_does_not_attach() -> None:
    source = b"var x = 1 // the x\nfunc Run() {}\n"
    assert find(extract(source, "go"), "Run").span.start_line == 2


def test_rust_attributes_and_trait_impls() -> None:
    source = b"""\
/// A shape.
#[derive(Debug)]
struct Shape;

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result { Ok(()) }
}

impl<T> Stack<T> {
    fn push(&mut self, item: T) {}
}
"""
    extraction = extract(source, "rust")
    shape = find(extraction, "Shape")
    assert (shape.span.start_line, shape.docstring) == (1, "A shape.")
    assert find(extraction, "Shape.fmt").kind == "method"
    assert find(extraction, "Stack.push").kind == "method"


def test_python_decorators_are_in_range() -> None:
    source = b"class A:\n    @property\n    def x(self):\n        return 1\n"
    x = find(extract(source, "python"), "A.x")
    assert (x.kind, x.span.start_line, x.selection.start_line) == ("method", 2, 3)
    assert x.signature == "def x(self)"


def test_nested_functions_stay_functions() -> None:
    source = b"class A:\n    def f(self):\n        def g():\n            pass\n"
    extraction = extract(source, "python")
    assert find(extraction, "A.f").kind == "method"
    assert find(extraction, "A.f.g").kind == "function"


def test_typescript_exported_const_functions_and_variables() -> None:
    source = (
        b"/** Adds. */\nexport const add = (a: number) => a + 1;\nconst LIMIT = 3;\n"
    )
    extraction = extract(source, "ts")
    add = find(extraction, "add")
    assert (add.kind, add.span.start_line, add.docstring) == ("function", 1, "Adds.")
    assert find(extraction, "LIMIT").kind == "variable"


def test_references_and_imports() -> None:
    main = extract(MAIN_PY.encode(), "python")
    calls = [r for r in main.references if r.name == "slugify" and r.kind == "call"]
    assert [r.span.start_line for r in calls] == [line_of(MAIN_PY, "name = slugify")]
    assert [i.module for i in main.imports] == ["os", "a", "util.helpers"]
    assert main.imports[2].span.start_line == 3
    assert any(r.kind == "import" and r.name == "slugify" for r in main.references)

    index = extract(INDEX_TS.encode(), "typescript")
    calls = [r for r in index.references if r.name == "parseFile" and r.kind == "call"]
    assert [r.span.start_line for r in calls] == [4]
    assert [i.module for i in index.imports] == ["./parser"]
    parser = extract(PARSER_TS.encode(), "typescript")
    assert [i.module for i in parser.imports] == ["fs", "./format"]

    go = extract(SERVER_GO.encode(), "go")
    assert [i.module for i in go.imports] == ["fmt", "strings"]
    rust = extract(LIB_RS.encode(), "rust")
    assert [i.module for i in rust.imports] == ["std::collections::HashMap"]
    java = extract(INVENTORY_JAVA.encode(), "java")
    assert [i.module for i in java.imports] == ["java.util.ArrayList", "java.util.List"]
    assert [r.name for r in java.references if r.kind == "call"] == [
        "ArrayList",
        "add",
        "size",
    ]


def test_javascript_imports_and_requires() -> None:
    source = b'import x from "./x.js";\nconst fs = require("fs");\nexport * from "y";\n'
    assert [i.module for i in extract(source, "js").imports] == ["./x.js", "fs", "y"]


def test_key_depth_is_bounded() -> None:
    source = b"a:\n  b:\n    c:\n      d:\n        e: 1\n"
    names = [s.qualified_name for s in extract(source, "yaml").symbols]
    assert names == ["a", "a.b", "a.b.c", "a.b.c.d"]
    data = b'{"a": {"b": {"c": {"d": {"e": 1}}}}}'
    names = [s.qualified_name for s in extract(data, "json").symbols]
    assert names == ["a", "a.b", "a.b.c", "a.b.c.d"]


def test_key_count_is_bounded() -> None:
    source = "".join(f"key{i}: {i}\n" for i in range(5000)).encode()
    extraction = extract(source, "yaml")
    assert len(extraction.symbols) == 2000
    assert "".join(c.text for c in extraction.chunks).encode() == source


def test_syntax_errors_give_a_partial_extraction() -> None:
    source = (
        b"def ok():\n    return 1\n\ndef broken(:\n    pass\n\nclass Fine:\n    pass\n"
    )
    extraction = extract(source, "python")
    assert extraction.parse_errors >= 1
    names = {s.name for s in extraction.symbols}
    assert {"ok", "Fine"} <= names
    assert "".join(c.text for c in extraction.chunks).encode() == source


def test_missing_nodes_are_counted() -> None:
    assert extract(b"int main() { return 0 }", "java").parse_errors >= 1
    assert extract(b"x = 1\n", "python").parse_errors == 0


def test_empty_file() -> None:
    extraction = extract(b"", "python")
    assert extraction == Extraction(
        chunks=[], symbols=[], references=[], imports=[], parse_errors=0
    )


def test_unknown_language() -> None:
    with pytest.raises(UnknownLanguageError):
        extract(b"x", "cobol-ish")


def test_parse_timeout() -> None:
    source = b"x = [" * 300_000 + b"]" * 300_000
    with pytest.raises(ParseTimeoutError):
        extract(source, "python", timeout_ms=1)
    # The parser is usable again afterwards, and not resuming the old parse.
    assert find(extract(b"def f():\n    pass\n", "python"), "f").kind == "function"


def test_non_utf8_source() -> None:
    source = "# caf\u00e9\ndef f():\n    return '\u00e9'\n".encode("latin-1")
    extraction = extract(source, "python")
    assert find(extraction, "f").kind == "function"
    chunks = extraction.chunks
    assert chunks[0].start_byte == 0 and chunks[-1].end_byte == len(source)
    assert "\ufffd" in "".join(c.text for c in chunks)


def test_check_query_rejects_unknown_captures() -> None:
    with pytest.raises(QueryFileError):
        check_query("python", "(identifier) @definition.gadget")
    with pytest.raises(QueryFileError):
        check_query("python", "(identifier) @refrence.call")
    with pytest.raises(QueryFileError):
        check_query("python", "(no_such_node) @name")


# Regressions the query authors found; each runs the real extractor.


def _span(symbol: SymbolRecord) -> tuple[int, int, int, int]:
    return msgspec.structs.astuple(symbol.span)  # type: ignore[return-value]


def test_multi_node_import_capture_is_one_dotted_module() -> None:
    # scala.scm captures the first and last path segments: one module, the
    # source text between them, not one import per node.
    source = "import a.b.c\nimport x.y.{A, B}\nimport z._\n"
    extraction = extract(source.encode(), "scala")
    assert [i.module for i in extraction.imports] == ["a.b.c", "x.y", "z"]
    assert msgspec.structs.astuple(extraction.imports[0].span) == (1, 0, 1, 12)


def test_multi_node_definition_capture_spans_all_nodes() -> None:
    # Dart's signature and body are siblings; both are @definition.function.
    source = (
        "int f(int x) {\n  return x;\n}\n"
        "class A {\n  void m() {\n    print('a long enough body to chunk apart');\n"
        "  }\n}\n"
    )
    extraction = extract(source.encode(), "dart", max_chunk_bytes=64)
    f = find(extraction, "f")
    assert _span(f) == (1, 0, 3, 1)
    assert f.signature == "int f(int x)"
    assert _span(find(extraction, "A.m")) == (5, 2, 7, 3)
    # The chunker's unit covers signature and body: one chunk named `f`.
    named = [c for c in extraction.chunks if c.symbol == "f"]
    assert [c.kind for c in named] == ["function"]
    assert "return x;" in named[0].text


def test_definitions_sharing_a_node_are_siblings() -> None:
    source = "struct Point { double x, y; int n; };\n"
    extraction = extract(source.encode(), "cpp")
    names = [s.qualified_name for s in extraction.symbols]
    assert "Point.x" in names and "Point.y" in names
    assert "Point.x.y" not in names
    point = names.index("Point")
    assert find(extraction, "Point.x").parent == point
    assert find(extraction, "Point.y").parent == point
    assert find(extraction, "Point.n").parent == point


@pytest.mark.parametrize(
    ("language", "source", "name"),
    [
        ("elixir", "defmodule M do\n  def f(x) do\n    g(x)\n  end\nend\n", "f"),
        ("julia", "f(x) = g(x) + 1\n", "f"),
        ("haskell", "data Shape = Circle\narea :: Shape -> Int\n", "Shape"),
    ],
)
def test_reference_on_a_definition_name_is_dropped(
    language: str, source: str, name: str
) -> None:
    extraction = extract(source.encode(), language)
    definition = next(s for s in extraction.symbols if s.name == name)
    spans = [r.span for r in extraction.references if r.name == name]
    assert definition.selection not in spans
    if language != "haskell":
        assert "g" in [r.name for r in extraction.references]
    else:
        # `Shape` used in the signature is still a reference.
        assert spans


@pytest.mark.parametrize(
    ("language", "source", "expected"),
    [
        (
            "elixir",
            (
                "defmodule M do\n  def f(0), do: 1\n  def f(x) do\n    x\n  end\n"
                "  def g, do: 2\nend\n"
            ),
            [("M", (1, 0, 7, 3)), ("M.f", (2, 2, 5, 5)), ("M.g", (6, 2, 6, 14))],
        ),
        (
            "haskell",
            "f :: Int -> Int\nf 0 = 1\n-- the rest\nf n = n\n\ng 0 = 0\ng n = n\n",
            [("f", (1, 0, 4, 7)), ("g", (6, 0, 7, 7))],
        ),
        (
            "erlang",
            "-module(m).\nf(0) -> 1;\nf(N) -> N.\ng() -> ok.\nf(A, B) -> A.\n",
            [("m", (1, 0, 1, 11)), ("f", (2, 0, 3, 10)), ("g", (4, 0, 4, 10))]
            + [("f", (5, 0, 5, 13))],
        ),
    ],
)
def test_consecutive_clauses_merge_into_one_symbol(
    language: str, source: str, expected: list[tuple[str, tuple[int, ...]]]
) -> None:
    extraction = extract(source.encode(), language)
    got = [(s.qualified_name, _span(s)) for s in extraction.symbols]
    assert got == expected


@pytest.mark.parametrize(
    ("language", "source"),
    [
        ("haskell", "f :: Int -> Int\nf 0 = 1\nf n = n\n"),
        ("erlang", "f(0) -> 1;\nf(N) -> N.\n"),
    ],
)
def test_merged_clauses_are_one_chunk_unit(language: str, source: str) -> None:
    # One unit for the whole function, so the chunk holding exactly it is
    # named after it (three units named `f` would make it a "block").
    extraction = extract(source.encode(), language)
    assert [(c.kind, c.symbol) for c in extraction.chunks] == [("function", "f")]


def test_clauses_merge_only_where_the_language_opts_in() -> None:
    # Julia methods of one name are separate definitions (multiple dispatch).
    source = "f(x::Int) = 1\nf(x::String) = 2\n"
    extraction = extract(source.encode(), "julia")
    assert [s.qualified_name for s in extraction.symbols] == ["f", "f"]


def test_haskell_class_and_instance_equations_merge() -> None:
    source = (
        "class C a where\n  m :: a\n  m = undefined\n"
        "instance C Int where\n  m = 2\n  n = 3\n"
    )
    extraction = extract(source.encode(), "haskell")
    got = [(s.qualified_name, s.kind, _span(s)) for s in extraction.symbols]
    assert got == [
        ("C", "interface", (1, 0, 3, 15)),
        ("C.m", "method", (2, 2, 3, 15)),
        ("Int.m", "method", (5, 2, 5, 7)),
        ("Int.n", "method", (6, 2, 6, 7)),
    ]


@pytest.mark.parametrize("language", ["c", "cpp"])
def test_system_include_module_drops_angle_brackets(language: str) -> None:
    source = '#include <stdio.h>\n#include "util/list.h"\n#include <sys/types.h>\n'
    extraction = extract(source.encode(), language)
    modules = [i.module for i in extraction.imports]
    assert modules == ["stdio.h", "util/list.h", "sys/types.h"]


def test_cmake_functions_macros_and_includes() -> None:
    source = (
        "cmake_minimum_required(VERSION 3.10)\n"
        "# Adds a thing.\n"
        "function(add_thing name)\n  message(${name})\nendfunction()\n"
        "macro(my_macro)\nendmacro()\n"
        "include(CTest)\nINCLUDE(cmake/Foo.cmake)\n"
        'add_subdirectory(src)\nadd_subdirectory("lib/x" binx)\n'
        "add_thing(x)\n"
    )
    extraction = extract(source.encode(), "cmake")
    got = [(s.name, s.kind, _span(s)) for s in extraction.symbols]
    assert got == [
        ("add_thing", "function", (2, 0, 5, 13)),
        ("my_macro", "macro", (6, 0, 7, 10)),
    ]
    assert extraction.symbols[0].docstring == "Adds a thing."
    modules = [i.module for i in extraction.imports]
    assert modules == ["CTest", "cmake/Foo.cmake", "src", "lib/x"]
    calls = [r.name for r in extraction.references if r.kind == "call"]
    assert "add_thing" in calls and "message" in calls


def test_ocaml_interface_values_types_and_modules() -> None:
    source = (
        "(** Doubles. *)\nval double : int -> int\nval zero : int\n"
        'type t = A | B\nexternal raw : int -> int = "c_raw"\n'
        "module M : sig\n  val h : t -> t\nend\n"
        "module type S = sig val k : int end\nopen Stdlib\n"
    )
    extraction = extract(source.encode(), "ocaml_interface")
    assert extraction.parse_errors == 0
    got = [(s.qualified_name, s.kind) for s in extraction.symbols]
    assert got == [
        ("double", "function"),
        ("zero", "variable"),
        ("t", "type"),
        ("raw", "function"),
        ("M", "module"),
        ("M.h", "function"),
        ("S", "interface"),
        ("S.k", "variable"),
    ]
    assert find(extraction, "double").docstring == "Doubles."
    assert _span(find(extraction, "t")) == (4, 0, 4, 14)  # `type` included
    assert [i.module for i in extraction.imports] == ["Stdlib"]


def test_html_has_imports_and_no_symbols() -> None:
    source = (
        '<html><head><script src="app.js"></script>\n'
        '<link rel="stylesheet" href="site.css"></head>\n'
        "<body><p>hi</p></body></html>\n"
    )
    extraction = extract(source.encode(), "html")
    assert extraction.symbols == []
    assert [i.module for i in extraction.imports] == ["app.js", "site.css"]
    assert "".join(c.text for c in extraction.chunks) == source


def test_terraform_files_extract_as_hcl() -> None:
    source = 'resource "aws_s3_bucket" "logs" {\n  bucket = "x"\n}\n'
    extraction = extract(source.encode(), "terraform")
    assert extraction.parse_errors == 0
    assert extraction.symbols


def test_javascript_function_bindings_and_es5_methods() -> None:
    # Found by perf/symbol_recall.py: ctags tags these, axd used to miss them.
    source = (
        "var f = function () {};\n"
        "var n = 1;\n"
        "function Foo() {}\n"
        "Foo.prototype.bar = function () {\n  const inner = () => 1;\n};\n"
        "exports.baz = () => 2;\n"
        "module.exports = class Q {\n  m() {}\n};\n"
        "fill = function (a) {};\n"
    )
    extraction = extract(source.encode(), "javascript")
    got = [(s.qualified_name, s.kind) for s in extraction.symbols]
    assert got == [
        ("f", "function"),
        ("n", "variable"),
        ("Foo", "function"),
        ("Foo.bar", "method"),
        ("Foo.bar.inner", "function"),
        ("baz", "function"),
        ("Q", "class"),
        ("Q.m", "method"),
        ("fill", "function"),
    ]


def _node_spans(source: bytes, language: str) -> set[tuple[int, int, int, int]]:
    """Every node's span as tree-sitter gives it (1-based lines)."""
    import tree_sitter_language_pack

    tree = tree_sitter_language_pack.get_parser(language).parse(source)  # type: ignore[arg-type]
    spans: set[tuple[int, int, int, int]] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        head, tail = node.start_point, node.end_point
        spans.add((head.row + 1, head.column, tail.row + 1, tail.column))
        stack.extend(node.children)
    return spans


@pytest.mark.parametrize(
    "source, language, multiline",
    [
        # A quoted Erlang atom called as a function spans two lines.
        (
            b"-module(m).\nf() -> 'two\nlines'(1), g(\xc3\xa9t\xc3\xa9).\n",
            "erlang",
            "references",
        ),
        # A setext heading's text (its @name) spans two lines.
        ("Line one é\nline two\n===\n\n# Été\n".encode(), "markdown", "symbols"),
    ],
)
def test_spans_on_one_line_and_across_lines_are_tree_sitters(
    source: bytes, language: str, multiline: str
) -> None:
    # One-line references and names take their end from the byte length,
    # the others from tree-sitter: both must be the node's own range
    # (byte columns, so non-ASCII text counts its bytes).
    ex = extract(source, language)
    spans = [r.span for r in ex.references] + [s.selection for s in ex.symbols]
    assert spans
    found = _node_spans(source, language)
    for span in spans:
        assert (span.start_line, span.start_col, span.end_line, span.end_col) in found
    items = ex.references if multiline == "references" else ex.symbols
    spans_of = [
        getattr(item, "span" if multiline == "references" else "selection")
        for item in items
    ]
    assert any(span.end_line > span.start_line for span in spans_of)
