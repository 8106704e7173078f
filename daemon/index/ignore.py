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

How one file's lines become rules (git's pattern details) is
``daemon/index/gitignore.py``.

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
directory, and the rule chain of each directory is cached (a directory with
no ignore file of its own shares its parent's: a dict entry per directory;
the indexer drops these caches once a stat pass is planned). Plain-name and
``*suffix`` lines (most real ones) become dict lookups on the entry's name;
the other lines of a file compile into one alternation regex, its
alternatives in reverse line order so the first alternative that matches is
the last matching line. With a 147-line root .gitignore the crawl still does
about 110,000 files/s. Not thread-safe: one owner calls `match` and
`reload_file` (the indexer), or callers serialize.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from axd.daemon.index.gitignore import (
    CONFIG_SOURCE,
    IgnoreMatch,
    RuleSet,
    compile_rules,
    read_lines,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
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
# Directory verdicts `match` keeps (a cache: emptied when full). A first
# index asks about every file, in crawl order (a directory's files
# together); unbounded, it kept a new string per directory of the tree.
MAX_DIR_VERDICTS = 4096
GITIGNORE = ".gitignore"
AXDIGNORE = ".axdignore"
GIT_INFO_EXCLUDE = ".git/info/exclude"
BUILTIN_SOURCE = "builtin"


@dataclass(frozen=True, slots=True)
class _DirRules:
    """Ignore files applying to the entries of one directory."""

    gitignores: tuple[RuleSet, ...]  # deepest first
    axdignores: tuple[RuleSet, ...]  # deepest first
    chain: tuple[RuleSet, ...]  # every source, highest precedence first


class IgnoreRules:
    """The ignore rules of one workspace root (see the module docstring)."""

    def __init__(self, root: Path, extra_excludes: Sequence[str] = ()) -> None:
        """Prefer `load`; this reads nothing until the first lookup."""
        self.root = root
        self._root_str = os.fspath(root)
        self._builtin = compile_rules(
            "", BUILTIN_SOURCE, [(None, p) for p in BUILTIN_EXCLUDES]
        )
        self._config = compile_rules(
            "", CONFIG_SOURCE, [(None, p) for p in extra_excludes]
        )
        self._vcs = {name: IgnoreMatch(BUILTIN_SOURCE, None, name) for name in VCS_DIRS}
        # Ignore files read so far, by workspace-relative path: the present
        # ones (None: read, empty or unreadable). Absent ones are not keyed
        # here: a crawl lists every directory, and one path string per
        # directory and name was ~100 bytes per directory for the life of
        # the daemon (#16 target 2).
        self._files: dict[str, RuleSet | None] = {}
        # Directories whose listing had neither ignore file (`note_listing`),
        # until their rules are built: then `_dirs` says it.
        self._absent: set[str] = set()
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
        self._absent = set()
        return True

    def reload(self) -> None:
        """Forget every ignore file read so far."""
        self._files = {}
        self._dirs = {}
        self._dir_verdicts = {}
        self._absent = set()

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
                if len(self._dir_verdicts) >= MAX_DIR_VERDICTS:
                    self._dir_verdicts = {}
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

    def note_listing(self, directory: str, names: set[str]) -> None:
        """What `directory` holds (the crawl's listing, before it asks about
        its entries): its absent ignore files are then never opened (two
        failed ``open()`` per directory, ~1.5 s per 100k-file stat pass on a
        loaded machine, #16)."""
        if directory in self._dirs:
            return  # its rules are built: its ignore files were looked for
        has_git, has_axd = GITIGNORE in names, AXDIGNORE in names
        if not has_git and not has_axd:
            self._absent.add(directory)  # the crawl's own string: nothing new
        elif not (has_git and has_axd):
            # One of the two (rare): the other is known absent by its path.
            missing = AXDIGNORE if has_git else GITIGNORE
            self._files[f"{directory}/{missing}" if directory else missing] = None

    def listing_matcher(
        self, directory: str, names: set[str]
    ) -> Callable[[str, bool], IgnoreMatch | None]:
        """`note_listing`, then `match_entry` for the entries of `directory`
        as one function: the crawl looks up the directory's rules once, not
        once per entry (~127k lookups per 100k-file stat pass, #16).

        The function keeps the rules of this moment: a reload after it was
        made applies to the next listing (as to a lookup made just before).
        """
        self.note_listing(directory, names)
        chain = self._rules_for(directory).chain
        vcs = self._vcs
        prefix = f"{directory}/" if directory else ""

        def match(name: str, is_dir: bool) -> IgnoreMatch | None:
            if name in vcs:
                return vcs[name]
            path = f"{prefix}{name}/" if is_dir else prefix + name
            for ruleset in chain:
                rule = ruleset.match(path, name, is_dir)
                if rule is not None:
                    return None if rule.negated else rule.origin
            return None

        return match

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
        if directory in self._absent:
            self._absent.discard(directory)
            own_git = own_axd = None
        else:
            own_git = self._file(prefix + GITIGNORE, prefix)
            own_axd = self._file(prefix + AXDIGNORE, prefix)
        if directory and own_git is None and own_axd is None:
            # Nothing of its own: its entries follow its parent's rules. The
            # same object, not a copy: most directories have no ignore file,
            # and each copy was 4 objects held for the daemon's life.
            return inherited
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

    def _file(self, relpath: str, base: str) -> RuleSet | None:
        if relpath in self._files:
            return self._files[relpath]
        lines = read_lines(os.path.join(self._root_str, relpath))
        ruleset = compile_rules(base, relpath, lines) if lines else None
        if ruleset is not None or relpath == GIT_INFO_EXCLUDE:
            # Absent or empty files are not kept: `_dirs` remembers the
            # result until a reload, after which they are looked for again.
            self._files[relpath] = ruleset
        return ruleset


def _present(ruleset: RuleSet | None) -> tuple[RuleSet, ...]:
    return () if ruleset is None else (ruleset,)


def _split(relpath: str) -> list[str]:
    """Workspace-relative path -> its names; "" and "." are the root."""
    if relpath.startswith("/"):
        raise ValueError(f"not a workspace-relative path: {relpath!r}")
    parts = [p for p in relpath.split("/") if p and p != "."]
    if ".." in parts:
        raise ValueError(f"path leaves the workspace: {relpath!r}")
    return parts
