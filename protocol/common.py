"""The bases every wire type builds on, and the shapes all areas share.

Evolution rules (msgspec's schema-evolution guide): new fields get defaults,
no field changes type. Params ignore unknown fields so an older daemon
accepts a newer client.
"""

from __future__ import annotations

import msgspec


class Params(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every params object."""


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every result object."""


class QueryResult(Result, frozen=True, kw_only=True):
    """Base of every query result: the generation it read and its duration."""

    generation: int
    took_ms: float


class Range(msgspec.Struct, frozen=True, kw_only=True):
    """1-based lines, 0-based byte columns, exclusive end column."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


class Empty(Params, frozen=True, kw_only=True):
    """A method that takes no params."""


class Ok(Result, frozen=True, kw_only=True):
    ok: bool = True


class RootParams(Params, frozen=True, kw_only=True):
    root: str
