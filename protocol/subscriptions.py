"""subscribe/unsubscribe, and the notifications a subscriber receives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from axd.protocol.common import Params, Result, RootParams
from axd.protocol.flags import FlagsChangedNote
from axd.protocol.workspaces import WorkspaceState

if TYPE_CHECKING:
    from collections.abc import Mapping

EventName = Literal[
    "index.changed", "index.progress", "health.changed", "flags.changed"
]


class SubscribeParams(RootParams, frozen=True, kw_only=True):
    events: list[EventName]


class Subscribed(Result, frozen=True, kw_only=True):
    subscription: str


class UnsubscribeParams(Params, frozen=True, kw_only=True):
    subscription: str


class FileChange(Result, frozen=True, kw_only=True):
    path: str
    change: Literal["added", "modified", "deleted"]


class IndexChanged(Result, frozen=True, kw_only=True):
    subscription: str
    root: str
    generation: int
    changes: list[FileChange]


class IndexProgress(Result, frozen=True, kw_only=True):
    subscription: str
    root: str
    files_indexed: int
    files_total: int
    state: WorkspaceState


class HealthChanged(Result, frozen=True, kw_only=True):
    subscription: str
    status: str
    previous: str


Notification = IndexChanged | IndexProgress | HealthChanged | FlagsChangedNote

# The params type of each notification, by its method name.
NOTIFICATIONS: Mapping[str, type[Notification]] = {
    "index.changed": IndexChanged,
    "index.progress": IndexProgress,
    "health.changed": HealthChanged,
    "flags.changed": FlagsChangedNote,
}
