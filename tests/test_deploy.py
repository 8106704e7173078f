"""deploy/: the units verify, the plist parses, the example config decodes."""

from __future__ import annotations

import configparser
import os
import plistlib
import re
import shutil
import stat
import subprocess
from pathlib import Path

import msgspec
import pytest

from axd.daemon.config import Config

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DEPLOY / name)
    return parser


def test_service_unit_settings() -> None:
    service = unit("axd.service")["Service"]
    expected = {
        "Type": "notify",
        "ExecStart": "%h/.local/bin/axd daemon",
        "WatchdogSec": "30",
        "Restart": "on-failure",
        "RestartSec": "2",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "LockPersonality": "yes",
        "RestrictRealtime": "yes",
        "KillMode": "mixed",
        "TimeoutStopSec": "20",
    }
    for key, value in expected.items():
        assert service.get(key) == value, key
    writable = service["ReadWritePaths"].split()
    assert {path.lstrip("-") for path in writable} == {"%S/axd", "%t/axd"}


def test_socket_unit_settings() -> None:
    socket_unit = unit("axd.socket")["Socket"]
    assert socket_unit["ListenStream"] == "%t/axd/axd.sock"
    assert socket_unit["SocketMode"] == "0600"
    assert socket_unit["DirectoryMode"] == "0700"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # `--user verify` needs no running systemd, but a runtime directory and
    # an executable ExecStart: give it a fake home with one.
    home = tmp_path / "home"
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    axd = bin_dir / "axd"
    axd.write_text("#!/bin/sh\nexit 0\n")
    axd.chmod(axd.stat().st_mode | stat.S_IXUSR)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    units = tmp_path / "units"
    units.mkdir()
    for name in ("axd.socket", "axd.service"):
        shutil.copy(DEPLOY / name, units / name)
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime))
    env.pop("XDG_CONFIG_HOME", None)
    proc = subprocess.run(
        ["systemd-analyze", "--user", "verify", "axd.socket", "axd.service"],
        check=False,
        cwd=units,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "Failed to initialize manager" in proc.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {proc.stderr.strip()}")
    # Unknown keys and bad values are only warnings (exit 0): fail on any
    # line about our files.
    complaints = [line for line in proc.stderr.splitlines() if "axd." in line]
    assert proc.returncode == 0 and not complaints, proc.stderr


def test_launchd_plist() -> None:
    with open(DEPLOY / "com.axd.daemon.plist", "rb") as handle:
        plist = plistlib.load(handle)
    assert plist["Label"] == "com.axd.daemon"
    arguments = plist["ProgramArguments"]
    assert arguments[0].endswith("/axd") and arguments[1:] == ["daemon"]
    assert plist["RunAtLoad"] is True
    assert plist["KeepAlive"] == {"SuccessfulExit": False}
    assert plist["EnvironmentVariables"]["AXD_LOG_FORMAT"] == "json"
    for key in ("StandardOutPath", "StandardErrorPath"):
        assert re.fullmatch(r"/Users/[^/]+/Library/Logs/axd/[\w.]+\.log", plist[key])


def test_example_config_is_every_default() -> None:
    data = (DEPLOY / "config.example.toml").read_bytes()
    config = msgspec.toml.decode(data, type=Config)
    assert config == Config()


def _keys(struct: type[msgspec.Struct], prefix: str = "") -> list[str]:
    keys = []
    for field in msgspec.structs.fields(struct):
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            keys += _keys(field.type, f"{field.name}.")
        else:
            keys.append(prefix + field.name)
    return keys


def test_example_config_names_every_key() -> None:
    # Sections by table header ("" before the first); a key may be commented
    # out when it has no TOML spelling of its default (None).
    sections: dict[str, str] = {}
    table = ""
    for line in (DEPLOY / "config.example.toml").read_text().splitlines():
        header = re.fullmatch(r"\[([\w.]+)\]", line.strip())
        if header:
            table = header[1]
        sections[table] = sections.get(table, "") + line + "\n"
    missing = []
    for key in _keys(Config):
        if key in sections:  # a table of its own, like flags.overrides
            continue
        table, _, name = key.rpartition(".")
        pattern = rf"^#?\s*{re.escape(name)}\s*="
        if not re.search(pattern, sections.get(table, ""), re.MULTILINE):
            missing.append(key)
    assert not missing, missing
