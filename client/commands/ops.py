"""`axd health`, `axd doctor` and `axd metrics`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.client import doctor, render
from axd.client.context import EXIT_FAILED, EXIT_OK
from axd.protocol import methods as m

if TYPE_CHECKING:
    from axd.client.context import Commands, Context


def cmd_health(ctx: Context) -> int:
    result = ctx.call(m.HEALTH)
    ctx.emit(result, render.health)
    return EXIT_OK if result.status == "HEALTHY" else EXIT_FAILED


def cmd_metrics(ctx: Context) -> int:
    result = ctx.call(m.METRICS)
    ctx.emit(result, lambda r: render.out(r.text, end=""))
    return EXIT_OK


def register(commands: Commands) -> None:
    commands.add("health", cmd_health, "component health (exit 1 unless HEALTHY)")
    doctor.add_doctor_command(commands.subparsers, commands.common)
    commands.add("metrics", cmd_metrics, "Prometheus metrics text")
