"""Definitions of constructs real code uses and ctags finds (issue #14).

Each fixture is the shape of code from a real repository, reduced; the
assertions are exact: kind, qualified name, range and the name's line.
"""

from __future__ import annotations

from axd.daemon.index.extract import extract
from axd.daemon.index.languages import detect_language, refine_language

Row = tuple[str, str, tuple[int, int, int, int], int]


def outline(source: str, language: str) -> list[Row]:
    """(kind, qualified name, (start line, col, end line, col), name line)."""
    return [
        (
            symbol.kind,
            symbol.qualified_name,
            (
                symbol.span.start_line,
                symbol.span.start_col,
                symbol.span.end_line,
                symbol.span.end_col,
            ),
            symbol.selection.start_line,
        )
        for symbol in extract(source.encode(), language).symbols
    ]


def test_javascript_named_function_expressions_as_arguments_and_returned() -> None:
    source = """\
Deno.test(function parsesEmptyInput() {
  assert(true);
});
function makeHandler() {
  return function handle(request) {
    return request;
  };
}
"""
    assert outline(source, "javascript") == [
        ("function", "parsesEmptyInput", (1, 10, 3, 1), 1),
        ("function", "makeHandler", (4, 0, 8, 1), 4),
        ("function", "makeHandler.handle", (5, 9, 7, 3), 5),
    ]


def test_typescript_named_function_expression_as_argument() -> None:
    source = "Deno.test(function readsConfig(): void {});\n"
    assert outline(source, "typescript") == [
        ("function", "readsConfig", (1, 10, 1, 41), 1),
    ]


def test_object_literal_methods() -> None:
    source = """\
jQuery.fn.extend({
  removeClass: function (value) {
    return this;
  },
  toggle(state) {},
  hide: () => null,
});
"""
    assert outline(source, "javascript") == [
        ("method", "removeClass", (2, 2, 4, 3), 2),
        ("method", "toggle", (5, 2, 5, 18), 5),
        ("method", "hide", (6, 2, 6, 18), 6),
    ]
    # A component's options object in TypeScript: the same members.
    component = "defineComponent({\n  setup() {\n    return 1;\n  },\n});\n"
    assert outline(component, "typescript") == [("method", "setup", (2, 2, 4, 3), 2)]


def test_default_exports_are_named_default() -> None:
    function = "export default function () {\n  return 1;\n}\n"
    assert outline(function, "typescript") == [
        ("function", "default", (1, 0, 3, 1), 1),
    ]
    klass = "export default class {\n  run() {}\n}\n"
    assert outline(klass, "javascript") == [
        ("class", "default", (1, 0, 3, 1), 1),
        ("method", "default.run", (2, 2, 2, 10), 2),
    ]
    named = "export default function render() {}\n"
    assert outline(named, "typescript") == [("function", "render", (1, 0, 1, 35), 1)]


def test_private_members_are_stored_by_their_bare_name() -> None:
    source = """\
class Counter {
  #count = 0;
  #bump() {
    this.#count++;
  }
}
"""
    expected: list[Row] = [
        ("class", "Counter", (1, 0, 6, 1), 1),
        ("field", "Counter.count", (2, 2, 2, 12), 2),
        ("method", "Counter.bump", (3, 2, 5, 3), 3),
    ]
    assert outline(source, "javascript") == expected
    assert outline(source, "typescript") == expected


def test_prototype_assignments_are_methods() -> None:
    source = "Widget.prototype.render = function () {};\n"
    expected: list[Row] = [("method", "Widget.render", (1, 0, 1, 41), 1)]
    assert outline(source, "javascript") == expected
    assert outline(source, "typescript") == expected


def test_c_header_prototypes_are_not_definitions() -> None:
    header = """\
int uv_run(int mode);
static inline int uv_is_active(int handle) {
  return handle != 0;
}
struct uv_loop_s {
  int active;
};
"""
    assert outline(header, "c") == [
        ("function", "uv_is_active", (2, 0, 4, 1), 2),
        ("struct", "uv_loop_s", (5, 0, 7, 1), 5),
        ("field", "uv_loop_s.active", (6, 2, 6, 13), 6),
    ]


