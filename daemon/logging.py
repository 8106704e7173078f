"""structlog set-up: JSON lines under supervision, readable text on a terminal.

Only `axd daemon`'s entry point calls `configure`; modules just call
``structlog.get_logger()``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

if TYPE_CHECKING:
    from .config import LogConfig

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# structlog's JSONRenderer passes default=, which msgspec rejects; repr() is
# the fallback for anything msgspec cannot encode.
_ENCODER = msgspec.json.Encoder(enc_hook=repr)


def _serialize(event: Any, **_: Any) -> bytes:
    return _ENCODER.encode(event)


def wants_json(config: LogConfig, stream: Any = sys.stderr) -> bool:
    """JSON when asked, or under systemd/launchd, or when stderr is no terminal."""
    if config.format != "auto":
        return config.format == "json"
    under_supervisor = bool(
        os.environ.get("INVOCATION_ID") or os.environ.get("JOURNAL_STREAM")
    )
    return under_supervisor or not stream.isatty()


def configure(config: LogConfig, *, cache: bool = True) -> None:
    """Configure structlog once for the process (`cache=False` in tests)."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if wants_json(config):
        processors += [
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_serialize),
        ]
        factory: Any = structlog.BytesLoggerFactory(sys.stderr.buffer)
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
        factory = structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[config.level]),
        logger_factory=factory,
        cache_logger_on_first_use=cache,
    )
