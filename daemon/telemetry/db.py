"""`telemetry.db`: raw events and their daily aggregates, in their own file.

Created only when telemetry is on (mode 0600, WAL). A batch of events is
one transaction that inserts the raw rows and adds them to the daily
aggregates, so the two never disagree. Reports read only the aggregates:
a few rows per method and day, whatever the traffic. Latencies are kept as
a histogram of log-spaced buckets (x1.25 from 10 µs), so a percentile is
within about 12 % of the exact one.

Blocking: call from a worker thread.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import apsw
import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

# (ts, kind, name, outcome, duration_ms, size, variant)
Event = tuple[float, str, str, str, float | None, int | None, str | None]

BUCKET_BASE_MS = 0.01
BUCKET_FACTOR = 1.25
MAX_BUCKET = 100  # 0.01 ms x 1.25^100: far past any request deadline
_LOG_FACTOR = math.log(BUCKET_FACTOR)
_HISTOGRAM = msgspec.json.Decoder(list[int])
_JSON = msgspec.json.Encoder()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_ms REAL,
    size INTEGER,
    variant TEXT
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE TABLE IF NOT EXISTS daily(
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    outcome TEXT NOT NULL,
    variant TEXT NOT NULL,
    count INTEGER NOT NULL,
    total_ms REAL NOT NULL,
    total_size INTEGER NOT NULL,
    PRIMARY KEY (day, kind, name, outcome, variant)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_latency(
    day TEXT NOT NULL,
    name TEXT NOT NULL,
    histogram TEXT NOT NULL,  -- JSON [bucket, count, bucket, count, ...]
    PRIMARY KEY (day, name)
) WITHOUT ROWID;
"""


def bucket_of(ms: float) -> int:
    """The latency bucket of `ms` (0 holds everything up to 10 µs)."""
    if ms <= BUCKET_BASE_MS:
        return 0
    return min(MAX_BUCKET, int(math.log(ms / BUCKET_BASE_MS) / _LOG_FACTOR) + 1)


def bucket_ms(bucket: int) -> float:
    """A bucket's representative latency (its geometric middle)."""
    if bucket <= 0:
        return BUCKET_BASE_MS
    return float(BUCKET_BASE_MS * BUCKET_FACTOR ** (bucket - 0.5))


def day_of(ts: float) -> str:
    """The UTC day (YYYY-MM-DD) of an epoch."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def days_ago(days: int, now: float) -> str:
    """The UTC day `days` before `now`."""
    return (datetime.fromtimestamp(now, UTC) - timedelta(days=days)).strftime(
        "%Y-%m-%d"
    )


class TelemetryDB:
    """The telemetry file: insert batches, prune, report, export, clear."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            os.close(fd)
        except FileExistsError:
            pass
        self.conn = apsw.Connection(str(path))
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.set_busy_timeout(5000)
        with self.conn:
            self.conn.execute(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def insert(self, events: list[Event]) -> None:
        """One transaction: the raw rows and their aggregates."""
        daily: dict[tuple[str, str, str, str, str], list[float]] = defaultdict(
            lambda: [0, 0.0, 0]
        )
        latency: dict[tuple[str, str], dict[int, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        days: dict[int, str] = {}  # day_of once per UTC day, not per event
        for ts, kind, name, outcome, ms, size, variant in events:
            day = days.get(int(ts // 86_400)) or days.setdefault(
                int(ts // 86_400), day_of(ts)
            )
            row = daily[(day, kind, name, outcome, variant or "")]
            row[0] += 1
            row[1] += ms or 0.0
            row[2] += size or 0
            if kind == "request" and ms is not None:
                latency[(day, name)][bucket_of(ms)] += 1
        with self.conn:
            self.conn.executemany(
                "INSERT INTO events(ts, kind, name, outcome, duration_ms, size,"
                " variant) VALUES (?, ?, ?, ?, ?, ?, ?)",
                events,
            )
            self.conn.executemany(
                "INSERT INTO daily(day, kind, name, outcome, variant, count,"
                " total_ms, total_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO UPDATE SET count = count + excluded.count,"
                " total_ms = total_ms + excluded.total_ms,"
                " total_size = total_size + excluded.total_size",
                [(*key, int(v[0]), v[1], int(v[2])) for key, v in daily.items()],
            )
            for (day, name), histogram in latency.items():
                stored = self.conn.execute(
                    "SELECT histogram FROM daily_latency WHERE day = ? AND name = ?",
                    (day, name),
                ).fetchone()
                if stored is not None:
                    pairs = _HISTOGRAM.decode(str(stored[0]))
                    for bucket, count in zip(pairs[::2], pairs[1::2], strict=True):
                        histogram[bucket] += count
                flat = [n for pair in sorted(histogram.items()) for n in pair]
                self.conn.execute(
                    "INSERT OR REPLACE INTO daily_latency(day, name, histogram)"
                    " VALUES (?, ?, ?)",
                    (day, name, _JSON.encode(flat).decode()),
                )

    def prune(self, now: float, retention_days: int, aggregate_days: int) -> int:
        """Delete raw events past retention and aggregates past theirs;
        returns the raw events deleted."""
        cutoff = now - retention_days * 86_400
        oldest_day = days_ago(aggregate_days, now)
        with self.conn:
            self.conn.execute("DELETE FROM events WHERE ts < ?", (cutoff,))
            deleted = self.conn.changes()
            self.conn.execute("DELETE FROM daily WHERE day < ?", (oldest_day,))
            self.conn.execute("DELETE FROM daily_latency WHERE day < ?", (oldest_day,))
        return deleted

    def counts(self) -> tuple[int, float | None]:
        """(raw events, oldest event's epoch)."""
        row = self.conn.execute("SELECT count(*), min(ts) FROM events").fetchone()
        assert row is not None
        return int(row[0]), (float(row[1]) if row[1] is not None else None)

    def daily_rows(
        self, since_day: str, kind: str
    ) -> Iterator[tuple[str, str, str, int, float, int]]:
        """(name, outcome, variant, count, total_ms, total_size) per day row."""
        for name, outcome, variant, count, total_ms, total_size in self.conn.execute(
            "SELECT name, outcome, variant, count, total_ms, total_size FROM daily"
            " WHERE day >= ? AND kind = ?",
            (since_day, kind),
        ):
            yield (
                str(name),
                str(outcome),
                str(variant),
                int(count),
                float(total_ms),
                int(total_size),
            )

    def histograms(self, since_day: str) -> dict[str, dict[int, int]]:
        """Per method, its latency histogram summed over the days since."""
        out: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for name, text in self.conn.execute(
            "SELECT name, histogram FROM daily_latency WHERE day >= ?", (since_day,)
        ):
            merged = out[str(name)]
            pairs = _HISTOGRAM.decode(str(text))
            for bucket, count in zip(pairs[::2], pairs[1::2], strict=True):
                merged[bucket] += count
        return out

    def days_covered(self, since_day: str) -> int:
        """Distinct days with aggregates since `since_day`."""
        row = self.conn.execute(
            "SELECT count(DISTINCT day) FROM daily WHERE day >= ?", (since_day,)
        ).fetchone()
        return int(row[0]) if row else 0

    def raw(self, since: float) -> Iterable[Event]:
        """Raw events since `since`, oldest first."""
        return self.conn.execute(
            "SELECT ts, kind, name, outcome, duration_ms, size, variant FROM events"
            " WHERE ts >= ? ORDER BY ts, id",
            (since,),
        )


def delete_files(path: Path) -> None:
    """Remove the database and its WAL/SHM companions."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
