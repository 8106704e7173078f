"""`axd telemetry status|enable|disable|stats|errors|performance|export|clear`,
and the one-time consent question.

Consent is asked once, by the CLI only: on an interactive terminal (stdin,
stdout and stderr all TTYs), never with `--json`, never in CI (`CI` or
another CI marker set), never when `DO_NOT_TRACK` or `AXD_TELEMETRY=0`
already says no, and only after a command that talked to the daemon. The
daemon keeps the answer (`telemetry.consent`), so "asked" survives
reinstalls of the client; `axd telemetry enable|disable` changes it later.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from axd.client import render
from axd.client.context import EXIT_OK
from axd.client.exchange import DaemonUnavailableError, RemoteError
from axd.protocol import methods as m
from axd.protocol import telemetry as tm

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from axd.client.context import Commands, Context

CI_MARKERS = (
    "CI",
    "CONTINUOUS_INTEGRATION",
    "BUILD_NUMBER",
    "RUN_ID",
    "GITHUB_ACTIONS",
)
# Commands after which no question is asked: they do not use the daemon, or
# they are about telemetry, or their output is read by programs.
QUIET_COMMANDS = frozenset(
    {"telemetry", "stop", "config", "doctor", "lsp", "call", "watch", "daemon"}
)
QUESTION = (
    "axd can keep local usage statistics on this machine (methods called, "
    "timings, error kinds, flag exposures; never paths, code, queries or "
    "names). Nothing is sent anywhere; `axd telemetry` shows it all.\n"
    "Keep them? [y/N] "
)


def _opted_out(env: Mapping[str, str]) -> bool:
    dnt = env.get("DO_NOT_TRACK", "").strip().lower()
    if dnt not in ("", "0", "false", "no", "off"):
        return True
    return env.get("AXD_TELEMETRY", "").strip().lower() in ("0", "false", "no", "off")


def decided_here(env: Mapping[str, str] = os.environ) -> bool:
    """The answer is on file in this user's config dir (where the daemon,
    started by this client, keeps it): no need to ask the daemon again."""
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return (Path(base) / "axd" / "telemetry.json").exists()


def should_ask(ctx: Context, env: Mapping[str, str] = os.environ) -> bool:
    """Whether this run may ask the consent question (before asking the daemon)."""
    return (
        not ctx.json
        and not decided_here(env)
        and getattr(ctx.args, "command", None) not in QUIET_COMMANDS
        and not any(env.get(marker) for marker in CI_MARKERS)
        and not _opted_out(env)
        and sys.stdin.isatty()
        and sys.stdout.isatty()
        and sys.stderr.isatty()
    )


def offer_consent(ctx: Context) -> None:
    """Ask once whether to keep local telemetry; never fails the command."""
    if not should_ask(ctx):
        return
    try:
        if ctx.call(m.TELEMETRY_STATUS).consent is not None:
            return
        sys.stderr.write(QUESTION)
        sys.stderr.flush()
        try:
            answer = input()
        except (EOFError, KeyboardInterrupt):
            answer = ""
        enabled = answer.strip().lower() in ("y", "yes")
        ctx.call(m.TELEMETRY_CONSENT, tm.TelemetryConsentParams(enabled=enabled))
        render.err(
            "telemetry "
            + ("on" if enabled else "off")
            + " (change with `axd telemetry enable|disable`)"
        )
    except (RemoteError, DaemonUnavailableError):
        return


# -- commands -------------------------------------------------------------------------


def _since(ctx: Context) -> tm.SinceParams:
    return tm.SinceParams(since=getattr(ctx.args, "since", None) or None)


def cmd_status(ctx: Context) -> int:
    ctx.emit(ctx.call(m.TELEMETRY_STATUS), _status)
    return EXIT_OK


def _consent(enabled: bool) -> Callable[[Context], int]:
    def command(ctx: Context) -> int:
        params = tm.TelemetryConsentParams(enabled=enabled)
        result = ctx.call(m.TELEMETRY_CONSENT, params)
        ctx.emit(result, _status)
        if not enabled and result.events:
            render.err("what was recorded is kept: `axd telemetry clear` deletes it")
        return EXIT_OK

    return command


def cmd_stats(ctx: Context) -> int:
    ctx.emit(ctx.call(m.TELEMETRY_STATS, _since(ctx)), _stats)
    return EXIT_OK


def cmd_errors(ctx: Context) -> int:
    ctx.emit(ctx.call(m.TELEMETRY_ERRORS, _since(ctx)), _errors)
    return EXIT_OK


def cmd_performance(ctx: Context) -> int:
    ctx.emit(
        ctx.call(m.TELEMETRY_PERFORMANCE, _since(ctx)),
        lambda r: _methods(r.methods, f"since {r.since}"),
    )
    return EXIT_OK


def cmd_export(ctx: Context) -> int:
    """JSON Lines, one event per line, to stdout or --output (0600)."""
    events = ctx.call(m.TELEMETRY_EXPORT, _since(ctx)).events
    lines = "".join(msgspec.json.encode(e).decode() + "\n" for e in events)
    if ctx.args.output:
        path = Path(ctx.args.output)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(lines)
        render.err(f"{len(events)} events written to {path}")
    else:
        sys.stdout.write(lines)
    return EXIT_OK


def cmd_clear(ctx: Context) -> int:
    ctx.emit(
        ctx.call(m.TELEMETRY_CLEAR),
        lambda r: render.out(f"deleted {r.deleted_events} events"),
    )
    return EXIT_OK


# -- rendering ------------------------------------------------------------------------


def _status(result: tm.TelemetryStatus) -> None:
    consent = {None: "never asked", True: "yes", False: "no"}[result.consent]
    blocked = f" (blocked by {result.blocked_by})" if result.blocked_by else ""
    render.out(f"recording: {'on' if result.enabled else 'off'}{blocked}")
    render.out(f"consent:   {consent}")
    render.out(
        f"kept:      {result.events} events, {result.database_bytes} bytes,"
        f" raw events for {result.retention_days} days"
    )


def _methods(rows: list[tm.MethodStats], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, title=title, title_justify="left")
    for column in ("method", "calls", "errors", "p50 ms", "p95 ms", "mean bytes"):
        table.add_column(column, justify="left" if column == "method" else "right")

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    for row in rows:
        table.add_row(
            row.method,
            str(row.calls),
            f"{row.errors} ({row.error_rate:.1%})",
            number(row.p50_ms),
            number(row.p95_ms),
            number(row.mean_bytes),
        )
    Console(highlight=False).print(table)


def _stats(result: tm.TelemetryStats) -> None:
    if not result.methods and not result.index.runs:
        render.out("nothing recorded (see `axd telemetry status`)")
        return
    _methods(result.methods, f"since {result.since} ({result.days} days)")
    index = result.index
    render.out(
        f"index runs: {index.runs} batches, {index.files} files,"
        f" {index.total_ms / 1000:.1f} s"
    )
    for exposure in result.exposures:
        variant = f" {exposure.variant}" if exposure.variant else ""
        render.out(
            f"flag {exposure.flag}{variant} ({exposure.reason}):"
            f" {exposure.count} exposures"
        )


def _errors(result: tm.TelemetryErrors) -> None:
    render.out(
        f"since {result.since}: {result.total_errors} errors in"
        f" {result.total_calls} calls"
    )
    for row in result.errors:
        render.out(f"  {row.method:<24} {row.kind:<20} {row.count:>8}  {row.rate:.1%}")


# -- argument parsing -----------------------------------------------------------------


def register(commands: Commands) -> None:
    """`axd telemetry ACTION ...`."""
    actions = commands.group(
        "telemetry", "local, opt-in usage statistics: status, enable, reports, export"
    )
    action = actions.add
    action("status", cmd_status, "consent, what blocks it, what is kept")
    action("enable", _consent(True), "start keeping local statistics")
    action("disable", _consent(False), "stop keeping them (keeps what exists)")
    for name, handler, help in (
        ("stats", cmd_stats, "calls, latency, errors per method; index; flags"),
        ("errors", cmd_errors, "errors by method and kind"),
        ("performance", cmd_performance, "latency percentiles per method"),
    ):
        action(name, handler, help).add_argument(
            "--since", metavar="DATE", help="YYYY-MM-DD or RFC 3339"
        )
    p = action("export", cmd_export, "every raw event as JSON Lines")
    p.add_argument("--since", metavar="DATE")
    p.add_argument("--output", "-o", metavar="FILE")
    action("clear", cmd_clear, "delete everything recorded")
