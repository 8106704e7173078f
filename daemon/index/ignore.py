"""Which paths of a workspace are ignored, and which rule says so.

`IgnoreRules` answers, for one workspace root, "is this path ignored, and by
which line of which file?" with git's semantics, so that ``files.explain`` can
name the rule (PROTOCOL.md) and the crawl can prune whole directories.

API::

    rules = IgnoreRules.load(root, extra_excludes=config.index.exclude)
    rules.match("src/gen/x.py", is_dir=False)   # -> IgnoreMatch | None
    rules.match_entry("src/gen", "x.py", is_dir=False)  # crawl fast path
    rules.is_ignore_file("sub/.gitignore")      # -> True
    rules.reload_file("sub/.gitignore")         # after the watcher saw an edit

`match` returns the rule that decided "ignored", or None when the path is
kept (no rule matched, or the deciding rule was a ``!negation``). A path under
an ignored directory is explained by the directory's rule: as in git, nothing
can re-include a file once a parent directory is excluded.

Where rules come from, highest precedence first; the first source with a
matching pattern decides, and inside one file the last matching line wins:

1. Version-control directories ``.git .hg .svn .jj .bzr`` (source
   ``builtin``). Always ignored, nothing overrides them: their contents are
   never source, and a whitelist idiom such as ``*`` + ``!*/`` in a
   .gitignore must not pull ``.git/objects`` into the index.
2. ``[index] exclude`` from the config (source ``config``), gitignore syntax,
   relative to the root.
3. ``.axdignore`` files, deepest directory first. They are a layer above all
   .gitignore files (as ripgrep's ``.rgignore`` is above ``.gitignore``), so a
   root ``.axdignore`` line ``!generated/`` re-includes what any .gitignore
   excludes.
4. Built-in excludes (source ``builtin``): ``node_modules/ __pycache__/
   .mypy_cache/ .pytest_cache/ .ruff_cache/ .hypothesis/ .tox/ .nox/
   .venv/``: caches and installed dependencies, never hand-written source.
   They sit above .gitignore (so ``!*/`` there does not resurrect
   ``node_modules``) but below ``.axdignore`` and the config, where a user can
   say ``!node_modules/`` on purpose. Deliberately *not* built in: ``build/``
   and ``dist/`` (many real source directories are called build), ``target/``
   and virtualenvs under other names (``venv/``): projects ignore those in
   their .gitignore, and virtualenv, uv and Python >= 3.13's venv write a
   ``*`` .gitignore into every new environment.
5. ``.gitignore`` files, deepest directory first (git's order).
6. ``.git/info/exclude`` of the root.

Git details reproduced: ``!`` negation, ``\\!``/``\\#`` escapes, ``#``
comments, blank lines, trailing spaces trimmed unless escaped (``foo\\ ``),
CRLF line ends, a UTF-8 BOM, patterns anchored by a leading or middle ``/``,
directory-only patterns ``dir/``, ``**`` (leading, middle, trailing), patterns
relative to the directory holding the ignore file, invalid patterns (bad
``[`` range, lone trailing backslash) silently never match. Globs are
translated by pathspec's `GitIgnoreSpecPattern`; this module only decides
which path string each pattern is tested against (git tests a pattern against
the path itself, never against its parents) and the precedence between files.

Not reproduced: the user's global ``core.excludesFile`` (the daemon's view of a
tree should not depend on whoever started it), ignore files above the
workspace root, the ``info/exclude`` of nested repositories or worktrees, and
``core.ignoreCase`` (matching is case-sensitive). Symlinked ignore files are
not read, as git >= 2.32 does not read them.

Paths are workspace-relative, ``/``-separated, as `os.fsdecode` gives them
(undecodable bytes as surrogate escapes); ignore files are decoded the same
way so their patterns match those names. A symlink is matched as a directory
when it points at one (so ``node_modules/`` excludes a symlinked
node_modules); git would match it as a file.

Cost: ignore files are read once, lazily, when the crawl first reaches their
directory, and the rule chain of each directory is cached. Plain-name and
``*suffix`` lines (most real ones) become dict lookups on the entry's name;
the other lines of a file compile into one alternation regex, its
alternatives in reverse line order so the first alternative that matches is
the last matching line. With a 147-line root .gitignore the crawl still does
about 110,000 files/s. Not thread-safe: one owner calls `match` and
`reload_file` (the indexer), or callers serialize.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from pathspec.patterns.gitignore import GitIgnorePatternError
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = [
    "BUILTIN_EXCLUDES",
    "VCS_DIRS",
    "IgnoreMatch",
    "IgnoreRules",
]

log = structlog.get_logger()

VCS_DIRS: frozenset[str] = frozenset({".git", ".hg", ".svn", ".jj", ".bzr"})
BUILTIN_EXCLUDES: tuple[str, ...] = (
    "node_modules/",
    "__pycache__/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".tox/",
    ".nox/",
    ".venv/",
)
GITIGNORE = ".gitignore"
AXDIGNORE = ".axdignore"
GIT_INFO_EXCLUDE = ".git/info/exclude"
BUILTIN_SOURCE = "builtin"
CONFIG_SOURCE = "config"

_BOM = "\ufeff"
# pathspec marks "matched because a directory follows" with this named group.
# Several patterns share one compiled alternation, where a repeated group name
# is an error, so the group is made anonymous; it carries no meaning here.
_DIR_MARK_GROUP = "(?P<ps_d>"
_DIR_MARK_REGEX = "(?P<ps_d>/)"


@dataclass(frozen=True, slots=True)
class IgnoreMatch:
    """The rule that ignored a path: ``files.explain``'s ``rule``.

    `source` is the ignore file's workspace-relative path (``.gitignore``,
    ``sub/.gitignore``, ``.git/info/exclude``, ``.axdignore``) or ``builtin``
    / ``config``; `line` is 1-based in that file (None for builtin and
    config); `pattern` is the line as written, trailing spaces trimmed as git
    trims them (what ``git check-ignore -v`` prints).
    """

    source: str
    line: int | None
    pattern: str


@dataclass(frozen=True, slots=True)
class _Rule:
    negated: bool
    origin: IgnoreMatch


@dataclass(frozen=True, slots=True)
class _RuleSet:
    """The compiled patterns of one ignore file (or the builtin/config list).

    Most gitignore lines are a plain name (``build/``) or ``*`` plus a
    suffix (``*.pyc``); a big alternation regex is slow for them (every
    alternative scans the path), so they are dict lookups on the entry's
    name. Everything else goes through pathspec's regexes: other slash-free
    globs tested against the name, patterns with a slash against the path
    relative to `base`. Each lookup returns the index of the last matching
    line; the highest index wins, as the last matching line does in git.
    """

    base: str  # directory the patterns are relative to: "" or "sub/dir/"
    rules: tuple[_Rule, ...]  # in line order
    names: dict[str, int]  # "name" -> last rule index
    dir_names: dict[str, int]  # "name/" (directories only)
    suffixes: dict[str, int]  # "*suffix" -> last rule index
    dir_suffixes: dict[str, int]  # "*suffix/"
    suffix_lengths: tuple[int, ...]
    name_regex: re.Pattern[str] | None  # other slash-free globs
    path_regex: re.Pattern[str] | None  # patterns with a slash

    def match(self, path: str, name: str, is_dir: bool) -> _Rule | None:
        """The last rule matching an entry; `path` ends in ``/`` for directories."""
        best = self.names.get(name, -1)
        if is_dir:
            best = max(best, self.dir_names.get(name, -1))
        for length in self.suffix_lengths:  # ascending
            if length > len(name):
                break
            suffix = name[len(name) - length :]
            best = max(best, self.suffixes.get(suffix, -1))
            if is_dir:
                best = max(best, self.dir_suffixes.get(suffix, -1))
        if self.name_regex is not None:
            m = self.name_regex.fullmatch(name + "/" if is_dir else name)
            if m is not None and m.lastgroup is not None:
                best = max(best, int(m.lastgroup[1:]))
        if self.path_regex is not None:
            m = self.path_regex.fullmatch(path[len(self.base) :] if self.base else path)
            if m is not None and m.lastgroup is not None:
                best = max(best, int(m.lastgroup[1:]))
        return self.rules[best] if best >= 0 else None


@dataclass(frozen=True, slots=True)
class _DirRules:
    """Ignore files applying to the entries of one directory."""

    gitignores: tuple[_RuleSet, ...]  # deepest first
    axdignores: tuple[_RuleSet, ...]  # deepest first
    chain: tuple[_RuleSet, ...]  # every source, highest precedence first


def _trim_trailing_spaces(line: str) -> str:
    """Drop trailing spaces unless the last one is backslash-escaped (git)."""
    stripped = line.rstrip(" ")
    if len(stripped) == len(line):
        return line
    backslashes = len(stripped) - len(stripped.rstrip("\\"))
    return stripped + " " if backslashes % 2 else stripped


def _full_regex(pattern: str) -> str | None:
    """A regex that fullmatches exactly the paths `pattern` matches in git.

    The tested string is the path relative to the ignore file's directory,
    with a trailing ``/`` for directories. pathspec's regexes also match every
    path *under* a matching directory (a file check there stands for its
    parents too); git instead tests each path on its own and excludes
    children through their excluded parent, which the caller handles. So
    most regexes are used as they are, with fullmatch; the patterns pathspec
    folds into special forms (``*``, ``**``, ``*/``, trailing ``/**``) are
    spelled out here. Returns None for lines that never match (blank,
    comment, invalid).
    """
    try:
        regex, include = GitIgnoreSpecPattern.pattern_to_regex(pattern)
    except GitIgnorePatternError:
        return None  # git ignores lines it cannot parse (trailing "\")
    if include is None or not isinstance(regex, str):
        return None
    body = pattern.removeprefix("!")
    dir_only = body.endswith("/")
    core = body[:-1] if dir_only else body
    if regex == ".":  # "*", "**", "/**", "**/*": every path
        return ".*/" if dir_only else ".+"
    if regex == _DIR_MARK_REGEX:  # "*/", "**/": every directory
        return ".*/"
    if regex == "/":  # "*/**", "**/*/**": everything below the top level
        return ".*/.+"
    regex = regex.replace(_DIR_MARK_GROUP, "(?:")
    if core.endswith("/**"):
        # "a/**" means "everything inside a", not a itself; pathspec's regex
        # stops at "a/", so require at least one more character (a directory
        # for "a/**/").
        return f"(?:{regex}).+/" if dir_only else f"(?:{regex}).+"
    return regex


_GLOB_CHARS = frozenset("*?[\\")


def _compile(
    base: str, source: str, lines: Sequence[tuple[int | None, str]]
) -> _RuleSet | None:
    """Compile one file's (line number, text) pairs; None when nothing matches."""
    rules: list[_Rule] = []
    lookups: dict[str, dict[str, int]] = {
        "names": {},
        "dir_names": {},
        "suffixes": {},
        "dir_suffixes": {},
    }
    name_alternatives: list[str] = []
    path_alternatives: list[str] = []
    for number, raw in lines:
        pattern = _trim_trailing_spaces(raw)
        full = _full_regex(pattern)
        if full is None:
            if pattern and not pattern.startswith("#") and source == CONFIG_SOURCE:
                log.warning(
                    "ignore_pattern_invalid", source=source, pattern=_shown(pattern)
                )
            continue
        index = len(rules)
        rules.append(
            _Rule(pattern.startswith("!"), IgnoreMatch(source, number, pattern))
        )
        body = pattern.removeprefix("!")
        dir_only = body.endswith("/")
        core = body.removesuffix("/")
        if "/" in core:
            path_alternatives.append(f"(?P<r{index}>{full})")
        elif not _GLOB_CHARS.intersection(core):
            lookups["dir_names" if dir_only else "names"][core] = index
        elif core.startswith("*") and not _GLOB_CHARS.intersection(core[1:]):
            lookups["dir_suffixes" if dir_only else "suffixes"][core[1:]] = index
        else:
            # pathspec's regex starts with "(?:.+/)?": on the bare name it
            # matches exactly when it would on the whole path.
            name_alternatives.append(f"(?P<r{index}>{full})")
    if not rules:
        return None
    suffix_lengths = {len(x) for x in (*lookups["suffixes"], *lookups["dir_suffixes"])}
    return _RuleSet(
        base,
        tuple(rules),
        suffix_lengths=tuple(sorted(suffix_lengths)),
        name_regex=_alternation(name_alternatives),
        path_regex=_alternation(path_alternatives),
        **lookups,
    )


def _alternation(alternatives: list[str]) -> re.Pattern[str] | None:
    """One regex; the first alternative that fullmatches is the last line."""
    if not alternatives:
        return None
    # DOTALL: a file name may contain a newline; only "/" is special in paths.
    return re.compile("|".join(reversed(alternatives)), re.DOTALL)


def _read_lines(path: str) -> list[tuple[int | None, str]] | None:
    """The numbered lines of an ignore file; None when it is absent or unusable."""
    try:
        # O_NOFOLLOW: git does not read a symlinked .gitignore, and a link could
        # point anywhere on the machine.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink: expected, git skips it too
            log.debug("ignore_file_symlink_not_read", path=_shown(path))
        else:  # EACCES, EISDIR
            log.warning("ignore_file_unreadable", path=_shown(path), error=exc.strerror)
        return None
    try:
        with open(fd, "rb") as f:
            data = f.read()
    except OSError as exc:
        log.warning("ignore_file_unreadable", path=_shown(path), error=exc.strerror)
        return None
    text = os.fsdecode(data) if data else ""
    text = text.removeprefix(_BOM)
    return [(i, line.removesuffix("\r")) for i, line in enumerate(text.split("\n"), 1)]


class IgnoreRules:
    """The ignore rules of one workspace root (see the module docstring)."""

    def __init__(self, root: Path, extra_excludes: Sequence[str] = ()) -> None:
        """Prefer `load`; this reads nothing until the first lookup."""
        self.root = root
        self._root_str = os.fspath(root)
        self._builtin = _compile(
            "", BUILTIN_SOURCE, [(None, p) for p in BUILTIN_EXCLUDES]
        )
        self._config = _compile("", CONFIG_SOURCE, [(None, p) for p in extra_excludes])
        self._vcs = {name: IgnoreMatch(BUILTIN_SOURCE, None, name) for name in VCS_DIRS}
        self._files: dict[str, _RuleSet | None] = {}  # ignore file relpath -> rules
        self._dirs: dict[str, _DirRules] = {}
        self._dir_verdicts: dict[str, IgnoreMatch | None] = {}

    @classmethod
    def load(cls, root: Path, extra_excludes: Sequence[str] = ()) -> IgnoreRules:
        """Rules for `root` with the config's ``[index] exclude`` globs."""
        return cls(root, extra_excludes)

    @staticmethod
    def is_ignore_file(relpath: str) -> bool:
        """Whether an edit to `relpath` changes the rules (for the watcher)."""
        name = relpath.rpartition("/")[2]
        return name in (GITIGNORE, AXDIGNORE) or relpath == GIT_INFO_EXCLUDE

    def reload_file(self, relpath: str) -> bool:
        """Forget `relpath` if it is an ignore file; True when rules may change.

        It is re-read on the next lookup that needs it (created, edited or
        deleted alike). Verdicts cached for directories are dropped, since one
        file can change the answer for any path below its directory.
        """
        if not self.is_ignore_file(relpath):
            return False
        self._files.pop(relpath, None)
        # New dicts, not clear(): a caller iterating an old view stays valid.
        self._dirs = {}
        self._dir_verdicts = {}
        return True

    def reload(self) -> None:
        """Forget every ignore file read so far."""
        self._files = {}
        self._dirs = {}
        self._dir_verdicts = {}

    def match(self, relpath: str, is_dir: bool) -> IgnoreMatch | None:
        """The rule ignoring `relpath`, or None when it is kept.

        Checks every parent directory first, so a path under an ignored
        directory is explained by that directory's rule.

        :raises ValueError: `relpath` is absolute or leaves the root.
        """
        parts = _split(relpath)
        if not parts:
            return None  # the root itself
        parent = ""
        for name in parts[:-1]:
            current = f"{parent}/{name}" if parent else name
            if current in self._dir_verdicts:
                verdict = self._dir_verdicts[current]
            else:
                verdict = self.match_entry(parent, name, is_dir=True)
                self._dir_verdicts[current] = verdict
            if verdict is not None:
                return verdict
            parent = current
        return self.match_entry(parent, parts[-1], is_dir)

    def match_entry(self, parent: str, name: str, is_dir: bool) -> IgnoreMatch | None:
        """Like `match` for entry `name` of directory `parent` (``""``: root).

        Assumes `parent` itself is kept, so its ancestors are not checked: the
        crawl calls this only inside directories it decided to enter.
        """
        if name in self._vcs:
            return self._vcs[name]
        path = f"{parent}/{name}" if parent else name
        if is_dir:
            path += "/"
        for ruleset in self._rules_for(parent).chain:
            rule = ruleset.match(path, name, is_dir)
            if rule is not None:
                return None if rule.negated else rule.origin
        return None

    def _rules_for(self, directory: str) -> _DirRules:
        cached = self._dirs.get(directory)
        if cached is not None:
            return cached
        # Build the missing ancestors top-down, without recursion: trees can
        # be deeper than Python's recursion limit.
        missing = [directory]
        while missing[-1]:
            parent = missing[-1].rpartition("/")[0]
            if parent in self._dirs:
                break
            missing.append(parent)
        for current in reversed(missing):
            self._dirs[current] = self._build(current)
        return self._dirs[directory]

    def _build(self, directory: str) -> _DirRules:
        if directory:
            inherited = self._dirs[directory.rpartition("/")[0]]
            prefix = directory + "/"
            gitignores, axdignores = inherited.gitignores, inherited.axdignores
        else:
            prefix = ""
            gitignores = axdignores = ()
        own_git = self._file(prefix + GITIGNORE, prefix)
        own_axd = self._file(prefix + AXDIGNORE, prefix)
        if own_git is not None:
            gitignores = (own_git, *gitignores)
        if own_axd is not None:
            axdignores = (own_axd, *axdignores)
        exclude = self._file(GIT_INFO_EXCLUDE, "")
        chain = (
            *_present(self._config),
            *axdignores,
            *_present(self._builtin),
            *gitignores,
            *_present(exclude),
        )
        return _DirRules(gitignores, axdignores, chain)

    def _file(self, relpath: str, base: str) -> _RuleSet | None:
        if relpath in self._files:
            return self._files[relpath]
        lines = _read_lines(os.path.join(self._root_str, relpath))
        ruleset = _compile(base, relpath, lines) if lines else None
        self._files[relpath] = ruleset
        return ruleset


def _shown(text: str) -> str:
    """`text` safe for a UTF-8 log line (surrogate escapes as ``\\udce9``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _present(ruleset: _RuleSet | None) -> tuple[_RuleSet, ...]:
    return () if ruleset is None else (ruleset,)


def _split(relpath: str) -> list[str]:
    """Workspace-relative path -> its names; "" and "." are the root."""
    if relpath.startswith("/"):
        raise ValueError(f"not a workspace-relative path: {relpath!r}")
    parts = [p for p in relpath.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError(f"path leaves the workspace: {relpath!r}")
    return parts
