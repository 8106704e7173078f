"""Params and results of the server.*, health and metrics methods."""

from __future__ import annotations

from typing import Literal

from axd.protocol.common import Result

HealthStatus = Literal["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"]


class ServerInfo(Result, frozen=True, kw_only=True):
    version: str
    protocol_version: int
    pid: int
    started_at: str
    uptime_s: float
    languages: list[str]
    workspaces: list[str]
    metrics_url: str | None


class HealthCheck(Result, frozen=True, kw_only=True):
    status: HealthStatus
    detail: str
    latency_ms: float


class HealthReport(Result, frozen=True, kw_only=True):
    status: HealthStatus
    checks: dict[str, HealthCheck]
    checked_at: str


class MetricsText(Result, frozen=True, kw_only=True):
    text: str
