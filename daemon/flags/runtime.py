"""The daemon's own behaviours behind flags, and how its code asks for them.

`flag_on("search.exact_name_boost")` is all a module needs: the answer for
this daemon's own subject (a random id kept in `flags.db`, so a 10 %
rollout reaches about one daemon in ten). The service is found through a
context variable that `install` sets once while the daemon assembles,
before its tasks start: every task and worker thread the daemon spawns
inherits it, no constructor has to pass it along, and two daemons in one
test process each see their own. Outside a daemon every flag is off.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


class DaemonFlagReader(Protocol):
    """What `flag_on` asks (the FlagService)."""

    def daemon_flag(self, name: str) -> bool:
        """Whether behaviour `name` is on for this daemon."""
        ...


@dataclass(frozen=True, slots=True)
class DaemonFlag:
    """A behaviour of axd itself that a flag switches."""

    name: str
    # Methods whose server-side failures count as errors of this flag (its
    # exposures are then counted per request, see FlagService.request_done).
    methods: tuple[str, ...]
    description: str


DAEMON_FLAGS = (
    DaemonFlag(
        "search.exact_name_boost",
        ("search",),
        "search: a hit whose symbol is named exactly as the query scores "
        "x1.25, so exact definitions lead even against long, wordy chunks",
    ),
    DaemonFlag(
        "index.fine_chunks",
        (),
        "indexing: chunks bounded at half of [index] max_chunk_bytes, for "
        "more precise search hits (files re-parsed from then on)",
    ),
)

_reader: ContextVar[DaemonFlagReader | None] = ContextVar("axd_flags", default=None)


def install(reader: DaemonFlagReader) -> None:
    """Make `reader` answer `flag_on` in this task and all it spawns later."""
    _reader.set(reader)


def flag_on(name: str) -> bool:
    """Whether the daemon's own behaviour `name` is on (off outside a daemon)."""
    reader = _reader.get()
    return reader is not None and reader.daemon_flag(name)
