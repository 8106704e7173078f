"""The configuration schema and its rules, shared by the daemon and the CLI.

One TOML file decoded into validated msgspec Structs. Precedence: command-line
flags > ``AXD_*`` environment > file > defaults. TOML keys are snake_case like
the wire; an unknown key or a wrong type is an error naming the file and the
key path, never a silent default.

No I/O here: the caller reads the file (`locate` says which) and hands over
its bytes, or the `OSError` it got, and the environment as a mapping. The
daemon's loader is `axd.daemon.config`, the CLI's `axd.client.settings`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NamedTuple

import msgspec

from axd.protocol.flags import FlagName, FlagRules
from axd.protocol.paths import default_socket_path, default_state_dir

if TYPE_CHECKING:
    from collections.abc import Mapping


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A config table; a typo is an error, not a silent default."""


class ServerConfig(_Section, frozen=True, kw_only=True):
    max_message_bytes: int = 16 * 1024 * 1024
    max_connections: int = 256
    # Requests one connection may have in flight; more wait (backpressure).
    max_inflight_per_connection: int = 64
    # Of those, how many run at once (batch elements included): one client
    # cannot occupy every reader thread, so others' requests wait for at
    # most this many of its requests per busy connection, never its backlog.
    max_concurrent_per_connection: int = 4
    # Requests in one batch; a longer batch is refused with -32600.
    max_batch: int = 256
    # Array/object nesting in one message; deeper is refused with -32600
    # before decoding (decoders recurse).
    max_nesting_depth: int = 64
    request_timeout_s: float = 60.0
    # In-flight requests get this long to finish when the daemon stops.
    shutdown_grace_s: float = 5.0


class IndexConfig(_Section, frozen=True, kw_only=True):
    workers: int = 0  # 0: one per CPU
    max_file_bytes: int = 2 * 1024 * 1024
    max_line_bytes: int = 5000
    max_chunk_bytes: int = 4096
    parse_timeout_ms: int = 5000
    batch_files: int = 128
    exclude: list[str] = []
    follow_symlinks: bool = False
    # Index safety (#11): pause indexing below this many free bytes on the
    # state filesystem (0: only when SQLite reports the disk full), and
    # retry a paused commit this often.
    min_free_bytes: int = 0
    disk_retry_s: float = 2.0
    # Worker memory (#16): a worker whose Pss (its own pages plus its share
    # of the forkserver's) exceeds this after a batch is replaced by a fresh
    # one (no batch lost; 0: never), and workers idle this long after a
    # batch are replaced by fresh ones (0: never).
    worker_max_pss_mb: int = 32
    worker_idle_s: float = 60.0
    # Replaced by worker_max_pss_mb (an RSS bound counted the pages workers
    # share): still accepted, and ignored but for 0 (never recycle), which
    # it keeps meaning; the daemon logs a warning when it is set.
    worker_max_rss_mb: int | None = None

    def worker_recycle_bytes(self) -> int:
        """The Pss above which a worker is recycled (0: never)."""
        if self.worker_max_rss_mb is not None and self.worker_max_rss_mb <= 0:
            return 0
        return max(0, self.worker_max_pss_mb) * 1024 * 1024


class SnapshotsConfig(_Section, frozen=True, kw_only=True):
    keep: int = 10  # snapshots kept per workspace, oldest deleted first
    interval_s: float = 24 * 3600  # automatic snapshots at most this often
    check_interval_s: float = 60.0  # how often the schedule is looked at
    # Incremental snapshots: a snapshot stores only the changes since the
    # previous one (a changeset chain on a full base) until the chain has
    # `chain_max` changesets or they add up to `chain_max_fraction` of the
    # base's size; then the next one is full. chain_max = 0: always full.
    chain_max: int = 20
    chain_max_fraction: float = 0.5
    # `PRAGMA quick_check` of each live index this often (it reads the whole
    # file: perf/RESULTS.md has its cost); 0 turns the periodic check off.
    quick_check_interval_s: float = 6 * 3600
    # ... and when a workspace opens (costs a read of the whole file, ~13 s
    # for 390 MiB on a loaded 2-core machine; a damaged file is still caught
    # by the first query or periodic check that meets the damage).
    quick_check_at_open: bool = True


