"""The daemon's one wall-clock timestamp format: RFC 3339 UTC with a Z suffix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal


def utc_now(timespec: Literal["seconds", "milliseconds"] = "milliseconds") -> str:
    """Now as RFC 3339 UTC, e.g. ``2026-12-06T11:16:15.123Z``."""
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
