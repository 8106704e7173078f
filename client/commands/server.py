"""`axd status`, `axd stop` and `axd call METHOD [JSON-PARAMS]`."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from axd.client import render
from axd.client.connection import Client
from axd.client.context import EXIT_OK, UsageError, default_deadline
from axd.client.exchange import DaemonUnavailableError, RemoteError
from axd.protocol import methods as m

if TYPE_CHECKING:
    from axd.client.context import Commands, Context


def cmd_status(ctx: Context) -> int:
    info = ctx.call(m.SERVER_INFO)
    try:
        workspaces = ctx.call(m.WORKSPACE_LIST).workspaces
    except RemoteError:
        workspaces = []
    ctx.emit(render.Status(info, workspaces), render.status)
    return EXIT_OK


def cmd_stop(ctx: Context) -> int:
    try:
        client = Client.connect(ctx.socket_path, default_deadline(os.environ))
    except DaemonUnavailableError:
        render.err(f"no daemon is running at {ctx.socket_path}")
        return EXIT_OK
    with client:
        info = client.call(m.SERVER_INFO)
        try:
            client.call(m.SERVER_SHUTDOWN)
        except DaemonUnavailableError:
            pass  # it stopped before the answer reached us: that is success
    ctx.emit(
        {"ok": True, "pid": info.pid},
        lambda r: render.out(f"stopped axd (pid {r['pid']})"),
    )
    return EXIT_OK


def cmd_call(ctx: Context) -> int:
    params: Any = None
    if ctx.args.params is not None:
        try:
            params = json.loads(ctx.args.params)
        except ValueError as exc:
            raise UsageError(f"JSON-PARAMS is not valid JSON: {exc}") from exc
    result = ctx.call_raw(ctx.args.method, params)
    render.print_json(result, compact=ctx.json)
    return EXIT_OK


def register(commands: Commands) -> None:
    commands.add("status", cmd_status, "show the daemon and its workspaces")
    commands.add("stop", cmd_stop, "stop the daemon gracefully")
    p = commands.add("call", cmd_call, "call any method; print its raw result")
    p.add_argument("method")
    p.add_argument("params", nargs="?", metavar="JSON-PARAMS")
