"""`axd config check [FILE]` and `axd config show`: no daemon needed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from axd.client import render, settings
from axd.client.context import EXIT_FAILED, EXIT_OK
from axd.protocol.config import ConfigError

if TYPE_CHECKING:
    from axd.client.context import Commands, Context


def cmd_check(ctx: Context) -> int:
    try:
        _, path = settings.load(ctx.args.file)
    except ConfigError as exc:
        render.err(str(exc))
        return EXIT_FAILED
    ctx.emit(
        {"ok": True, "path": str(path) if path else None},
        lambda r: render.out(f"{r['path'] or 'defaults'}: ok"),
    )
    return EXIT_OK


def cmd_show(ctx: Context) -> int:
    try:
        config, _ = settings.load(None)
    except ConfigError as exc:
        render.err(str(exc))
        return EXIT_FAILED
    ctx.emit(msgspec.to_builtins(config), render.toml_like)
    return EXIT_OK


def register(commands: Commands) -> None:
    config = commands.group("config", "check or show the configuration")
    check = config.add("check", cmd_check, "validate a config file")
    check.add_argument("file", nargs="?")
    config.add("show", cmd_show, "print the effective config")
