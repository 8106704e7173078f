"""Row shapes the store hands out: file states, counts, one file's facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from axd.daemon.events import ChangeKind


class FileState(NamedTuple):
    """What the incremental pipeline compares against a fresh stat/hash."""

    size: int
    mtime_ns: int
    content_hash: str | None
    extractor_version: int
    language: str | None
    status: str  # "indexed" | "skipped"


@dataclass(slots=True)
class StoreCounts:
    """Totals for index.status and workspace.list."""

    files_indexed: int = 0
    files_skipped: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    symbols: int = 0
    languages: dict[str, int] = field(default_factory=dict)  # indexed files only


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One file's row, for files.explain."""

    path: str
    indexed: bool
    language: str | None
    size: int
    skip_reason: str | None
    detail: str | None
    chunks: int
    symbols: int
    parse_errors: int
    generation: int  # the generation that last changed this file's rows


def changes_between(
    before: dict[str, FileState], after: dict[str, FileState]
) -> list[tuple[str, ChangeKind]]:
    """The indexed-content changes (path, kind) between two file tables."""
    changes: list[tuple[str, ChangeKind]] = []
    for path, new in after.items():
        old = before.get(path)
        if new.status != "indexed":
            if old is not None and old.status == "indexed":
                changes.append((path, "deleted"))
        elif old is None or old.status != "indexed":
            changes.append((path, "added"))
        elif old.content_hash != new.content_hash:
            changes.append((path, "modified"))
    changes += [
        (path, "deleted")
        for path, old in before.items()
        if path not in after and old.status == "indexed"
    ]
    return sorted(changes)
