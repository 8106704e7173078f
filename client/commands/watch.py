"""`axd watch`: print index changes as the daemon commits them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import msgspec

from axd.client import render
from axd.client.exchange import decode_notification
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.client.context import Commands, Context


def cmd_watch(ctx: Context) -> int:
    root = ctx.root()
    events: list[t.EventName] = ["index.changed"]
    if ctx.args.progress:
        events.append("index.progress")
    ctx.call(m.SUBSCRIBE, t.SubscribeParams(root=root, events=events))
    client = ctx.client
    if not ctx.json:
        render.err(f"watching {root} (Ctrl-C to stop)")
    while True:
        note = client.next_notification()  # a live view waits for as long as it runs
        method, params = note[0], decode_notification(*note)
        if ctx.json:
            builtins = msgspec.to_builtins(params)
            render.print_json({"method": method, "params": builtins}, compact=True)
        else:
            render.change_note(method, params)
        sys.stdout.flush()


def register(commands: Commands) -> None:
    p = commands.add("watch", cmd_watch, "print index changes as they are committed")
    p.add_argument(
        "--progress", action="store_true", help="also print indexing progress"
    )
    p.add_argument("--root")
