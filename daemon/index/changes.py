"""What the watcher tells the indexer, down a bounded memory object stream.

The watcher sends; the indexer's intake receives (`Indexer.run`). Neither
holds the other: `workspaces.py` creates the stream and hands one end to
each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Changed:
    """Paths changed on disk (workspace-relative); `created` were added."""

    paths: frozenset[str]
    event_time: float  # wall clock of the event, for edit-to-queryable
    created: frozenset[str] = frozenset()
    # Released together (a git operation's held changes): committed in as
    # few batches as `batch_files` allows, not split for latency.
    together: bool = False


@dataclass(frozen=True, slots=True)
class RescanNeeded:
    """Events may have been missed or the ignore rules changed: stat pass."""


@dataclass(frozen=True, slots=True)
class RootGone:
    """The workspace root vanished."""

    reason: str


@dataclass(frozen=True, slots=True)
class RootBack:
    """The vanished root is back."""


WatchMessage = Changed | RescanNeeded | RootGone | RootBack
# Messages the watcher may send ahead of the indexer before `send()` waits.
STREAM_DEPTH = 64
