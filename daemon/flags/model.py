"""Flag definitions: checks beyond the wire types, and their compiled form.

msgspec checks each field on decoding (`protocol/flags.py`); `validate`
adds the checks that span fields and raises -32602 naming the field
(``$.variants[1].name``). `compile_flag` turns a definition into what
evaluation reads: sets instead of lists, epoch seconds instead of RFC 3339,
cumulative variant weights, the rollout threshold in buckets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import msgspec

from axd.protocol.errors import invalid_params
from axd.protocol.flags import FlagDefinition, FlagRules

if TYPE_CHECKING:
    from collections.abc import Mapping

BUCKETS = 10_000  # rollout resolution: 0.01 %

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


def env_key(name: str) -> str:
    """`NAME` of `AXD_FLAG_<NAME>`: upper case, non-alphanumerics as `_`."""
    return _NON_ALNUM.sub("_", name).upper()


@dataclass(frozen=True, slots=True)
class Override:
    """A forced answer: `on`, `off` or `variant:<v>`."""

    enabled: bool
    variant: str | None = None


def parse_override(value: str) -> Override | None:
    """`on`/`off`/`variant:<v>` (case-insensitive keywords); None if invalid."""
    text = value.strip()
    lowered = text.lower()
    if lowered == "on":
        return Override(True)
    if lowered == "off":
        return Override(False)
    if lowered.startswith("variant:") and text[8:].strip():
        return Override(True, text[8:].strip())
    return None


def parse_time(text: str, field: str) -> float:
    """RFC 3339 with an offset → epoch seconds.

    :raises RpcError: -32602 at `field` for anything else.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_params(
            f"{field[2:]}: not an RFC 3339 timestamp: {text!r}", field=field
        ) from None
    if moment.tzinfo is None:
        raise invalid_params(
            f"{field[2:]}: an RFC 3339 timestamp needs an offset (Z or +hh:mm)",
            field=field,
        )
    return moment.timestamp()


def utc_text(epoch: float) -> str:
    """Epoch seconds as RFC 3339 UTC with a Z."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def validate(definition: FlagDefinition) -> FlagDefinition:
    """The definition with its times normalised to UTC, once it is coherent.

    :raises RpcError: -32602 with `data.field` for the first problem.
    """
    start = end = None
    if definition.enabled_after is not None:
        start = parse_time(definition.enabled_after, "$.enabled_after")
    if definition.expires_at is not None:
        end = parse_time(definition.expires_at, "$.expires_at")
    if start is not None and end is not None and end <= start:
        raise invalid_params(
            "expires_at must be later than enabled_after", field="$.expires_at"
        )
    if definition.variants is not None:
        seen: set[str] = set()
        for i, variant in enumerate(definition.variants):
            if variant.name in seen:
                raise invalid_params(
                    f"variant {variant.name!r} is named twice",
                    field=f"$.variants[{i}].name",
                )
            seen.add(variant.name)
        if not any(v.weight > 0 for v in definition.variants):
            raise invalid_params(
                "variants need at least one positive weight", field="$.variants"
            )
    return msgspec.structs.replace(
        definition,
        enabled_after=utc_text(start) if start is not None else None,
        expires_at=utc_text(end) if end is not None else None,
        variants=definition.variants or None,
        killed=False,
    )


def from_config(name: str, rules: FlagRules) -> FlagDefinition:
    """A `[flags.definitions.NAME]` table as a definition (source "config").

    :raises RpcError: as `validate`, or an invalid name (`$.name`).
    """
    data = msgspec.to_builtins(rules)
    data.update(name=name, source="config")
    definition = msgspec.convert(data, type=FlagDefinition)
    return validate(definition)


@dataclass(frozen=True, slots=True)
class CompiledFlag:
    """What evaluation reads, prepared once per definition."""

    definition: FlagDefinition
    name: str
    key: str  # `name/`, the prefix of every hashed key
    enabled: bool
    allow: frozenset[str]
    deny: frozenset[str]
    cohorts: frozenset[str]
    threshold: int | None  # buckets below it are in the rollout
    start: float | None
    end: float | None
    variants: tuple[tuple[str, float], ...]  # (name, cumulative weight)
    total_weight: float
    first_variant: str | None


def compile_flag(definition: FlagDefinition) -> CompiledFlag:
    """Prepare a validated definition for evaluation."""
    threshold = None
    if definition.rollout_percentage is not None:
        threshold = round(definition.rollout_percentage * BUCKETS / 100)
    cumulative: list[tuple[str, float]] = []
    total = 0.0
    for variant in definition.variants or ():
        if variant.weight > 0:
            total += variant.weight
            cumulative.append((variant.name, total))
    return CompiledFlag(
        definition=definition,
        name=definition.name,
        key=definition.name + "/",
        enabled=definition.enabled,
        allow=frozenset(definition.allow),
        deny=frozenset(definition.deny),
        cohorts=frozenset(definition.cohorts),
        threshold=threshold,
        start=parse_time(definition.enabled_after, "$.enabled_after")
        if definition.enabled_after
        else None,
        end=parse_time(definition.expires_at, "$.expires_at")
        if definition.expires_at
        else None,
        variants=tuple(cumulative),
        total_weight=total,
        first_variant=cumulative[0][0] if cumulative else None,
    )


def overrides_from(
    config_overrides: Mapping[str, str], env: Mapping[str, str]
) -> tuple[dict[str, Override], list[str]]:
    """Overrides by `env_key` (config first, the environment winning) and the
    names of settings that were ignored as invalid."""
    found: dict[str, Override] = {}
    invalid: list[str] = []
    for name, value in config_overrides.items():
        parsed = parse_override(value)
        if parsed is None:
            invalid.append(f"flags.overrides.{name}")
        else:
            found[env_key(name)] = parsed
    for variable, value in env.items():
        if variable.startswith("AXD_FLAG_") and len(variable) > 9:
            parsed = parse_override(value)
            if parsed is None:
                invalid.append(variable)
            else:
                found[env_key(variable[9:])] = parsed
    return found, invalid
