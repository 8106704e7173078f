"""`axd lsp`: the CLI entry of the Language Server (pygls loads only here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from axd.protocol.paths import default_socket_path, default_state_dir

if TYPE_CHECKING:
    import argparse

HELP = "a Language Server on stdin/stdout backed by the daemon (for editors)"


def add_lsp_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `axd lsp` to the CLI's subparsers (`common`: --socket/--no-start)."""
    parser = sub.add_parser("lsp", parents=[common], help=HELP, description=HELP)
    parser.add_argument(
        "--stdio",
        action="store_true",
        help="accepted for editors that pass it; stdio is the only transport",
    )
    # The CLI calls handler(ctx); only the options are read from it, since the
    # server opens its own pool of connections.
    parser.set_defaults(handler=lambda ctx: run(ctx.args))


class _Commands(Protocol):
    """The CLI's per-area registry (`axd.client.context.Commands` on main)."""

    subparsers: Any
    common: argparse.ArgumentParser


def register(commands: _Commands) -> None:
    """Registry form of `add_lsp_command` (`REGISTRY` in axd.client.commands)."""
    add_lsp_command(commands.subparsers, commands.common)


def run(args: argparse.Namespace) -> int:
    """Serve until the editor exits; the process exit code."""
    from axd.client.lsp.server import serve

    socket_opt = getattr(args, "socket", None)
    return serve(
        Path(socket_opt).expanduser() if socket_opt else default_socket_path(),
        default_state_dir(),
        start=not getattr(args, "no_start", False),
        config_path=os.environ.get("AXD_CONFIG"),
    )
