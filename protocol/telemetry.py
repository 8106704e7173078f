"""Params and results of the telemetry.* methods.

Telemetry is local and opt-in; the records hold no paths, file contents,
queries, symbol names, subjects or user names (README "Telemetry").
"""

from __future__ import annotations

from typing import Literal

from axd.protocol.common import Params, Result


class TelemetryConsentParams(Params, frozen=True, kw_only=True):
    enabled: bool


class SinceParams(Params, frozen=True, kw_only=True):
    since: str | None = None  # RFC 3339 or YYYY-MM-DD; default: retention window


class TelemetryStatus(Result, frozen=True, kw_only=True):
    enabled: bool  # recording now
    consent: bool | None  # None: never asked
    blocked_by: Literal["DO_NOT_TRACK", "AXD_TELEMETRY"] | None
    decided_at: str | None
    events: int  # raw events kept
    oldest: str | None
    database_bytes: int
    retention_days: int


class TelemetryEvent(Result, frozen=True, kw_only=True):
    """One raw event, as `telemetry.export` writes it (one per JSON line).

    kind "request": `name` the method, `outcome` "ok" or the error kind,
    `duration_ms`, `size` the reply's bytes. kind "index_run": `name`
    "batch", `outcome` "ok", `duration_ms`, `size` files in the batch.
    kind "flag_exposure": `name` the flag, `outcome` the reason, `variant`.
    """

    ts: str
    kind: Literal["request", "index_run", "flag_exposure"]
    name: str
    outcome: str
    duration_ms: float | None = None
    size: int | None = None
    variant: str | None = None


class TelemetryExport(Result, frozen=True, kw_only=True):
    events: list[TelemetryEvent]


class MethodStats(Result, frozen=True, kw_only=True):
    method: str
    calls: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    mean_bytes: float | None


class IndexStats(Result, frozen=True, kw_only=True):
    runs: int
    files: int
    total_ms: float


class ExposureStats(Result, frozen=True, kw_only=True):
    flag: str
    variant: str | None
    reason: str
    count: int


class TelemetryStats(Result, frozen=True, kw_only=True):
    since: str
    days: int
    methods: list[MethodStats]
    index: IndexStats
    exposures: list[ExposureStats]


class ErrorKindStats(Result, frozen=True, kw_only=True):
    method: str
    kind: str
    count: int
    rate: float  # of the method's calls


class TelemetryErrors(Result, frozen=True, kw_only=True):
    since: str
    total_calls: int
    total_errors: int
    errors: list[ErrorKindStats]


class TelemetryPerformance(Result, frozen=True, kw_only=True):
    since: str
    methods: list[MethodStats]


class TelemetryCleared(Result, frozen=True, kw_only=True):
    ok: bool = True
    deleted_events: int
