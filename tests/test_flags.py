# (tests write config files with plain blocking calls on purpose)
"""Feature flags through the real daemon: rollout, rules, reasons,
overrides, persistence, validation (issue #13's checks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from flagtools import call, evaluate_many, isolated_env, running, subjects

from axd.client.connection import RemoteError
from axd.daemon.flags.evaluate import rollout_bucket
from axd.protocol.flags import REASONS

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config


def _on(answers: dict[str, dict[str, Any]]) -> set[str]:
    return {subject for subject, answer in answers.items() if answer["enabled"]}


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


async def test_rollout_share_is_within_two_percent_and_the_same_in_a_second_daemon(
    config: Config, tmp_path: Path
) -> None:
    people = subjects(10_000)
    async with running(config) as (_, client):
        await call(client, "flags.set", {"name": "new-ui", "rollout_percentage": 30})
        first = await evaluate_many(client, "new-ui", people)
    on = _on(first)
    assert 0.28 * len(people) <= len(on) <= 0.32 * len(people)
    assert {a["reason"] for a in first.values()} == {"rollout"}
    # The recipe in the README, computed here without the daemon.
    assert on == {s for s in people if rollout_bucket("new-ui", s) < 3000}

    other = msgspec.structs.replace(config, state_dir=str(tmp_path / "other-state"))
    async with running(other) as (_, client):
        await call(client, "flags.set", {"name": "new-ui", "rollout_percentage": 30})
        second = await evaluate_many(client, "new-ui", people)
    assert second == first


async def test_raising_the_percentage_never_turns_a_subject_off(
    config: Config,
) -> None:
    people = subjects(2_000)
    previous: set[str] = set()
    async with running(config) as (_, client):
        for percentage in range(5, 100, 10):
            await call(
                client,
                "flags.set",
                {"name": "ramp", "rollout_percentage": percentage},
            )
            on = _on(await evaluate_many(client, "ramp", people))
            assert previous <= on, f"subjects turned off at {percentage} %"
            assert abs(len(on) / len(people) - percentage / 100) < 0.04
            previous = on
        for percentage, expected in ((0, set()), (100, set(people))):
            await call(
                client, "flags.set", {"name": "ramp", "rollout_percentage": percentage}
            )
            answers = await evaluate_many(client, "ramp", people)
            assert _on(answers) == expected
            assert {a["reason"] for a in answers.values()} == {"rollout"}


async def test_variant_weights_within_three_percent(config: Config) -> None:
    people = subjects(10_000)
    async with running(config) as (_, client):
        await call(
            client,
            "flags.set",
            {
                "name": "layout",
                "variants": [
                    {"name": "a", "weight": 1},
                    {"name": "b", "weight": 3},
                    {"name": "never", "weight": 0},
                ],
            },
        )
        answers = await evaluate_many(client, "layout", people)
    shares = {
        name: sum(1 for a in answers.values() if a["variant"] == name) / len(people)
        for name in ("a", "b", "never")
    }
    assert abs(shares["a"] - 0.25) <= 0.03
    assert abs(shares["b"] - 0.75) <= 0.03
    assert shares["never"] == 0
    assert all(a["enabled"] and a["reason"] == "default" for a in answers.values())


async def test_every_reason_is_reachable_in_protocol_order(config: Config) -> None:
    env = isolated_env(config, AXD_FLAG_FORCED="variant:blue")
    seen: dict[str, str] = {}
    async with running(config, env) as (_, client):

        async def define(name: str, **rules: Any) -> None:
            await call(client, "flags.set", {"name": name, **rules})

        async def check(flag: str, subject: str | None, reason: str, **extra: Any):
            params: dict[str, Any] = {"flag": flag, **extra}
            if subject is not None:
                params["subject"] = subject
            answer = await call(client, "flags.evaluate", params)
            assert answer["reason"] == reason, (flag, subject, answer)
            seen[reason] = flag
            return answer

        await define("forced", enabled=False)
        answer = await check("forced", "u1", "override")
        assert answer == {
            "flag": "forced",
            "enabled": True,
            "variant": "blue",
            "reason": "override",
        }
        await define("off", enabled=False, allow=["u1"])
        assert not (await check("off", "u1", "disabled"))["enabled"]
        await define("later", enabled_after=_iso(timedelta(days=1)), allow=["u1"])
        assert not (await check("later", "u1", "not_started"))["enabled"]
        await define("gone", expires_at=_iso(timedelta(seconds=-1)), allow=["u1"])
        assert not (await check("gone", "u1", "expired"))["enabled"]
        window = {
            "enabled_after": _iso(timedelta(days=-1)),
            "expires_at": _iso(timedelta(days=1)),
        }
        await define(
            "rules",
            allow=["vip", "both"],
            deny=["banned", "both"],
            cohorts=["beta"],
            rollout_percentage=0,
            **window,
        )
        assert not (await check("rules", "both", "denylist"))["enabled"]
        assert not (await check("rules", "banned", "denylist"))["enabled"]
        assert (await check("rules", "vip", "allowlist"))["enabled"]
        beta = {"attributes": {"cohorts": ["alpha", "beta"]}}
        assert (await check("rules", "someone", "cohort", **beta))["enabled"]
        assert not (await check("rules", "someone", "rollout"))["enabled"]
        await define("plain")
        assert (await check("plain", "anyone", "default"))["enabled"]
        assert (await check("plain", None, "default"))["enabled"]
        assert not (await check("nobody-defined-this", "u1", "unknown"))["enabled"]
        # Without a subject a partial rollout leaves the caller out.
        await define("half", rollout_percentage=50)
        assert not (await check("half", None, "rollout"))["enabled"]
        # killed: test_flag_kill.py reaches it through the auto-kill.
    assert set(seen) == set(REASONS) - {"killed"}


async def test_overrides_environment_wins_over_config(
    config: Config, tmp_path: Path
) -> None:
    config_file = tmp_path / "axd.toml"
    config_file.write_text(
        "[flags.overrides]\n"
        '"search.beta" = "off"\n'
        '"both-set" = "off"\n'
        'colour = "variant:red"\n'
        "[flags.definitions.both-set]\n"
        "enabled = true\n"
    )
    from axd.daemon.config import load

    loaded, _ = load(str(config_file), env={})
    loaded = msgspec.structs.replace(
        loaded,
        socket_path=config.socket_path,
        state_dir=config.state_dir,
        metrics=config.metrics,
        log=config.log,
        index=config.index,
    )
    env = isolated_env(config, AXD_FLAG_BOTH_SET="on", AXD_FLAG_NEW_THING="on")
    async with running(loaded, env, config_file) as (_, client):

        async def evaluate(flag: str) -> dict[str, Any]:
            return dict(
                await call(client, "flags.evaluate", {"flag": flag, "subject": "s"})
            )

        assert await evaluate("search.beta") == {
            "flag": "search.beta",
            "enabled": False,
            "variant": None,
            "reason": "override",
        }
        assert (await evaluate("both-set"))["enabled"] is True  # env beats config
        assert (await evaluate("colour"))["variant"] == "red"
        assert (await evaluate("new-thing"))["enabled"] is True
        # An override beats a definition set through the API too.
        await call(client, "flags.set", {"name": "search.beta", "enabled": True})
        assert (await evaluate("search.beta"))["reason"] == "override"
        listed = await call(client, "flags.list")
        sources = {f["name"]: f["source"] for f in listed["flags"]}
        assert sources == {"both-set": "config", "search.beta": "api"}


async def test_definitions_survive_a_restart(config: Config) -> None:
    definition = {
        "name": "sticky",
        "enabled": True,
        "rollout_percentage": 12.5,
        "allow": ["a"],
        "deny": ["b"],
        "cohorts": ["c"],
        "enabled_after": "2026-01-01T00:00:00+02:00",
        "expires_at": "2099-01-01T00:00:00Z",
        "variants": [{"name": "x", "weight": 2.0}, {"name": "y", "weight": 1.0}],
        "kill_error_rate": 0.5,
        "description": "kept",
    }
    people = subjects(500)
    async with running(config) as (daemon, client):
        stored = (await call(client, "flags.set", definition))["flag"]
        before = await evaluate_many(client, "sticky", people)
        db = daemon.state_dir / "flags.db"
    assert stored["enabled_after"] == "2025-12-31T22:00:00Z"  # normalised to UTC
    assert db.stat().st_mode & 0o777 == 0o600
    async with running(config) as (_, client):
        listed = (await call(client, "flags.list"))["flags"]
        assert listed == [stored]
        assert await evaluate_many(client, "sticky", people) == before
        await call(client, "flags.delete", {"name": "sticky"})
    async with running(config) as (_, client):
        assert (await call(client, "flags.list"))["flags"] == []


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"name": "x", "rollout_percentage": 101}, "$.rollout_percentage"),
        ({"name": "x", "rollout_percentage": "ten"}, "$.rollout_percentage"),
        ({"name": "bad name!"}, "$.name"),
        ({"enabled": True}, "$.name"),
        ({"name": "x", "kill_error_rate": 1.5}, "$.kill_error_rate"),
        ({"name": "x", "expires_at": "tomorrow"}, "$.expires_at"),
        ({"name": "x", "enabled_after": "2026-01-01T00:00:00"}, "$.enabled_after"),
        (
            {
                "name": "x",
                "enabled_after": "2026-02-01T00:00:00Z",
                "expires_at": "2026-01-01T00:00:00Z",
            },
            "$.expires_at",
        ),
        (
            {"name": "x", "variants": [{"name": "a"}, {"name": "a"}]},
            "$.variants[1].name",
        ),
        (
            {"name": "x", "variants": [{"name": "a", "weight": -1}]},
            "$.variants[0].weight",
        ),
        ({"name": "x", "variants": [{"name": "a", "weight": 0}]}, "$.variants"),
        ({"name": "x", "allow": "everyone"}, "$.allow"),
    ],
)
async def test_invalid_definitions_name_the_field(
    config: Config, definition: dict[str, Any], field: str
) -> None:
    async with running(config) as (_, client):
        with pytest.raises(RemoteError) as caught:
            await call(client, "flags.set", definition)
        assert caught.value.code == -32602
        assert caught.value.data["field"] == field
        assert (await call(client, "flags.list"))["flags"] == []


async def test_delete_unknown_and_config_flags(config: Config, tmp_path: Path) -> None:
    config_file = tmp_path / "axd.toml"
    config_file.write_text("[flags.definitions.from-file]\nrollout_percentage = 5\n")
    loaded = msgspec.structs.replace(
        config,
        flags=msgspec.toml.decode(config_file.read_bytes(), type=type(config)).flags,
    )
    async with running(loaded, None, config_file) as (_, client):
        with pytest.raises(RemoteError) as caught:
            await call(client, "flags.delete", {"name": "nope"})
        assert caught.value.code == -32003
        with pytest.raises(RemoteError) as caught:
            await call(client, "flags.delete", {"name": "from-file"})
        assert caught.value.code == -32005
        # flags.set shadows the file's definition; delete brings it back.
        await call(client, "flags.set", {"name": "from-file", "enabled": False})
        answer = await call(client, "flags.evaluate", {"flag": "from-file"})
        assert answer["reason"] == "disabled"
        await call(client, "flags.delete", {"name": "from-file"})
        listed = (await call(client, "flags.list"))["flags"]
        assert [(f["name"], f["source"], f["rollout_percentage"]) for f in listed] == [
            ("from-file", "config", 5.0)
        ]
        with pytest.raises(RemoteError) as caught:
            await call(
                client,
                "flags.evaluate",
                {"flag": "from-file", "attributes": {"cohorts": "beta"}},
            )
        assert caught.value.data["field"] == "$.attributes.cohorts"


async def test_config_flags_reload_on_sighup(config: Config, tmp_path: Path) -> None:
    config_file = tmp_path / "axd.toml"
    config_file.write_text("[flags.definitions.reloadable]\nenabled = false\n")
    from axd.daemon.config import load

    def effective() -> Config:
        loaded, _ = load(str(config_file), env={})
        return msgspec.structs.replace(
            loaded,
            socket_path=config.socket_path,
            state_dir=config.state_dir,
            metrics=config.metrics,
            log=config.log,
            index=config.index,
        )

    async with running(effective(), None, config_file) as (daemon, client):
        answer = await call(client, "flags.evaluate", {"flag": "reloadable"})
        assert answer["reason"] == "disabled"
        config_file.write_text(
            "[flags.definitions.reloadable]\nenabled = true\n"
            "[flags.overrides]\nother = 'on'\n"
        )
        await daemon.reload()  # what SIGHUP runs
        answer = await call(client, "flags.evaluate", {"flag": "reloadable"})
        assert answer["reason"] == "default"
        other = await call(client, "flags.evaluate", {"flag": "other"})
        assert other["reason"] == "override"
        config_file.write_text("[flags.definitions.reloadable]\nenabled = 'yes'\n")
        await daemon.reload()  # rejected: the old definitions stay
        answer = await call(client, "flags.evaluate", {"flag": "reloadable"})
        assert answer["reason"] == "default"
