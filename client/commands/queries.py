"""`axd search`, `def`, `refs`, `outline` and `explain`: queries of one workspace."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from axd.client import render
from axd.client.context import EXIT_OK
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from axd.client.context import Commands, Context


def file_param(path: str) -> str:
    """Absolute paths pass through; relative ones are taken from the cwd."""
    return os.path.abspath(path)


def cmd_search(ctx: Context) -> int:
    params = t.SearchParams(
        root=ctx.root(),
        query=" ".join(ctx.args.query),
        limit=ctx.args.limit,
        languages=ctx.args.lang or None,
        paths=ctx.args.path_glob or None,
        kinds=ctx.args.kind or None,
    )
    ctx.emit(ctx.call(m.SEARCH, params), render.search)
    return EXIT_OK


def cmd_def(ctx: Context) -> int:
    params = t.DefinitionParams(
        root=ctx.root(), name=ctx.args.name, kind=ctx.args.kind or None
    )
    ctx.emit(ctx.call(m.SYMBOLS_DEFINITION, params), render.definitions)
    return EXIT_OK


def cmd_refs(ctx: Context) -> int:
    params = t.ReferencesParams(
        root=ctx.root(), name=ctx.args.name, limit=ctx.args.limit
    )
    ctx.emit(ctx.call(m.SYMBOLS_REFERENCES, params), render.references)
    return EXIT_OK


def cmd_outline(ctx: Context) -> int:
    params = t.PathParams(root=ctx.root(), path=file_param(ctx.args.file))
    result = ctx.call(m.SYMBOLS_OUTLINE, params)
    ctx.emit(result, lambda r: render.outline(r, ctx.args.file))
    return EXIT_OK


def cmd_explain(ctx: Context) -> int:
    params = t.FilesExplainParams(root=ctx.root(), path=file_param(ctx.args.file))
    ctx.emit(ctx.call(m.FILES_EXPLAIN, params), render.explain)
    return EXIT_OK


def register(commands: Commands) -> None:
    p = commands.add("search", cmd_search, "ranked code search")
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--lang", action="append", help="only this language (repeatable)")
    only_paths = "only paths matching this glob"
    p.add_argument("--path", dest="path_glob", action="append", help=only_paths)
    p.add_argument("--kind", action="append", help="only this symbol kind")
    p.add_argument("--root")
    p = commands.add("def", cmd_def, "where is NAME defined?")
    p.add_argument("name")
    p.add_argument("--kind")
    p.add_argument("--root")
    p = commands.add("refs", cmd_refs, "where is NAME used?")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--root")
    p = commands.add("outline", cmd_outline, "the symbols of a file")
    p.add_argument("file")
    p.add_argument("--root")
    p = commands.add("explain", cmd_explain, "why is FILE (not) indexed?")
    p.add_argument("file")
    p.add_argument("--root")
