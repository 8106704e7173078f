"""Params and results of the flags.* methods: definitions and evaluations.

Range checks that msgspec can express live in the types, so an invalid
definition is refused with the JSON path of the offending field
(``$.rollout_percentage``); the checks that need several fields (variant
names unique, a schedule that ends after it starts) are the daemon's.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec

from axd.protocol.common import Params, Result

# Flag names: what `AXD_FLAG_<NAME>` and TOML keys can carry without surprises.
FLAG_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
FlagName = Annotated[str, msgspec.Meta(pattern=FLAG_NAME_PATTERN, max_length=100)]
Subject = Annotated[str, msgspec.Meta(max_length=1000)]
Percentage = Annotated[float, msgspec.Meta(ge=0, le=100)]
Rate = Annotated[float, msgspec.Meta(ge=0, le=1)]

Reason = Literal[
    "override",
    "killed",
    "disabled",
    "not_started",
    "expired",
    "denylist",
    "allowlist",
    "cohort",
    "rollout",
    "default",
    "unknown",
]
# The order is PROTOCOL.md's rule order: the first rule that decides wins.
REASONS: tuple[Reason, ...] = get_args(Reason)


class FlagVariant(Result, frozen=True, kw_only=True):
    name: FlagName
    weight: Annotated[float, msgspec.Meta(ge=0)] = 1.0


class FlagRules(Params, frozen=True, kw_only=True):
    """Everything of a definition but its name (a `[flags.definitions.NAME]`
    table in the config file)."""

    enabled: bool = True
    rollout_percentage: Percentage | None = None
    allow: list[Subject] = msgspec.field(default_factory=list)
    deny: list[Subject] = msgspec.field(default_factory=list)
    cohorts: list[Annotated[str, msgspec.Meta(max_length=200)]] = msgspec.field(
        default_factory=list
    )
    enabled_after: str | None = None  # RFC 3339
    expires_at: str | None = None  # RFC 3339
    variants: list[FlagVariant] | None = None
    kill_error_rate: Rate | None = None
    # axd's additions (docs/protocol.md): the auto-kill's sliding window and
    # the exposures it needs before it may decide.
    kill_window_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 300.0
    kill_min_samples: Annotated[int, msgspec.Meta(ge=1)] = 100
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class FlagDefinition(FlagRules, frozen=True, kw_only=True):
    name: FlagName
    # Where the definition in force comes from: "api" (flags.set) or
    # "config" (the config file); ignored on input.
    source: Literal["api", "config"] = "api"
    killed: bool = False  # auto-killed since its last flags.set; output only


class FlagEvaluateParams(Params, frozen=True, kw_only=True):
    flag: str
    subject: Subject | None = None
    attributes: dict[str, Any] | None = None


class FlagEvaluation(Result, frozen=True, kw_only=True):
    flag: str
    enabled: bool
    variant: str | None
    reason: Reason


class FlagEvaluateAllParams(Params, frozen=True, kw_only=True):
    subject: Subject | None = None
    attributes: dict[str, Any] | None = None


class FlagDecision(Result, frozen=True, kw_only=True):
    enabled: bool
    variant: str | None
    reason: Reason


class FlagEvaluations(Result, frozen=True, kw_only=True):
    flags: dict[str, FlagDecision]


class FlagList(Result, frozen=True, kw_only=True):
    flags: list[FlagDefinition]


class FlagSetResult(Result, frozen=True, kw_only=True):
    flag: FlagDefinition


class FlagNameParams(Params, frozen=True, kw_only=True):
    name: str


class FlagTrackParams(Params, frozen=True, kw_only=True):
    """One outcome of an exposure (OpenFeature's tracking): `error` true
    counts against the variant `subject` gets (or `variant`, if given)."""

    flag: str
    subject: Subject | None = None
    attributes: dict[str, Any] | None = None
    variant: str | None = None
    error: bool = True


class FlagArmStats(Result, frozen=True, kw_only=True):
    """Counts of one arm: a variant's name, or "on"/"off" without variants."""

    variant: str
    exposures: int
    errors: int
    error_rate: float | None


class FlagComparison(Result, frozen=True, kw_only=True):
    """Two-proportion z-test of error rates, `variant` against `baseline`."""

    baseline: str
    variant: str
    z: float | None
    p_value: float | None
    significant: bool


class FlagKill(Result, frozen=True, kw_only=True):
    at: str
    error_rate: float
    exposures: int
    errors: int


class FlagStats(Result, frozen=True, kw_only=True):
    flag: str
    since: str | None  # counting since (last flags.set or first exposure)
    arms: list[FlagArmStats]
    comparisons: list[FlagComparison]
    window: FlagArmStats  # the auto-kill's sliding window, all arms together
    killed: FlagKill | None


# Why definitions changed: flags.set, flags.delete, a config reload, the
# auto-kill.
FlagsChangeReason = Literal["set", "deleted", "reloaded", "killed"]


class FlagsChangedNote(Result, frozen=True, kw_only=True):
    """`flags.changed` notification: names set, deleted, reloaded or killed."""

    subscription: str
    names: list[str]
    reason: FlagsChangeReason
