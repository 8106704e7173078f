"""`axd flow FILE` and `axd cycles`: the import graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from axd.client import render
from axd.client.commands.queries import file_param
from axd.client.context import EXIT_OK
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.client.context import Commands, Context


def cmd_flow(ctx: Context) -> int:
    root, path = ctx.root(), file_param(ctx.args.file)
    at = t.PathParams(root=root, path=path)
    walk = t.GraphWalkParams(root=root, path=path, depth=ctx.args.depth)
    result = render.Flow(
        imports=ctx.call(m.GRAPH_IMPORTS, at).imports,
        importers=ctx.call(m.GRAPH_IMPORTERS, at).importers,
        dependencies=ctx.call(m.GRAPH_DEPENDENCIES, walk).paths,
    )
    ctx.emit(result, lambda r: render.flow(r, ctx.args.file))
    return EXIT_OK


def cmd_cycles(ctx: Context) -> int:
    params = t.CyclesParams(root=ctx.root(), limit=ctx.args.limit)
    ctx.emit(ctx.call(m.GRAPH_CYCLES, params), render.cycles)
    return EXIT_OK


def register(commands: Commands) -> None:
    p = commands.add("flow", cmd_flow, "imports, importers and dependencies of FILE")
    p.add_argument("file")
    p.add_argument("--depth", type=int, default=None)
    p.add_argument("--root")
    p = commands.add("cycles", cmd_cycles, "import cycles in the workspace")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--root")
