"""What a set of file events means for one workspace's index.

The watcher hands each batch of watchfiles events here (in a thread: the
ignore rules may stat): which workspace-relative paths to (re)index, which
were created, whether the top-level directories changed (re-plan the
watches), whether an ignore file changed (reload the rules and rescan), and
whether a git lock came or went (a version-control storm).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from watchfiles import Change

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.index.rules import WorkspaceRules

# Locks git holds while it rewrites the work tree.
GIT_LOCKS = (".git/index.lock", ".git/HEAD.lock", ".git/MERGE_HEAD.lock")


@dataclass(slots=True)
class Sorted:
    """Events sorted out (`sort_changes`)."""

    paths: set[str] = field(default_factory=set)
    created: set[str] = field(default_factory=set)  # of `paths`: added ones
    replan: bool = False  # the top-level directories changed
    rules_changed: bool = False  # an ignore file changed
    lock_touched: bool = False  # a git lock appeared or went
    new_dirs: bool = False  # directories were made under a recursive watch


def sort_changes(
    root_path: Path,
    tops: frozenset[str],
    rules: WorkspaceRules,
    changes: set[tuple[Change, str]],
    top_level: bool,
) -> Sorted:
    """Sort `changes` (from the root's own watch when `top_level`, else from
    a recursive watch of a top-level directory); `tops` are the watched
    top-level directories."""
    root = str(root_path)
    out = Sorted()
    for change, absolute in changes:
        relative = os.path.relpath(absolute, root).replace(os.sep, "/")
        if relative.startswith("../") or relative in (".", ".."):
            out.replan = out.replan or not root_path.is_dir()
            continue
        first, _, rest = relative.partition("/")
        # A top-level directory appeared or vanished: watch it (or not).
        if top_level and not rest:
            if change == Change.deleted:
                out.replan = out.replan or first in tops
            elif first not in tops and os.path.isdir(absolute):
                out.replan = True
        if first == ".git":
            if relative == ".git/info/exclude":
                out.rules_changed = True
                out.replan = True  # it may (un)ignore a top-level directory
            elif relative in GIT_LOCKS:
                out.lock_touched = True
            continue
        if rules.is_ignore_file(relative):
            out.rules_changed = True
            if "/" not in relative:
                out.replan = True
        elif _inside_ignored_dir(rules, relative):
            continue  # e.g. src/build/x.o under an ignored build/
        out.paths.add(relative)
        if change == Change.added:
            out.created.add(relative)
            if not top_level and os.path.isdir(absolute):
                out.new_dirs = True
    return out


def _inside_ignored_dir(rules: WorkspaceRules, relative: str) -> bool:
    parent = relative.rpartition("/")[0]
    return bool(parent) and rules.is_ignored(parent, is_dir=True)
