"""Default locations shared by the daemon and the client (ARCHITECTURE.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


def default_socket_path(env: Mapping[str, str] = os.environ) -> Path:
    """$AXD_SOCKET, else $XDG_RUNTIME_DIR/axd/axd.sock, else /tmp/axd-$UID/axd.sock."""
    if env.get("AXD_SOCKET"):
        return Path(env["AXD_SOCKET"]).expanduser()
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "axd" / "axd.sock"
    return Path(f"/tmp/axd-{os.getuid()}") / "axd.sock"


def default_state_dir(env: Mapping[str, str] = os.environ) -> Path:
    """$AXD_STATE_DIR, else $XDG_STATE_HOME/axd, else ~/.local/state/axd."""
    if env.get("AXD_STATE_DIR"):
        return Path(env["AXD_STATE_DIR"]).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "axd"
