"""Deciding what to index: the planning half of the indexing pipeline.

The planner compares the disk with the index and decides, per path, whether
it must be parsed, dropped or left alone. It only reads (the disk and the
store's read connections) and runs in worker threads; the committer
(`committer.py`) does the parsing and writing it decides on.

* `reconcile`: the stat pass. Crawl the root, compare size/mtime/extractor
  version with the index: what differs is queued, what vanished is deleted,
  what the crawl skipped (binary, too large...) is recorded as skipped.
  What differs is handed out every `STREAM_EVERY` paths while the crawl
  goes on (`on_found`), so a first index parses while it crawls (#16).
* `expand`: what a watcher event on a path may have changed (a directory
  moved in arrives as one event; a vanished directory takes its files).
* `split`: a batch of queued paths into work items for the workers and
  deletions for the writer.
"""

from __future__ import annotations

import os
import stat
from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from axd.daemon.index.crawl import crawl
from axd.daemon.index.languages import LANGUAGES, detect_language
from axd.daemon.index.links import FileLinks, hop_inside, resolved_inside
from axd.daemon.index.worker import WorkItem
from axd.daemon.records import FileOutcome

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from axd.daemon.config import IndexConfig
    from axd.daemon.index.rules import WorkspaceRules
    from axd.daemon.store.store import Store

log = structlog.get_logger()

# Paths to parse handed to `reconcile`'s `on_found` at a time: enough for a
# few full batches, small enough that the workers start within ~0.1 s.
STREAM_EVERY = 512


@dataclass(slots=True)
class Seen:
    """What a crawl saw, for `recheck`: each file's path, size and mtime.

    Parallel columns, not a dict of tuples: a first index holds this while
    its batches run, and a (size, mtime) tuple with its two ints per file
    was ~150 bytes of small objects each, allocated among the batches'
    churn (#16 target 2). The paths are the crawl's own strings (the queue
    holds the same ones); 16 bytes per file besides.
    """

    paths: list[str] = field(default_factory=list)
    sizes: array[int] = field(default_factory=lambda: array("q"))
    mtimes: array[int] = field(default_factory=lambda: array("q"))

    def __len__(self) -> int:
        return len(self.paths)

    def add(self, path: str, size: int, mtime_ns: int) -> None:
        self.paths.append(path)
        self.sizes.append(size)
        self.mtimes.append(mtime_ns)


@dataclass(slots=True)
class Plan:
    """What a stat pass found."""

    changed: list[str]  # to parse (new, or size/mtime/extractor changed)
    deleted: list[str]  # in the index, gone from the disk (or now ignored)
    skipped: list[FileOutcome]  # newly skipped by the crawl (binary, too large...)
    total: int  # files the crawl kept
    # What the crawl saw, for `recheck`: its files and the directories it
    # entered ("" for the root).
    seen: Seen = field(default_factory=Seen)
    dirs: list[str] = field(default_factory=list)
    streamed: int = 0  # the first `streamed` of `changed` went to `on_found`


@dataclass(slots=True)
class Batch:
    """Paths taken from the queue, split into work and deletions."""

    paths: list[str]
    forced: set[str] = field(default_factory=set)
    event_times: list[float] = field(default_factory=list)
    items: list[WorkItem] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    # Decided without a worker: links that now resolve out of the root.
    skipped: list[FileOutcome] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # of `items`' files, by `split`

    def parts(self, limit: int) -> list[Batch]:
        """This batch as consecutive parts of at most `limit` bytes of files
        to parse each (a part holds at least one file), or itself when it is
        that small. The first part carries the deletions, the paths with
        nothing to do and the event times; every path is in one part.

        Why: a worker's records are ~2.5x the source they come from, and the
        daemon holds a batch's records twice while it decodes them: a batch
        of 16 large generated files was a 140 MB peak (#16 target 2).
        """
        if sum(self.sizes) <= limit:
            return [self]
        planned = {item.path for item in self.items}
        first = Batch(
            [p for p in self.paths if p not in planned],
            event_times=self.event_times,
            deleted=self.deleted,
            skipped=self.skipped,
        )
        out = [first]
        part, held = first, 0
        for item, size in zip(self.items, self.sizes, strict=True):
            if part.items and held + size > limit:
                part, held = Batch([]), 0
                out.append(part)
            part.paths.append(item.path)
            part.items.append(item)
            part.sizes.append(size)
            if item.path in self.forced:
                part.forced.add(item.path)
            held += size
        return out


