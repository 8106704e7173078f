"""The daemon's flags: definitions in force, evaluation, outcomes, auto-kill.

Two layers of definitions: the config file's `[flags.definitions.NAME]`
tables (reloaded on SIGHUP) and those set through `flags.set` (kept in
`flags.db`); a name set through the API shadows the config's until
`flags.delete` removes the API copy. Overrides (`[flags.overrides]`, then
`AXD_FLAG_<NAME>`, the environment winning) are read at start and reload.

Evaluation is a dictionary lookup and one or two hashes: it never touches
the disk. Counts and kills are written by `run`, a background task, in a
worker thread; a kill takes effect in memory at once and is persisted,
logged, counted (`axd_flag_kills_total`) and published (`FlagsChanged`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.abc
import msgspec
import structlog
from prometheus_client import Counter

from axd.daemon.events import ConfigReloaded, FlagsChanged
from axd.daemon.flags.evaluate import UNKNOWN, Decision, decide
from axd.daemon.flags.model import (
    CompiledFlag,
    Override,
    compile_flag,
    env_key,
    from_config,
    overrides_from,
    utc_text,
    validate,
)
from axd.daemon.flags.stats import FlagCounts, Window, arm_name, should_kill
from axd.daemon.flags.store import FlagStore, KillRecord
from axd.protocol.errors import ErrorCode, RpcError, not_found

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from pathlib import Path

    from prometheus_client import CollectorRegistry

    from axd.daemon.config import FlagsConfig
    from axd.daemon.events import Event, Events
    from axd.protocol.flags import FlagDefinition

log = structlog.get_logger()

FLUSH_INTERVAL_S = 2.0
# Request outcomes that count as the daemon's own failure (an invalid param
# is the caller's).
SERVER_ERRORS = frozenset({"internal_error", "timeout"})


def kills_counter(metrics: CollectorRegistry) -> Counter:
    """`axd_flag_kills_total{flag}` in the daemon's metrics."""
    return Counter(
        "axd_flag_kills",
        "Flags switched off by the auto-kill (error rate over kill_error_rate).",
        ["flag"],
        registry=metrics,
    )


