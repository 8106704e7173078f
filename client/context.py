"""What every `axd` command gets: its options, a connection, typed calls.

Also `Commands`, through which a command module adds its subcommands, and the
exit codes every command returns.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from axd.client import render
from axd.client.connection import DEFAULT_DEADLINE_S, connect_or_start
from axd.client.exchange import RemoteError
from axd.protocol import methods as m
from axd.protocol.paths import default_socket_path, default_state_dir

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

    from axd.client.connection import Client
    from axd.protocol.methods import Method

P = TypeVar("P")
R = TypeVar("R")
T = TypeVar("T")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see."""


def default_deadline(env: Mapping[str, str]) -> float | None:
    """`AXD_CLIENT_TIMEOUT`: seconds an ordinary call may take (0: no limit).

    :raises UsageError: not a number >= 0.
    """
    text = env.get("AXD_CLIENT_TIMEOUT", "")
    if not text:
        return DEFAULT_DEADLINE_S
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses nan
        raise UsageError(f"AXD_CLIENT_TIMEOUT must be seconds >= 0, got {text!r}")
    return seconds or None


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
                timeout=default_deadline(os.environ),
            )
        return self._client

    def call(self, method: Method[P, R], params: P | None = None) -> R:
        """Call `method`; its typed result."""
        return self.client.call(method, params)

    def call_raw(self, method: str, params: Any = None) -> Any:
        """Call a method by name (`axd call`); the result as plain JSON data."""
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
            listing = self.call(m.WORKSPACE_LIST)
        except RemoteError:
            return cwd
        best = ""
        for entry in listing.workspaces:
            root = entry.root
            if (cwd == root or cwd.startswith(root.rstrip("/") + "/")) and len(
                root
            ) > len(best):
                best = root
        return best or cwd

    def emit(self, result: T, human: Callable[[T], None] | None = None) -> None:
        """Print `result`: raw JSON with --json, else for people."""
        if self.json or human is None:
            render.print_json(msgspec.to_builtins(result), compact=self.json)
        else:
            human(result)


class Commands:
    """Where a command module adds its subcommands (see `axd.client.commands`)."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self.subparsers = subparsers
        # --socket/--json/--no-start, accepted after the subcommand too.
        self.common = common

    def add(
        self, name: str, handler: Callable[[Context], int], help: str
    ) -> argparse.ArgumentParser:
        """`axd NAME`, run by `handler(ctx)` which returns the exit code."""
        parser: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=help, description=help
        )
        parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, help: str) -> Commands:
        """`axd NAME ACTION ...`: a command with actions (`axd config check`)."""
        parser = self.subparsers.add_parser(
            name, parents=[self.common], help=help, description=help
        )
        actions = parser.add_subparsers(
            dest=f"{name}_action", metavar="ACTION", required=True
        )
        return Commands(actions, self.common)