class Planner:
    """Compares one workspace's files with its index (blocking; in threads)."""

    def __init__(
        self, root: Path, store: Store, rules: WorkspaceRules, config: IndexConfig
    ) -> None:
        self.root = root
        self._root_real = os.path.realpath(root)
        self.store = store
        self.rules = rules
        self.links = FileLinks()
        self.config = config

    def reconcile(
        self, on_found: Callable[[list[str], int], None] | None = None
    ) -> Plan:
        """The stat pass (see the module docstring).

        `on_found(paths, seen)` is called (in this thread) with every
        `STREAM_EVERY` new paths to parse and the number of files seen so
        far; the returned plan's `changed[:streamed]` are the ones it got.
        """
        self.rules.reload()
        known = self.store.file_states()
        plan = Plan([], [], [], 0)
        seen = plan.seen
        links: list[tuple[str, str]] = []  # every link's first hop (`links.py`)
        # The walk itself, not `rules.crawl`'s list: entries are used as
        # they are found (the rules take their lock per lookup either way).
        entries = crawl(
            self.rules.root,
            self.rules,
            follow_symlinks=self.config.follow_symlinks,
            dirs=plan.dirs,
            link_hops=links,
        )
        versions = {name: spec.extractor_version for name, spec in LANGUAGES.items()}
        for entry in entries:
            if not entry.path.isascii() and not is_utf8(entry.path):
                # SQLite text and JSON need UTF-8; such names are left out.
                log.warning(
                    "non_utf8_file_name",
                    path=entry.path.encode("utf-8", "backslashreplace").decode(),
                )
                continue
            seen.add(entry.path, entry.size, entry.mtime_ns)
            state = known.get(entry.path)
            if entry.skip_reason is not None:
                if state is None or state.status != "skipped":
                    plan.skipped.append(
                        FileOutcome(
                            path=entry.path,
                            status="skipped",
                            skip_reason=entry.skip_reason,
                            detail=entry.detail,
                        )
                    )
                continue
            if (
                (
                    state is None
                    or state.size != entry.size
                    or state.mtime_ns != entry.mtime_ns
                )
                or (
                    state.language
                    and versions.get(state.language, 0) != state.extractor_version
                )
                or (
                    # Skipped with no language by an axd that did not know its
                    # extension (`.sbt` before Scala had it): parse it now.
                    state.language is None
                    and state.status == "skipped"
                    and detect_language(entry.path, b"") is not None
                )
            ):
                plan.changed.append(entry.path)
                if on_found is not None and (
                    len(plan.changed) - plan.streamed >= STREAM_EVERY
                ):
                    on_found(plan.changed[plan.streamed :], len(seen))
                    plan.streamed = len(plan.changed)
        self.links.replace(links)
        if known:  # a warm start: what the index has and the disk has not
            kept = set(seen.paths)
            plan.deleted = [path for path in known if path not in kept]
        plan.total = len(seen)
        return plan

    def recheck(self, plan: Plan, since_ns: int) -> list[str]:
        """What changed since `plan`'s crawl, which ran (from `since_ns`,
        wall clock) while the watches were still being set up: a file it
        stat'ed before its directory was watched may have changed unseen.

        Every file it saw is stat'ed again; a directory changed since the
        crawl began (an entry added, removed or renamed) is listed again for
        files the crawl did not see. One `lstat` per file and directory, no
        ignore lookups but for new entries: far cheaper than a second crawl.
        """
        out: list[str] = []
        root = os.fspath(self.root)
        seen = plan.seen
        columns = zip(seen.paths, seen.sizes, seen.mtimes, strict=True)
        for path, size, mtime_ns in columns:
            try:
                st = os.stat(f"{root}/{path}", follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode) and (
                    st.st_size != size or st.st_mtime_ns != mtime_ns
                ):
                    # The crawl kept the link's own times for a link out of
                    # the root, its target's for one inside.
                    st = os.stat(f"{root}/{path}")
            except OSError:
                out.append(path)  # gone (or unreadable): split decides
                continue
            if st.st_size != size or st.st_mtime_ns != mtime_ns:
                out.append(path)
        # Directory times come from the kernel's coarse clock (a tick behind
        # time.time_ns at most); a second of margin covers it.
        cutoff = since_ns - 1_000_000_000
        known_dirs = set(plan.dirs)
        seen_paths: set[str] | None = None  # built for the first changed directory
        for directory in plan.dirs:
            absolute = f"{root}/{directory}" if directory else root
            try:
                if os.stat(absolute, follow_symlinks=False).st_mtime_ns < cutoff:
                    continue
                entries = list(os.scandir(absolute))
            except OSError:
                continue  # gone: its files were re-stat'ed above
            prefix = f"{directory}/" if directory else ""
            if seen_paths is None:
                seen_paths = set(seen.paths)
            for entry in entries:
                relative = prefix + entry.name
                if relative in seen_paths or relative in known_dirs:
                    continue
                if not is_utf8(relative):
                    continue  # left out by the crawl too (logged there)
                try:
                    # Only what the crawl would have taken as it is: links
                    # (their own policy) wait for the next stat pass.
                    is_dir = entry.is_dir(follow_symlinks=False)
                    if not is_dir and not entry.is_file(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                if self.rules.is_ignored(relative, is_dir=is_dir):
                    continue
                out += self._files_under(relative) if is_dir else [relative]
        return out

    def expand(self, paths: list[str], created: frozenset[str]) -> list[str]:
        """The files an event on each path may have changed.

        The path itself is always queued (a file that became a directory
        leaves the index that way), and so is whatever the index holds
        under it (a directory that became a file, or vanished).
        `created`: paths whose event was a creation.
        """
        out: list[str] = []
        for path in paths:
            absolute = self.root / path
            out.append(path)
            known = self.store.paths_under(path)
            out += known
            try:
                is_dir = absolute.is_dir() and not absolute.is_symlink()
            except OSError:
                is_dir = False
            if not is_dir or self.rules.is_ignored(path, is_dir=True):
                continue
            # A directory whose files we index sends events for them itself;
            # one created, moved in or unknown to us arrives as one event.
            if path in created or not known:
                out += self._files_under(path)
        # A target's links read what it holds: they changed with it.
        return out + self.links.links_to(out)

    def _files_under(self, directory: str) -> list[str]:
        found: list[str] = []
        stack = [directory]
        while stack:
            current = stack.pop()
            try:
                entries = list(os.scandir(self.root / current))
            except OSError:
                continue
            for entry in entries:
                relative = f"{current}/{entry.name}"
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if self.rules.is_ignored(relative, is_dir=is_dir):
                    continue
                if is_dir:
                    stack.append(relative)
                else:
                    found.append(relative)
        return found

    def split(self, batch: Batch) -> None:
        """Fill `batch.items` (to parse), `batch.deleted` (to drop) and
        `batch.skipped` (links out of the root), as the crawl would decide;
        note which paths are links to which files (`links.py`)."""
        states = self.store.file_states_of(batch.paths)
        root = os.fspath(self.root)
        for path in batch.paths:
            absolute = f"{root}/{path}"
            hop: str | None = None  # a link's first hop inside the root
            outside: str | None = None  # where a link resolves, out of the root
            try:
                st = os.stat(absolute, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    hop = hop_inside(self._root_real, absolute)
                    inside, resolved = resolved_inside(self._root_real, absolute)
                    outside = resolved if inside is None else None
                    st = os.stat(absolute)  # the target's, as the crawl takes
            except (OSError, ValueError):
                is_file, is_dir, size = False, False, 0
            else:
                is_file, is_dir = stat.S_ISREG(st.st_mode), stat.S_ISDIR(st.st_mode)
                size = st.st_size
            self.links.note(path, hop)
            if (
                outside is not None
                and (is_file or is_dir)
                and not self.rules.is_ignored(path, is_dir=is_dir)
                and is_utf8(path)
            ):
                # Never read, as in the crawl (a link made while we watch).
                batch.skipped.append(
                    FileOutcome(
                        path=path,
                        status="skipped",
                        skip_reason="symlink_outside_root",
                        detail=outside,
                    )
                )
                continue
            if (
                not is_file
                or self.rules.is_ignored(path, is_dir=False)
                or not is_utf8(path)
            ):
                if path in states:
                    batch.deleted.append(path)
                continue
            state = states.get(path)
            batch.items.append(
                WorkItem(
                    path=path,
                    known_hash=state.content_hash if state else None,
                    known_version=state.extractor_version if state else 0,
                    force=path in batch.forced,
                )
            )
            batch.sizes.append(size)


def is_utf8(path: str) -> bool:
    """Whether `path` can be stored (SQLite text and JSON need UTF-8)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
