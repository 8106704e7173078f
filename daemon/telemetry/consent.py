"""Consent: the user's decision, kept in the config dir, and the
environment variables that override it.

`telemetry.json` in the config directory (`$XDG_CONFIG_HOME/axd`) holds
``{"enabled": bool, "decided_at": RFC 3339}``; no file means nobody was
asked yet, which counts as "no". `DO_NOT_TRACK` (set to anything but
empty, 0 or false: consoledonottrack.com) and `AXD_TELEMETRY=0` turn
recording off whatever the file says; they never turn it on.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

CONSENT_FILE = "telemetry.json"
_FALSE = frozenset({"", "0", "false", "no", "off"})

Blocker = Literal["DO_NOT_TRACK", "AXD_TELEMETRY"]


@dataclass(frozen=True, slots=True)
class Consent:
    """The recorded decision; `enabled` None when never asked."""

    enabled: bool | None = None
    decided_at: str | None = None


def config_dir(env: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/axd, else ~/.config/axd (where config.toml lives)."""
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "axd"


def consent_path(env: Mapping[str, str]) -> Path:
    """Where the decision is kept."""
    return config_dir(env) / CONSENT_FILE


def blocked_by(env: Mapping[str, str]) -> Blocker | None:
    """Which environment variable forbids recording, if any."""
    if env.get("DO_NOT_TRACK", "").strip().lower() not in _FALSE:
        return "DO_NOT_TRACK"
    value = env.get("AXD_TELEMETRY")
    if value is not None and value.strip().lower() in _FALSE - {""}:
        return "AXD_TELEMETRY"
    return None


def read_consent(path: Path) -> Consent:
    """The decision in `path`; an unreadable or malformed file is "no"."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return Consent()
    except (OSError, ValueError):
        return Consent(enabled=False)
    if not isinstance(data, dict) or not isinstance(data.get("enabled"), bool):
        return Consent(enabled=False)
    decided = data.get("decided_at")
    return Consent(data["enabled"], decided if isinstance(decided, str) else None)


def write_consent(path: Path, enabled: bool) -> Consent:
    """Record a decision atomically (0600; the directory 0700 if created)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    consent = Consent(enabled, now)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".telemetry-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump({"enabled": enabled, "decided_at": now}, out)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return consent
