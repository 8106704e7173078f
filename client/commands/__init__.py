"""Every `axd` subcommand, by area; `REGISTRY` adds them in `axd --help` order.

To add a command (e.g. `axd snapshot create|list|...`): write
`client/commands/snapshot.py` with ``def register(commands: Commands) -> None``
that calls ``commands.add(name, handler, help)`` (or ``commands.group(...)``
for a command with actions) and returns; a handler is
``def cmd_x(ctx: Context) -> int`` that calls typed methods with
``ctx.call(m.METHOD, Params(...))``, prints with ``ctx.emit(result, render_fn)``
and returns an exit code from `axd.client.context`. Then add
``snapshot.register`` to `REGISTRY` below: that one line is all the CLI needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.client.commands import (
    config,
    db,
    flags,
    graph,
    ops,
    queries,
    server,
    snapshot,
    telemetry,
    watch,
    workspaces,
)
from axd.client.lsp import command as lsp

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.client.context import Commands

REGISTRY: tuple[Callable[[Commands], None], ...] = (
    server.register,
    workspaces.register,
    queries.register,
    graph.register,
    watch.register,
    ops.register,
    snapshot.register,
    db.register,
    config.register,
    flags.register,
    telemetry.register,
    lsp.register,
)
