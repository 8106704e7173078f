"""`axd doctor`: a self-test whose output a user can paste into a bug report.

Checks, in order: the daemon answers (socket, pid, version, uptime);
versions (axd, Python, tree-sitter, tree-sitter-language-pack, apsw and
SQLite); the config file is valid; the state directory is writable and has
free space; inotify limits and the daemon's watch count (Linux; "n/a"
elsewhere); every workspace's state and the daemon's health checks; and a
canary: a file with a unique function name written into a watched root,
timed until ``symbols.definition`` finds it, then removed and timed until it
is gone.

Exit codes: 0 every check passed, 1 some failed, 3 no daemon answered.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from axd.client import settings
from axd.client.connection import Client
from axd.client.exchange import DaemonUnavailableError, ProtocolError, RemoteError
from axd.protocol import __version__
from axd.protocol import methods as m
from axd.protocol import types as t
from axd.protocol.config import ConfigError, state_directory
from axd.protocol.paths import default_socket_path

if TYPE_CHECKING:
    from collections.abc import Callable

    from axd.protocol.config import Config

EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE = 0, 1, 3
CANARY_TIMEOUT_S = 30.0
INOTIFY_DIR = Path("/proc/sys/fs/inotify")


@dataclass
class Check:
    """One line of the report. `ok` None: not applicable here ("n/a")."""

    name: str
    ok: bool | None
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """Everything `axd doctor` found."""

    checks: list[Check] = field(default_factory=list)
    reachable: bool = False

    @property
    def ok(self) -> bool:
        """Every applicable check passed."""
        return self.reachable and all(c.ok is not False for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 something failed, 3 no daemon."""
        if not self.reachable:
            return EXIT_UNREACHABLE
        return EXIT_OK if self.ok else EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        """The report as plain data (``--json``)."""
        return {
            "ok": self.ok,
            "reachable": self.reachable,
            "checks": [asdict(check) for check in self.checks],
        }

    def add(self, name: str, ok: bool | None, detail: str, **data: Any) -> Check:
        check = Check(name, ok, detail, data)
        self.checks.append(check)
        return check


def render_text(report: Report) -> str:
    """✓/✗ lines for people ("–" for not applicable)."""
    lines = []
    for check in report.checks:
        mark = {True: "✓", False: "✗", None: "–"}[check.ok]
        lines.append(f"{mark} {check.name}: {check.detail}")
    verdict = "all checks passed" if report.ok else "some checks FAILED"
    if not report.reachable:
        verdict = "no daemon answered"
    lines.append(f"axd doctor: {verdict}")
    return "\n".join(lines)


# -- the checks ---------------------------------------------------------------------


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_versions(report: Report) -> None:
    versions: dict[str, str | None] = {
        "axd": __version__,
        "python": platform.python_version(),
        "tree-sitter": _version_of("tree-sitter"),
        "tree-sitter-language-pack": _version_of("tree-sitter-language-pack"),
        "apsw": _version_of("apsw"),
        "sqlite": None,
    }
    try:
        import apsw

        versions["sqlite"] = apsw.sqlite_lib_version()
    except ImportError:
        pass
    missing = [name for name, value in versions.items() if value is None]
    detail = ", ".join(
        f"{name} {value or 'missing'}" for name, value in versions.items()
    )
    report.add("versions", not missing, detail, **versions)


def check_config(report: Report, config_path: str | None) -> Config | None:
    """Validate the config; returns it (None when invalid)."""
    try:
        config, path = settings.load(config_path)
    except ConfigError as exc:
        report.add("config", False, str(exc))
        return None
    shown = str(path) if path else "none (defaults)"
    report.add("config", True, f"valid: {shown}", path=str(path) if path else None)
    return config


def check_state_dir(report: Report, state_dir: Path) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-"):
            pass
        usage = shutil.disk_usage(state_dir)
    except OSError as exc:
        report.add("state_dir", False, f"{state_dir}: {exc.strerror or exc}")
        return
    free_mib = usage.free // (1024 * 1024)
    report.add(
        "state_dir",
        True,
        f"{state_dir}: writable, {free_mib} MiB free",
        path=str(state_dir),
        free_bytes=usage.free,
    )
    # Damaged databases the daemon moved aside: listed, not a failure.
    found = [
        {"path": str(reason.parent / "index.db")}
        | dict(line.partition(": ")[::2] for line in reason.read_text().splitlines())
        for reason in sorted(state_dir.glob("workspaces/*/quarantine/*/reason.txt"))
    ]
    detail = "; ".join(f"{q['path']} ({q.get('reason')})" for q in found)
    report.add("quarantine", True, detail or "none", files=found)


