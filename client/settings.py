"""The CLI's reading of the config file (`axd config`, `axd doctor`).

The schema and its rules are `axd.protocol.config`'s; this reads the file it
names, with the ``AXD_*`` environment applied as the daemon would.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from axd.protocol.config import apply_env, from_file, locate

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from axd.protocol.config import Config


def load(
    explicit_path: str | None, env: Mapping[str, str] = os.environ
) -> tuple[Config, Path | None]:
    """The config the daemon would see from this file and environment.

    :raises ConfigError: the file is missing (when named), unreadable or invalid.
    """
    where = locate(explicit_path, env)
    try:
        read: bytes | OSError = where.path.read_bytes()
    except OSError as exc:
        read = exc
    config, path = from_file(where, read)
    return apply_env(config, env), path