class FlagService:
    """Definitions in force and everything evaluated against them."""

    def __init__(
        self,
        path: Path,
        *,
        env: Mapping[str, str] | None = None,
        events: Events | None = None,
        kills_counter: Counter | None = None,
        daemon_flags: Mapping[str, Collection[str]] | None = None,
        exposures: Exposure | None = None,
    ) -> None:
        """Complete but empty: `open` (or `run`) loads `path` (flags.db)."""
        self.path = path
        self.env = dict(env or {})
        self.events = events
        self.kills_counter = kills_counter
        self.exposures = exposures
        self._store: FlagStore | None = None
        self.subject = ""  # this daemon's own subject, kept in flags.db
        self._stored: dict[str, FlagDefinition] = {}
        self._config: dict[str, FlagDefinition] = {}
        self._compiled: dict[str, CompiledFlag] = {}
        self._killed: dict[str, KillRecord] = {}
        self._overrides: dict[str, Override] = {}
        self._override_keys: dict[str, str] = {}
        self._counts: dict[str, FlagCounts] = {}
        self._pending_kills: list[tuple[str, KillRecord]] = []
        # Flags of the daemon's own behaviour: name -> the methods whose
        # outcomes are attributed to it (see `request_done`).
        self._by_method: dict[str, list[str]] = {}
        self._request_bound: set[str] = set()
        for name, methods in (daemon_flags or {}).items():
            for method in methods:
                self._by_method.setdefault(method, []).append(name)
                self._request_bound.add(name)
        # One writer at a time: a flush must not write back counts that a
        # flags.set running in another thread has just reset.
        self._write_lock = anyio.Lock()

    def open(self) -> None:
        """Open flags.db and load what it keeps (blocking: a worker thread).

        :raises FlagStoreError: the file cannot be opened.
        """
        store = FlagStore(self.path)
        self._store = store
        self.subject = store.subject_id()
        self._stored = {d.name: d for d in store.definitions()}
        self._killed = store.kills()
        self._recompile()
        for name, (since, arms) in store.counts().items():
            counts = self._new_counts(name, since)
            for arm, (n, x) in arms.items():
                counts.arm(arm).exposures, counts.arm(arm).errors = n, x

    @property
    def store(self) -> FlagStore:
        """flags.db, once `open`."""
        if self._store is None:
            raise RuntimeError("the flag store is not open yet")
        return self._store

    # -- configuration --------------------------------------------------------------

    def configure(self, config: FlagsConfig) -> None:
        """Take the config file's definitions and overrides (start, SIGHUP),
        the environment's `AXD_FLAG_*` winning."""
        fresh: dict[str, FlagDefinition] = {}
        for name, rules in config.definitions.items():
            try:
                fresh[name] = from_config(name, rules)
            except (RpcError, msgspec.ValidationError) as exc:
                log.error("flag_config_invalid", flag=name, error=str(exc))
        overrides, invalid = overrides_from(config.overrides, self.env)
        for setting in invalid:
            log.warning("flag_override_invalid", setting=setting)
        changed = sorted(
            name
            for name in fresh.keys() | self._config.keys()
            if fresh.get(name) != self._config.get(name)
        )
        self._config, self._overrides = fresh, overrides
        self._override_keys = {}
        self._recompile()
        if changed and self.events is not None:
            self.events.publish(FlagsChanged(tuple(changed), "reloaded"))

    def _recompile(self) -> None:
        effective = {**self._config, **self._stored}
        self._compiled = {
            name: compile_flag(definition) for name, definition in effective.items()
        }

    def _new_counts(self, name: str, since: float | None) -> FlagCounts:
        flag = self._compiled.get(name)
        seconds = flag.definition.kill_window_s if flag else 300.0
        counts = self._counts[name] = FlagCounts(since, Window(seconds))
        return counts

    # -- evaluation -----------------------------------------------------------------

    def _override(self, name: str) -> Override | None:
        key = self._override_keys.get(name)
        if key is None:
            if len(self._override_keys) > 10_000:
                self._override_keys.clear()
            key = self._override_keys[name] = env_key(name)
        return self._overrides.get(key)

    def evaluate(
        self,
        name: str,
        subject: str | None,
        cohorts: Collection[str] = (),
        *,
        record: bool = True,
    ) -> Decision:
        """The answer for `name` and `subject`; counted as an exposure when
        `record` (not for unknown or killed flags)."""
        override = self._override(name) if self._overrides else None
        flag = self._compiled.get(name)
        if flag is None and override is None:
            return UNKNOWN
        now = time.time()
        killed = name in self._killed
        decision = decide(flag, subject, cohorts, now, override=override, killed=killed)
        if record and flag is not None and not killed:
            self._expose(flag, decision, now)
        return decision

    def evaluate_all(
        self, subject: str | None, cohorts: Collection[str] = ()
    ) -> dict[str, Decision]:
        """Every defined flag's answer (not counted as exposures)."""
        return {
            name: self.evaluate(name, subject, cohorts, record=False)
            for name in sorted(self._compiled)
        }

    def _expose(self, flag: CompiledFlag, decision: Decision, now: float) -> None:
        counts = self._counts.get(flag.name) or self._new_counts(flag.name, now)
        if counts.since is None:
            counts.since = now
        counts.arm(arm_name(decision[0], decision[1])).exposures += 1
        counts.dirty = True
        if decision[0] and flag.definition.kill_error_rate is not None:
            counts.window.expose(now)
        if self.exposures is not None:
            self.exposures.exposed(flag.name, decision[1], decision[2])

    def track(
        self,
        name: str,
        subject: str | None,
        cohorts: Collection[str] = (),
        *,
        variant: str | None = None,
        error: bool = True,
    ) -> None:
        """One outcome of an exposure; an error may trip the auto-kill.

        :raises RpcError: -32003 for a flag that is not defined.
        """
        flag = self._compiled.get(name)
        if flag is None:
            raise not_found(f"no flag {name!r}", flag=name)
        if not error:
            return
        enabled, given, _reason = self.evaluate(name, subject, cohorts, record=False)
        if variant is not None:
            enabled, given = True, variant
        self._error(flag, enabled, given)

    def _error(self, flag: CompiledFlag, enabled: bool, variant: str | None) -> None:
        now = time.time()
        counts = self._counts.get(flag.name) or self._new_counts(flag.name, now)
        counts.arm(arm_name(enabled, variant)).errors += 1
        counts.dirty = True
        rate = flag.definition.kill_error_rate
        if not enabled or rate is None or flag.name in self._killed:
            return
        counts.window.error(now)
        kill, exposures, errors = should_kill(
            counts.window, now, rate, flag.definition.kill_min_samples
        )
        if kill:
            self._kill(
                flag.name, KillRecord(now, errors / exposures, exposures, errors)
            )

    def _kill(self, name: str, record: KillRecord) -> None:
        self._killed[name] = record
        self._pending_kills.append((name, record))
        log.warning(
            "flag_killed",
            flag=name,
            error_rate=round(record.error_rate, 4),
            exposures=record.exposures,
            errors=record.errors,
        )
        if self.kills_counter is not None:
            self.kills_counter.labels(name).inc()
        if self.events is not None:
            self.events.publish(FlagsChanged((name,), "killed"))

    # -- the daemon's own flags -----------------------------------------------------

    def daemon_flag(self, name: str) -> bool:
        """Whether the daemon's own behaviour `name` is on for this daemon.

        Called from worker threads too: flags bound to methods are counted
        by `request_done` on the event loop, the others here.
        """
        record = name not in self._request_bound
        return self.evaluate(name, self.subject, record=record)[0]

    def request_done(
        self, method: str, outcome: str, seconds: float, size: int = 0
    ) -> None:
        """dispatch.Observer: a request of a method behind a daemon flag is
        an exposure; a server-side failure is an error attributed to it."""
        names = self._by_method.get(method)
        if not names:
            return
        for name in names:
            flag = self._compiled.get(name)
            if flag is None or name in self._killed:
                continue
            enabled, variant, _ = self.evaluate(name, self.subject)
            if outcome in SERVER_ERRORS:
                self._error(flag, enabled, variant)

    # -- editing --------------------------------------------------------------------

    async def set(self, definition: FlagDefinition) -> FlagDefinition:
        """Create or replace a flag; clears its kill and its counts.

        :raises RpcError: -32602 for an incoherent definition.
        """
        valid = msgspec.structs.replace(validate(definition), source="api")
        async with self._write_lock:
            await anyio.to_thread.run_sync(self.store.put, valid)
            self._stored[valid.name] = valid
            self._killed.pop(valid.name, None)
            self._counts.pop(valid.name, None)
            self._pending_kills = [k for k in self._pending_kills if k[0] != valid.name]
            self._recompile()
        log.info("flag_set", flag=valid.name)
        if self.events is not None:
            self.events.publish(FlagsChanged((valid.name,), "set"))
        return valid

    async def delete(self, name: str) -> None:
        """Delete the API's definition of `name` (a config one reappears).

        :raises RpcError: -32003 unknown; -32005 defined only in the config.
        """
        if name not in self._stored:
            if name in self._config:
                raise RpcError(
                    ErrorCode.CONFLICT,
                    f"flag {name!r} is defined in the config file; remove it there",
                    flag=name,
                )
            raise not_found(f"no flag {name!r}", flag=name)
        async with self._write_lock:
            await anyio.to_thread.run_sync(self.store.delete, name)
            del self._stored[name]
            self._killed.pop(name, None)
            self._counts.pop(name, None)
            self._pending_kills = [k for k in self._pending_kills if k[0] != name]
            self._recompile()
        log.info("flag_deleted", flag=name)
        if self.events is not None:
            self.events.publish(FlagsChanged((name,), "deleted"))

    # -- reading --------------------------------------------------------------------

    def definitions(self) -> list[FlagDefinition]:
        """The definitions in force, by name, marked when killed."""
        return [
            msgspec.structs.replace(flag.definition, killed=name in self._killed)
            for name, flag in sorted(self._compiled.items())
        ]

    def compiled(self, name: str) -> CompiledFlag | None:
        """The definition in force for `name`, compiled."""
        return self._compiled.get(name)

    def counts(self, name: str) -> FlagCounts | None:
        """What was counted for `name` since its last flags.set."""
        return self._counts.get(name)

    def kill_of(self, name: str) -> KillRecord | None:
        """The auto-kill in force for `name`, if any."""
        return self._killed.get(name)

    # -- persistence ----------------------------------------------------------------

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Open flags.db (unless open), then follow config reloads and write
        kills and counts in the background until cancelled."""
        if self._store is None:
            await anyio.to_thread.run_sync(self.open)
        async with anyio.create_task_group() as tg:
            if self.events is not None:
                await tg.start(self.events.follow, self._on_event)
            task_status.started()
            while True:
                await anyio.sleep(FLUSH_INTERVAL_S)
                await self.flush()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConfigReloaded):
            self.configure(event.config.flags)

    async def close(self) -> None:
        """Write what is pending and close flags.db (the daemon stopped)."""
        if self._store is None:
            return
        await self.flush()
        self._store.close()
        self._store = None

    async def flush(self) -> None:
        """Persist pending kills and changed counts now (in a thread)."""
        async with self._write_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        kills, self._pending_kills = self._pending_kills, []
        dirty: dict[str, tuple[float | None, dict[str, tuple[int, int]]]] = {}
        for name, counts in self._counts.items():
            if counts.dirty:
                counts.dirty = False
                dirty[name] = (
                    counts.since,
                    {arm: (a.exposures, a.errors) for arm, a in counts.arms.items()},
                )
        if not kills and not dirty:
            return

        def write() -> None:
            for name, record in kills:
                self.store.record_kill(name, record)
            if dirty:
                self.store.save_counts(dirty)

        try:
            await anyio.to_thread.run_sync(write)
        except Exception:
            log.exception("flag_flush_failed")
            self._pending_kills[:0] = kills

    @staticmethod
    def since_text(epoch: float | None) -> str | None:
        """RFC 3339 of an epoch, None stays None."""
        return utc_text(epoch) if epoch is not None else None


class Exposure(Protocol):
    """Told about every counted exposure (telemetry listens)."""

    def exposed(self, flag: str, variant: str | None, reason: str) -> None:
        """One exposure of `flag`."""
        ...
