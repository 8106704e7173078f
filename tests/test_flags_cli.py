"""`axd flags ...` and `axd telemetry ...` end to end: subprocesses of the
CLI, a daemon it auto-starts, and the consent question on a real pty."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from support import environment_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from axd.daemon.config import Config

AXD = [sys.executable, "-c", "from axd.client.cli import run; run()"]
QUIET = ("CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS",
         "DO_NOT_TRACK", "AXD_TELEMETRY")  # fmt: skip


def _env(config: Config, **extra: str) -> dict[str, str]:
    env = environment_for(config)
    for name in QUIET:
        env.pop(name, None)
    env.update(extra)
    return env


def axd(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AXD, *args],
        env=_env(config),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def axd_json(config: Config, *args: str) -> object:
    proc = axd(config, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def daemon_up(config: Config) -> Iterator[Config]:
    proc = axd(config, "status")
    assert proc.returncode == 0, proc.stderr
    yield config
    axd(config, "stop")


def test_flags_commands(daemon_up: Config) -> None:
    c = daemon_up
    created = axd_json(
        c, "flags", "set", "beta", "--rollout", "25", "--allow", "ann",
        "--cohort", "staff", "--variant", "a=1", "--variant", "b=3",
        "--kill-error-rate", "0.5", "--description", "new UI",
    )  # fmt: skip
    assert isinstance(created, dict)
    assert created["flag"]["variants"] == [
        {"name": "a", "weight": 1.0},
        {"name": "b", "weight": 3.0},
    ]
    table = axd(c, "flags", "list")
    assert table.returncode == 0 and "beta" in table.stdout and "25%" in table.stdout
    answer = axd_json(c, "flags", "eval", "beta", "--subject", "ann")
    assert answer == {
        "flag": "beta",
        "enabled": True,
        "variant": answer["variant"],  # type: ignore[index]
        "reason": "allowlist",
    }
    cohort = axd_json(
        c, "flags", "eval", "beta", "--subject", "zed", "--attr", "cohorts=x,staff"
    )
    assert cohort["reason"] == "cohort"  # type: ignore[index]
    human = axd(c, "flags", "eval", "beta", "--subject", "ann")
    assert human.stdout.startswith("beta: on variant ")
    assert axd_json(c, "flags", "rollout", "beta", "60")["flag"] == {  # type: ignore[index]
        **created["flag"],
        "rollout_percentage": 60.0,
    }
    assert axd_json(c, "flags", "disable", "beta")["flag"]["enabled"] is False  # type: ignore[index]
    assert axd_json(c, "flags", "enable", "beta")["flag"]["enabled"] is True  # type: ignore[index]
    assert axd_json(c, "flags", "get", "beta")["allow"] == ["ann"]  # type: ignore[index]
    stats = axd(c, "flags", "stats", "beta")
    assert stats.returncode == 0 and "b vs a: not enough data" in stats.stdout
    assert "exposures" in stats.stdout
    assert axd(c, "flags", "get", "nope").returncode == 1
    assert axd(c, "flags", "rollout", "beta", "150").returncode == 2
    bad = axd(c, "flags", "set", "beta", "--definition", '{"rollout_percentage": -1}')
    assert bad.returncode == 1 and "$.rollout_percentage" in bad.stderr
    assert axd_json(c, "flags", "delete", "beta") == {"ok": True}
    assert axd(c, "flags", "list").stdout.strip() == "no flags defined"


def test_flags_stats_shows_an_auto_kill(daemon_up: Config) -> None:
    c = daemon_up
    definition = '{"kill_error_rate": 0.2, "kill_min_samples": 5}'
    assert axd(c, "flags", "set", "risky", "--definition", definition).returncode == 0
    for n in range(6):
        assert axd(c, "flags", "eval", "risky", "--subject", f"s{n}").returncode == 0
    for n in range(2):  # 2 errors in 6 exposures: 33 % > 20 %
        track = json.dumps({"flag": "risky", "subject": f"s{n}"})
        assert axd(c, "call", "flags.track", track).returncode == 0
    stats = axd(c, "flags", "stats", "risky")
    assert stats.returncode == 0, stats.stderr
    assert "killed at " in stats.stdout
    assert "error rate 33.33% over 6 exposures" in stats.stdout
    assert "on vs off: not enough data to compare" in stats.stdout
    assert "killed" in axd(c, "flags", "list").stdout


def test_telemetry_commands_and_no_question_without_a_terminal(
    daemon_up: Config, tmp_path: Path
) -> None:
    c = daemon_up
    status = axd_json(c, "telemetry", "status")
    assert status["consent"] is None  # type: ignore[index]  # never asked: no TTY
    assert axd(c, "telemetry", "enable").returncode == 0
    for _ in range(3):
        axd(c, "call", "server.info")
    stats = axd(c, "telemetry", "stats")
    assert stats.returncode == 0 and "server.info" in stats.stdout
    assert "server.info" in axd(c, "telemetry", "performance").stdout
    assert axd(c, "telemetry", "errors").returncode == 0
    exported = axd(c, "telemetry", "export")
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert lines and all(line["kind"] == "request" for line in lines)
    out = tmp_path / "events.jsonl"
    assert axd(c, "telemetry", "export", "-o", str(out)).returncode == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert len(out.read_text().splitlines()) >= len(lines)
    cleared = axd_json(c, "telemetry", "clear")
    assert cleared["deleted_events"] >= len(lines)  # type: ignore[index]
    disabled = axd(c, "telemetry", "disable")
    assert disabled.returncode == 0 and "recording: off" in disabled.stdout


def _on_a_terminal(
    config: Config, args: list[str], answer: bytes | None, **env: str
) -> str:
    """Run `axd ARGS` with a pty as its terminal; answer the question if asked."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*AXD, *args],
        env=_env(config, **env),
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the pty closed: the process is gone
                    break
                if not chunk:
                    break
                seen += chunk
                if b"[y/N]" in seen and not answered and answer is not None:
                    os.write(leader, answer)
                    answered = True
            elif proc.poll() is not None:
                break
        assert proc.wait(timeout=10) == 0, seen
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return seen.decode(errors="replace")


