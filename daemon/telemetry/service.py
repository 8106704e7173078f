"""Telemetry in the daemon: what is recorded, when it is written, reports.

Recording is an append to an in-memory list (the request path pays nothing
else); `run` writes the list in batches from a worker thread every
`flush_interval_s`, or sooner when `BATCH` events wait. With telemetry off
nothing is appended and no file is created. A recorded event holds a method
or flag name (names axd defines or the user gave a flag), an outcome kind,
a duration and a size: never a path, query, symbol, subject or user name.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import structlog

from axd.daemon.events import BatchCommitted, ConfigReloaded
from axd.daemon.telemetry import reports
from axd.daemon.telemetry.consent import (
    blocked_by,
    consent_path,
    read_consent,
    write_consent,
)
from axd.daemon.telemetry.db import TelemetryDB, days_ago, delete_files
from axd.protocol import telemetry as tm
from axd.protocol.errors import invalid_params

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from axd.daemon.config import TelemetryConfig
    from axd.daemon.events import Event as DaemonEvent
    from axd.daemon.events import Events
    from axd.daemon.telemetry.db import Event

log = structlog.get_logger()

DB_FILE = "telemetry.db"
# Events that wake the writer before its interval: large, because each
# write holds the GIL for a moment that requests then wait out (p99).
BATCH = 4096
MAX_BUFFER = 100_000  # beyond this (writer stuck) events are dropped, counted
PRUNE_INTERVAL_S = 3600.0


def _utc(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


class Telemetry:
    """Consent state, the event buffer and the telemetry file."""

    def __init__(
        self,
        state_dir: Path,
        config: TelemetryConfig,
        env: Mapping[str, str],
        events: Events | None = None,
    ) -> None:
        """`events`: where index runs and config reloads come from."""
        self.path = state_dir / DB_FILE
        self.events = events
        self.config = config
        self.consent_file = consent_path(env)
        self.blocker = blocked_by(env)
        self.consent = read_consent(self.consent_file)
        self.enabled = bool(self.consent.enabled) and self.blocker is None
        self.dropped = 0
        self._buffer: list[Event] = []
        self._db: TelemetryDB | None = None
        self._lock = anyio.Lock()  # one thread at a time on the connection
        self._wake = anyio.Event()
        self._last_prune = 0.0

    def configure(self, config: TelemetryConfig) -> None:
        """Take a reloaded `[telemetry]` section."""
        self.config = config

    # -- recording (the request path: appends only) -----------------------------

    def _add(self, event: Event) -> None:
        if len(self._buffer) >= MAX_BUFFER:
            self.dropped += 1
            return
        self._buffer.append(event)
        if len(self._buffer) >= BATCH:
            self._wake.set()

    def request_done(
        self, method: str, outcome: str, seconds: float, size: int = 0
    ) -> None:
        """dispatch.Observer: one answered request."""
        if self.enabled:
            self._add(
                (time.time(), "request", method, outcome, seconds * 1000, size, None)
            )

    def exposed(self, flag: str, variant: str | None, reason: str) -> None:
        """flags' Exposure listener: one counted flag evaluation."""
        if self.enabled:
            self._add((time.time(), "flag_exposure", flag, reason, None, None, variant))

    def _on_event(self, event: DaemonEvent) -> None:
        if isinstance(event, BatchCommitted):
            self._batch_committed(event)
        elif isinstance(event, ConfigReloaded):
            self.configure(event.config.telemetry)

    def _batch_committed(self, event: BatchCommitted) -> None:
        """One committed index batch (no workspace identity is kept)."""
        if self.enabled:
            self._add(
                (
                    time.time(),
                    "index_run",
                    "batch",
                    "ok",
                    event.seconds * 1000,
                    event.files_indexed,
                    None,
                )
            )

    # -- writing ------------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Follow index runs and reloads; write batches until cancelled;
        prune what passed retention."""
        if self.path.exists():
            await self._prune()
        async with anyio.create_task_group() as tg:
            if self.events is not None:
                await tg.start(self.events.follow, self._on_event)
            task_status.started()
            while True:
                with anyio.move_on_after(self.config.flush_interval_s):
                    await self._wake.wait()
                self._wake = anyio.Event()
                await self.flush()
                if time.time() - self._last_prune > PRUNE_INTERVAL_S and self._db:
                    await self._prune()

    async def flush(self) -> None:
        """Write what is buffered now (nothing when telemetry is off)."""
        if not self._buffer:
            return
        events, self._buffer = self._buffer, []
        if not self.enabled:
            return
        async with self._lock:
            await anyio.to_thread.run_sync(self._write, events)

    def _open(self) -> TelemetryDB:
        if self._db is None:
            self._db = TelemetryDB(self.path)
        return self._db

    def _write(self, events: list[Event]) -> None:
        self._open().insert(events)

    async def _prune(self) -> None:
        self._last_prune = time.time()

        def prune() -> int:
            return self._open().prune(
                time.time(), self.config.retention_days, self.config.aggregate_days
            )

        async with self._lock:
            deleted = await anyio.to_thread.run_sync(prune)
        if deleted:
            log.info("telemetry_pruned", events=deleted)

    async def close(self) -> None:
        """Flush and close (a stop hook)."""
        await self.flush()
        async with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- the telemetry.* methods --------------------------------------------------

    async def set_consent(self, enabled: bool) -> tm.TelemetryStatus:
        """Record the user's decision; start or stop recording."""
        self.consent = await anyio.to_thread.run_sync(
            write_consent, self.consent_file, enabled
        )
        self.enabled = enabled and self.blocker is None
        if not self.enabled:
            self._buffer.clear()
        log.info("telemetry_consent", enabled=enabled, recording=self.enabled)
        return await self.status()

    async def _reader(self) -> TelemetryDB | None:
        """The database if it exists; never creates it."""
        if self._db is None and not self.path.exists():
            return None
        return self._open()

    async def status(self) -> tm.TelemetryStatus:
        """Consent, what blocks it, what is kept."""
        await self.flush()
        async with self._lock:
            db = await self._reader()
            events, oldest = (
                await anyio.to_thread.run_sync(db.counts) if db else (0, None)
            )
        size = 0
        for suffix in ("", "-wal"):
            companion = self.path.with_name(self.path.name + suffix)
            size += companion.stat().st_size if companion.exists() else 0
        return tm.TelemetryStatus(
            enabled=self.enabled,
            consent=self.consent.enabled,
            blocked_by=self.blocker,
            decided_at=self.consent.decided_at,
            events=events,
            oldest=_utc(oldest) if oldest else None,
            database_bytes=size,
            retention_days=self.config.retention_days,
        )

    def since_day(self, since: str | None) -> str:
        """`since` (RFC 3339 or YYYY-MM-DD) as a UTC day; default: retention.

        :raises RpcError: -32602 at `$.since`.
        """
        if since is None:
            return days_ago(self.config.retention_days, time.time())
        try:
            moment = datetime.fromisoformat(since)
        except ValueError:
            raise invalid_params(
                f"since: not a date or RFC 3339 timestamp: {since!r}", field="$.since"
            ) from None
        if moment.tzinfo is not None:
            return days_ago(0, moment.timestamp())
        return moment.strftime("%Y-%m-%d")

    async def report(
        self, kind: str, since: str | None
    ) -> tm.TelemetryStats | tm.TelemetryErrors | tm.TelemetryPerformance:
        """One of the `stats`, `errors`, `performance` reports."""
        day = self.since_day(since)
        build: Callable[[TelemetryDB | None, str], Any] = {
            "stats": reports.stats,
            "errors": reports.errors,
            "performance": reports.performance,
        }[kind]
        await self.flush()
        async with self._lock:
            db = await self._reader()
            return await anyio.to_thread.run_sync(build, db, day)

    async def export(self, since: str | None) -> tm.TelemetryExport:
        """Every raw event since `since` (default: all kept)."""
        start = 0.0
        if since is not None:
            day = datetime.fromisoformat(self.since_day(since))
            start = day.replace(tzinfo=UTC).timestamp()
        await self.flush()
        async with self._lock:
            db = await self._reader()
            rows = (
                await anyio.to_thread.run_sync(lambda: list(db.raw(start)))
                if db
                else []
            )
        return tm.TelemetryExport(
            events=[
                tm.TelemetryEvent(
                    ts=_utc(ts),
                    kind=kind,  # type: ignore[arg-type]
                    name=name,
                    outcome=outcome,
                    duration_ms=round(ms, 3) if ms is not None else None,
                    size=size,
                    variant=variant,
                )
                for ts, kind, name, outcome, ms, size, variant in rows
            ]
        )

    async def clear(self) -> tm.TelemetryCleared:
        """Delete everything recorded: the buffer and the file."""
        self._buffer.clear()
        async with self._lock:
            db = await self._reader()
            count = (await anyio.to_thread.run_sync(db.counts))[0] if db else 0
            if self._db is not None:
                self._db.close()
                self._db = None
            await anyio.to_thread.run_sync(delete_files, self.path)
        log.info("telemetry_cleared", events=count)
        return tm.TelemetryCleared(deleted_events=count)
