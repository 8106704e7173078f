"""Helpers shared by the test modules (imported as `support`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from axd.daemon.config import Config


def with_config(config: Config, **changes: object) -> Config:
    """`config` with top-level fields replaced."""
    return msgspec.structs.replace(config, **changes)


def environment_for(config: Config) -> dict[str, str]:
    """An environment for a subprocess daemon/CLI isolated like `config`."""
    env = dict(os.environ)
    env.update(
        AXD_SOCKET=str(config.socket_path),
        AXD_STATE_DIR=str(config.state_dir),
        AXD_METRICS_ADDR="127.0.0.1:0",
        XDG_CONFIG_HOME=str(Path(str(config.state_dir)) / "xdg-config"),
        XDG_RUNTIME_DIR=str(Path(str(config.socket_path)).parent),
    )
    env.pop("AXD_CONFIG", None)
    return env
