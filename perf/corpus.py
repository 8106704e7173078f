"""A large, deterministic source tree for benchmarks, made of real files.

``build_corpus(dest, target_files, seed)`` lays out about `target_files`
files under ``dest/tree/pkgNNNN/<source>/<original relative path>``, drawn
from real source code found on this machine:

* the Python standard library (``sysconfig.get_paths()["stdlib"]``, without
  its ``site-packages``) and the base interpreter's ``site-packages``,
* this virtualenv's ``site-packages`` (``purelib``),
* ``/usr/lib/python3`` (distribution packages),
* C and C++ headers from ``/usr/include``,
* JavaScript from ``/usr/lib/node_modules``,
* Java from a JDK's ``lib/src.zip`` (extracted once),
* any ``.go`` files in those places.

**From public repositories instead.** With ``--repos DIR...`` (or
``AXD_CORPUS_REPOS``, directories joined by ``:``), the pool is every
source file of those checkouts and nothing from the machine: that is how
the figures in ``perf/RESULTS.md`` are measured (the repositories and their
commits are listed there). A checkout per repository comes from the
workplace's ``fetch`` and ``git archive``; the label of each file is its
checkout's directory name. Repositories keep their own layout (a real
tree's directories per file, not one directory chain per file): the tree
is ``copyN/<repository>/<path>``, whole repositories in a seeded order,
pass after pass, the last pass cut at `target_files`.

Only files with a source extension in `EXTENSIONS`, at most 1 MiB and with
no NUL byte in their first 8 KiB are used. Path components that axd ignores
by default (``node_modules``, ``__pycache__``, ``.venv``...) are renamed or
left out so that axd and ctags see the same tree.

Every distinct source file is first copied once into ``dest/.sources/``
(a private copy, so nothing done to the corpus can touch system files), and
the tree is built from hard links to those copies (plain copies when
``dest`` is on another filesystem than the cache, which cannot happen with
the default layout). The pool of distinct files (~40,000 on the reference
machine) is shuffled with `seed` and dealt out, pass after pass, into
directories of `FILES_PER_PACKAGE` files until `target_files` is reached,
so most files appear two or three times at 100,000 files.

**Hard links share an inode.** Appending to a corpus file in place changes
every other path linked to it (and their mtime). A benchmark that edits a
file must first give it its own inode: `make_private(path)`.

Building is idempotent: ``dest/.corpus.json`` records the parameters and
the `CorpusInfo`; when they match and the tree is there, it is reused
(about 0.1 s). A rebuild goes to a temporary directory that replaces the
tree at the end; concurrent builders of the same `dest` take turns on a
lock file.

    .venv/bin/python perf/corpus.py perf/corpus [--files 100000] [--seed 0]
        [--pinned | --repos DIR...]

``--pinned`` is the benchmark corpus of ``perf/RESULTS.md`` from round 9 on:
the 31 repositories of `corpora.BENCH` at their pinned commits (each fetched
first; the command prints the extracted directories, which are the
``AXD_CORPUS_REPOS`` the other benchmarks need to reuse the corpus).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import shutil
import sys
import sysconfig
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "DEFAULT_DEST",
    "EXTENSIONS",
    "CorpusInfo",
    "build_corpus",
    "make_private",
]

FORMAT_VERSION = 1
DEFAULT_DEST = Path(__file__).resolve().parent / "corpus"
MAX_FILE_BYTES = 1024 * 1024
FILES_PER_PACKAGE = 250
SNIFF_BYTES = 8192

# Extension -> language (axd's names for them).
EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".java": "java",
    ".go": "go",
    ".ts": "typescript",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".tsx": "typescript",
    ".jsx": "javascript",
    ".kt": "kotlin",
    ".cs": "csharp",
    ".swift": "swift",
    ".scala": "scala",
}

# Directory names axd's built-in rules ignore: renamed so the file stays in
# the tree for both axd and ctags (node_modules), or left out (caches).
_RENAME_DIRS = {"node_modules": "node_mods", ".venv": "venv_"}
_SKIP_DIRS = frozenset(
    {
        "__pycache__",
        ".git",
        ".hg",
        ".svn",
        ".jj",
        ".bzr",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
    }
)


@dataclass
class CorpusInfo:
    """What a built corpus holds (also ``dest/.corpus.json``)."""

    root: Path
    files: int
    bytes: int
    languages: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Source:
    """One distinct file of the pool: where it came from and its cached copy."""

    label: str  # which source tree ("stdlib", "include"...)
    rel: str  # "/"-separated path inside that tree, renamed as needed
    cached: Path  # the private copy under dest/.sources
    size: int
    language: str


# -- discovering the pool -------------------------------------------------------------


def _source_dirs(repos: list[Path]) -> list[tuple[str, Path, frozenset[str]]]:
    """(label, directory, directory names to skip at its top) of real source:
    the given repository checkouts, or else what this machine has."""
    if repos:
        return [(repo.name, repo.resolve(), frozenset()) for repo in repos]
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"])
    found: list[tuple[str, Path, frozenset[str]]] = [
        ("stdlib", stdlib, frozenset({"site-packages", "dist-packages"})),
        ("base-site-packages", stdlib / "site-packages", frozenset()),
        ("venv-site-packages", Path(paths["purelib"]), frozenset()),
        ("usr-python3", Path("/usr/lib/python3"), frozenset()),
        ("include", Path("/usr/include"), frozenset()),
        ("node", Path("/usr/lib/node_modules"), frozenset()),
    ]
    seen: set[Path] = set()
    unique = []
    for label, directory, skip in found:
        try:
            real = directory.resolve(strict=True)
        except OSError:
            continue
        if real in seen or not real.is_dir():
            continue
        seen.add(real)
        unique.append((label, real, skip))
    return unique


def _clean_rel(parts: list[str]) -> str | None:
    out = []
    for part in parts:
        if part in _SKIP_DIRS:
            return None
        out.append(_RENAME_DIRS.get(part, part))
    return "/".join(out)


def _walk(directory: Path, skip_top: frozenset[str]) -> Iterator[tuple[str, Path]]:
    """(cleaned relative path, real path) of candidate files, sorted."""
    for current, dirs, files in os.walk(directory):
        dirs.sort()
        if current == str(directory):
            dirs[:] = [d for d in dirs if d not in skip_top]
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        relative_dir = os.path.relpath(current, directory)
        prefix = [] if relative_dir == "." else relative_dir.split(os.sep)
        for name in sorted(files):
            if os.path.splitext(name)[1].lower() not in EXTENSIONS:
                continue
            rel = _clean_rel([*prefix, name])
            if rel is not None:
                yield rel, Path(current, name)


def _is_text(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return b"\0" not in handle.read(SNIFF_BYTES)
    except OSError:
        return False


def _cache_file(src: Path, cached: Path) -> int | None:
    """Copy `src` to `cached` unless an equal-sized copy is there; its size."""
    try:
        info = src.stat()  # follows symlinks
    except OSError:
        return None
    if not os.path.isfile(src) or info.st_size > MAX_FILE_BYTES:
        return None
    with contextlib.suppress(OSError):
        if cached.stat().st_size == info.st_size:
            return info.st_size
    if not _is_text(src):
        return None
    cached.parent.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copyfile(src, cached)
    except OSError:
        return None
    return info.st_size


def _java_zip() -> Path | None:
    candidates = sorted(Path("/usr/lib/jvm").glob("*/lib/src.zip"))
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidates.insert(0, Path(java_home) / "lib" / "src.zip")
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    return None


def _java_sources(cache: Path) -> list[_Source]:
    """.java files of a JDK's src.zip, extracted once into the cache."""
    archive = _java_zip()
    if archive is None:
        return []
    out: list[_Source] = []
    with zipfile.ZipFile(archive) as zf:
        for entry in sorted(zf.infolist(), key=lambda e: e.filename):
            name = entry.filename
            if (
                not name.endswith(".java")
                or entry.is_dir()
                or entry.file_size > MAX_FILE_BYTES
            ):
                continue
            rel = _clean_rel(name.split("/"))
            if rel is None:
                continue
            cached = cache / "java" / rel
            try:
                present = cached.stat().st_size == entry.file_size
            except OSError:
                present = False
            if not present:
                data = zf.read(entry)
                if b"\0" in data[:SNIFF_BYTES]:
                    continue
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(data)
            out.append(_Source("java", rel, cached, entry.file_size, "java"))
    return out