class WatchConfig(_Section, frozen=True, kw_only=True):
    # A change is passed on once `step_ms` went by without another (so one
    # save waits step_ms to 2 x step_ms), a stream of changes at most every
    # `debounce_ms`. 5 ms costs ~0.2% of a core per watched set while idle;
    # 50 ms cost ~75 ms of every save's latency (#16, perf/RESULTS.md).
    debounce_ms: int = 50
    step_ms: int = 5
    force_polling: bool = False
    poll_interval_ms: int = 1000


class MetricsConfig(_Section, frozen=True, kw_only=True):
    # Empty string disables the HTTP listener; port 0 picks a free one.
    addr: str = "127.0.0.1:9464"


class LogConfig(_Section, frozen=True, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class HealthConfig(_Section, frozen=True, kw_only=True):
    interval_s: float = 15.0
    disk_degraded_free_bytes: int = 1024 * 1024 * 1024
    disk_unhealthy_free_bytes: int = 100 * 1024 * 1024
    queue_degraded_depth: int = 10_000
    queue_degraded_age_s: float = 120.0
    queue_unhealthy_age_s: float = 900.0
    store_timeout_s: float = 2.0
    worker_crashes_degraded: int = 3
    # On-demand checks (`health` RPC, /healthz) within this many seconds of
    # the last run share its report, so a burst of calls runs them once.
    cache_s: float = 1.0


# `[flags.overrides]` values: PROTOCOL.md's `on`, `off`, `variant:<v>`.
_OverrideValue = Annotated[
    str, msgspec.Meta(pattern=r"^\s*(?i:on|off|variant:\s*\S.*)\s*$")
]


class FlagsConfig(_Section, frozen=True, kw_only=True):
    # PROTOCOL.md "Configuration": read by the flags evaluator (issue #13).
    overrides: dict[str, _OverrideValue] = {}
    # `[flags.definitions.NAME]` tables: flags defined by the file (reloaded
    # on SIGHUP); a flags.set of the same name shadows them (README).
    definitions: dict[FlagName, FlagRules] = {}


class TelemetryConfig(_Section, frozen=True, kw_only=True):
    # Raw events older than this are deleted; daily aggregates are kept
    # `aggregate_days`. Nothing is recorded without consent (README).
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30
    aggregate_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365
    flush_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0


class Config(_Section, frozen=True, kw_only=True):
    socket_path: str | None = None  # None: $XDG_RUNTIME_DIR/axd/axd.sock
    state_dir: str | None = None  # None: $XDG_STATE_HOME/axd
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    index: IndexConfig = msgspec.field(default_factory=IndexConfig)
    watch: WatchConfig = msgspec.field(default_factory=WatchConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    flags: FlagsConfig = msgspec.field(default_factory=FlagsConfig)
    telemetry: TelemetryConfig = msgspec.field(default_factory=TelemetryConfig)
    snapshots: SnapshotsConfig = msgspec.field(default_factory=SnapshotsConfig)


_PATH_IN_MESSAGE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def describe_validation_error(message: str) -> tuple[str, str]:
    """(key path, problem) from a msgspec validation message.

    ``Expected `int`, got `str` - at `$.server.max_connections` `` becomes
    ``("server.max_connections", "expected `int`, got `str`")``.
    """
    where = ""
    match = _PATH_IN_MESSAGE.search(message)
    if match:
        where = match["path"].lstrip(".")
        message = message[: match.start()]
    for pattern, problem in ((_UNKNOWN, "unknown key"), (_MISSING, "missing key")):
        found = pattern.search(message)
        if found:
            key = f"{where}.{found['field']}" if where else found["field"]
            return key, problem
    return where or "(top level)", message[:1].lower() + message[1:]


class ConfigFile(NamedTuple):
    """Which file to read, and whether it must exist (it was named explicitly)."""

    path: Path
    required: bool


def default_config_path(env: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/axd/config.toml (else ~/.config/axd/config.toml)."""
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "axd" / "config.toml"


def locate(explicit: str | None, env: Mapping[str, str]) -> ConfigFile:
    """`--config FILE`, else ``$AXD_CONFIG``, else the default (optional) file."""
    if explicit:
        return ConfigFile(Path(explicit).expanduser(), True)
    if env.get("AXD_CONFIG"):
        return ConfigFile(Path(env["AXD_CONFIG"]).expanduser(), True)
    return ConfigFile(default_config_path(env), False)


def decode(data: bytes, path: Path) -> Config:
    """Validate the TOML text of the file at `path`.

    :raises ConfigError: invalid TOML, unknown key, wrong type (file + key path).
    """
    try:
        return msgspec.toml.decode(data, type=Config)
    except msgspec.ValidationError as exc:
        key, problem = describe_validation_error(str(exc))
        raise ConfigError(f"{path}: {key}: {problem}") from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def from_file(where: ConfigFile, read: bytes | OSError) -> tuple[Config, Path | None]:
    """The file's config and its path, given what reading it gave.

    A missing optional file means defaults (and no path).

    :raises ConfigError: a required file is missing, a file is unreadable or invalid.
    """
    if isinstance(read, FileNotFoundError) and not where.required:
        return Config(), None
    if isinstance(read, FileNotFoundError):
        raise ConfigError(f"{where.path}: no such config file")
    if isinstance(read, OSError):
        raise ConfigError(f"{where.path}: cannot read: {read.strerror or read}")
    return decode(read, where.path), where.path


def apply_env(config: Config, env: Mapping[str, str]) -> Config:
    """``AXD_*`` overrides, all applied here and nowhere else."""
    replace = msgspec.structs.replace
    if env.get("AXD_SOCKET"):
        config = replace(config, socket_path=env["AXD_SOCKET"])
    if env.get("AXD_STATE_DIR"):
        config = replace(config, state_dir=env["AXD_STATE_DIR"])
    if "AXD_METRICS_ADDR" in env:
        config = replace(
            config, metrics=replace(config.metrics, addr=env["AXD_METRICS_ADDR"])
        )
    level = env.get("AXD_LOG_LEVEL", "").lower()
    if level:
        config = _with_log(config, level=level)
    fmt = env.get("AXD_LOG_FORMAT", "").lower()
    if fmt:
        config = _with_log(config, format=fmt)
    return config


def _with_log(config: Config, **changes: str) -> Config:
    merged = msgspec.structs.asdict(config.log) | changes
    try:
        log = msgspec.convert(merged, type=LogConfig)
    except msgspec.ValidationError as exc:
        key, problem = describe_validation_error(str(exc))
        raise ConfigError(f"environment: log.{key}: {problem}") from exc
    return msgspec.structs.replace(config, log=log)


def apply_flags(
    config: Config,
    *,
    socket_path: str | None = None,
    state_dir: str | None = None,
    metrics_addr: str | None = None,
) -> Config:
    """Command-line flags, which win over everything else."""
    replace = msgspec.structs.replace
    if socket_path:
        config = replace(config, socket_path=socket_path)
    if state_dir:
        config = replace(config, state_dir=state_dir)
    if metrics_addr is not None:
        config = replace(config, metrics=replace(config.metrics, addr=metrics_addr))
    return config


def runtime_socket_path(config: Config, env: Mapping[str, str] = os.environ) -> Path:
    """The configured socket, else the default of ARCHITECTURE.md."""
    if config.socket_path:
        return Path(config.socket_path).expanduser()
    return default_socket_path(env)


def state_directory(config: Config, env: Mapping[str, str] = os.environ) -> Path:
    """The configured state directory, else the default of ARCHITECTURE.md."""
    if config.state_dir:
        return Path(config.state_dir).expanduser()
    return default_state_dir(env)


def parse_addr(addr: str) -> tuple[str, int] | None:
    """``HOST:PORT`` → (host, port); empty string → None (listener off).

    :raises ConfigError: not HOST:PORT with a port in 0..65535.
    """
    if not addr:
        return None
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"metrics.addr: expected HOST:PORT, got {addr!r}")
    return host.strip("[]") or "127.0.0.1", int(port)
