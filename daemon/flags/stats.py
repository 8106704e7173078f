"""Exposures and errors per flag and arm, the auto-kill's sliding window,
and the two-proportion z-test that compares arms.

An arm is a variant's name, or "on"/"off" for a flag without variants.
The window counts only exposures where the flag was on and the errors
attributed to them: the auto-kill is about the new behaviour failing, not
about errors the old path has too. It is `SLOTS` time slots of
``kill_window_s / SLOTS`` seconds each, so sliding costs a slot, not a scan
of events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SLOTS = 60
SIGNIFICANCE = 0.05  # two-sided p-value below which a difference is reported


@dataclass(slots=True)
class Arm:
    """Counts of one arm since the flag was last set."""

    exposures: int = 0
    errors: int = 0


@dataclass(slots=True)
class Window:
    """Exposures and errors (flag on) over the last `seconds`."""

    seconds: float
    slot_ids: list[int] = field(default_factory=lambda: [-1] * SLOTS)
    exposures: list[int] = field(default_factory=lambda: [0] * SLOTS)
    errors: list[int] = field(default_factory=lambda: [0] * SLOTS)

    def _slot(self, now: float) -> int:
        slot_id = int(now / (self.seconds / SLOTS))
        index = slot_id % SLOTS
        if self.slot_ids[index] != slot_id:
            self.slot_ids[index] = slot_id
            self.exposures[index] = 0
            self.errors[index] = 0
        return index

    def expose(self, now: float) -> None:
        """Count one exposure with the flag on."""
        self.exposures[self._slot(now)] += 1

    def error(self, now: float) -> None:
        """Count one error attributed to such an exposure."""
        self.errors[self._slot(now)] += 1

    def totals(self, now: float) -> tuple[int, int]:
        """(exposures, errors) in the window ending at `now`."""
        current = int(now / (self.seconds / SLOTS))
        exposures = errors = 0
        for index, slot_id in enumerate(self.slot_ids):
            if current - SLOTS < slot_id <= current:
                exposures += self.exposures[index]
                errors += self.errors[index]
        return exposures, errors


@dataclass(slots=True)
class FlagCounts:
    """Everything counted for one flag since its last flags.set."""

    since: float | None
    window: Window
    arms: dict[str, Arm] = field(default_factory=dict)
    dirty: bool = False

    def arm(self, name: str) -> Arm:
        """The arm called `name`, created empty on first use."""
        found = self.arms.get(name)
        if found is None:
            found = self.arms[name] = Arm()
        return found


def arm_name(enabled: bool, variant: str | None) -> str:
    """Which arm an answer counts in."""
    if variant is not None:
        return variant
    return "on" if enabled else "off"


def should_kill(
    window: Window, now: float, rate: float, min_samples: int
) -> tuple[bool, int, int]:
    """(kill?, exposures, errors): the error rate in the window exceeds `rate`
    over at least `min_samples` exposures."""
    exposures, errors = window.totals(now)
    if exposures < min_samples or exposures == 0:
        return False, exposures, errors
    return min(errors, exposures) / exposures > rate, exposures, errors


def z_test(
    errors_a: int, n_a: int, errors_b: int, n_b: int
) -> tuple[float | None, float | None]:
    """Two-proportion z-test (pooled): (z, two-sided p-value); Nones when
    either arm is empty or the pooled rate is 0 or 1 (no variance)."""
    if n_a == 0 or n_b == 0:
        return None, None
    x_a, x_b = min(errors_a, n_a), min(errors_b, n_b)
    pooled = (x_a + x_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return None, None
    z = (x_b / n_b - x_a / n_a) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))
