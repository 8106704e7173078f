"""Which files of a workspace are symlinks to which other of its files.

A link to a file inside the root is indexed under its own path with its
target's content (`crawl`). Editing the target changes what the link reads,
but the watcher reports the target's path only: without this map the link's
rows would keep the old content until the next stat pass. The planner fills
it from every crawl (`replace`) and from every batch it splits (`note`), and
`Planner.expand` queues the links of every path an event touched
(`links_to`).

A link's target is its first hop (`hop_inside`), wherever it leads (a file,
a directory, nothing yet), and `links_to` follows the map back through
chains: `b -> a -> x` is re-read when `x` changes, when `a` is retargeted,
and when `x` turns from a directory into a file. A hop out of the root ends
the chain (the crawl skips such a link). Held in memory, one entry per link
(links are few); thread-safe (the planner runs in worker threads).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable


def hop_inside(root_real: str, absolute: str) -> str | None:
    """The workspace-relative path the link `absolute` points at, one hop
    (its directories resolved, its last name as written, as the kernel
    reads the next hop); None when that is outside the root or `absolute`
    is no link."""
    try:
        written = os.readlink(absolute)
    except OSError:
        return None
    hop = os.path.join(os.path.dirname(absolute), written)
    name = os.path.basename(hop)
    if name in ("", ".", ".."):
        hop = os.path.realpath(hop)
    else:
        hop = os.path.join(os.path.realpath(os.path.dirname(hop)), name)
    prefix = root_real.rstrip("/") + "/"
    return hop[len(prefix) :] if hop.startswith(prefix) else None


def resolved_inside(root_real: str, absolute: str) -> tuple[str | None, str]:
    """`absolute` resolved: its path relative to `root_real` (None when it
    resolves outside), and the resolved absolute path."""
    target = os.path.realpath(absolute)
    if target == root_real:
        return "", target
    prefix = root_real.rstrip("/") + "/"
    return (target[len(prefix) :] if target.startswith(prefix) else None), target


class FileLinks:
    """Links by target, and each link's target (module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target_of: dict[str, str] = {}
        self._by_target: dict[str, set[str]] = {}

    def note(self, link: str, target: str | None) -> None:
        """`link` is a link to `target`; None: `link` is no link (any more)."""
        if target is None and link not in self._target_of:
            return  # nearly every path of every batch: no lock taken
        with self._lock:
            self._forget(link)
            if target is not None and target != link:
                self._target_of[link] = target
                self._by_target.setdefault(target, set()).add(link)

    def replace(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Every (link, target) of the workspace, as a crawl found them."""
        target_of = {link: target for link, target in pairs if link != target}
        by_target: dict[str, set[str]] = {}
        for link, target in target_of.items():
            by_target.setdefault(target, set()).add(link)
        with self._lock:
            self._target_of, self._by_target = target_of, by_target

    def links_to(self, paths: Iterable[str]) -> list[str]:
        """The links that lead to one of `paths`, through any number of
        links (each once: a loop of links ends)."""
        with self._lock:
            if not self._by_target:
                return []
            frontier = list(paths)
            seen = set(frontier)
            found: list[str] = []
            while frontier:
                reached: list[str] = []
                for path in frontier:
                    for link in self._by_target.get(path, ()):
                        if link not in seen:
                            seen.add(link)
                            reached.append(link)
                found += reached
                frontier = reached
            return found

    def _forget(self, link: str) -> None:
        target = self._target_of.pop(link, None)
        if target is not None:
            links = self._by_target[target]
            links.discard(link)
            if not links:
                del self._by_target[target]
