"""`axd flags list|get|set|enable|disable|rollout|delete|eval|stats`.

Tables on a terminal, the raw result with `--json`. `enable`, `disable` and
`rollout` read the flag's definition, change one field and `flags.set` the
whole of it (a read-modify-write: two people editing one flag at the same
moment can overwrite each other, as with any `set`).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

import msgspec

from axd.client import render
from axd.client.context import EXIT_FAILED, EXIT_OK
from axd.protocol import flags as fl
from axd.protocol import methods as m

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.client.context import Commands, Context

_OUTPUT_ONLY = ("source", "killed")


def _percentage(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value:g} is not within 0..100")
    return value


def _variant(text: str) -> dict[str, Any]:
    name, sep, weight = text.partition("=")
    try:
        return {"name": name, "weight": float(weight) if sep else 1.0}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME[=WEIGHT], got {text!r}"
        ) from None


def _attribute(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if key == "cohorts":
        return key, [c for c in value.split(",") if c]
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _definition(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--definition is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--definition must be a JSON object")
    return value


def _current(ctx: Context, name: str) -> dict[str, Any] | None:
    for flag in ctx.call(m.FLAGS_LIST).flags:
        if flag.name == name:
            fields: dict[str, Any] = msgspec.to_builtins(flag)
            return {k: v for k, v in fields.items() if k not in _OUTPUT_ONLY}
    return None


def _set(ctx: Context, definition: dict[str, Any]) -> int:
    # Sent as given: the daemon validates it and its error names the field.
    raw = ctx.call_raw(m.FLAGS_SET.name, definition)
    result = msgspec.convert(raw, fl.FlagSetResult)
    ctx.emit(result, lambda r: _table([r.flag]))
    return EXIT_OK


def cmd_list(ctx: Context) -> int:
    ctx.emit(ctx.call(m.FLAGS_LIST), lambda r: _table(r.flags))
    return EXIT_OK


def cmd_get(ctx: Context) -> int:
    for flag in ctx.call(m.FLAGS_LIST).flags:
        if flag.name == ctx.args.name:
            ctx.emit(
                flag,
                lambda f: render.print_json(msgspec.to_builtins(f), compact=False),
            )
            return EXIT_OK
    render.err(f"no flag {ctx.args.name!r}")
    return EXIT_FAILED


def cmd_set(ctx: Context) -> int:
    a = ctx.args
    definition: dict[str, Any] = dict(a.definition or {})
    definition["name"] = a.name
    options: dict[str, Any] = {
        "enabled": a.enabled,
        "rollout_percentage": a.rollout,
        "allow": a.allow,
        "deny": a.deny,
        "cohorts": a.cohort,
        "variants": a.variant,
        "enabled_after": a.after,
        "expires_at": a.expires,
        "kill_error_rate": a.kill_error_rate,
        "kill_min_samples": a.kill_min_samples,
        "kill_window_s": a.kill_window,
        "description": a.description,
    }
    definition.update({k: v for k, v in options.items() if v is not None})
    return _set(ctx, definition)


def _edit(change: Callable[[dict[str, Any], argparse.Namespace], None]) -> Any:
    def command(ctx: Context) -> int:
        definition = _current(ctx, ctx.args.name) or {"name": ctx.args.name}
        change(definition, ctx.args)
        return _set(ctx, definition)

    return command


cmd_enable = _edit(lambda d, a: d.update(enabled=True))
cmd_disable = _edit(lambda d, a: d.update(enabled=False))
cmd_rollout = _edit(lambda d, a: d.update(rollout_percentage=a.percentage))


def cmd_delete(ctx: Context) -> int:
    ctx.emit(
        ctx.call(m.FLAGS_DELETE, fl.FlagNameParams(name=ctx.args.name)),
        lambda r: render.out(f"deleted {ctx.args.name}"),
    )
    return EXIT_OK


def cmd_eval(ctx: Context) -> int:
    params = fl.FlagEvaluateParams(
        flag=ctx.args.name,
        subject=ctx.args.subject,
        attributes=dict(ctx.args.attr) if ctx.args.attr else None,
    )
    ctx.emit(ctx.call(m.FLAGS_EVALUATE, params), _evaluation)
    return EXIT_OK


def cmd_stats(ctx: Context) -> int:
    ctx.emit(ctx.call(m.FLAGS_STATS, fl.FlagNameParams(name=ctx.args.name)), _stats)
    return EXIT_OK


# -- rendering ----------------------------------------------------------------------


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _table(flags: list[fl.FlagDefinition]) -> None:
    from rich.table import Table

    if not flags:
        render.out("no flags defined")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("name", "state", "rollout", "rules", "variants", "source"):
        table.add_column(column)
    for flag in flags:
        state = "killed" if flag.killed else "on" if flag.enabled else "off"
        rollout = flag.rollout_percentage
        rules = [
            f"{key} {len(subjects)}"
            for key, subjects in (
                ("allow", flag.allow),
                ("deny", flag.deny),
                ("cohorts", flag.cohorts),
            )
            if subjects
        ]
        if flag.enabled_after:
            rules.append(f"from {flag.enabled_after}")
        if flag.expires_at:
            rules.append(f"until {flag.expires_at}")
        variants = ", ".join(f"{v.name}:{v.weight:g}" for v in flag.variants or [])
        table.add_row(
            flag.name,
            state,
            "-" if rollout is None else f"{rollout:g}%",
            ", ".join(rules) or "-",
            variants or "-",
            flag.source,
        )
    _console().print(table)


def _evaluation(result: fl.FlagEvaluation) -> None:
    state = "on" if result.enabled else "off"
    variant = f" variant {result.variant}" if result.variant else ""
    render.out(f"{result.flag}: {state}{variant} ({result.reason})")


def _stats(result: fl.FlagStats) -> None:
    from rich.table import Table

    console = _console()
    since = result.since or "no exposures yet"
    console.print(f"{result.flag} — counting since {since}")
    table = Table(box=None, pad_edge=False)
    for column in ("arm", "exposures", "errors", "error rate"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    for arm in result.arms:
        rate = arm.error_rate
        table.add_row(
            arm.variant,
            str(arm.exposures),
            str(arm.errors),
            "-" if rate is None else f"{rate:.2%}",
        )
    console.print(table)
    for c in result.comparisons:
        if c.p_value is None or c.z is None:
            verdict = "not enough data to compare"
        else:
            verdict = (
                f"z = {c.z:+.2f}, p = {c.p_value:.4f}: "
                + ("significant" if c.significant else "not significant")
                + " at 5 %"
            )
        console.print(f"{c.variant} vs {c.baseline}: {verdict}")
    if result.killed:
        k = result.killed
        console.print(
            f"[bold red]killed[/] at {k.at}: error rate {k.error_rate:.2%} "
            f"over {k.exposures} exposures (flags set NAME ... to revive)"
        )


# -- argument parsing ---------------------------------------------------------------


def register(commands: Commands) -> None:
    """`axd flags ACTION ...`."""
    actions = commands.group(
        "flags", "feature flags: list, define, roll out, evaluate, stats"
    )
    action = actions.add
    action("list", cmd_list, "every flag in force")
    action("get", cmd_get, "one flag's definition").add_argument("name")
    p = action("set", cmd_set, "create or replace a flag (unset fields: defaults)")
    p.add_argument("name")
    on_off = p.add_mutually_exclusive_group()
    on_off.add_argument("--enable", dest="enabled", action="store_const", const=True)
    on_off.add_argument("--disable", dest="enabled", action="store_const", const=False)
    p.add_argument("--rollout", type=_percentage, metavar="PCT")
    p.add_argument("--allow", action="append", metavar="SUBJECT")
    p.add_argument("--deny", action="append", metavar="SUBJECT")
    p.add_argument("--cohort", action="append", metavar="COHORT")
    p.add_argument("--variant", action="append", type=_variant, metavar="NAME=WEIGHT")
    p.add_argument("--after", metavar="RFC3339", help="enabled_after")
    p.add_argument("--expires", metavar="RFC3339", help="expires_at")
    p.add_argument("--kill-error-rate", type=float, metavar="RATE")
    p.add_argument("--kill-min-samples", type=int, metavar="N")
    p.add_argument("--kill-window", type=float, metavar="SECONDS")
    p.add_argument("--description")
    p.add_argument(
        "--definition", type=_definition, metavar="JSON", help="a whole definition"
    )
    action("enable", cmd_enable, "switch a flag on").add_argument("name")
    action("disable", cmd_disable, "switch a flag off").add_argument("name")
    p = action("rollout", cmd_rollout, "set a flag's rollout percentage")
    p.add_argument("name")
    p.add_argument("percentage", type=_percentage, metavar="PCT")
    action("delete", cmd_delete, "delete a flag").add_argument("name")
    p = action("eval", cmd_eval, "evaluate a flag for a subject")
    p.add_argument("name")
    p.add_argument("--subject")
    p.add_argument(
        "--attr", action="append", type=_attribute, metavar="KEY=VALUE",
        help="an attribute (cohorts=a,b for cohorts); repeatable",
    )  # fmt: skip
    action("stats", cmd_stats, "exposures, errors and z-test by arm").add_argument(
        "name"
    )