def inotify_watches(pid: int) -> int | None:
    """Inotify watches held by `pid` (from /proc/<pid>/fdinfo), None if unknown."""
    fdinfo = Path(f"/proc/{pid}/fdinfo")
    try:
        entries = list(fdinfo.iterdir())
    except OSError:
        return None
    count = 0
    for entry in entries:
        with contextlib.suppress(OSError):
            count += sum(
                1
                for line in entry.read_text().splitlines()
                if line.startswith("inotify wd:")
            )
    return count


def check_inotify(report: Report, pid: int | None) -> None:
    if not INOTIFY_DIR.is_dir():
        report.add("inotify", None, f"n/a on {platform.system()}")
        return
    limits: dict[str, int] = {}
    for name in ("max_user_watches", "max_user_instances", "max_queued_events"):
        with contextlib.suppress(OSError, ValueError):
            limits[name] = int((INOTIFY_DIR / name).read_text())
    used = inotify_watches(pid) if pid is not None else None
    limit = limits.get("max_user_watches")
    shown_used = "unknown (not permitted)" if used is None else str(used)
    detail = f"daemon holds {shown_used} watches; limits " + ", ".join(
        f"{k}={v}" for k, v in limits.items()
    )
    # Near the per-user limit, new directories go unwatched.
    ok = not (used is not None and limit and used >= 0.9 * limit)
    report.add("inotify", ok, detail, watches=used, **limits)


def check_daemon(report: Report, client: Client, socket_path: Path) -> t.ServerInfo:
    info = client.call(m.SERVER_INFO)
    report.add(
        "daemon",
        True,
        f"reachable at {socket_path}: pid {info.pid}, axd {info.version},"
        f" up {info.uptime_s:.0f} s",
        socket=str(socket_path),
        pid=info.pid,
        version=info.version,
        uptime_s=info.uptime_s,
    )
    return info


def check_workspaces(report: Report, client: Client) -> list[t.WorkspaceEntry]:
    listing = client.call(m.WORKSPACE_LIST).workspaces
    if not listing:
        report.add("workspaces", None, "none added")
    for entry in listing:
        report.add(
            f"workspace {entry.root}",
            entry.state != "error",
            f"{entry.state}, {entry.files} files, generation {entry.generation}",
            **msgspec.to_builtins(entry),
        )
    return listing


def check_health(report: Report, client: Client) -> None:
    health = client.call(m.HEALTH)
    report.add(
        "health",
        health.status == "HEALTHY",
        health.status,
        **msgspec.to_builtins(health),
    )
    for name, check in sorted(health.checks.items()):
        report.add(
            f"health.{name}",
            check.status in ("HEALTHY", "UNKNOWN"),
            f"{check.status}: {check.detail or ''}".rstrip(": "),
        )


def _definitions_until(
    client: Client,
    root: str,
    name: str,
    want_found: bool,
    deadline: float,
) -> bool:
    """Wait, generation by generation, until `name` is (or is no longer) defined."""
    generation = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        params = t.DefinitionParams(root=root, name=name)
        if generation:
            params = msgspec.structs.replace(
                params, min_generation=generation + 1, timeout_s=remaining
            )
        try:
            result = client.call(m.SYMBOLS_DEFINITION, params)
        except RemoteError as exc:
            if exc.kind == "timeout":
                return False
            raise
        if bool(result.definitions) == want_found:
            return True
        generation = result.generation


