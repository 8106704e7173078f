"""The language registry: which files are which language, and per-language knobs.

Everything language-specific that is not a tree-sitter query lives here as
data, so adding a language is a query file under ``daemon/index/queries/`` and one
`LanguageSpec` line below, never a new class; a language whose imports resolve
to files names its `Resolver` (``daemon/index/resolvers.py``) there. Language names are the ones
tree-sitter-language-pack uses (PROTOCOL.md, Clarifications).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from axd.daemon.index import resolvers

if TYPE_CHECKING:
    from axd.daemon.index.resolvers import Resolver

# Most grammars call their comment node "comment"; the exceptions say so.
_COMMENT = frozenset({"comment"})
_C_LIKE_COMMENTS = frozenset({"line_comment", "block_comment"})


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """How to detect one language and how the extractor treats its trees."""

    name: str  # tree-sitter-language-pack's name, lower case
    extensions: tuple[str, ...] = ()  # with the dot, matched case-insensitively
    filenames: tuple[str, ...] = ()  # exact base names (Dockerfile, Makefile)
    interpreters: tuple[str, ...] = ()  # shebang programs, version suffix ignored
    # Query file under daemon/index/queries/; "" means "<name>.scm".
    query: str = ""
    # Bump when the query or a knob changes what is extracted, so the indexer
    # re-extracts files whose content did not change. The default moves when
    # daemon/index/extract.py itself changes what every language yields (2:
    # multi-node captures, sibling definitions, references on @name nodes
    # dropped).
    extractor_version: int = 2
    # (3 for c, cpp, javascript, typescript, tsx, kotlin, ruby, rust, swift:
    # macro-defined C functions, C++ `.h` headers, object-literal methods,
    # named function expressions, default exports, bare `#private` names,
    # generic receivers, Ruby attr_*, calls inside Rust macro arguments,
    # Swift `.member()` calls.)
    # False: the query (if any) yields only references/imports, no symbols.
    has_definitions: bool = True
    # Node types that are comments (doc comments, chunk glue).
    comment_types: frozenset[str] = _COMMENT
    # Non-comment nodes that precede a definition and belong to it, e.g. Rust
    # `#[derive(...)]` attribute items, which are siblings, not children.
    attached_types: frozenset[str] = frozenset()
    # Whether the comment block right above a definition is part of its range
    # and its docstring. Off for Python: docs live in docstrings there, and a
    # comment above a def is more often a section banner or dead code.
    attach_comments: bool = True
    # Parents that wrap a single definition and belong to it (TS
    # `export_statement`, Python `decorated_definition`, Go `type_declaration`
    # around one `type_spec`): the range grows to the wrapper.
    wrapper_types: frozenset[str] = frozenset()
    # Bounds for data languages, whose "symbols" are keys: skip keys nested
    # deeper than this many levels, and stop after this many symbols. The
    # default count holds any source file under the 2 MiB size limit that a
    # person or generator plausibly writes (30,000 one-line functions are
    # 1.8 MB); past it the file's shortfall is reported, never silent.
    max_symbol_depth: int | None = None
    max_symbols: int = 100_000
    # QueryCursor.set_max_start_depth: keeps huge data files (lock files) from
    # producing a match per leaf. Node depth, not key depth.
    query_max_start_depth: int | None = None
    # Functions written as several clauses, each its own node (Elixir `def`
    # clauses, Haskell equations, Erlang clauses): consecutive definitions of
    # one name and kind under one parent become a single symbol spanning all.
    merge_clauses: bool = False
    # Another language this one's files really are when their content says
    # so: (language, pattern searched in the first `SNIFF_BYTES`). C++
    # projects name their headers `.h` like C ones.
    content_override: tuple[str, re.Pattern[bytes]] | None = None
    # How this language's imports find workspace files; None: they never do.
    resolver: Resolver | None = None

    @property
    def query_file(self) -> str:
        """The query file name under ``daemon/index/queries/``."""
        return self.query or f"{self.name}.scm"


# Data files (YAML, JSON, TOML) can hold millions of keys; past a few levels
# and a few thousand keys they stop being useful as symbols.
_KEY_DEPTH = 4
_KEY_LIMIT = 2_000

# OCaml's `type t = ...`, `module M = ...` and `class c = ...` put the keyword
# outside the binding node the queries name; one binding alone is the whole
# statement (`type a = ... and b = ...` keeps each binding's own range).
_OCAML_WRAPPERS = frozenset(
    {
        "type_definition",
        "module_definition",
        "module_type_definition",
        "class_definition",
        "class_type_definition",
        "value_definition",
    }
)

# `export ...` and the statement around `app.get = function () {}`: the
# definition's range, doc comment and chunk grow to them.
_JS_WRAPPERS = frozenset({"export_statement", "expression_statement"})

# Bytes of a file read to apply `LanguageSpec.content_override`.
SNIFF_BYTES = 16_384

# Lines only C++ has: a namespace or class body, a template, a standard
# header without `.h`, an access specifier. `extern "C" {` is not one: C
# headers write it for C++ readers.
_CPP_HEADER = re.compile(
    rb"^[ \t]*(?:namespace(?:[ \t]+[\w:]+)?[ \t]*\{|template[ \t]*<"
    rb"|class[ \t]+\w+[^;(]*$|(?:public|private|protected)[ \t]*:"
    rb"|#[ \t]*include[ \t]*<[a-z_]+>)",
    re.MULTILINE,
)

_SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "typescript",
        (".ts", ".mts", ".cts"),
        resolver=resolvers.JAVASCRIPT,
        extractor_version=3,
        interpreters=("ts-node", "tsx"),
        wrapper_types=_JS_WRAPPERS,
    ),
    # The TypeScript query compiles for the TSX grammar too (same node types
    # plus JSX), so both read one file rather than two copies drifting apart.
    LanguageSpec(
        "tsx",
        (".tsx",),
        resolver=resolvers.JAVASCRIPT,
        extractor_version=3,
        query="typescript.scm",
        wrapper_types=_JS_WRAPPERS,
    ),
    LanguageSpec(
        "javascript",
        (".js", ".mjs", ".cjs", ".jsx"),
        resolver=resolvers.JAVASCRIPT,
        extractor_version=3,
        interpreters=("node", "nodejs", "bun"),
        wrapper_types=_JS_WRAPPERS,
    ),
    LanguageSpec(
        "python",
        (".py", ".pyi", ".pyw"),
        resolver=resolvers.PYTHON,
        interpreters=("python", "pypy", "pypy3"),
        attach_comments=False,
        wrapper_types=frozenset({"decorated_definition"}),
    ),
    LanguageSpec(
        "go",
        (".go",),
        resolver=resolvers.GO,
        wrapper_types=frozenset(
            {"type_declaration", "const_declaration", "var_declaration"}
        ),
    ),
    LanguageSpec(
        "rust",
        (".rs",),
        extractor_version=3,
        resolver=resolvers.RUST,
        comment_types=_C_LIKE_COMMENTS,
        attached_types=frozenset({"attribute_item"}),
    ),
    LanguageSpec(
        "java",
        (".java",),
        comment_types=_C_LIKE_COMMENTS,
        resolver=resolvers.JAVA,
    ),
    LanguageSpec(
        "c",
        (".c", ".h"),
        extractor_version=3,
        content_override=("cpp", _CPP_HEADER),
    ),
    LanguageSpec(
        "cpp",
        (".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx"),
        extractor_version=3,
    ),
    LanguageSpec("csharp", (".cs",)),
    LanguageSpec(
        "ruby",
        (".rb", ".rake", ".gemspec"),
        extractor_version=3,
        filenames=("Gemfile", "Rakefile"),
        interpreters=("ruby",),
    ),
    LanguageSpec("php", (".php",), interpreters=("php",)),
    LanguageSpec(
        "kotlin",
        (".kt", ".kts"),
        comment_types=_C_LIKE_COMMENTS,
        extractor_version=3,
        resolver=resolvers.KOTLIN,
    ),
    LanguageSpec("swift", (".swift",), extractor_version=3),
    LanguageSpec("scala", (".scala", ".sc", ".sbt")),  # sbt builds are Scala
    LanguageSpec(
        "elixir", (".ex", ".exs"), interpreters=("elixir",), merge_clauses=True
    ),
    LanguageSpec("dart", (".dart",)),
    LanguageSpec(
        "yaml",
        (".yaml", ".yml"),
        query_max_start_depth=24,
        max_symbol_depth=_KEY_DEPTH,
        max_symbols=_KEY_LIMIT,
    ),
    # tree-sitter-json parses // and /* */ comments, so .jsonc is plain json.
    LanguageSpec(
        "json",
        (".json", ".jsonc"),
        query_max_start_depth=12,
        max_symbol_depth=_KEY_DEPTH,
        max_symbols=_KEY_LIMIT,
    ),
    LanguageSpec(
        "toml", (".toml",), max_symbol_depth=_KEY_DEPTH, max_symbols=_KEY_LIMIT
    ),
    LanguageSpec(
        "bash",
        (".sh", ".bash", ".zsh"),
        filenames=(".bashrc", ".bash_profile", ".zshrc", ".profile"),
        interpreters=("sh", "bash", "zsh", "dash", "ksh"),
    ),
    LanguageSpec("lua", (".lua",), interpreters=("lua", "luajit")),
    LanguageSpec("haskell", (".hs",), interpreters=("runhaskell",), merge_clauses=True),
    LanguageSpec(
        "ocaml",
        (".ml",),
        interpreters=("ocaml",),
        wrapper_types=_OCAML_WRAPPERS,
    ),
    # .mli files need the interface grammar; the ocaml one reports errors.
    LanguageSpec("ocaml_interface", (".mli",), wrapper_types=_OCAML_WRAPPERS),
    LanguageSpec("zig", (".zig",)),
    LanguageSpec("elm", (".elm",)),
    LanguageSpec(
        "erlang",
        (".erl", ".hrl"),
        interpreters=("escript",),
        merge_clauses=True,
    ),
    LanguageSpec("clojure", (".clj", ".cljs", ".cljc", ".edn")),
    LanguageSpec("julia", (".jl",), interpreters=("julia",)),
    LanguageSpec("r", (".r",), interpreters=("rscript",)),
    LanguageSpec("sql", (".sql",)),
    # Terraform is HCL: .tf/.tfvars parse with the hcl grammar and hcl.scm
    # (which also compiles for the pack's `terraform` grammar).
    LanguageSpec("hcl", (".hcl", ".tf", ".tfvars")),
    LanguageSpec("markdown", (".md", ".markdown")),
    LanguageSpec("proto", (".proto",)),
    LanguageSpec("css", (".css",)),
    LanguageSpec("scss", (".scss",)),
    # Chunked, with <script src> / <link href> as imports; no symbols.
    LanguageSpec("html", (".html", ".htm"), has_definitions=False),
    LanguageSpec(
        "dockerfile",
        (".dockerfile",),
        filenames=("Dockerfile", "Containerfile"),
    ),
    LanguageSpec(
        "make",
        (".mk",),
        filenames=("Makefile", "GNUmakefile", "makefile"),
        interpreters=("make",),
    ),
    LanguageSpec(
        "cmake",
        (".cmake",),
        filenames=("CMakeLists.txt",),
        comment_types=frozenset({"line_comment", "bracket_comment"}),
    ),
)

LANGUAGES: dict[str, LanguageSpec] = {spec.name: spec for spec in _SPECS}

LANGUAGE_ALIASES: dict[str, str] = {
    "py": "python",
    "python3": "python",
    "ts": "typescript",
    "js": "javascript",
    "jsx": "javascript",
    "node": "javascript",
    "golang": "go",
    "rs": "rust",
    "c++": "cpp",
    "cxx": "cpp",
    "c#": "csharp",
    "cs": "csharp",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
    "rb": "ruby",
    "kt": "kotlin",
    "ex": "elixir",
    "exs": "elixir",
    "yml": "yaml",
    "md": "markdown",
    "hs": "haskell",
    "ml": "ocaml",
    "mli": "ocaml_interface",
    "erl": "erlang",
    "clj": "clojure",
    "jl": "julia",
    "tf": "hcl",
    "terraform": "hcl",
    "protobuf": "proto",
    "docker": "dockerfile",
    "makefile": "make",
}

_BY_EXTENSION: dict[str, str] = {
    ext: spec.name for spec in _SPECS for ext in spec.extensions
}
_BY_FILENAME: dict[str, str] = {
    filename: spec.name for spec in _SPECS for filename in spec.filenames
}
_BY_INTERPRETER: dict[str, str] = {
    program: spec.name for spec in _SPECS for program in spec.interpreters
}
# `python3.12` and `python3` run python: drop a trailing version.
_VERSION_SUFFIX = re.compile(r"[\d.]+$")


def canonical_language(name_or_alias: str) -> str | None:
    """The registry name for a language name or alias, or None if unknown."""
    key = name_or_alias.strip().lower()
    if key in LANGUAGES:
        return key
    return LANGUAGE_ALIASES.get(key)


def _interpreter(head: bytes) -> str | None:
    """The program a ``#!`` line runs, skipping ``env`` and its options."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace")
    words = line.split()
    if not words:
        return None
    program = PurePosixPath(words[0]).name
    if program == "env":
        # `env -S node --flag` and `env VAR=1 python`: the first plain word.
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not rest:
            return None
        program = PurePosixPath(rest[0]).name
    return program.lower()


def refine_language(language: str, data: bytes) -> str:
    """`language` unless the file's content says it is another one."""
    spec = LANGUAGES.get(language)
    if spec is None or spec.content_override is None:
        return language
    other, pattern = spec.content_override
    return other if pattern.search(data, 0, SNIFF_BYTES) else language


def detect_language(relpath: str, head: bytes) -> str | None:
    """The language of a file from its path, else from a shebang in `head`.

    `head` is the first bytes of the file (a few hundred are plenty).
    """
    name = PurePosixPath(relpath).name
    dot = name.rfind(".")
    if dot > 0 or (dot == 0 and name.count(".") > 1):
        found = _BY_EXTENSION.get(name[dot:].lower())
        if found is not None:
            return found
    found = _BY_FILENAME.get(name)
    if found is not None:
        return found
    if name.startswith(("Dockerfile.", "Containerfile.")):
        return "dockerfile"  # Dockerfile.dev, Dockerfile.prod
    program = _interpreter(head)
    if program is None:
        return None
    found = _BY_INTERPRETER.get(program)
    if found is None:
        found = _BY_INTERPRETER.get(_VERSION_SUFFIX.sub("", program))
    return found
