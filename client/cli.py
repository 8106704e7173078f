"""`axd`: a thin command-line client of the daemon's socket.

Exit codes: 0 success, 1 the daemon answered with an error, 2 usage error,
3 no daemon could be reached or started.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from axd.client import render
from axd.client.connection import (
    Client,
    DaemonUnavailableError,
    RemoteError,
    connect_or_start,
)
from axd.client.db_cmd import add_db_commands
from axd.client.doctor import add_doctor_command
from axd.client.snapshot_cmd import add_snapshot_commands
from axd.protocol import __version__
from axd.protocol.paths import default_socket_path, default_state_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

EPILOG = """\
exit codes:
  0  success
  1  the daemon answered with an error (or: health not HEALTHY)
  2  usage error
  3  no daemon could be reached or started (see the log in the state dir)
"""


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see."""


class Context:
    """What every command gets: options, and a lazily opened connection."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.json: bool = bool(getattr(args, "json", False))
        socket_opt = getattr(args, "socket", None)
        self.socket_path = (
            Path(socket_opt).expanduser() if socket_opt else default_socket_path()
        )
        self.state_dir = default_state_dir()
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = connect_or_start(
                self.socket_path,
                self.state_dir,
                start=not getattr(self.args, "no_start", False),
                config_path=os.environ.get("AXD_CONFIG"),
            )
        return self._client

    def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Call `method`; the decoded result."""
        return json.loads(self.client.call_raw(method, params))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def root(self) -> str:
        """--root, else the workspace containing the current directory."""
        explicit = getattr(self.args, "root", None)
        if explicit:
            return os.path.abspath(str(explicit))
        cwd = os.path.realpath(os.getcwd())
        try:
            listing = self.call("workspace.list")
        except RemoteError:
            return cwd
        best = ""
        for entry in listing.get("workspaces", []):
            root = str(entry["root"])
            if (cwd == root or cwd.startswith(root.rstrip("/") + "/")) and len(
                root
            ) > len(best):
                best = root
        return best or cwd

    def emit(self, result: Any, human: Callable[[Any], None] | None = None) -> None:
        """Print `result`: raw JSON with --json, else for people."""
        if self.json or human is None:
            render.print_json(result, compact=self.json)
        else:
            human(result)


# -- commands ----------------------------------------------------------------------


def cmd_status(ctx: Context) -> int:
    info = ctx.call("server.info")
    try:
        workspaces = ctx.call("workspace.list")["workspaces"]
    except RemoteError:
        workspaces = []
    ctx.emit({"server": info, "workspaces": workspaces}, render.status)
    return EXIT_OK