def check_canary(
    report: Report,
    client: Client,
    workspaces: list[t.WorkspaceEntry],
    timeout_s: float = CANARY_TIMEOUT_S,
) -> None:
    ready = [w for w in workspaces if w.state == "ready"]
    if not ready:
        report.add("canary", None, "skipped: no ready workspace")
        return
    root = ready[0].root
    token = uuid.uuid4().hex[:12]
    name = f"axd_doctor_canary_{token}"
    path = Path(root) / f"axd_doctor_canary_{token}.py"
    try:
        path.write_text(f"def {name}():\n    return 'axd doctor was here'\n")
    except OSError as exc:
        report.add("canary", False, f"cannot write in {root}: {exc.strerror or exc}")
        return
    started = time.monotonic()
    try:
        found = _definitions_until(client, root, name, True, started + timeout_s)
        found_s = time.monotonic() - started
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    if not found:
        report.add(
            "canary",
            False,
            f"{path.name} not found within {timeout_s:g} s in {root}"
            " (is the watcher working? see health.watcher)",
        )
        return
    removed_at = time.monotonic()
    gone = _definitions_until(client, root, name, False, removed_at + timeout_s)
    gone_s = time.monotonic() - removed_at
    report.add(
        "canary",
        gone,
        f"in {root}: found after {found_s * 1000:.0f} ms"
        + (
            f", gone {gone_s * 1000:.0f} ms after removal"
            if gone
            else f", still found {timeout_s:g} s after removal"
        ),
        root=root,
        found_ms=round(found_s * 1000, 1),
        gone_ms=round(gone_s * 1000, 1) if gone else None,
    )


def run_doctor(
    socket_path: Path,
    *,
    config_path: str | None = None,
    canary: bool = True,
    canary_timeout_s: float = CANARY_TIMEOUT_S,
) -> Report:
    """Run every check against the daemon at `socket_path` (never starts one)."""
    report = Report()
    try:
        client = Client.connect(socket_path, timeout=30)
    except DaemonUnavailableError as exc:
        report.add("daemon", False, str(exc), socket=str(socket_path))
        client = None
    pid: int | None = None
    with client if client is not None else contextlib.nullcontext():
        if client is not None:
            try:
                pid = check_daemon(report, client, socket_path).pid
                report.reachable = True
            except (DaemonUnavailableError, RemoteError, ProtocolError) as exc:
                report.add("daemon", False, f"{socket_path}: {exc}")
        check_versions(report)
        config = check_config(report, config_path)
        if config is not None:
            check_state_dir(report, state_directory(config))
        check_inotify(report, pid)
        if client is not None and report.reachable:
            _guarded(
                report,
                "workspaces",
                lambda: _daemon_side(report, client, canary, canary_timeout_s),
            )
    return report


def _daemon_side(
    report: Report, client: Client, canary: bool, canary_timeout_s: float
) -> None:
    workspaces = check_workspaces(report, client)
    check_health(report, client)
    if canary:
        check_canary(report, client, workspaces, canary_timeout_s)


def _guarded(report: Report, name: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except (DaemonUnavailableError, RemoteError, ProtocolError, OSError) as exc:
        report.add(name, False, f"{type(exc).__name__}: {exc}")


# -- command line -------------------------------------------------------------------


def _socket_of(socket_opt: str | None) -> Path:
    if socket_opt:
        return Path(socket_opt).expanduser()
    if os.environ.get("AXD_SOCKET"):
        return Path(os.environ["AXD_SOCKET"]).expanduser()
    return default_socket_path()


def doctor_main(args: argparse.Namespace) -> int:
    """Run the doctor for parsed arguments; print the report; the exit code."""
    report = run_doctor(
        _socket_of(getattr(args, "socket", None)),
        config_path=getattr(args, "config", None) or os.environ.get("AXD_CONFIG"),
        canary=not getattr(args, "no_canary", False),
    )
    if getattr(args, "json", False):
        print(json.dumps(report.to_json(), indent=2))  # noqa: T201
    else:
        print(render_text(report))  # noqa: T201
    return report.exit_code


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file to validate (env AXD_CONFIG)")
    parser.add_argument(
        "--no-canary", action="store_true", help="skip the write-a-file canary"
    )


def add_doctor_command(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `axd doctor` to the CLI's subparsers (`common`: --socket/--json)."""
    help_text = "self-test for bug reports (exit 0 all passed, 1 failed, 3 no daemon)"
    parser = sub.add_parser(
        "doctor", parents=[common], help=help_text, description=help_text
    )
    _add_options(parser)
    # The CLI calls handler(ctx); the doctor never starts a daemon, so it
    # reads only the options from the context.
    parser.set_defaults(handler=lambda ctx: doctor_main(ctx.args))


def main(argv: list[str] | None = None) -> int:
    """`python -m axd.client.doctor`."""
    parser = argparse.ArgumentParser(prog="axd doctor", description=__doc__)
    parser.add_argument("--socket", help="daemon socket (env AXD_SOCKET)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    _add_options(parser)
    return doctor_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
