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
    from axd.daemon.config import LogConfig

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
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


# The level in force. Loggers are cached on first use, so the level cannot
# be baked into their class (a SIGHUP reload would never reach them): the
# first processor drops events below it instead.
_threshold = [logging.INFO]


def debug_enabled() -> bool:
    """Whether debug lines are written now: a hot path checks this first,
    as a dropped line still costs its processor call (~10 µs)."""
    return _threshold[0] <= logging.DEBUG


def _below_threshold(logger: Any, method_name: str, event_dict: Any) -> Any:
    if _LEVELS.get(method_name, logging.CRITICAL) < _threshold[0]:
        raise structlog.DropEvent
    return event_dict


_configured = [False]


def set_level(level: str) -> None:
    """Change the level of every logger, cached ones included (SIGHUP)."""
    _threshold[0] = _LEVELS[level]


def configure(config: LogConfig, *, cache: bool = True) -> None:
    """Configure structlog for the process (`cache=False` in tests).

    Called again (a config reload), it only changes the level: the output
    format is fixed for the life of the process.
    """
    set_level(config.level)
    if _configured[0]:
        return
    _configured[0] = True
    processors: list[Any] = [
        _below_threshold,
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
        # DEBUG here: `_below_threshold` applies the (changeable) level.
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_factory=factory,
        cache_logger_on_first_use=cache,
    )
