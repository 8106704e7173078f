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
* ctags' anonymous placeholders (``__anon1a2b``, ``AnonymousFunction3``) are
  dropped, being no names one could search for;
* a name defined twice on one line counts twice (multiset matching).

Trees: the Python standard library, Java sources from the JDK's ``src.zip``
(a sample is unpacked to a temporary directory), JavaScript under the global
npm root, and every other language's files found on this file system (one
walk of ``/`` without crossing mounts, skipping /proc, /sys, /dev, /run and
/tmp), identical contents counted once. Files axd would skip (binary,
minified, over 300 kB) are left out. Each language is capped at
``--max-files`` files, sampled evenly from the sorted paths, so runs are
deterministic. A language without files is skipped with a note.

Where a language misses the issue's goal (recall >= 95%, precision >= 90%),
the top mismatch categories are printed with examples.

    .venv/bin/python perf/symbol_recall.py [--languages python,c] [--json]
        [--max-files 2000] [--examples 10] [--append perf/RESULTS.md]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from axd.daemon.index.classify import classify
from axd.daemon.index.extract import ParseTimeoutError, extract

RECALL_GOAL = 0.95
PRECISION_GOAL = 0.90
MAX_FILE_BYTES = 300_000
# axd kinds counted; method vs function and the type kinds are not told apart.
AXD_KINDS = frozenset({"function", "method", "class", "struct", "interface", "trait"})
_SEPARATOR = re.compile(r".*(?:\.|::|->|#|\\)")
_ANONYMOUS = re.compile(r"^(?:__anon|Anonymous(?:Function|Class|Object)?)[0-9a-f]*$")
_CLASS_LINE = re.compile(r"\b(?:class|function)\b")
_SKIP_DIRS = frozenset({"/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp"})
# Generated rustdoc search indexes and assets: JavaScript data, not code.
_SKIP_PARTS = ("/share/doc/rust/html/",)


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
    Target("c", "C", frozenset({"function", "struct", "union"}), (".c",)),
    Target(
        "cpp",
        "C++",
        frozenset({"function", "class", "struct", "union"}),
        (".cc", ".cpp", ".cxx"),
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
        (".js", ".mjs", ".cjs"),
        literal_classes=True,
    ),
    Target(
        "typescript",
        "TypeScript",
        frozenset({"class", "function", "method", "interface"}),
        (".ts",),
    ),
    Target(
        "php",
        "PHP",
        frozenset({"class", "function", "interface", "trait"}),
        (".php",),
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
            "axd_failed": self.axd_failed,
            "axd_seconds": round(self.axd_seconds, 2),
            "ctags_seconds": round(self.ctags_seconds, 2),
        }


def normalise(name: str) -> str:
    """The last component of a possibly qualified name (see module doc)."""
    return _SEPARATOR.sub("", name) or name


