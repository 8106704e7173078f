"""Gitignore lines → compiled rule sets: one ignore file's patterns.

`compile_rules` turns the numbered lines of one ignore file (or the builtin
and config lists) into a `RuleSet` that answers "which line matched last?"
for an entry; `daemon/index/ignore.py` decides which files apply to a path
and their precedence.

Git details reproduced: ``!`` negation, ``\\!``/``\\#`` escapes, ``#``
comments, blank lines, trailing spaces trimmed unless escaped (``foo\\ ``),
CRLF line ends, a UTF-8 BOM, patterns anchored by a leading or middle ``/``,
directory-only patterns ``dir/``, ``**`` (leading, middle, trailing), patterns
relative to the directory holding the ignore file, invalid patterns (bad
``[`` range, lone trailing backslash) silently never match. Globs are
translated by pathspec's `GitIgnoreSpecPattern`; this module only decides
which path string each pattern is tested against (git tests a pattern against
the path itself, never against its parents) and the precedence between files.
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

__all__ = [
    "CONFIG_SOURCE",
    "IgnoreMatch",
    "Rule",
    "RuleSet",
    "compile_rules",
    "read_lines",
    "shown",
]

log = structlog.get_logger()

# The source named for patterns from the config's `[index] exclude`.
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
class Rule:
    negated: bool
    origin: IgnoreMatch


@dataclass(frozen=True, slots=True)
class RuleSet:
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
    rules: tuple[Rule, ...]  # in line order
    names: dict[str, int]  # "name" -> last rule index
    dir_names: dict[str, int]  # "name/" (directories only)
    suffixes: dict[str, int]  # "*suffix" -> last rule index
    dir_suffixes: dict[str, int]  # "*suffix/"
    suffix_lengths: tuple[int, ...]
    name_regex: re.Pattern[str] | None  # other slash-free globs
    path_regex: re.Pattern[str] | None  # patterns with a slash

    def match(self, path: str, name: str, is_dir: bool) -> Rule | None:
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


def trim_trailing_spaces(line: str) -> str:
    """Drop trailing spaces unless the last one is backslash-escaped (git)."""
    stripped = line.rstrip(" ")
    if len(stripped) == len(line):
        return line
    backslashes = len(stripped) - len(stripped.rstrip("\\"))
    return stripped + " " if backslashes % 2 else stripped


def full_regex(pattern: str) -> str | None:
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
    try:
        # pathspec passes some brackets through that `re` refuses ("[z-a]",
        # a reversed range, which matches nothing in git): one such line
        # must not make every lookup in its directory raise.
        re.compile(regex)
    except re.error:
        return None
    if core.endswith("/**"):
        # "a/**" means "everything inside a", not a itself; pathspec's regex
        # stops at "a/", so require at least one more character (a directory
        # for "a/**/").
        return f"(?:{regex}).+/" if dir_only else f"(?:{regex}).+"
    return regex


_GLOB_CHARS = frozenset("*?[\\")


def compile_rules(
    base: str, source: str, lines: Sequence[tuple[int | None, str]]
) -> RuleSet | None:
    """Compile one file's (line number, text) pairs; None when nothing matches."""
    rules: list[Rule] = []
    lookups: dict[str, dict[str, int]] = {
        "names": {},
        "dir_names": {},
        "suffixes": {},
        "dir_suffixes": {},
    }
    name_alternatives: list[str] = []
    path_alternatives: list[str] = []
    for number, raw in lines:
        pattern = trim_trailing_spaces(raw)
        full = full_regex(pattern)
        if full is None:
            if pattern and not pattern.startswith("#") and source == CONFIG_SOURCE:
                log.warning(
                    "ignore_pattern_invalid", source=source, pattern=shown(pattern)
                )
            continue
        index = len(rules)
        rules.append(
            Rule(pattern.startswith("!"), IgnoreMatch(source, number, pattern))
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
    return RuleSet(
        base,
        tuple(rules),
        suffix_lengths=tuple(sorted(suffix_lengths)),
        name_regex=alternation(name_alternatives),
        path_regex=alternation(path_alternatives),
        **lookups,
    )


def alternation(alternatives: list[str]) -> re.Pattern[str] | None:
    """One regex; the first alternative that fullmatches is the last line."""
    if not alternatives:
        return None
    # DOTALL: a file name may contain a newline; only "/" is special in paths.
    return re.compile("|".join(reversed(alternatives)), re.DOTALL)


def read_lines(path: str) -> list[tuple[int | None, str]] | None:
    """The numbered lines of an ignore file; None when it is absent or unusable."""
    try:
        # O_NOFOLLOW: git does not read a symlinked .gitignore, and a link could
        # point anywhere on the machine.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink: expected, git skips it too
            log.debug("ignore_file_symlink_not_read", path=shown(path))
        else:  # EACCES, EISDIR
            log.warning("ignore_file_unreadable", path=shown(path), error=exc.strerror)
        return None
    try:
        with open(fd, "rb") as f:
            data = f.read()
    except OSError as exc:
        log.warning("ignore_file_unreadable", path=shown(path), error=exc.strerror)
        return None
    text = os.fsdecode(data) if data else ""
    text = text.removeprefix(_BOM)
    return [(i, line.removesuffix("\r")) for i, line in enumerate(text.split("\n"), 1)]


def shown(text: str) -> str:
    """`text` safe for a UTF-8 log line (surrogate escapes as ``\\udce9``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