def cmd_stop(ctx: Context) -> int:
    try:
        client = Client.connect(ctx.socket_path)
    except DaemonUnavailableError:
        render.err(f"no daemon is running at {ctx.socket_path}")
        return EXIT_OK
    with client:
        info = json.loads(client.call_raw("server.info"))
        try:
            client.call_raw("server.shutdown")
        except DaemonUnavailableError:
            pass  # it stopped before the answer reached us: that is success
    ctx.emit(
        {"ok": True, "pid": info["pid"]},
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
    result = ctx.call(ctx.args.method, params)
    render.print_json(result, compact=ctx.json)
    return EXIT_OK


def cmd_add(ctx: Context) -> int:
    root = os.path.abspath(ctx.args.path)
    result = ctx.call("workspace.add", {"root": root})
    if ctx.args.wait:
        result = render.wait_with_progress(ctx.client, result["root"], quiet=ctx.json)
    ctx.emit(result, lambda r: render.out(f"{r['root']}: {r['state']}"))
    return EXIT_OK


def cmd_remove(ctx: Context) -> int:
    root = os.path.abspath(ctx.args.path)
    ctx.emit(
        ctx.call("workspace.remove", {"root": root, "purge": ctx.args.purge}),
        lambda r: render.out("removed"),
    )
    return EXIT_OK


def cmd_search(ctx: Context) -> int:
    params: dict[str, Any] = {
        "root": ctx.root(),
        "query": " ".join(ctx.args.query),
        "limit": ctx.args.limit,
    }
    if ctx.args.lang:
        params["languages"] = ctx.args.lang
    if ctx.args.path_glob:
        params["paths"] = ctx.args.path_glob
    if ctx.args.kind:
        params["kinds"] = ctx.args.kind
    ctx.emit(ctx.call("search", params), render.search)
    return EXIT_OK


def cmd_def(ctx: Context) -> int:
    params: dict[str, Any] = {"root": ctx.root(), "name": ctx.args.name}
    if ctx.args.kind:
        params["kind"] = ctx.args.kind
    ctx.emit(ctx.call("symbols.definition", params), render.definitions)
    return EXIT_OK


def cmd_refs(ctx: Context) -> int:
    params = {"root": ctx.root(), "name": ctx.args.name, "limit": ctx.args.limit}
    ctx.emit(ctx.call("symbols.references", params), render.references)
    return EXIT_OK


def cmd_outline(ctx: Context) -> int:
    result = ctx.call(
        "symbols.outline", {"root": ctx.root(), "path": _path_param(ctx.args.file)}
    )
    ctx.emit(result, lambda r: render.outline(r, ctx.args.file))
    return EXIT_OK


def cmd_explain(ctx: Context) -> int:
    result = ctx.call(
        "files.explain", {"root": ctx.root(), "path": _path_param(ctx.args.file)}
    )
    ctx.emit(result, render.explain)
    return EXIT_OK


def cmd_flow(ctx: Context) -> int:
    root, path = ctx.root(), _path_param(ctx.args.file)
    result = {
        "imports": ctx.call("graph.imports", {"root": root, "path": path})["imports"],
        "importers": ctx.call("graph.importers", {"root": root, "path": path})[
            "importers"
        ],
        "dependencies": ctx.call(
            "graph.dependencies", {"root": root, "path": path, "depth": ctx.args.depth}
        )["paths"],
    }
    ctx.emit(result, lambda r: render.flow(r, ctx.args.file))
    return EXIT_OK


def cmd_cycles(ctx: Context) -> int:
    ctx.emit(
        ctx.call("graph.cycles", {"root": ctx.root(), "limit": ctx.args.limit}),
        render.cycles,
    )
    return EXIT_OK


def cmd_watch(ctx: Context) -> int:
    root = ctx.root()
    events = ["index.changed"] + (["index.progress"] if ctx.args.progress else [])
    ctx.call("subscribe", {"root": root, "events": events})
    client = ctx.client
    client.settimeout(None)  # a live view waits for as long as it runs
    if not ctx.json:
        render.err(f"watching {root} (Ctrl-C to stop)")
    while True:
        method, params = client.next_notification()
        note = json.loads(params)
        if ctx.json:
            render.print_json({"method": method, "params": note}, compact=True)
        else:
            render.change_note(method, note)
        sys.stdout.flush()


def cmd_health(ctx: Context) -> int:
    result = ctx.call("health")
    ctx.emit(result, render.health)
    return EXIT_OK if result.get("status") == "HEALTHY" else EXIT_FAILED


def cmd_metrics(ctx: Context) -> int:
    result = ctx.call("metrics")
    ctx.emit(result, lambda r: render.out(r["text"], end=""))
    return EXIT_OK


def cmd_config(ctx: Context) -> int:
    # Config checking reads the file locally; it needs no daemon.
    from axd.daemon.config import ConfigError, load

    action = ctx.args.config_action
    try:
        config, path = load(getattr(ctx.args, "file", None))
    except ConfigError as exc:
        render.err(str(exc))
        return EXIT_FAILED
    if action == "check":
        ctx.emit(
            {"ok": True, "path": str(path) if path else None},
            lambda r: render.out(f"{r['path'] or 'defaults'}: ok"),
        )
        return EXIT_OK
    import msgspec

    ctx.emit(msgspec.to_builtins(config), render.toml_like)
    return EXIT_OK


def _path_param(path: str) -> str:
    """Absolute paths pass through; relative ones are taken from the cwd."""
    return os.path.abspath(path)


# -- argument parsing -------------------------------------------------------------------


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

    def command(
        name: str, handler: Callable[[Context], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help, description=help)
        p.set_defaults(handler=handler)
        return p

    sub.add_parser(
        "daemon",
        help="run the daemon in the foreground (see `axd daemon --help`)",
        add_help=False,
    )
    command("status", cmd_status, "show the daemon and its workspaces")
    command("stop", cmd_stop, "stop the daemon gracefully")
    p = command("call", cmd_call, "call any method; print its raw result")
    p.add_argument("method")
    p.add_argument("params", nargs="?", metavar="JSON-PARAMS")
    p = command("add", cmd_add, "add a workspace root and index it")
    p.add_argument("path", metavar="ROOT")
    p.add_argument(
        "--wait", action="store_true", help="wait for the first index, with progress"
    )
    p = command("remove", cmd_remove, "stop indexing a workspace")
    p.add_argument("path", metavar="ROOT")
    p.add_argument("--purge", action="store_true", help="also delete its index")
    p = command("search", cmd_search, "ranked code search")
    p.add_argument("query", nargs="+")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--lang", action="append", help="only this language (repeatable)")
    p.add_argument(
        "--path",
        dest="path_glob",
        action="append",
        help="only paths matching this glob",
    )
    p.add_argument("--kind", action="append", help="only this symbol kind")
    p.add_argument("--root")
    p = command("def", cmd_def, "where is NAME defined?")
    p.add_argument("name")
    p.add_argument("--kind")
    p.add_argument("--root")
    p = command("refs", cmd_refs, "where is NAME used?")
    p.add_argument("name")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--root")
    p = command("outline", cmd_outline, "the symbols of a file")
    p.add_argument("file")
    p.add_argument("--root")
    p = command("explain", cmd_explain, "why is FILE (not) indexed?")
    p.add_argument("file")
    p.add_argument("--root")
    p = command("flow", cmd_flow, "imports, importers and dependencies of FILE")
    p.add_argument("file")
    p.add_argument("--depth", type=int, default=None)
    p.add_argument("--root")
    p = command("cycles", cmd_cycles, "import cycles in the workspace")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--root")
    p = command("watch", cmd_watch, "print index changes as they are committed")
    p.add_argument(
        "--progress", action="store_true", help="also print indexing progress"
    )
    p.add_argument("--root")
    command("health", cmd_health, "component health (exit 1 unless HEALTHY)")
    add_doctor_command(sub, common)
    add_snapshot_commands(sub, common)  # index safety (#11)
    add_db_commands(sub, common)
    command("metrics", cmd_metrics, "Prometheus metrics text")
    p = command("config", cmd_config, "check or show the configuration")
    config_sub = p.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    check = config_sub.add_parser(
        "check", parents=[common], help="validate a config file"
    )
    check.add_argument("file", nargs="?")
    config_sub.add_parser("show", parents=[common], help="print the effective config")
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `axd` command; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    daemon_args = _split_daemon(argv)
    if daemon_args is not None:
        from axd.daemon.__main__ import main as daemon_main

        return daemon_main(daemon_args)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for usage
        return int(exc.code or 0)
    ctx = Context(args)
    try:
        return int(args.handler(ctx))
    except UsageError as exc:
        render.err(str(exc))
        return EXIT_USAGE
    except RemoteError as exc:
        render.remote_error(exc)
        return EXIT_FAILED
    except DaemonUnavailableError as exc:
        render.err(str(exc))
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    finally:
        ctx.close()


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
