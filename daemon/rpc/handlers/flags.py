"""The flags.* methods (the service behind them: `daemon/flags/service.py`).

Evaluation methods answer from memory and are registered `instant` (no
task, no deadline): their p99 over the socket is what `perf/bench_flags.py`
measures.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from axd.daemon.flags.stats import SIGNIFICANCE, arm_name, z_test
from axd.protocol import flags as fl
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.errors import invalid_params, not_found

if TYPE_CHECKING:
    from collections.abc import Sequence

    from axd.daemon.flags.service import FlagService
    from axd.daemon.rpc.dispatch import Registry, RequestContext
    from axd.daemon.rpc.handlers.services import Services


def register(registry: Registry, services: Services) -> None:
    """Route this area's methods."""
    FlagMethods(services.flags).register(registry)


def cohorts_of(attributes: dict[str, Any] | None) -> Sequence[str]:
    """`attributes.cohorts` (a list of strings), or nothing.

    :raises RpcError: -32602 at `$.attributes.cohorts` for anything else.
    """
    if not attributes or "cohorts" not in attributes:
        return ()
    cohorts = attributes["cohorts"]
    if not isinstance(cohorts, list) or not all(isinstance(c, str) for c in cohorts):
        raise invalid_params(
            "attributes.cohorts must be a list of strings",
            field="$.attributes.cohorts",
        )
    return cohorts


class FlagMethods:
    """Handlers of the flags.* methods."""

    def __init__(self, service: FlagService) -> None:
        self.service = service

    def register(self, registry: Registry) -> None:
        """Route every flags.* method."""
        r = registry.register
        r(m.FLAGS_EVALUATE, self.evaluate, instant=True)
        r(m.FLAGS_EVALUATE_ALL, self.evaluate_all, instant=True)
        r(m.FLAGS_LIST, self.list, instant=True)
        r(m.FLAGS_SET, self.set)
        r(m.FLAGS_DELETE, self.delete)
        r(m.FLAGS_TRACK, self.track, instant=True)
        r(m.FLAGS_STATS, self.stats, instant=True)

    async def evaluate(
        self, p: fl.FlagEvaluateParams, ctx: RequestContext
    ) -> fl.FlagEvaluation:
        enabled, variant, reason = self.service.evaluate(
            p.flag, p.subject, cohorts_of(p.attributes)
        )
        return fl.FlagEvaluation(
            flag=p.flag,
            enabled=enabled,
            variant=variant,
            reason=reason,  # type: ignore[arg-type]
        )

    async def evaluate_all(
        self, p: fl.FlagEvaluateAllParams, ctx: RequestContext
    ) -> fl.FlagEvaluations:
        answers = self.service.evaluate_all(p.subject, cohorts_of(p.attributes))
        return fl.FlagEvaluations(
            flags={
                name: fl.FlagDecision(
                    enabled=enabled,
                    variant=variant,
                    reason=reason,  # type: ignore[arg-type]
                )
                for name, (enabled, variant, reason) in answers.items()
            }
        )

    async def list(self, p: t.Empty, ctx: RequestContext) -> fl.FlagList:
        return fl.FlagList(flags=self.service.definitions())

    async def set(self, p: fl.FlagDefinition, ctx: RequestContext) -> fl.FlagSetResult:
        return fl.FlagSetResult(flag=await self.service.set(p))

    async def delete(self, p: fl.FlagNameParams, ctx: RequestContext) -> t.Ok:
        await self.service.delete(p.name)
        return t.Ok(ok=True)

    async def track(self, p: fl.FlagTrackParams, ctx: RequestContext) -> t.Ok:
        self.service.track(
            p.flag,
            p.subject,
            cohorts_of(p.attributes),
            variant=p.variant,
            error=p.error,
        )
        return t.Ok(ok=True)

    async def stats(self, p: fl.FlagNameParams, ctx: RequestContext) -> fl.FlagStats:
        service = self.service
        flag = service.compiled(p.name)
        counts = service.counts(p.name)
        if flag is None and counts is None:
            raise not_found(f"no flag {p.name!r}", flag=p.name)
        order = [name for name, _ in flag.variants] if flag else []
        if not order:
            order = [arm_name(False, None), arm_name(True, None)]
        arms = dict(counts.arms) if counts else {}
        names = order + sorted(set(arms) - set(order))
        rows = []
        for name in names:
            arm = arms.get(name)
            n, x = (arm.exposures, arm.errors) if arm else (0, 0)
            rows.append(
                fl.FlagArmStats(
                    variant=name,
                    exposures=n,
                    errors=x,
                    error_rate=round(x / n, 6) if n else None,
                )
            )
        comparisons = []
        baseline = rows[0]
        for row in rows[1:]:
            z, p_value = z_test(
                baseline.errors, baseline.exposures, row.errors, row.exposures
            )
            comparisons.append(
                fl.FlagComparison(
                    baseline=baseline.variant,
                    variant=row.variant,
                    z=round(z, 4) if z is not None else None,
                    p_value=round(p_value, 6) if p_value is not None else None,
                    significant=p_value is not None and p_value < SIGNIFICANCE,
                )
            )
        window_n, window_x = counts.window.totals(time.time()) if counts else (0, 0)
        kill = service.kill_of(p.name)
        return fl.FlagStats(
            flag=p.name,
            since=service.since_text(counts.since if counts else None),
            arms=rows,
            comparisons=comparisons,
            window=fl.FlagArmStats(
                variant="on",
                exposures=window_n,
                errors=window_x,
                error_rate=round(window_x / window_n, 6) if window_n else None,
            ),
            killed=fl.FlagKill(
                at=service.since_text(kill.at) or "",
                error_rate=round(kill.error_rate, 6),
                exposures=kill.exposures,
                errors=kill.errors,
            )
            if kill
            else None,
        )