def sample(paths: list[Path], cap: int) -> list[Path]:
    """At most `cap` paths, evenly spaced over the sorted list."""
    paths = sorted(paths)
    if len(paths) <= cap:
        return paths
    return [paths[index * len(paths) // cap] for index in range(cap)]


def walk_filesystem(extensions: set[str]) -> dict[str, list[Path]]:
    """Files under / by extension, on the root's device, contents unique."""
    found: dict[str, list[Path]] = collections.defaultdict(list)
    seen: set[bytes] = set()
    root_device = os.stat("/").st_dev
    stack = ["/"]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if entry.path not in _SKIP_DIRS and info.st_dev == root_device:
                    stack.append(entry.path)
                continue
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
                continue
            suffix = os.path.splitext(entry.name)[1].lower()
            if suffix not in extensions or any(p in entry.path for p in _SKIP_PARTS):
                continue
            try:
                digest = hashlib.blake2b(Path(entry.path).read_bytes()).digest()
            except OSError:
                continue
            if digest not in seen:  # pyenv, venvs and caches repeat files
                seen.add(digest)
                found[suffix].append(Path(entry.path))
    return found


def python_tree() -> tuple[str, list[Path]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [
        path
        for path in stdlib.rglob("*.py")
        if "site-packages" not in path.parts and path.is_file()
    ]
    return str(stdlib), files


def java_tree(workdir: Path, cap: int) -> tuple[str, list[Path]]:
    """A sample of the JDK's sources, unpacked from its src.zip."""
    candidates = sorted(Path("/usr/lib/jvm").glob("*/lib/src.zip"))
    candidates += sorted(Path("/usr/lib/jvm").glob("*/src.zip"))
    for archive in candidates:
        try:
            with zipfile.ZipFile(archive) as opened:
                names = [
                    info.filename
                    for info in opened.infolist()
                    if info.filename.endswith(".java")
                    and 0 < info.file_size <= MAX_FILE_BYTES
                ]
                chosen = sample([Path(name) for name in names], cap)
                target = workdir / "java"
                for name in chosen:
                    opened.extract(str(name), target)
        except (OSError, zipfile.BadZipFile):
            continue
        return str(archive), [target / name for name in chosen]
    return "", []


def npm_root() -> Path | None:
    npm = shutil.which("npm")
    if npm is None:
        return None
    try:
        out = subprocess.run(
            [npm, "root", "-g"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out and Path(out).is_dir() else None


def axd_tags(target: Target, files: list[Path], result: Result) -> list[Tag]:
    tags: list[Tag] = []
    started = time.perf_counter()
    for path in files:
        try:
            extraction = extract(path.read_bytes(), target.language)
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
            )
        )
    return tags, anywhere


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


def gather(
    targets: list[Target], cap: int, workdir: Path
) -> list[tuple[Target, str, list[Path]]]:
    """(target, tree description, files) per language, notes for the rest."""
    wanted = {
        ext
        for target in targets
        if target.language not in {"python", "java"}
        for ext in target.extensions
    }
    by_extension = walk_filesystem(wanted) if wanted else {}
    npm = npm_root()
    out: list[tuple[Target, str, list[Path]]] = []
    for target in targets:
        if target.language == "python":
            tree, files = python_tree()
        elif target.language == "java":
            tree, files = java_tree(workdir, cap)
        elif target.language == "javascript" and npm is not None:
            tree = str(npm)
            files = [
                path
                for path in npm.rglob("*")
                if path.suffix in target.extensions
                and path.is_file()
                and path.stat().st_size <= MAX_FILE_BYTES
            ]
        else:
            files = [p for ext in target.extensions for p in by_extension.get(ext, [])]
            if target.language == "typescript":
                files = [p for p in files if not p.name.endswith(".d.ts")]
            tree = "files found under / (" + ", ".join(target.extensions) + ")"
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
            print(f"note: no {target.language} files on this machine; skipped")
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
        "The last column also counts as confirmed an axd definition that ctags "
        "tags on the same line under a kind not compared (see the script's "
        "docstring)."
    )
    header = (
        "| language | files | axd | ctags | matched | recall | precision "
        "| precision, any ctags kind | tree |"
    )
    lines = [
        "## Symbol recall vs Universal Ctags",
        "",
        intro,
        "",
        header,
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines.extend(
        f"| {r.language} | {r.files} | {r.axd} | {r.ctags} | {r.matched} "
        f"| {r.recall:.1%} | {r.precision:.1%} | {r.precision_any_kind:.1%} "
        f"| {r.tree} |"
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
        sys.exit("ctags (Universal Ctags) is not installed")
    targets = list(TARGETS)
    if args.languages:
        names = set(args.languages.split(","))
        targets = [t for t in targets if t.language in names]
    started = time.perf_counter()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="axd-recall-") as temporary:
        for target, tree, files in gather(targets, args.max_files, Path(temporary)):
            result = Result(target.language, tree, files=len(files))
            compare(
                result,
                axd_tags(target, files, result),
                ctags_tags(ctags, target, files, result),
            )
            results.append(result)
            below = result.recall < RECALL_GOAL or result.precision < PRECISION_GOAL
            if not args.json and (below or args.mismatches):
                root = tree if tree.startswith("/") else ""
                report_mismatches(result, root, args.examples)
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps([result.row() for result in results], indent=2))
    else:
        print()
        header = f"{'language':<11} {'files':>6} {'axd':>7} {'ctags':>7} "
        header += f"{'matched':>7} {'recall':>7} {'precis.':>7} {'any-kind':>8}  tree"
        print(header)
        for result in results:
            print(
                f"{result.language:<11} {result.files:>6} {result.axd:>7} "
                f"{result.ctags:>7} {result.matched:>7} {result.recall:>7.1%} "
                f"{result.precision:>7.1%} {result.precision_any_kind:>8.1%}  "
                f"{result.tree}"
            )
        print(f"\n{machine_line()}; {ctags_version(ctags)}; {seconds:.0f} s")
    if args.append is not None:
        append_results(args.append, markdown(results, ctags, seconds))


if __name__ == "__main__":
    main()
