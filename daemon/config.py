"""The daemon's configuration loader: reads the file the schema asks for.

The schema, the precedence rules (flags > ``AXD_*`` environment > file >
defaults) and the error messages live in `axd.protocol.config`, which the CLI
shares; this module does the daemon's I/O and re-exports the schema so daemon
code keeps importing it from here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from axd.protocol.config import (
    Config,
    ConfigError,
    ConfigFile,
    FlagsConfig,
    HealthConfig,
    IndexConfig,
    LogConfig,
    MetricsConfig,
    ServerConfig,
    SnapshotsConfig,
    TelemetryConfig,
    WatchConfig,
    apply_env,
    apply_flags,
    from_file,
    locate,
    parse_addr,
    runtime_socket_path,
    state_directory,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

__all__ = [
    "Config",
    "ConfigError",
    "FlagsConfig",
    "HealthConfig",
    "IndexConfig",
    "LogConfig",
    "MetricsConfig",
    "ServerConfig",
    "SnapshotsConfig",
    "TelemetryConfig",
    "WatchConfig",
    "apply_env",
    "load",
    "load_file",
    "parse_addr",
    "runtime_socket_path",
    "state_directory",
]


def _read(path: Path) -> bytes | OSError:
    """The file's bytes, or why it could not be read (the schema words it)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return exc


def load_file(path: Path) -> Config:
    """Decode and validate one TOML file.

    :raises ConfigError: missing or unreadable file, invalid TOML, unknown key,
        wrong type.
    """
    return from_file(ConfigFile(path, True), _read(path))[0]


def load(
    explicit_path: str | None = None,
    *,
    socket_path: str | None = None,
    state_dir: str | None = None,
    metrics_addr: str | None = None,
    env: Mapping[str, str] = os.environ,
) -> tuple[Config, Path | None]:
    """The effective config (flags > env > file > defaults) and its file.

    :raises ConfigError: as `load_file`, or an explicit file that is missing.
    """
    where = locate(explicit_path, env)
    config, path = from_file(where, _read(where.path))
    config = apply_flags(
        apply_env(config, env),
        socket_path=socket_path,
        state_dir=state_dir,
        metrics_addr=metrics_addr,
    )
    return config, path
