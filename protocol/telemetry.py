"""Params and results of the telemetry.* methods."""

from __future__ import annotations

from axd.protocol.types import Params


class TelemetryConsentParams(Params, frozen=True, kw_only=True):
    enabled: bool


class SinceParams(Params, frozen=True, kw_only=True):
    since: str | None = None