def test_consent_is_asked_once_on_a_terminal(daemon_up: Config) -> None:
    c = daemon_up
    in_ci = _on_a_terminal(c, ["status"], None, CI="true")
    assert "[y/N]" not in in_ci
    not_tracked = _on_a_terminal(c, ["status"], None, DO_NOT_TRACK="1")
    assert "[y/N]" not in not_tracked
    as_json = _on_a_terminal(c, ["status", "--json"], None)
    assert "[y/N]" not in as_json
    assert axd_json(c, "telemetry", "status")["consent"] is None  # type: ignore[index]
    first = _on_a_terminal(c, ["status"], b"y\n")
    assert "Keep them? [y/N]" in first and "telemetry on" in first
    assert axd_json(c, "telemetry", "status")["consent"] is True  # type: ignore[index]
    second = _on_a_terminal(c, ["status"], None)
    assert "[y/N]" not in second
    consent = Path(_env(c)["XDG_CONFIG_HOME"]) / "axd" / "telemetry.json"
    assert json.loads(consent.read_text())["enabled"] is True


def test_config_flags_reload_on_a_real_sighup(config: Config, tmp_path: Path) -> None:
    config_file = tmp_path / "axd.toml"
    config_file.write_text("[flags.definitions.hup]\nenabled = false\n")
    env = _env(config)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "axd.daemon", "--config", str(config_file)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def reason() -> str:
            proc = axd(config, "--no-start", "flags", "eval", "hup", "--json")
            return (
                str(json.loads(proc.stdout)["reason"]) if proc.returncode == 0 else ""
            )

        deadline = time.monotonic() + 30
        while reason() != "disabled":
            assert time.monotonic() < deadline and daemon.poll() is None
            time.sleep(0.05)
        config_file.write_text("[flags.definitions.hup]\nenabled = true\n")
        daemon.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while reason() != "default":
            assert time.monotonic() < deadline and daemon.poll() is None
            time.sleep(0.05)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
