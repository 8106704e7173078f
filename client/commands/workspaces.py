"""`axd add ROOT [--wait]` and `axd remove ROOT`."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

from axd.client import render
from axd.client.context import EXIT_OK
from axd.client.exchange import (
    DaemonTimeoutError,
    RemoteError,
    decode_notification,
)
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.client.connection import Client
    from axd.client.context import Commands, Context

# Each index.wait asks for this long; a timeout just means "ask again".
WAIT_SLICE_S = 30.0


def cmd_add(ctx: Context) -> int:
    added = ctx.call(m.WORKSPACE_ADD, t.WorkspaceAddParams(root=ctx.args.path))
    if ctx.args.wait:
        quiet = ctx.json or not sys.stderr.isatty()
        status = _wait_ready(ctx.client, added.root, progress=not quiet)
        ctx.emit(status, lambda r: render.out(f"{r.root}: {r.state}"))
    else:
        ctx.emit(added, lambda r: render.out(f"{r.root}: {r.state}"))
    return EXIT_OK


def cmd_remove(ctx: Context) -> int:
    params = t.WorkspaceRemoveParams(root=ctx.args.path, purge=ctx.args.purge)
    ctx.emit(ctx.call(m.WORKSPACE_REMOVE, params), lambda r: render.out("removed"))
    return EXIT_OK


def _wait_ready(client: Client, root: str, *, progress: bool) -> t.IndexStatus:
    """Wait for a workspace's first index; with `progress`, a bar fed by
    `index.progress` notifications (files/s, ETA) on the terminal."""
    if not progress:
        while True:
            try:
                status = client.call(
                    m.INDEX_WAIT, t.IndexWaitParams(root=root, timeout_s=WAIT_SLICE_S)
                )
            except RemoteError as exc:
                if exc.kind == "timeout":
                    continue
                raise
            if status.state != "indexing":
                return status
    client.call(m.SUBSCRIBE, t.SubscribeParams(root=root, events=["index.progress"]))
    started = time.monotonic()
    with render.IndexingProgress() as bar:
        while True:
            try:
                params = decode_notification(*client.next_notification(timeout=1.0))
            except DaemonTimeoutError:
                params = None  # a quiet second
            if isinstance(params, t.IndexProgress):
                rate = params.files_indexed / max(time.monotonic() - started, 1e-3)
                bar.update(params.files_indexed, params.files_total, rate)
                if params.state == "indexing":
                    continue
            # A quiet second or a state change: ask where things stand.
            status = client.call(m.INDEX_STATUS, t.RootParams(root=root))
            if status.state != "indexing" and status.queue_depth == 0:
                return status


def register(commands: Commands) -> None:
    p = commands.add("add", cmd_add, "add a workspace root and index it")
    p.add_argument("path", metavar="ROOT", type=os.path.abspath)
    p.add_argument(
        "--wait", action="store_true", help="wait for the first index, with progress"
    )
    p = commands.add("remove", cmd_remove, "stop indexing a workspace")
    p.add_argument("path", metavar="ROOT", type=os.path.abspath)
    p.add_argument("--purge", action="store_true", help="also delete its index")
