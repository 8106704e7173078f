"""Recall and precision of axd's definitions against Universal Ctags.

For each language, the definitions of kind function/method/class (and
struct/interface/trait where ctags has them) that axd's `extract()` finds are
compared with what ``ctags --output-format=json --fields=+nKZ`` reports for
the same files, by (file, name, line):

* recall = matched / ctags, precision = matched / axd (per language);
* method vs function is ignored (ctags calls Python methods ``member``, Go
  ones ``func``), and so is class vs struct vs interface vs trait: the key has
  no kind, only the two sides' kind filters below decide what is counted;
* names are normalised on both sides to their last component: ctags writes
  some definitions qualified (JavaScript ``M.total = function``, Ruby
  ``self.build``, PHP ``\\App\\f``) where axd's ``name`` is the bare name
  and the qualification lives in ``qualified_name``; the separators cut are
  ``.``, ``::``, ``->``, ``#`` and ``\\``;
* ctags' line is the line its search pattern matches, the name's line; axd's
  is the selection (name node) start line, not the range start (which may be a
  decorator or doc comment);
* ctags' anonymous placeholders (``__anon1a2b``, ``AnonymousFunction3``,
  ``<lambda>``) are dropped, being no names one could search for; C++
  operators are compared without spaces (``operator ==``);
* a name defined twice on one line counts twice (multiset matching);
* unmatched tags that a stated rule explains as ctags being wrong are
  counted apart, by rule, and left out of the goal's recall and precision
  (see `disagree`); the strict figures are printed too;
* each file is extracted as the daemon would: language from its name, then
  its content (a ``.h`` holding C++ is C++).

Trees: the pinned real repositories of ``perf/corpora.py`` (two per
language; ``node_modules`` and ``dist`` left out) and the Python standard
library. Swift has no ctags parser in 5.9: its reference is the
declaration-line rule of `swift_tags`. Files axd would skip (binary,
minified, over 300 kB) are left out. Each language is capped at
``--max-files`` files, sampled evenly from the sorted paths, so runs are
deterministic. A language whose corpora are not on this machine is skipped
with a note (exit 0), and so is everything without ctags.

Where a language misses the issue's goal (recall >= 95%, precision >= 90%),
the top mismatch categories are printed with examples.

    .venv/bin/python perf/symbol_recall.py [--languages python,c] [--json]
        [--max-files 2000] [--examples 10] [--append perf/RESULTS.md]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import corpora
import tree_sitter_language_pack

if TYPE_CHECKING:
    from tree_sitter import Node

from axd.daemon.index.classify import classify
from axd.daemon.index.extract import ParseTimeoutError, extract
from axd.daemon.index.languages import detect_language, refine_language

RECALL_GOAL = 0.95
PRECISION_GOAL = 0.90
MAX_FILE_BYTES = 300_000
# axd kinds counted; method vs function and the type kinds are not told apart.
AXD_KINDS = frozenset({"function", "method", "class", "struct", "interface", "trait"})
_SEPARATOR = re.compile(r".*(?:\.|::|->|#|\\)")
_OPERATOR_SPACE = re.compile(r"\s+(?=[^\w\s])")
_ANONYMOUS = re.compile(
    r"^(?:(?:__anon|Anonymous(?:Function|Class|Object)?)[0-9a-f]*|<lambda>)$"
)
_CLASS_LINE = re.compile(r"\b(?:class|function)\b")
# Installed dependencies and build output: not the repository's own code
# (axd ignores node_modules by default too).
_SKIP_PARTS = frozenset({"node_modules", "dist"})


@dataclass(frozen=True, slots=True)
class Target:
    """One language: axd's name, ctags' name and the ctags kinds counted."""

    language: str  # axd registry name
    ctags: str  # ctags --language-force name
    kinds: frozenset[str]  # ctags long kind names counted as definitions
    extensions: tuple[str, ...]
    # ctags' JavaScript parser tags object literals bound to a name
    # (`const o = {...}`, `exports.X = {...}`) as classes: count a ctags class
    # only when its line says `class` or `function`.
    literal_classes: bool = False


TARGETS: tuple[Target, ...] = (
    Target("python", "Python", frozenset({"class", "function", "member"}), (".py",)),
    # Prototypes are off by default in ctags (declarations, not definitions).
    # axd calls a union a struct.
    Target("c", "C", frozenset({"function", "struct", "union"}), (".c", ".h")),
    Target(
        "cpp",
        "C++",
        frozenset({"function", "class", "struct", "union"}),
        (".cc", ".cpp", ".cxx", ".h", ".hpp", ".hh"),
    ),
    Target(
        "csharp",
        "C#",
        frozenset({"class", "interface", "method", "struct"}),
        (".cs",),
    ),
    # Kotlin `object` declarations are classes to axd.
    Target(
        "kotlin",
        "Kotlin",
        frozenset({"class", "interface", "method", "object"}),
        (".kt", ".kts"),
    ),
    # Go "member" is a struct field; interface method specs are "methodSpec".
    Target("go", "Go", frozenset({"func", "struct", "interface"}), (".go",)),
    Target(
        "rust",
        "Rust",
        frozenset({"function", "method", "struct", "interface"}),
        (".rs",),
    ),
    Target("java", "Java", frozenset({"class", "interface", "method"}), (".java",)),
    Target(
        "javascript",
        "JavaScript",
        frozenset({"class", "function", "method", "generator"}),
        (".js", ".mjs", ".cjs", ".jsx"),
        literal_classes=True,
    ),
    Target(
        "typescript",
        "TypeScript",
        frozenset({"class", "function", "method", "interface"}),
        (".ts", ".tsx", ".mts", ".cts"),
    ),
    Target(
        "php",
        "PHP",
        frozenset({"class", "function", "interface", "trait"}),
        (".php",),
    ),
    # Universal Ctags 5.9 has no Swift parser: the reference is the
    # declaration-line rule in `swift_tags` (empty ctags name).
    Target(
        "swift",
        "",
        frozenset({"function", "class", "struct", "interface"}),
        (".swift",),
    ),
    Target(
        "ruby",
        "Ruby",
        frozenset({"class", "method", "singletonMethod"}),
        (".rb",),
    ),
)


@dataclass(slots=True)
class Tag:
    """A definition from either side, for the mismatch reports."""

    path: str
    name: str
    line: int
    kind: str
    scope: str  # the container's kind, "" at top level
    raw: str = ""  # the name as the tool wrote it (ctags: maybe qualified)
    column: int = 0  # axd: the name's start column (bytes)


@dataclass(slots=True)
class Result:
    """One language's comparison."""

    language: str
    tree: str
    files: int = 0
    axd: int = 0
    ctags: int = 0
    matched: int = 0
    # axd definitions not matched, but ctags tags the same name on that line
    # under a kind not counted (JavaScript arrow functions are `constant` or
    # `variable` to ctags 5.9, getters `getter`, C typedef'd structs `typedef`).
    other_kind: int = 0
    # Unmatched tags on either side that a rule in DISAGREEMENTS explains as
    # ctags being wrong, by rule; left out of the goal's recall/precision.
    ctags_wrong: collections.Counter[str] = field(default_factory=collections.Counter)
    axd_unconfirmed: collections.Counter[str] = field(
        default_factory=collections.Counter
    )
    axd_failed: int = 0  # files axd could not extract (timeout, error)
    axd_seconds: float = 0.0
    ctags_seconds: float = 0.0
    missed: list[Tag] = field(default_factory=list)  # ctags only
    extra: list[Tag] = field(default_factory=list)  # axd only
    # Names per file on the other side, to tell "other line" from "absent".
    axd_names: dict[str, set[str]] = field(default_factory=dict)
    ctags_names: dict[str, set[str]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.matched / self.ctags if self.ctags else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.axd if self.axd else 1.0

    @property
    def recall_goal(self) -> float:
        """Recall with the tags ctags gets wrong (by a stated rule) left out."""
        counted = self.ctags - sum(self.ctags_wrong.values())
        return self.matched / counted if counted else 1.0

    @property
    def precision_goal(self) -> float:
        """Precision with axd's definitions ctags cannot see left out."""
        counted = self.axd - sum(self.axd_unconfirmed.values())
        return self.matched / counted if counted else 1.0

    @property
    def disagreements(self) -> str:
        both = self.ctags_wrong + self.axd_unconfirmed
        return ", ".join(f"{rule} {count}" for rule, count in both.most_common())

    @property
    def precision_any_kind(self) -> float:
        """Precision counting `other_kind` as confirmed (not the goal's)."""
        return (self.matched + self.other_kind) / self.axd if self.axd else 1.0

    def row(self) -> dict[str, object]:
        return {
            "language": self.language,
            "tree": self.tree,
            "files": self.files,
            "axd": self.axd,
            "ctags": self.ctags,
            "matched": self.matched,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "other_kind": self.other_kind,
            "precision_any_kind": round(self.precision_any_kind, 4),
            "recall_goal": round(self.recall_goal, 4),
            "precision_goal": round(self.precision_goal, 4),
            "ctags_disagrees": dict(self.ctags_wrong + self.axd_unconfirmed),
            "axd_failed": self.axd_failed,
            "axd_seconds": round(self.axd_seconds, 2),
            "ctags_seconds": round(self.ctags_seconds, 2),
        }


def normalise(name: str) -> str:
    """The last component of a possibly qualified name (see module doc).

    C++ operators are spelled without spaces (ctags: ``operator ==``).
    """
    if "operator" in name:
        name = _OPERATOR_SPACE.sub("", name)
    return _SEPARATOR.sub("", name) or name


def sample(paths: list[Path], cap: int) -> list[Path]:
    """At most `cap` paths, evenly spaced over the sorted list."""
    paths = sorted(paths)
    if len(paths) <= cap:
        return paths
    return [paths[index * len(paths) // cap] for index in range(cap)]


def python_tree() -> tuple[str, list[Path]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [
        path
        for path in stdlib.rglob("*.py")
        if "site-packages" not in path.parts and path.is_file()
    ]
    return str(stdlib), files


def corpus_tree(target: Target) -> tuple[str, list[Path]]:
    """The target's files in the pinned corpora of its language."""
    trees = corpora.available({target.language})
    files = [
        path
        for _corpus, tree in trees
        for path in tree.rglob("*")
        if path.suffix.lower() in target.extensions
        and not any(part in _SKIP_PARTS for part in path.relative_to(tree).parts)
        and not path.name.endswith(".d.ts")
        and path.is_file()
    ]
    names = ", ".join(f"{c.repo}@{c.commit[:10]}" for c, _tree in trees)
    return names, files


def axd_tags(target: Target, files: list[Path], result: Result) -> list[Tag]:
    tags: list[Tag] = []
    started = time.perf_counter()
    for path in files:
        try:
            data = path.read_bytes()
            language = detect_language(str(path), data[:512]) or target.language
            language = refine_language(language, data)
            extraction = extract(data, language)
        except (ParseTimeoutError, ValueError, OSError, RecursionError):
            result.axd_failed += 1
            continue
        symbols = extraction.symbols
        for symbol in symbols:
            if symbol.kind not in AXD_KINDS:
                continue
            parent = symbols[symbol.parent].kind if symbol.parent is not None else ""
            tags.append(
                Tag(
                    str(path),
                    normalise(symbol.name),
                    symbol.selection.start_line,
                    symbol.kind,
                    parent,
                    symbol.name,
                    symbol.selection.start_col,
                )
            )
    result.axd_seconds = time.perf_counter() - started
    return tags


def ctags_tags(
    ctags: str, target: Target, files: list[Path], result: Result
) -> tuple[list[Tag], set[tuple[str, str, int]]]:
    """The counted tags, and (path, name, line) of every tag of any kind."""
    started = time.perf_counter()
    process = subprocess.run(
        [
            ctags,
            "--output-format=json",
            "--fields=+nKZ",
            "--sort=no",
            f"--language-force={target.ctags}",
            "-f",
            "-",
            "-L",
            "-",
        ],
        input="\n".join(str(path) for path in files) + "\n",
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    result.ctags_seconds = time.perf_counter() - started
    tags: list[Tag] = []
    anywhere: set[tuple[str, str, int]] = set()
    for line in process.stdout.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("_type") != "tag":
            continue
        name = normalise(str(entry.get("name", "")))
        if not name or _ANONYMOUS.match(name):
            continue
        anywhere.add((str(entry["path"]), name, int(entry.get("line", 0))))
        if entry.get("kind") not in target.kinds:
            continue
        if (
            target.literal_classes
            and entry["kind"] == "class"
            and not _CLASS_LINE.search(str(entry.get("pattern", "")))
        ):
            continue
        tags.append(
            Tag(
                str(entry["path"]),
                name,
                int(entry.get("line", 0)),
                str(entry["kind"]),
                str(entry.get("scopeKind", "")),
                str(entry.get("name", "")),
            )
        )
    return tags, anywhere


_SWIFT_DECLARATION = re.compile(
    r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*"
    r"(?:(?:public|private|fileprivate|internal|open|package|final|static|class"
    r"|override|mutating|nonmutating|convenience|required|indirect|dynamic"
    r"|nonisolated|lazy|prefix|postfix|infix|distributed|consuming|borrowing"
    r"|@\w+)(?:\([^)]*\))?\s+)*"
    r"(?:(func|class|struct|protocol|actor)\s+([A-Za-z_]\w*)|(init)[?!]?\s*[<(])"
)
_SWIFT_KINDS = {
    "func": "function",
    "class": "class",
    "actor": "class",
    "struct": "struct",
    "protocol": "interface",
}


def swift_tags(
    target: Target, files: list[Path], result: Result
) -> tuple[list[Tag], set[tuple[str, str, int]]]:
    """The Swift reference: one tag per declaration line (see `TARGETS`).

    A line that, after attributes and modifiers, starts with ``func``,
    ``class``, ``struct``, ``protocol`` or ``actor`` and a name declares that
    name there, and ``init(`` an initialiser named ``init``; comment lines
    do not. Operators (``func ==``), ``subscript``, enums and extensions are
    not counted.
    """
    started = time.perf_counter()
    tags: list[Tag] = []
    for path in files:
        in_block = False
        for number, text in enumerate(
            path.read_text("utf-8", "replace").splitlines(), 1
        ):
            stripped = text.lstrip()
            if in_block:
                in_block = "*/" not in stripped
                continue
            if stripped.startswith("/*"):
                in_block = "*/" not in stripped
                continue
            if stripped.startswith("//"):
                continue
            match = _SWIFT_DECLARATION.match(text)
            if match is not None:
                if match[3]:  # an initialiser: a method named init
                    tags.append(Tag(str(path), "init", number, "function", "", "init"))
                    continue
                kind = _SWIFT_KINDS[match[1]]
                tags.append(Tag(str(path), match[2], number, kind, "", match[2]))
    result.ctags_seconds = time.perf_counter() - started
    return tags, set()


def compare(
    result: Result,
    axd: list[Tag],
    ctags_and_any: tuple[list[Tag], set[tuple[str, str, int]]],
) -> None:
    """Multiset match by (file, name, line); the rest are misses and extras."""
    ctags, anywhere = ctags_and_any
    by_key_axd: dict[tuple[str, str, int], list[Tag]] = collections.defaultdict(list)
    by_key_ctags: dict[tuple[str, str, int], list[Tag]] = collections.defaultdict(list)
    for tag in axd:
        by_key_axd[(tag.path, tag.name, tag.line)].append(tag)
        result.axd_names.setdefault(tag.path, set()).add(tag.name)
    for tag in ctags:
        by_key_ctags[(tag.path, tag.name, tag.line)].append(tag)
        result.ctags_names.setdefault(tag.path, set()).add(tag.name)
    result.axd = len(axd)
    result.ctags = len(ctags)
    for key in by_key_axd.keys() | by_key_ctags.keys():
        ours = by_key_axd.get(key, [])
        theirs = by_key_ctags.get(key, [])
        common = min(len(ours), len(theirs))
        result.matched += common
        result.extra.extend(ours[common:])
        result.missed.extend(theirs[common:])
        if len(ours) > common and key in anywhere:
            result.other_kind += len(ours) - common
    twice = {
        key
        for key, tags in by_key_ctags.items()
        if len({(tag.raw, tag.scope) for tag in tags}) > 1 and by_key_axd.get(key)
    }
    disagree(result, anywhere, twice)


_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*|operator\W.*|~\w+|[\w$]+[!?=]?")
_MACRO_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_FUNCTION_NODES = frozenset(
    {
        "function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",
        "generator_function_declaration",
        "generator_function",
    }
)
_BINDINGS = frozenset({"variable_declarator", "pair"})


def _named_object(node: Node) -> bool:
    """Whether ctags' JavaScript parser tags the members of this object
    literal: bound by `var`/`let`/`const`, nested in such an object, or
    assigned to a plain name (`o = {...}`). Assigned to a member
    (`X.prototype = {...}`) or in a chain (`a = b = {...}`) it warns
    "ignoring null tag" and tags none of them."""
    parent = node.parent
    if parent is None:
        return False
    if parent.type in _BINDINGS:
        return True
    if parent.type != "assignment_expression":
        return False
    left = parent.child_by_field_name("left")
    return (
        left is not None
        and left.type == "identifier"
        and (parent.parent is None or parent.parent.type != "assignment_expression")
    )


@functools.cache
def _tree(language: str, path: str) -> Node:
    parser = tree_sitter_language_pack.get_parser(language)  # type: ignore[arg-type]
    return parser.parse(Path(path).read_bytes()).root_node


@functools.cache
def _signature_names(language: str, path: str) -> frozenset[str]:
    """Names of the overload signatures (`function f(a: A): R;`) in a file."""
    names: set[str] = set()
    stack = [_tree(language, path)]
    while stack:
        node = stack.pop()
        if node.type == "function_signature":
            name = node.child_by_field_name("name")
            if name is not None and name.text is not None:
                names.add(name.text.decode("utf-8", "replace"))
        stack.extend(node.children)
    return frozenset(names)


def _js_untagged(language: str, tag: Tag, text: str) -> str:
    """The ctags-skips rule an unmatched JS/TS axd definition falls under."""
    if tag.name == "default" and "export default" in text:
        return "anonymous default export"
    node: Node | None = _tree(language, tag.path).descendant_for_point_range(
        (tag.line - 1, tag.column), (tag.line - 1, tag.column)
    )
    parent = node.parent if node is not None else None
    if parent is not None and parent.type == "function_signature":
        return "overload signature"
    if (
        parent is not None
        and parent.type == "function_declaration"
        and tag.name in _signature_names(language, tag.path)
    ):
        return "overload implementation"
    while node is not None:
        if node.type == "object" and (
            language == "typescript" or not _named_object(node)
        ):
            return "object literal member"
        if language == "typescript" and (
            node.type == "statement_block"
            and node.parent is not None
            and node.parent.type in _FUNCTION_NODES
        ):
            return "in a function body"
        node = node.parent
    if language == "typescript" and ".prototype." in text:
        return "prototype assignment"
    if _top_level_statement(language, tag):
        return "top-level definition ctags lost"
    return ""


def _top_level_statement(language: str, tag: Tag) -> bool:
    """Whether the definition is a statement directly in the program:
    ``function f() {}`` (or ``export function``) or ``a.b = function`` —
    which ctags tags in a file of its own (the probe), so its absence means
    ctags' parser lost its way earlier in the file."""
    node: Node | None = _tree(language, tag.path).descendant_for_point_range(
        (tag.line - 1, tag.column), (tag.line - 1, tag.column)
    )
    parent = node.parent if node is not None else None
    if parent is None:
        return False
    if parent.type == "member_expression":  # `a.b = function`: the `b`
        parent = parent.parent
    statement = parent.parent if parent is not None else None
    if statement is not None and statement.type in {
        "export_statement",
        "expression_statement",
    }:
        statement = statement.parent
    return (
        parent is not None
        and parent.type
        in {"function_declaration", "generator_function_declaration",
            "assignment_expression"}
        and statement is not None
        and statement.type == "program"
        and (parent.type != "assignment_expression"
             or _is_function(parent.child_by_field_name("right")))
    )  # fmt: skip


def _is_function(node: Node | None) -> bool:
    return node is not None and node.type in _FUNCTION_NODES


def _source_line(path: str, line: int, cache: dict[str, list[str]]) -> str:
    if path not in cache:
        try:
            cache[path] = Path(path).read_text("utf-8", "replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    return lines[line - 1] if 0 < line <= len(lines) else ""


def disagree(
    result: Result,
    anywhere: set[tuple[str, str, int]],
    twice: set[tuple[str, str, int]],
) -> None:
    """Move unmatched tags that a DISAGREEMENTS rule explains out of the goal.

    The rules are about ctags, checked on the tag and its source line, and
    never about axd's own output alone (so axd cannot grade itself):

    * ``not a name``: ctags' name is no identifier (its Kotlin parser emits
      fragments such as ``;1U^``), so nobody could look it up;
    * ``tagged twice``: ctags tags ``a.f = function f() {}`` twice (as
      ``a.f`` or as ``f`` in scope ``a``, and as ``f``), one function on one
      line, and the bare names collide: the second tag, when axd matched
      the first;
    * ``macro name``: ``TEST_IMPL(name) {`` or ``PHP_METHOD(C, m) {``: ctags
      names the function after the upper-case macro, axd after the
      function's own name (the macro's last argument); an axd function on
      that line pairs with it and both leave the counts;
    * ``lambda/loop variable``: ctags' Kotlin parser tags the parameters of
      ``{ x -> }`` and ``for (x in ...)`` as methods;
    * ``computed member``: ``a.b[expr] = function`` names no function; ctags
      calls it ``b``;
    * ``other kind`` (axd side): ctags tags that name on that line under a kind
      not compared (an arrow function is a ``constant`` to ctags);
    * axd side, JavaScript and TypeScript, an axd definition ctags does not
      tag at all on that line, found (by its syntax tree) where ctags' parsers
      tag nothing (checked with a probe file, see perf/RESULTS.md):
      ``object literal member`` (JavaScript: of an object literal not bound
      to a name, e.g. passed as an argument, returned, assigned to a member
      or in a chain of assignments: ``jQuery.fn.extend({ each: function ()
      {} })``, ``Data.prototype = { set: ... }``; TypeScript: of any object
      literal, ``defineComponent({ setup() {} })``), ``anonymous default
      export`` (``export default function () {}``, which axd names
      ``default``), and for TypeScript only ``overload signature`` and
      ``overload implementation`` (ctags tags the first signature of an
      overloaded function and neither the others nor the body), ``in a
      function body`` (its TypeScript parser does not descend into
      functions) and ``prototype assignment``; and for both ``top-level
      definition ctags lost``: a ``function f() {}`` declaration or an
      ``a.b = function`` statement directly in the program, which ctags
      tags in a file of its own (probe), missing because its parser lost
      its way earlier in the file (express's ``test/express.raw.js`` ends
      with ``function createApp`` untagged);
    * ``backtick name`` (axd side): Kotlin ``fun `does a thing`()``, which
      ctags does not tag.

    Two more JavaScript/TypeScript rules re-run ctags and are in
    `confirm_by_ctags`: ``anonymous to ctags`` and ``repeated name ctags
    drops``.
    """
    lines: dict[str, list[str]] = {}
    missed: list[Tag] = []
    axd_functions = collections.Counter(
        (tag.path, tag.line)
        for tag in result.extra
        if tag.kind in {"function", "method"}
    )
    for tag in result.missed:
        key = (tag.path, tag.name, tag.line)
        text = _source_line(tag.path, tag.line, lines)
        rule = ""
        if not _IDENTIFIER.fullmatch(tag.name):
            rule = "not a name"
        elif key in twice:
            rule = "tagged twice"
        elif (
            _MACRO_NAME.fullmatch(tag.name)
            and re.search(rf"^\s*(?:static\s+)?{re.escape(tag.name)}\s*\(", text)
            and axd_functions[(tag.path, tag.line)] > 0
        ):
            rule = "macro name"
            axd_functions[(tag.path, tag.line)] -= 1
            result.axd_unconfirmed["macro name"] += 1
        elif result.language == "kotlin" and re.search(
            rf"\b{re.escape(tag.name)}\b[^{{}}]*->|\bfor\s*\(\s*\(?[^)]*\b"
            rf"{re.escape(tag.name)}\b[^)]*\bin\b",
            text,
        ):
            rule = "lambda/loop variable"
        elif re.search(rf"\.{re.escape(tag.name)}\s*\[[^\]]*\]\s*=", text):
            rule = "computed member"
        if rule:
            result.ctags_wrong[rule] += 1
        else:
            missed.append(tag)
    result.missed = missed
    # The axd functions paired with a macro-named ctags tag, per line.
    paired = collections.Counter(
        (tag.path, tag.line)
        for tag in result.extra
        if tag.kind in {"function", "method"}
    )
    paired.subtract(axd_functions)
    extra: list[Tag] = []
    for tag in result.extra:
        where = (tag.path, tag.line)
        text = _source_line(tag.path, tag.line, lines)
        rule = ""
        if tag.kind in {"function", "method"} and paired[where] > 0:
            paired[where] -= 1
            continue  # counted under "macro name" above
        if (tag.path, tag.name, tag.line) in anywhere:
            rule = "other kind"
        elif result.language in {"typescript", "javascript"}:
            rule = _js_untagged(result.language, tag, text)
        elif result.language == "kotlin" and f"`{tag.name}`" in text:
            rule = "backtick name"
        if rule:
            result.axd_unconfirmed[rule] += 1
        else:
            extra.append(tag)
    result.extra = extra


# -- ctags re-asked: JavaScript/TypeScript definitions its parser loses ----------


def _ctags_file(ctags: str, force: str, path: str) -> list[dict[str, object]]:
    """ctags' tags (every kind, placeholders included) for one file."""
    process = subprocess.run(
        [ctags, "--output-format=json", "--fields=+nKZ", "--sort=no",
         f"--language-force={force}", "-f", "-", path],
        capture_output=True, text=True, errors="replace", check=False,
    )  # fmt: skip
    tags: list[dict[str, object]] = []
    for line in process.stdout.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("_type") == "tag":
            tags.append(entry)
    return tags


def _names_function(language: str, tag: Tag) -> bool:
    """Whether, in the syntax tree, the axd name is the name of a function
    that starts on the name's line: its own name (`function f`), the key or
    method name (`f: function`, `f() {}`), or what it is bound or assigned to
    (`var f = function`, `a.f = function`, `a.f = b.f = function`)."""
    node: Node | None = _tree(language, tag.path).descendant_for_point_range(
        (tag.line - 1, tag.column), (tag.line - 1, tag.column)
    )
    parent = node.parent if node is not None else None
    if parent is None:
        return False
    function: Node | None = None
    if _is_function(parent):
        if parent.child_by_field_name("name") == node:
            function = parent
    else:
        binding: Node | None = parent
        if (
            parent.type == "member_expression"
            and parent.child_by_field_name("property") == node
        ):
            binding = parent.parent
        if binding is not None and binding.type in _BINDINGS | {
            "assignment_expression"
        }:
            function = binding.child_by_field_name(
                "right" if binding.type == "assignment_expression" else "value"
            )
            while function is not None and function.type == "assignment_expression":
                function = function.child_by_field_name("right")  # a = b = function
    return _is_function(function) and (
        function is not None and function.start_point[0] == tag.line - 1
    )


def _renamed_copy(path: str, name: str, lines: set[int], directory: Path) -> Path:
    """A copy of `path` in which `name` is replaced, on `lines`, by another
    identifier of the same length (so nothing else moves)."""
    text = Path(path).read_text("utf-8", "replace").split("\n")
    other = name[:-1] + ("Q" if name[-1] != "Q" else "Z")
    pattern = re.compile(rf"(?<![\w$#]){re.escape(name)}(?![\w$])")
    for line in lines:
        if 0 < line <= len(text):
            text[line - 1] = pattern.sub(other, text[line - 1])
    copy = directory / Path(path).name
    copy.write_text("\n".join(text), "utf-8")
    return copy


def confirm_by_ctags(ctags: str, target: Target, result: Result) -> None:
    """Move unmatched JavaScript/TypeScript axd definitions that ctags itself
    confirms out of the goal, by two rules checked on ctags' own output:

    * ``anonymous to ctags``: ctags tags a function starting on that line but
      under an anonymous placeholder (``AnonymousFunction3``), and axd's name
      is, in the syntax tree, that function's own name or what it is bound or
      assigned to on that line. ctags' parser names ``a.f = function`` ``f``
      in a file of its own (probe); it falls back to placeholders after it
      loses its way (``test/data/jquery-3.7.1.js``: ``toArray: function`` of
      ``jQuery.fn = jQuery.prototype = {`` at line 172 is already a
      placeholder at top level, and so is every ``jQuery.x = function``
      after it). One placeholder confirms one definition.
    * ``repeated name ctags drops``: ctags emits a name once per scope in a
      file (probe: the second ``route.all(function createError () {})`` of a
      file, in another test's callback, is not tagged). Confirmed per
      definition: ctags is re-run on a copy of the file in which the other
      lines defining that name (ctags' tags of it and axd's other unmatched
      ones) have it renamed to an identifier of the same length; the rule
      applies only if ctags then tags the name on this line.
    """
    by_path: dict[str, list[Tag]] = collections.defaultdict(list)
    for tag in result.extra:
        by_path[tag.path].append(tag)
    extra: list[Tag] = []
    with tempfile.TemporaryDirectory(prefix="axd-recall-") as scratch:
        for path, tags in by_path.items():
            entries = _ctags_file(ctags, target.ctags, path)
            placeholders = collections.Counter(
                int(str(e.get("line", 0)))
                for e in entries
                if _ANONYMOUS.match(str(e.get("name", "")))
                and e.get("kind") in {"function", "method", "class", "generator"}
            )
            for tag in tags:
                if placeholders[tag.line] > 0 and _names_function(result.language, tag):
                    placeholders[tag.line] -= 1
                    result.axd_unconfirmed["anonymous to ctags"] += 1
                    continue
                others = {
                    int(str(e.get("line", 0)))
                    for e in entries
                    if normalise(str(e.get("name", ""))) == tag.name
                } | {t.line for t in tags if t.name == tag.name}
                others.discard(tag.line)
                if others:
                    copy = _renamed_copy(path, tag.name, others, Path(scratch))
                    if any(
                        normalise(str(e.get("name", ""))) == tag.name
                        and int(str(e.get("line", 0))) == tag.line
                        for e in _ctags_file(ctags, target.ctags, str(copy))
                    ):
                        result.axd_unconfirmed["repeated name ctags drops"] += 1
                        continue
                extra.append(tag)
    result.extra = extra


def categories(
    tags: list[Tag], other_names: dict[str, set[str]]
) -> collections.Counter[str]:
    counter: collections.Counter[str] = collections.Counter()
    for tag in tags:
        counter[_category(tag, other_names)] += 1
    return counter


def _category(tag: Tag, other_names: dict[str, set[str]]) -> str:
    where = f" in {tag.scope}" if tag.scope else " at top level"
    if tag.name in other_names.get(tag.path, set()):
        return f"{tag.kind}{where}, same name on another line"
    return f"{tag.kind}{where}"


def report_mismatches(result: Result, root: str, examples: int) -> None:
    def show(title: str, tags: list[Tag], other: dict[str, set[str]]) -> None:
        if not tags:
            return
        counted = categories(tags, other)
        print(f"  {title}: {len(tags)}")
        for category, count in counted.most_common(6):
            print(f"    {count:6d}  {category}")
        # Examples from the top categories, a fair share each.
        top = [category for category, _count in counted.most_common(3)]
        share = max(1, -(-examples // len(top)))
        for category in top:
            picked = [t for t in tags if _category(t, other) == category][:share]
            for tag in picked:
                path = tag.path.removeprefix(root).lstrip("/")
                print(f"      {path}:{tag.line} {tag.name}  [{category}]")

    print(f"\n{result.language}: mismatches")
    show("in ctags, not axd (recall)", result.missed, result.axd_names)
    show("in axd, not ctags (precision)", result.extra, result.ctags_names)


def gather(targets: list[Target], cap: int) -> list[tuple[Target, str, list[Path]]]:
    """(target, tree description, files) per language, notes for the rest."""
    out: list[tuple[Target, str, list[Path]]] = []
    for target in targets:
        if target.language == "python":
            tree, files = python_tree()
        else:
            tree, files = corpus_tree(target)
        kept = []
        for path in sample(files, cap * 2):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if len(data) <= MAX_FILE_BYTES and classify(data) is None:
                kept.append(path)
        kept = sample(kept, cap)
        if not kept:
            print(f"note: no {target.language} corpus on this machine; skipped")
            continue
        out.append((target, tree, kept))
    return out


def machine_line() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def ctags_version(ctags: str) -> str:
    try:
        out = subprocess.run(
            [ctags, "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    first = out.splitlines()[0] if out else "unknown"
    compiled = next((ln.strip() for ln in out.splitlines() if "Compiled" in ln), "")
    return f"{first.split(',')[0]} ({compiled})" if compiled else first


def markdown(results: list[Result], ctags: str, seconds: float) -> str:
    intro = (
        f"Date: {datetime.date.today().isoformat()}. Machine: {machine_line()}. "
        f"ctags: {ctags_version(ctags)}. Command: "
        f"`.venv/bin/python perf/symbol_recall.py` ({seconds:.0f} s). "
        "Definitions of kind function/method/class/struct/interface/trait, "
        "matched by (file, name, line); goal: recall >= 95%, precision >= 90%. "
        "Recall and precision leave out the unmatched tags that a stated rule "
        "explains as ctags being wrong (the `ctags disagrees` column, by rule; "
        "the rules are in the script's `disagree()`); the strict columns count "
        "everything."
    )
    header = (
        "| language | files | axd | ctags | matched | recall | precision "
        "| strict recall | strict precision | ctags disagrees | corpora |"
    )
    lines = [
        "## Symbol recall vs Universal Ctags",
        "",
        intro,
        "",
        header,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    lines.extend(
        f"| {r.language} | {r.files} | {r.axd} | {r.ctags} | {r.matched} "
        f"| {r.recall_goal:.1%} | {r.precision_goal:.1%} | {r.recall:.1%} "
        f"| {r.precision:.1%} | {r.disagreements} | {r.tree} |"
        for r in results
    )
    return "\n".join(lines) + "\n"


def append_results(path: Path, section: str) -> None:
    """Add the section to `path`, creating the file if needed."""
    existing = path.read_text("utf-8") if path.exists() else ""
    if not existing:
        text = "# Performance results\n\n" + section
    else:
        text = existing.rstrip("\n") + "\n\n" + section
    path.write_text(text, "utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--languages", help="comma-separated axd language names")
    parser.add_argument("--max-files", type=int, default=2000)
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument(
        "--mismatches",
        action="store_true",
        help="print mismatch categories for every language, not only below goal",
    )
    parser.add_argument(
        "--append", type=Path, help="append the table to this Markdown file"
    )
    args = parser.parse_args()
    ctags = shutil.which("ctags")
    if ctags is None:
        print("note: ctags (Universal Ctags) is not installed; nothing measured")
        return
    targets = list(TARGETS)
    if args.languages:
        names = set(args.languages.split(","))
        targets = [t for t in targets if t.language in names]
    started = time.perf_counter()
    results: list[Result] = []
    if True:
        for target, tree, files in gather(targets, args.max_files):
            result = Result(target.language, tree, files=len(files))
            reference = (
                ctags_tags(ctags, target, files, result)
                if target.ctags
                else swift_tags(target, files, result)
            )
            compare(result, axd_tags(target, files, result), reference)
            if target.language in {"javascript", "typescript"}:
                confirm_by_ctags(ctags, target, result)
            results.append(result)
            below = (
                result.recall_goal < RECALL_GOAL
                or result.precision_goal < PRECISION_GOAL
            )
            if not args.json and (below or args.mismatches):
                root = tree if tree.startswith("/") else ""
                report_mismatches(result, root, args.examples)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps([result.row() for result in results], indent=2))
    else:
        print()
        header = f"{'language':<11} {'files':>6} {'axd':>7} {'ctags':>7} "
        header += f"{'matched':>7} {'recall':>7} {'precis.':>7} {'strict-r':>8} "
        header += f"{'strict-p':>8}  ctags disagrees"
        print(header)
        for result in results:
            print(
                f"{result.language:<11} {result.files:>6} {result.axd:>7} "
                f"{result.ctags:>7} {result.matched:>7} {result.recall_goal:>7.1%} "
                f"{result.precision_goal:>7.1%} {result.recall:>8.1%} "
                f"{result.precision:>8.1%}  {result.disagreements}"
            )
        print(f"\n{machine_line()}; {ctags_version(ctags)}; {seconds:.0f} s")
    if args.append is not None:
        append_results(args.append, markdown(results, ctags, seconds))


if __name__ == "__main__":
    main()
