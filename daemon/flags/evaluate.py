"""Evaluation: PROTOCOL.md's rules, in its order, the first that decides wins.

override → killed → disabled → not_started → expired → denylist → allowlist
→ cohort → rollout → default; a flag nobody defined is `unknown` (off).
Pure and in memory: no I/O, no locks, the clock passed in.

Hashing (README "Feature flags", reproducible by other tools):

* rollout bucket = MurmurHash3_x86_32(UTF-8 of ``flag + "/" + subject``,
  seed 0) mod 10,000; the subject is in the rollout when
  bucket < round(rollout_percentage × 100). A bucket never moves, so raising
  the percentage only adds subjects.
* variant point = MurmurHash3_x86_32(the same bytes, seed 86028157) / 2^32,
  a second, independent hash (seed 86028157 is the one Unleash uses for
  variants), scaled by the sum of the positive weights; the variant is the
  first whose running total of weights exceeds it, in definition order.

Without a subject nothing can be hashed: the rollout rule places it only at
100 % (as flagd and Unleash leave an anonymous caller out of a partial
rollout) and the variant is the first one with a positive weight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.daemon.flags.model import BUCKETS
from axd.daemon.flags.murmur import murmur3_32

if TYPE_CHECKING:
    from collections.abc import Collection

    from axd.daemon.flags.model import CompiledFlag, Override

ROLLOUT_SEED = 0
VARIANT_SEED = 86028157
_TWO_32 = float(1 << 32)

# (enabled, variant, reason)
Decision = tuple[bool, str | None, str]

UNKNOWN: Decision = (False, None, "unknown")


def rollout_bucket(flag: str, subject: str) -> int:
    """The subject's bucket in 0..9999 for this flag."""
    return murmur3_32(f"{flag}/{subject}".encode(), ROLLOUT_SEED) % BUCKETS


def variant_point(flag: str, subject: str) -> float:
    """Where the subject falls in [0, 1) on the variant scale."""
    return murmur3_32(f"{flag}/{subject}".encode(), VARIANT_SEED) / _TWO_32


def pick_variant(flag: CompiledFlag, subject: str | None) -> str | None:
    """The subject's variant, None for a flag without variants."""
    if not flag.variants:
        return None
    if subject is None:
        return flag.first_variant
    target = (
        murmur3_32((flag.key + subject).encode(), VARIANT_SEED)
        / _TWO_32
        * flag.total_weight
    )
    for name, running in flag.variants:
        if target < running:
            return name
    return flag.variants[-1][0]  # float rounding at the very top


def decide(
    flag: CompiledFlag | None,
    subject: str | None,
    cohorts: Collection[str],
    now: float,
    *,
    override: Override | None = None,
    killed: bool = False,
) -> Decision:
    """The answer for one flag and one subject (see the module docstring)."""
    if override is not None:
        if not override.enabled:
            return (False, None, "override")
        if override.variant is not None:
            return (True, override.variant, "override")
        return (True, pick_variant(flag, subject) if flag else None, "override")
    if flag is None:
        return UNKNOWN
    if killed:
        return (False, None, "killed")
    if not flag.enabled:
        return (False, None, "disabled")
    if flag.start is not None and now < flag.start:
        return (False, None, "not_started")
    if flag.end is not None and now >= flag.end:
        return (False, None, "expired")
    if subject is not None:
        if subject in flag.deny:
            return (False, None, "denylist")
        if subject in flag.allow:
            return (True, pick_variant(flag, subject), "allowlist")
    if flag.cohorts and cohorts and not flag.cohorts.isdisjoint(cohorts):
        return (True, pick_variant(flag, subject), "cohort")
    if flag.threshold is not None:
        if subject is None:
            inside = flag.threshold >= BUCKETS
        else:
            bucket = murmur3_32((flag.key + subject).encode(), ROLLOUT_SEED) % BUCKETS
            inside = bucket < flag.threshold
        if not inside:
            return (False, None, "rollout")
        return (True, pick_variant(flag, subject), "rollout")
    return (True, pick_variant(flag, subject), "default")
