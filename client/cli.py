"""`axd`: a thin command-line client of the daemon's socket.

The subcommands live in `axd.client.commands` (one module per area, listed by
its `REGISTRY`); this module parses the command line, runs one command and
turns every failure into one ``axd: ...`` line on stderr and an exit code:
0 success, 1 the daemon answered with an error, 2 usage error, 3 no daemon
could be reached or started (or it stopped answering).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from axd.client import render
from axd.client.commands import REGISTRY
from axd.client.commands.telemetry import offer_consent
from axd.client.connection import daemon_command
from axd.client.context import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Commands,
    Context,
    UsageError,
)
from axd.client.exchange import DaemonUnavailableError, ProtocolError, RemoteError
from axd.protocol import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

EPILOG = """\
exit codes:
  0  success
  1  the daemon answered with an error (or: health not HEALTHY)
  2  usage error
  3  no daemon could be reached or started (see the log in the state dir)
"""


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--socket/--json/--no-start, accepted before or after the subcommand."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--socket",
        metavar="PATH",
        default=default,
        help="daemon socket (env AXD_SOCKET)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print raw JSON",
    )
    parser.add_argument(
        "--no-start",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="do not start a daemon when none answers",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="axd",
        description="axd: a live code index. Talks to the axd daemon, starting it when needed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"axd {__version__}")
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    # Listed for --help only: `main` hands `axd daemon ...` to the daemon.
    sub.add_parser(
        "daemon",
        help="run the daemon in the foreground (see `axd daemon --help`)",
        add_help=False,
    )
    commands = Commands(sub, common)
    for register in REGISTRY:
        register(commands)
    return parser


def _split_daemon(argv: Sequence[str]) -> list[str] | None:
    """Arguments for `axd [global options] daemon ...`, or None."""
    rest = list(argv)
    carried: list[str] = []
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option == "--socket" and rest:
            carried += [option, rest.pop(0)]
        elif option.startswith("--socket="):
            carried.append(option)
        elif option not in ("--json", "--no-start"):
            return None
    if rest and rest[0] == "daemon":
        return carried + rest[1:]
    return None


def _exec_daemon(args: list[str]) -> int:
    """Become the daemon: same pid (systemd's notify and socket activation
    check it), same stdio, the daemon's own exit code. Returns only on failure."""
    command = daemon_command(*args)
    try:
        os.execv(command[0], command)
    except OSError as exc:
        render.err(f"cannot run the daemon ({command[0]}): {exc.strerror or exc}")
    return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `axd` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    daemon_args = _split_daemon(argv)
    if daemon_args is not None:
        return _exec_daemon(daemon_args)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage
        return int(exc.code or 0)
    ctx = Context(args)
    try:
        code = int(args.handler(ctx))
        offer_consent(ctx)  # once, on a terminal only (commands/telemetry.py)
        return code
    except UsageError as exc:
        render.err(str(exc))
        return EXIT_USAGE
    except RemoteError as exc:
        render.remote_error(exc)
        return EXIT_FAILED
    except DaemonUnavailableError as exc:  # also: it stopped answering in time
        render.err(str(exc))
        return EXIT_UNREACHABLE
    except ProtocolError as exc:
        render.err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the promise: one line, never a traceback
        render.err(f"unexpected {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    finally:
        ctx.close()


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
