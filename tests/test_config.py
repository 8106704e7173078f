"""Configuration: validation messages, precedence, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from axd.client import settings
from axd.daemon.config import Config, ConfigError, load, load_file, parse_addr
from axd.protocol.config import ConfigFile, from_file, locate


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "axd.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[server]\nmax_connections = 'many'\n",
            "server.max_connections: expected `int`, got `str`",
        ),
        ("[server]\nmax_conections = 3\n", "server.max_conections: unknown key"),
        ("[nope]\nx = 1\n", "nope: unknown key"),
        ("[log]\nlevel = 'loud'\n", "log.level"),
        ("[index]\nexclude = 'vendor/'\n", "index.exclude: expected `array`"),
        ("[server\n", "invalid TOML"),
    ],
)
def test_bad_files_name_the_key_and_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config, path = load(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert path is None and config == Config()
    assert config.server.max_message_bytes == 16 * 1024 * 1024
    assert config.server.max_connections == 256
    assert config.index.max_file_bytes == 2 * 1024 * 1024


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load(str(tmp_path / "missing.toml"), env={})
    with pytest.raises(ConfigError, match="no such config file"):
        load(env={"AXD_CONFIG": str(tmp_path / "missing.toml")})


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "socket_path = '/file.sock'\nstate_dir = '/file-state'\n[metrics]\naddr = '127.0.0.1:1'\n",
    )
    env = {
        "AXD_CONFIG": str(path),
        "AXD_SOCKET": "/env.sock",
        "AXD_METRICS_ADDR": "127.0.0.1:2",
    }
    config, used = load(env=env)
    assert used == path
    assert (config.socket_path, config.state_dir, config.metrics.addr) == (
        "/env.sock",
        "/file-state",
        "127.0.0.1:2",
    )
    config, _ = load(socket_path="/flag.sock", metrics_addr="", env=env)
    assert config.socket_path == "/flag.sock" and config.metrics.addr == ""


def test_default_file_location(tmp_path: Path) -> None:
    (tmp_path / "axd").mkdir()
    (tmp_path / "axd" / "config.toml").write_text("[server]\nmax_connections = 7\n")
    config, used = load(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert (
        used == tmp_path / "axd" / "config.toml" and config.server.max_connections == 7
    )


def test_log_level_from_env_is_validated() -> None:
    assert load(env={"AXD_LOG_LEVEL": "DEBUG"})[0].log.level == "debug"
    with pytest.raises(ConfigError, match=r"log\.level"):
        load(env={"AXD_LOG_LEVEL": "chatty"})


def test_flag_overrides_table(tmp_path: Path) -> None:
    path = write(tmp_path, "[flags.overrides]\nnew_ranker = 'variant:b'\n")
    assert load_file(path).flags.overrides == {"new_ranker": "variant:b"}


@pytest.mark.parametrize(
    ("addr", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:0", ("::1", 0)), ("", None)],
)
def test_parse_addr(addr: str, expected: object) -> None:
    assert parse_addr(addr) == expected


@pytest.mark.parametrize("addr", ["nonsense", "host:99999", "host:"])
def test_parse_addr_rejects(addr: str) -> None:
    with pytest.raises(ConfigError):
        parse_addr(addr)


# -- the schema in axd.protocol.config: pure, shared by the daemon and the CLI


def test_from_file_words_what_reading_gave() -> None:
    optional = ConfigFile(Path("/etc/axd.toml"), required=False)
    assert from_file(optional, FileNotFoundError()) == (Config(), None)
    required = optional._replace(required=True)
    with pytest.raises(ConfigError, match=r"^/etc/axd\.toml: no such config file$"):
        from_file(required, FileNotFoundError())
    denied = PermissionError(13, "Permission denied")
    with pytest.raises(ConfigError, match=r"^/etc/axd\.toml: cannot read: Permission"):
        from_file(optional, denied)
    config, used = from_file(optional, b"[index]\nworkers = 3\n")
    assert used == optional.path and config.index.workers == 3


def test_locate_precedence(tmp_path: Path) -> None:
    env = {"AXD_CONFIG": "/env.toml", "XDG_CONFIG_HOME": str(tmp_path)}
    assert locate("/flag.toml", env) == ConfigFile(Path("/flag.toml"), True)
    assert locate(None, env) == ConfigFile(Path("/env.toml"), True)
    assert locate(None, {"XDG_CONFIG_HOME": str(tmp_path)}) == ConfigFile(
        tmp_path / "axd" / "config.toml", False
    )


def test_the_cli_reads_the_config_the_daemon_reads(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nmax_connections = 9\n[log]\nlevel = 'error'\n")
    env = {"XDG_CONFIG_HOME": str(tmp_path), "AXD_LOG_LEVEL": "debug"}
    assert settings.load(str(path), env) == load(str(path), env=env)
    assert settings.load(None, env) == load(env=env)
    with pytest.raises(ConfigError, match="no such config file"):
        settings.load(str(tmp_path / "missing.toml"), env)
