"""One workspace's ignore rules, shared by the watcher, the planner and
`files.explain`.

`IgnoreRules` caches per directory and is not thread-safe, while the crawl,
batch planning, the watcher's event sorting and `files.explain` all run in
worker threads; this wrapper puts one lock around it. The watcher and the
indexer are each given the same `WorkspaceRules`: neither asks the other.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from axd.daemon.index.crawl import CrawlEntry, crawl
from axd.daemon.index.ignore import IgnoreMatch, IgnoreRules

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path


class WorkspaceRules:
    """Thread-safe ignore rules of one workspace root."""

    def __init__(self, root: Path, extra_excludes: Sequence[str] = ()) -> None:
        self.root = root
        self._rules = IgnoreRules.load(root, extra_excludes)
        self._lock = threading.Lock()

    @staticmethod
    def is_ignore_file(path: str) -> bool:
        """Whether editing `path` changes the rules."""
        return IgnoreRules.is_ignore_file(path)

    def match(self, path: str, *, is_dir: bool) -> IgnoreMatch | None:
        """The rule excluding `path`, or None."""
        try:
            with self._lock:
                return self._rules.match(path, is_dir=is_dir)
        except ValueError:
            return None

    def is_ignored(self, path: str, *, is_dir: bool) -> bool:
        """Whether the rules exclude `path`."""
        return self.match(path, is_dir=is_dir) is not None

    def reload(self) -> None:
        """Forget cached rules (an ignore file changed)."""
        with self._lock:
            self._rules.reload()

    def crawl(
        self, *, follow_symlinks: bool, dirs: list[str] | None = None
    ) -> list[CrawlEntry]:
        """Every file the rules keep (blocking: a worker thread's job);
        `dirs` collects the directories entered.

        The lock is taken per lookup, not for the whole walk: the watcher's
        own lookups (setting up its watches at start, sorting events) run
        while a stat pass walks the tree.
        """
        return list(crawl(self.root, self, follow_symlinks=follow_symlinks, dirs=dirs))

    def match_entry(
        self, rel_dir: str, name: str, is_dir: bool, /
    ) -> IgnoreMatch | None:
        """`IgnoreRules.match_entry` under the lock (what `crawl` asks)."""
        with self._lock:
            return self._rules.match_entry(rel_dir, name, is_dir)

    def listing_matcher(
        self, rel_dir: str, names: set[str]
    ) -> Callable[[str, bool], IgnoreMatch | None]:
        """`IgnoreRules.listing_matcher` under the lock; the function it
        returns only reads rules already built, so it runs without it."""
        with self._lock:
            return self._rules.listing_matcher(rel_dir, names)
