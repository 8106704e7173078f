"""`axd daemon`: argv → config → logging → anyio.run(daemon.run).

Run by ``python -m axd.daemon`` (`axd.daemon.__main__`).
"""

from __future__ import annotations

import argparse
import os
import sys

import anyio
import structlog

from axd.daemon import gc_policy
from axd.daemon.config import ConfigError, load
from axd.daemon.index import forkserver


def build_parser() -> argparse.ArgumentParser:
    """The `axd daemon` options (PROTOCOL.md "Starting the daemon")."""
    parser = argparse.ArgumentParser(
        prog="axd daemon",
        description="Run the axd daemon in the foreground.",
    )
    parser.add_argument("--socket", help="Unix socket path (env AXD_SOCKET)")
    parser.add_argument("--state-dir", help="state directory (env AXD_STATE_DIR)")
    parser.add_argument("--config", help="TOML config file (env AXD_CONFIG)")
    parser.add_argument(
        "--metrics-addr",
        help="HOST:PORT of the metrics listener; port 0 picks one; '' disables (env AXD_METRICS_ADDR)",
    )
    parser.add_argument(
        "--add",
        action="append",
        default=[],
        metavar="ROOT",
        help="add this workspace root at start (repeatable)",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the daemon; 0 after a graceful stop, 1 when it cannot start."""
    args = build_parser().parse_args(argv)
    env = dict(os.environ)
    if args.log_level:
        env["AXD_LOG_LEVEL"] = args.log_level
    try:
        config, config_path = load(
            args.config,
            socket_path=args.socket,
            state_dir=args.state_dir,
            metrics_addr=args.metrics_addr,
            env=env,
        )
    except ConfigError as exc:
        print(f"axd: config error: {exc}", file=sys.stderr)  # noqa: T201
        return 1

    # Everything the daemon creates holds indexed source text (databases,
    # WAL files, snapshots, telemetry): readable by the user alone.
    os.umask(0o077)
    # The workers' forkserver builds every language (~1.7 s of one core)
    # before the first worker forks: started now, it does so while the rest
    # of the daemon is imported (~0.5 s), not after (index/forkserver.py).
    forkserver.start_early()

    from axd.daemon.lifecycle import Daemon
    from axd.daemon.ops.logging import configure
    from axd.daemon.ops.systemd import inherited_listener
    from axd.daemon.rpc.server import AlreadyRunningError, SocketPathError

    configure(config.log)
    # Query threads wait on the GIL while the writer thread works; CPython's
    # default 5 ms hand-over interval shows up directly in query p95 during
    # re-indexing (perf/RESULTS.md, "Query latency"). 1 ms trades a little
    # throughput for latency, which is what an editor waits on.
    sys.setswitchinterval(0.001)
    roots = [os.path.abspath(root) for root in args.add]
    gc_policy.settle()  # everything is imported: frozen, as the workers' is
    daemon = Daemon(
        config,
        config_path=config_path,
        initial_roots=roots,
        inherited_socket=inherited_listener(),
        env=env,
    )
    try:
        anyio.run(daemon.run)
    except (AlreadyRunningError, SocketPathError) as exc:
        print(f"axd: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        return 0
    except Exception:  # noqa: BLE001 - last resort: log the traceback, exit 1
        structlog.get_logger().exception("daemon_crashed")
        return 1
    return 0