def test_c_functions_defined_through_a_macro() -> None:
    source = """\
TEST_IMPL(signal_multiple_loops) {
  return 0;
}
PHP_METHOD(ArrayObject, offsetGet)
{
  RETURN_NULL();
}
static PHP_FUNCTION(strlen) { }
"""
    assert outline(source, "c") == [
        ("function", "signal_multiple_loops", (1, 0, 3, 1), 1),
        ("function", "ArrayObject.offsetGet", (4, 0, 7, 1), 4),
        ("function", "strlen", (8, 0, 8, 31), 8),
    ]


def test_a_call_statement_before_a_block_in_a_function_is_no_definition() -> None:
    # Only at file scope does `NAME(a, b) {` define something.
    source = "void f(void) {\n  CHECK(a, b)\n  { int x; }\n}\n"
    assert outline(source, "c") == [("function", "f", (1, 0, 4, 1), 1)]


def test_cpp_out_of_line_methods_and_headers() -> None:
    source = """\
namespace leveldb {
class Cache {
 public:
  void Put(int key);
  int Size() const { return 0; }
};

void Cache::Put(int key) {
}
}  // namespace leveldb
"""
    assert outline(source, "cpp") == [
        ("namespace", "leveldb", (1, 0, 10, 1), 1),
        ("class", "leveldb.Cache", (2, 0, 6, 1), 2),
        ("method", "leveldb.Cache.Size", (5, 2, 5, 32), 5),
        ("method", "leveldb.Cache.Put", (8, 0, 9, 1), 8),
    ]
    # The same text in a `.h` file is C++, not C: its content says so.
    language = detect_language("include/leveldb/cache.h", b"")
    assert language == "c"
    assert refine_language(language, source.encode()) == "cpp"
    plain_c = b'#include <stdio.h>\nextern "C" {\nint f(void);\n}\n'
    assert refine_language("c", plain_c) == "c"


def test_ruby_singleton_methods_modules_and_attributes() -> None:
    source = """\
module Rack
  class Request
    attr_reader :env, :params
    attr_accessor :body

    def self.build(env)
      new(env)
    end

    def get?
      true
    end
  end
end
"""
    assert outline(source, "ruby") == [
        ("module", "Rack", (1, 0, 14, 3), 1),
        ("class", "Rack.Request", (2, 2, 13, 5), 2),
        ("property", "Rack.Request.env", (3, 4, 3, 29), 3),
        ("property", "Rack.Request.params", (3, 4, 3, 29), 3),
        ("property", "Rack.Request.body", (4, 4, 4, 23), 4),
        ("method", "Rack.Request.build", (6, 4, 8, 7), 6),
        ("method", "Rack.Request.get?", (10, 4, 12, 7), 10),
    ]


def test_kotlin_extension_functions_on_generic_receivers() -> None:
    source = """\
infix fun KoinDefinition<*>.binds(classes: Int): Int {
  return classes
}
fun List<Int>?.second(): Int = 2
"""
    assert outline(source, "kotlin") == [
        ("method", "KoinDefinition.binds", (1, 0, 3, 1), 1),
        ("method", "List.second", (4, 0, 4, 32), 4),
    ]


def test_cpp_classes_with_an_export_macro() -> None:
    source = """\
namespace leveldb {
class LEVELDB_EXPORT DB : public Base {
 public:
  virtual ~DB();
  int Get() { return 1; }
};
struct FMT_API Formatter {
  void format() {}
};
}
"""
    # (Known limit: the grammar reads the class body as a block, so the first
    # member right after `public:` is part of a label statement and lost.)
    assert outline(source, "cpp") == [
        ("namespace", "leveldb", (1, 0, 10, 1), 1),
        ("class", "leveldb.DB", (2, 0, 6, 1), 2),
        ("method", "leveldb.DB.Get", (5, 2, 5, 25), 5),
        ("struct", "leveldb.Formatter", (7, 0, 9, 1), 7),
        ("method", "leveldb.Formatter.format", (8, 2, 8, 18), 8),
    ]


def test_jsdoc_above_an_assigned_function_is_its_docstring() -> None:
    source = "/** Set the status. */\nres.status = function status(code) {\n};\n"
    [symbol] = extract(source.encode(), "javascript").symbols
    assert (symbol.qualified_name, symbol.docstring) == ("status", "Set the status.")
    assert (symbol.span.start_line, symbol.span.end_line) == (1, 3)