def _pool(cache: Path, repos: list[Path]) -> list[_Source]:
    """Every distinct usable source file, each copied once into `cache`."""
    pool: list[_Source] = []
    seen: set[Path] = set()
    for label, directory, skip in _source_dirs(repos):
        for rel, path in _walk(directory, skip):
            try:
                real = path.resolve(strict=True)
            except OSError:
                continue
            if real in seen:
                continue
            seen.add(real)
            cached = cache / label / rel
            size = _cache_file(real, cached)
            if size is None:
                continue
            language = EXTENSIONS[os.path.splitext(rel)[1].lower()]
            pool.append(_Source(label, rel, cached, size, language))
    if not repos:
        pool += _java_sources(cache)
    return pool


# -- laying out the tree ----------------------------------------------------------------


class _Tree:
    """The tree being laid out: placed files, made directories, the totals."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.bytes = 0
        self.languages: dict[str, int] = {}
        self._made_dirs: set[str] = set()
        self._use_links = True

    def place(self, source: _Source, rel: str) -> None:
        """Put `source` at `rel` (a hard link to the cached copy when the
        filesystem allows, else a copy)."""
        parent = rel.rpartition("/")[0]
        if parent not in self._made_dirs:
            os.makedirs(self.root / parent, exist_ok=True)
            self._made_dirs.add(parent)
        destination = self.root / rel
        if self._use_links:
            try:
                os.link(source.cached, destination)
            except OSError:
                self._use_links = False  # another filesystem (or no links)
        if not self._use_links:
            shutil.copyfile(source.cached, destination)
        self.files += 1
        self.bytes += source.size
        self.languages[source.language] = self.languages.get(source.language, 0) + 1

    def info(self) -> CorpusInfo:
        return CorpusInfo(
            root=self.root,
            files=self.files,
            bytes=self.bytes,
            languages=dict(sorted(self.languages.items(), key=lambda kv: -kv[1])),
        )


def _layout_repos(
    pool: list[_Source], tree: Path, target: int, seed: int
) -> CorpusInfo:
    """Whole repositories, in a seeded order, copy after copy."""
    by_label: dict[str, list[_Source]] = {}
    for source in pool:
        by_label.setdefault(source.label, []).append(source)
    labels = sorted(by_label)
    random.Random(seed).shuffle(labels)
    out = _Tree(tree)
    copy = 0
    while out.files < target and pool:
        copy += 1
        for label in labels:
            for source in by_label[label]:
                if out.files >= target:
                    break
                out.place(source, f"copy{copy}/{label}/{source.rel}")
    return out.info()


def _layout(pool: list[_Source], tree: Path, target: int, seed: int) -> CorpusInfo:
    """Files dealt in seeded order into packages of `FILES_PER_PACKAGE`."""
    rng = random.Random(seed)
    placed: set[str] = set()
    out = _Tree(tree)
    while out.files < target and pool:
        order = list(pool)
        rng.shuffle(order)
        for source in order:
            if out.files >= target:
                break
            package = f"pkg{out.files // FILES_PER_PACKAGE:04d}"
            rel = f"{package}/{source.label}/{source.rel}"
            copy = 2
            while rel in placed:  # the same file twice in one package
                rel = f"{package}/{source.label}_{copy}/{source.rel}"
                copy += 1
            placed.add(rel)
            out.place(source, rel)
    return out.info()


# -- the API --------------------------------------------------------------------------------


def _params(target_files: int, seed: int, repos: list[Path]) -> dict[str, object]:
    params: dict[str, object] = {
        "format": FORMAT_VERSION,
        "target_files": target_files,
        "seed": seed,
    }
    if repos:
        params["repos"] = [str(repo.resolve()) for repo in repos]
    return params


def _repos_from_environment() -> list[Path]:
    value = os.environ.get("AXD_CORPUS_REPOS", "")
    return [Path(part) for part in value.split(os.pathsep) if part]


def _manifest_params(manifest: Path) -> object | None:
    """The parameters of the corpus a complete manifest describes."""
    try:
        return json.loads(manifest.read_text()).get("params")
    except (OSError, ValueError, AttributeError):
        return None


def _manifest_matches(manifest: Path, params: dict[str, object]) -> CorpusInfo | None:
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if data.get("params") != params:
        return None
    info = data.get("info", {})
    root = Path(info.get("root", ""))
    last = data.get("last_file")
    if not root.is_dir() or not last or not (root / last).is_file():
        return None
    return CorpusInfo(
        root=root,
        files=int(info["files"]),
        bytes=int(info["bytes"]),
        languages={str(k): int(v) for k, v in info["languages"].items()},
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CorpusMismatchError(Exception):
    """`dest` holds a corpus built with other parameters."""


def build_corpus(
    dest: Path,
    target_files: int = 100_000,
    seed: int = 0,
    repos: list[Path] | None = None,
    *,
    replace: bool = False,
) -> CorpusInfo:
    """Build (or reuse) a tree of about `target_files` real source files.

    The tree is ``dest/tree`` (`CorpusInfo.root`); ``dest/.corpus.json``
    describes it. Deterministic for a given machine (or set of `repos`,
    default ``AXD_CORPUS_REPOS``) and `seed`.

    :raises CorpusMismatchError: `dest` holds a complete corpus built with
        other parameters and `replace` is false. A benchmark run without
        ``AXD_CORPUS_REPOS`` once silently replaced the 31-repository
        corpus by this machine's files; a corpus is replaced only on request.
    """
    repos = _repos_from_environment() if repos is None else repos
    params = _params(target_files, seed, repos)
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    manifest = dest / ".corpus.json"
    with _locked(dest / ".corpus.lock"):
        reused = _manifest_matches(manifest, params)
        if reused is not None:
            return reused
        built = _manifest_params(manifest)
        if built is not None and (dest / "tree").is_dir() and not replace:
            raise CorpusMismatchError(
                f"{dest} holds a corpus built with {built}, not {params};"
                " set AXD_CORPUS_REPOS / --files / --seed to match it, choose"
                " another directory, or replace it (corpus.py --replace)"
            )
        tree = dest / "tree"
        building = dest / f"tree.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
        pool = _pool(dest / ".sources", repos)
        pool.sort(key=lambda s: (s.label, s.rel))
        lay_out = _layout_repos if repos else _layout
        info = lay_out(pool, building, target_files, seed)
        with contextlib.suppress(FileNotFoundError):
            manifest.unlink()  # no manifest pointing at a half-replaced tree
        if tree.exists():
            old = dest / f"tree.old-{os.getpid()}"
            tree.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        building.rename(tree)
        info.root = tree
        last = _last_file(tree)
        record = {
            "params": params,
            "info": {**asdict(info), "root": str(tree)},
            "pool_files": len(pool),
            "pool_bytes": sum(s.size for s in pool),
            "last_file": last,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        tmp = manifest.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(manifest)
        return info


def _last_file(tree: Path) -> str | None:
    for current, _dirs, files in os.walk(tree):
        if files:
            return os.path.relpath(os.path.join(current, files[0]), tree)
    return None


def make_private(path: Path) -> None:
    """Give a corpus file its own inode (same content), so that editing it
    changes no other path of the tree."""
    path = Path(path)
    if path.stat().st_nlink <= 1:
        return
    tmp = path.with_name(path.name + ".private-tmp")
    shutil.copyfile(path, tmp)
    tmp.replace(path)


def pinned_repositories() -> list[Path] | None:
    """The extracted trees of every repository of `corpora.BENCH`, or None
    (after a note naming what is missing) unless all of them are here."""
    from corpora import BENCH, ensure

    trees = [ensure(corpus) for corpus in BENCH]
    if any(tree is None for tree in trees):
        print("corpus.py: fetch the repositories named above first", file=sys.stderr)
        return None
    return [tree for tree in trees if tree is not None]


def main(argv: list[str] | None = None) -> int:
    """CLI: build the corpus and print its description."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, nargs="?", default=DEFAULT_DEST)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repos",
        type=Path,
        nargs="*",
        default=None,
        help="checkouts of public repositories to draw from (default:"
        " AXD_CORPUS_REPOS, else this machine's source files)",
    )
    parser.add_argument(
        "--pinned",
        action="store_true",
        help="draw from the pinned public repositories of corpora.BENCH"
        " (extracted from their fetched mirrors; the benchmark corpus)",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace a corpus built at DEST with other parameters",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.pinned:
        args.repos = pinned_repositories()
        if args.repos is None:
            return 2
        print(os.pathsep.join(str(repo) for repo in args.repos))
    try:
        info = build_corpus(
            args.dest, args.files, args.seed, args.repos, replace=args.replace
        )
    except CorpusMismatchError as exc:
        print(f"corpus.py: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(
        f"{info.root}: {info.files} files, {info.bytes / 1e6:.1f} MB,"
        f" languages {info.languages} ({elapsed:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
