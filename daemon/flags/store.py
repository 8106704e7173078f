"""Flag definitions, kills and arm counts in `flags.db` under the state dir.

One small SQLite file for the whole daemon (flags are not per workspace),
mode 0600, WAL. Every change is one transaction, so a crash leaves either
the old definition or the new one. The schema is versioned with
`PRAGMA user_version`; it is created here rather than by the per-workspace
migrations in `migrations/`, which belong to index databases.

Blocking: call from a worker thread.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import TYPE_CHECKING

import apsw
import msgspec

from axd.protocol.flags import FlagDefinition

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS flags(
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,  -- JSON of the FlagDefinition
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kills(
    name TEXT PRIMARY KEY,
    at REAL NOT NULL,
    error_rate REAL NOT NULL,
    exposures INTEGER NOT NULL,
    errors INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS arms(
    name TEXT NOT NULL,
    arm TEXT NOT NULL,
    exposures INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (name, arm)
);
CREATE TABLE IF NOT EXISTS counting_since(
    name TEXT PRIMARY KEY,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(FlagDefinition)


class FlagStoreError(Exception):
    """The flag database cannot be opened or written."""


class KillRecord(msgspec.Struct, frozen=True):
    """A persisted auto-kill."""

    at: float
    error_rate: float
    exposures: int
    errors: int


def _create_private(path: Path) -> None:
    """Create `path` 0600 if missing (SQLite gives its -wal/-shm the same)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class FlagStore:
    """The persistent side of the flags (definitions set through the API)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _create_private(path)
            self._conn = apsw.Connection(str(path))
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.set_busy_timeout(5000)
            with self._conn:
                self._conn.execute(_SCHEMA)
                self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (OSError, apsw.Error) as exc:
            raise FlagStoreError(f"{path}: {exc}") from exc

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def subject_id(self) -> str:
        """This daemon's own subject: random once, then stable across restarts."""
        row = self._conn.execute(
            "SELECT value FROM meta WHERE key = 'subject'"
        ).fetchone()
        if row is not None:
            return str(row[0])
        subject = f"axd-{secrets.token_hex(8)}"
        with self._conn:
            self._conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('subject', ?)",
                (subject,),
            )
        return self.subject_id()

    def definitions(self) -> list[FlagDefinition]:
        """Every stored definition, by name."""
        return [
            _DECODER.decode(str(row[0]).encode())
            for row in self._conn.execute("SELECT definition FROM flags ORDER BY name")
        ]

    def kills(self) -> dict[str, KillRecord]:
        """Flags switched off by the auto-kill and not set since."""
        return {
            str(name): KillRecord(float(at), float(rate), int(n), int(x))
            for name, at, rate, n, x in self._conn.execute(
                "SELECT name, at, error_rate, exposures, errors FROM kills"
            )
        }

    def counts(self) -> dict[str, tuple[float | None, dict[str, tuple[int, int]]]]:
        """Per flag: (counting since, {arm: (exposures, errors)})."""
        out: dict[str, tuple[float | None, dict[str, tuple[int, int]]]] = {}
        for name, since in self._conn.execute("SELECT name, since FROM counting_since"):
            out[str(name)] = (float(since), {})
        for name, arm, n, x in self._conn.execute(
            "SELECT name, arm, exposures, errors FROM arms"
        ):
            entry = out.setdefault(str(name), (None, {}))
            entry[1][str(arm)] = (int(n), int(x))
        return out

    def put(self, definition: FlagDefinition) -> None:
        """Create or replace a definition; clears its kill and its counts."""
        with self._conn:
            self._conn.execute(
                "INSERT INTO flags(name, definition, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET definition = excluded.definition,"
                " updated_at = excluded.updated_at",
                (definition.name, _ENCODER.encode(definition).decode(), time.time()),
            )
            self._reset(definition.name)

    def reset(self, name: str) -> None:
        """Clear a flag's kill and counts (a config flag was set again)."""
        with self._conn:
            self._reset(name)

    def _reset(self, name: str) -> None:
        for table in ("kills", "arms", "counting_since"):
            self._conn.execute(f"DELETE FROM {table} WHERE name = ?", (name,))

    def delete(self, name: str) -> bool:
        """Remove a stored definition, its kill and counts; False if absent."""
        with self._conn:
            self._conn.execute("DELETE FROM flags WHERE name = ?", (name,))
            deleted = self._conn.changes() > 0
            self._reset(name)
        return deleted

    def record_kill(self, name: str, record: KillRecord) -> None:
        """Persist an auto-kill."""
        with self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO kills(name, at, error_rate, exposures, errors)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, record.at, record.error_rate, record.exposures, record.errors),
            )

    def save_counts(
        self, counts: dict[str, tuple[float | None, dict[str, tuple[int, int]]]]
    ) -> None:
        """Replace the stored counts of the flags in `counts`."""
        with self._conn:
            for name, (since, arms) in counts.items():
                if since is not None:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO counting_since(name, since)"
                        " VALUES (?, ?)",
                        (name, since),
                    )
                for arm, (n, x) in arms.items():
                    self._conn.execute(
                        "INSERT OR REPLACE INTO arms(name, arm, exposures, errors)"
                        " VALUES (?, ?, ?, ?)",
                        (name, arm, n, x),
                    )
