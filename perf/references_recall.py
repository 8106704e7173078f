"""Recall of `symbols.references` on call sites sampled from real repositories.

For each language, the pinned corpora of that language (perf/corpora.py) are
indexed by a real daemon, each as its own workspace. Call sites are found
independently of axd:

* the names are the functions and methods Universal Ctags finds in the
  corpus (4+ characters, so ``get``/``run`` noise stays out);
* a call site is an occurrence of ``name(`` (optionally ``name<...>(`` or
  ``name (``) in a source file of the language, not preceded by an
  identifier character, ``#`` (a doc link), ``*`` or a definition keyword
  (``def``, ``fn``, ``func``, ``fun``, ``function``, ``void``...), not on a
  line where ctags puts a tag of that name, and not at the start of a line
  ending in ``{`` (``render() {``: a method being defined); lines that start
  as comments or doc markup and occurrences after an odd number of quotes on
  the line (inside a string) are left out, and so are keywords ctags may tag
  (``typeof``, ``function``).

200 sites per language are drawn with a fixed seed; a site is found when
``symbols.references {root, name, path}`` returns a reference of that name
on that line. Goal: recall >= 90%. The misses are listed by kind of line.

A language without a corpus on this machine is skipped with a note (CI has
no corpora); no ctags: nothing is measured, exit 0.

    .venv/bin/python perf/references_recall.py [--languages c,go] [--sites 200]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpora
from daemon_proc import Daemon

GOAL = 0.90
SEED = 14
MAX_FILE_BYTES = 300_000
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "typescript": (".ts", ".tsx"),
    "javascript": (".js", ".mjs", ".cjs"),
    "c": (".c", ".h"),
    "cpp": (".cc", ".cpp", ".h", ".hpp"),
    "ruby": (".rb",),
    "rust": (".rs",),
    "go": (".go",),
    "java": (".java",),
    "csharp": (".cs",),
    "kotlin": (".kt",),
    "php": (".php",),
    "swift": (".swift",),
}
CTAGS_LANGUAGE = {
    "typescript": "TypeScript",
    "javascript": "JavaScript",
    "c": "C",
    "cpp": "C++",
    "ruby": "Ruby",
    "rust": "Rust",
    "go": "Go",
    "java": "Java",
    "csharp": "C#",
    "kotlin": "Kotlin",
    "php": "PHP",
}
FUNCTION_KINDS = frozenset(
    {"function", "method", "func", "singletonMethod", "member", "prototype"}
)
_DEFINING = re.compile(
    r"(?:\b(?:def|fn|func|fun|function|void|static|int|char|bool|auto|public"
    r"|private|protected|override|internal|new)\s+[\w.*&<>:]*|[\w$*.])$"
)
_COMMENT_START = ("//", "#", "*", "/*", "--", "@see", "<")
# Keywords that look like calls (`typeof(x)`, `function(a)`, `sizeof(x)`):
# ctags sometimes tags them as functions; they are never references.
_KEYWORD_TEXT = (
    "function typeof sizeof alignof decltype nameof default return while switch"
    " catch super self this throw yield await delete"
)
_KEYWORDS = frozenset(_KEYWORD_TEXT.split())
_SKIP_PARTS = frozenset({"node_modules", "dist"})


@dataclass(slots=True)
class Site:
    path: str  # relative to the corpus root
    line: int
    name: str
    text: str


@dataclass(slots=True)
class Outcome:
    language: str
    corpora: str
    names: int = 0
    candidates: int = 0
    sites: list[Site] = field(default_factory=list)
    found: int = 0
    missed: list[Site] = field(default_factory=list)


def ctags_functions(ctags: str, language: str, tree: Path) -> dict[str, set[int]]:
    """Function/method names ctags finds → hashes of (path, line) of their tags."""
    process = subprocess.run(
        [ctags, "-R", "--output-format=json", "--fields=+nK",
         f"--languages={CTAGS_LANGUAGE[language]}", "-f", "-", "."],
        cwd=tree, capture_output=True, text=True, errors="replace", check=False,
    )  # fmt: skip
    lines: dict[str, set[int]] = collections.defaultdict(set)
    functions: set[str] = set()
    for raw in process.stdout.splitlines():
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            continue
        name = str(entry.get("name", ""))
        if len(name) < 4 or not re.fullmatch(r"[A-Za-z_][\w]*[!?]?", name):
            continue
        where = hash((str(entry.get("path", "")).removeprefix("./"), entry["line"]))
        # Any tag of the name marks a line that declares it (Go interface
        # method specs, prototypes): not a call site.
        lines[name].add(where)
        if entry.get("kind") in FUNCTION_KINDS:
            functions.add(name)
    return {name: lines[name] for name in functions}


def swift_functions(tree: Path) -> dict[str, set[int]]:
    """No ctags parser for Swift: `func name` declarations by a line rule."""
    declaration = re.compile(r"\bfunc\s+([A-Za-z_]\w*)")
    lines: dict[str, set[int]] = collections.defaultdict(set)
    for path in source_files(tree, EXTENSIONS["swift"]):
        rel = str(path.relative_to(tree))
        for number, text in enumerate(read_lines(path), 1):
            for match in declaration.finditer(text):
                if len(match[1]) >= 4:
                    lines[match[1]].add(hash((rel, number)))
    return lines


def source_files(tree: Path, extensions: tuple[str, ...]) -> list[Path]:
    return sorted(
        path
        for path in tree.rglob("*")
        if path.suffix in extensions
        and not _SKIP_PARTS.intersection(path.relative_to(tree).parts)
        and path.is_file()
        and path.stat().st_size <= MAX_FILE_BYTES
    )


def read_lines(path: Path) -> list[str]:
    return path.read_text("utf-8", "replace").splitlines()


def call_sites(
    tree: Path, language: str, definitions: dict[str, set[int]]
) -> list[Site]:
    if not definitions:
        return []
    names = sorted(
        (name for name in definitions if name not in _KEYWORDS), key=len, reverse=True
    )
    pattern = re.compile(
        r"(?<![\w$#])(" + "|".join(map(re.escape, names)) + r")\s*(?:<[\w\s,<>]*>)?\("
    )
    sites: list[Site] = []
    for path in source_files(tree, EXTENSIONS[language]):
        rel = str(path.relative_to(tree))
        for number, text in enumerate(read_lines(path), 1):
            if text.lstrip().startswith(_COMMENT_START) or len(text) > 400:
                continue
            for match in pattern.finditer(text):
                name = match[1]
                before = text[: match.start()]
                if hash((rel, number)) in definitions[name]:
                    continue
                if _declares(before):
                    continue
                if not before.strip() and text.rstrip().endswith("{"):
                    continue  # `name(args) {`: a method being defined
                if (before.count('"') % 2) or (before.count("'") % 2):
                    continue
                if before.count("`") % 2:
                    continue
                sites.append(Site(rel, number, name, text.strip()[:160]))
    return sites


def _declares(before: str) -> bool:
    """Whether the text before ``name(`` makes it a declaration, not a call:
    a type, keyword or identifier right before the name (``int name(``,
    ``def name(``), unless it is a member access or an operator."""
    if before.endswith((".", "->", "::")):
        return False
    stripped = before.rstrip()
    if stripped.endswith(("=", "(", ",", "return", "!")):
        return False
    return _DEFINING.search(stripped) is not None


def measure(daemon: Daemon, language: str, sites_per: int) -> Outcome | None:
    trees = corpora.available({language})
    if not trees:
        print(f"note: no {language} corpus on this machine; skipped")
        return None
    ctags = shutil.which("ctags")
    outcome = Outcome(
        language, ", ".join(f"{c.repo}@{c.commit[:10]}" for c, _ in trees)
    )
    pool: list[tuple[str, Site]] = []
    for _corpus, tree in trees:
        if language == "swift":
            definitions = swift_functions(tree)
        elif ctags is not None:
            definitions = ctags_functions(ctags, language, tree)
        else:
            continue
        outcome.names += len(definitions)
        added = daemon.call("workspace.add", {"root": str(tree)})
        daemon.wait(str(tree))
        pool.extend(
            (added["root"], site) for site in call_sites(tree, language, definitions)
        )
    outcome.candidates = len(pool)
    chosen = random.Random(SEED).sample(pool, min(sites_per, len(pool)))
    for root, site in chosen:
        outcome.sites.append(site)
        found = daemon.call(
            "symbols.references",
            {"root": root, "name": site.name, "path": site.path, "limit": 1000},
        )["references"]
        if any(
            ref["path"] == site.path and ref["range"]["start_line"] == site.line
            for ref in found
        ):
            outcome.found += 1
        else:
            outcome.missed.append(site)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--languages", help="comma-separated axd language names")
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--examples", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("ctags") is None:
        print("note: ctags (Universal Ctags) is not installed; nothing measured")
        return
    languages = args.languages.split(",") if args.languages else list(EXTENSIONS)
    started = time.perf_counter()
    results: list[Outcome] = []
    base = Path(tempfile.mkdtemp(prefix="axd-refs-", dir="/tmp"))
    try:
        with Daemon(base, base / "state") as daemon:
            for language in languages:
                outcome = measure(daemon, language, args.sites)
                if outcome is not None:
                    results.append(outcome)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for outcome in results:
        recall = outcome.found / len(outcome.sites) if outcome.sites else 1.0
        if recall < GOAL or args.examples:
            for site in outcome.missed[: args.examples]:
                print(f"  miss {outcome.language}: {site.path}:{site.line} "
                      f"{site.name}  | {site.text}")  # fmt: skip
    print(f"\n{'language':<11} {'names':>6} {'sites':>7} {'sampled':>7} "
          f"{'found':>6} {'recall':>7}  corpora")  # fmt: skip
    for outcome in results:
        recall = outcome.found / len(outcome.sites) if outcome.sites else 1.0
        print(
            f"{outcome.language:<11} {outcome.names:>6} {outcome.candidates:>7} "
            f"{len(outcome.sites):>7} {outcome.found:>6} {recall:>7.1%}  "
            f"{outcome.corpora}"
        )
    print(
        f"\n{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; goal recall >= {GOAL:.0%}; "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
