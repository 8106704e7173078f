"""Params and results of the flags.* methods: definitions and evaluations."""

from __future__ import annotations

from typing import Any

import msgspec

from axd.protocol.types import Params, Result


class FlagVariant(Result, frozen=True, kw_only=True):
    name: str
    weight: float = 1.0


class FlagDefinition(Params, frozen=True, kw_only=True):
    name: str
    enabled: bool = True
    rollout_percentage: float | None = None
    allow: list[str] = msgspec.field(default_factory=list)
    deny: list[str] = msgspec.field(default_factory=list)
    cohorts: list[str] = msgspec.field(default_factory=list)
    enabled_after: str | None = None
    expires_at: str | None = None
    variants: list[FlagVariant] | None = None
    kill_error_rate: float | None = None
    description: str | None = None


class FlagEvaluateParams(Params, frozen=True, kw_only=True):
    flag: str
    subject: str | None = None
    attributes: dict[str, Any] | None = None


class FlagEvaluation(Result, frozen=True, kw_only=True):
    flag: str
    enabled: bool
    variant: str | None
    reason: str


class FlagEvaluateAllParams(Params, frozen=True, kw_only=True):
    subject: str | None = None
    attributes: dict[str, Any] | None = None


class FlagDecision(Result, frozen=True, kw_only=True):
    enabled: bool
    variant: str | None
    reason: str


class FlagEvaluations(Result, frozen=True, kw_only=True):
    flags: dict[str, FlagDecision]


class FlagList(Result, frozen=True, kw_only=True):
    flags: list[FlagDefinition]


class FlagSetResult(Result, frozen=True, kw_only=True):
    flag: FlagDefinition


class FlagNameParams(Params, frozen=True, kw_only=True):
    name: str
