"""The `stats`, `errors` and `performance` reports, from daily aggregates.

Each reads a few hundred aggregate rows at most (methods x outcomes x days
and methods x latency buckets), never the raw events; perf/bench_telemetry.py
times them over 30 days of generated events.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from axd.daemon.telemetry.db import bucket_ms
from axd.protocol import telemetry as tm

if TYPE_CHECKING:
    from axd.daemon.telemetry.db import TelemetryDB


def _percentile(histogram: dict[int, int], q: float) -> float | None:
    total = sum(histogram.values())
    if not total:
        return None
    rank = q * total
    running = 0
    for bucket in sorted(histogram):
        running += histogram[bucket]
        if running >= rank:
            return round(bucket_ms(bucket), 3)
    return round(bucket_ms(max(histogram)), 3)


def method_stats(db: TelemetryDB | None, since_day: str) -> list[tm.MethodStats]:
    """Per method: calls, errors, p50/p95, mean reply size; busiest first."""
    if db is None:
        return []
    calls: dict[str, int] = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    sizes: dict[str, int] = defaultdict(int)
    for name, outcome, _variant, count, _ms, size in db.daily_rows(
        since_day, "request"
    ):
        calls[name] += count
        sizes[name] += size
        if outcome != "ok":
            errors[name] += count
    histograms = db.histograms(since_day)
    rows = [
        tm.MethodStats(
            method=name,
            calls=n,
            errors=errors[name],
            error_rate=round(errors[name] / n, 6) if n else 0.0,
            p50_ms=_percentile(histograms[name], 0.50),
            p95_ms=_percentile(histograms[name], 0.95),
            mean_bytes=round(sizes[name] / n, 1) if n else None,
        )
        for name, n in calls.items()
    ]
    rows.sort(key=lambda row: (-row.calls, row.method))
    return rows


def stats(db: TelemetryDB | None, since_day: str) -> tm.TelemetryStats:
    """Usage: methods, index runs, flag exposures."""
    runs = files = 0
    total_ms = 0.0
    exposures: list[tm.ExposureStats] = []
    days = 0
    if db is not None:
        days = db.days_covered(since_day)
        for _name, _outcome, _variant, count, ms, size in db.daily_rows(
            since_day, "index_run"
        ):
            runs += count
            files += size
            total_ms += ms
        merged: dict[tuple[str, str, str], int] = defaultdict(int)
        for name, outcome, variant, count, _ms, _size in db.daily_rows(
            since_day, "flag_exposure"
        ):
            merged[(name, variant, outcome)] += count
        exposures = [
            tm.ExposureStats(flag=f, variant=v or None, reason=r, count=c)
            for (f, v, r), c in sorted(merged.items())
        ]
    return tm.TelemetryStats(
        since=since_day,
        days=days,
        methods=method_stats(db, since_day),
        index=tm.IndexStats(runs=runs, files=files, total_ms=round(total_ms, 3)),
        exposures=exposures,
    )


def errors(db: TelemetryDB | None, since_day: str) -> tm.TelemetryErrors:
    """Error counts by method and kind, with their share of the calls."""
    calls: dict[str, int] = defaultdict(int)
    kinds: dict[tuple[str, str], int] = defaultdict(int)
    if db is not None:
        for name, outcome, _variant, count, _ms, _size in db.daily_rows(
            since_day, "request"
        ):
            calls[name] += count
            if outcome != "ok":
                kinds[(name, outcome)] += count
    rows = [
        tm.ErrorKindStats(
            method=name, kind=kind, count=count, rate=round(count / calls[name], 6)
        )
        for (name, kind), count in kinds.items()
    ]
    rows.sort(key=lambda row: (-row.count, row.method, row.kind))
    return tm.TelemetryErrors(
        since=since_day,
        total_calls=sum(calls.values()),
        total_errors=sum(kinds.values()),
        errors=rows,
    )


def performance(db: TelemetryDB | None, since_day: str) -> tm.TelemetryPerformance:
    """Latency percentiles per method, slowest p95 first."""
    rows = method_stats(db, since_day)
    rows.sort(key=lambda row: (-(row.p95_ms or 0.0), row.method))
    return tm.TelemetryPerformance(since=since_day, methods=rows)
