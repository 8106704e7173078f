"""The auto-kill and exposure statistics: through the real daemon, and the
service's announcement on the daemon's event fan-out."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import structlog.testing
from flagtools import call, evaluate_many, running, subjects

from axd.daemon.events import Events, FlagsChanged
from axd.daemon.flags.runtime import DAEMON_FLAGS
from axd.daemon.flags.service import FlagService
from axd.daemon.flags.stats import z_test
from axd.protocol.flags import FlagDefinition

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config

RISKY = {
    "name": "risky",
    "rollout_percentage": 100,
    "kill_error_rate": 0.2,
    "kill_min_samples": 50,
}


async def _errors(client: AsyncClient, people: list[str]) -> None:
    for subject in people:
        await call(client, "flags.track", {"flag": "risky", "subject": subject})


def _kills(metrics_text: str) -> float:
    match = re.search(
        r'^axd_flag_kills_total\{flag="risky"\} (\S+)$', metrics_text, re.MULTILINE
    )
    return float(match[1]) if match else 0.0


async def test_auto_kill_fires_once_above_min_sample_and_persists(
    config: Config,
) -> None:
    people = subjects(60)
    async with running(config) as (_, client):
        logs = await _kill_risky(client, people)
    kills = [entry for entry in logs if entry.get("event") == "flag_killed"]
    assert len(kills) == 1 and kills[0]["flag"] == "risky"
    assert kills[0]["log_level"] == "warning"

    async with running(config) as (_, client):  # the kill is persisted
        answer = await call(client, "flags.evaluate", {"flag": "risky", "subject": "a"})
        assert answer["reason"] == "killed"
        await call(client, "flags.set", RISKY)  # only flags.set undoes it
        answer = await call(client, "flags.evaluate", {"flag": "risky", "subject": "a"})
        assert answer["reason"] == "rollout" and answer["enabled"]
        stats = await call(client, "flags.stats", {"name": "risky"})
        assert stats["killed"] is None and stats["window"]["errors"] == 0


async def _kill_risky(client: AsyncClient, people: list[str]) -> list[dict[str, Any]]:
    with structlog.testing.capture_logs() as logs:
        await call(client, "flags.set", RISKY)
        await evaluate_many(client, "risky", people[:40])
        await _errors(client, people[:30])  # 75 % errors, but 40 < 50 exposures
        answer = await call(client, "flags.evaluate", {"flag": "risky", "subject": "z"})
        assert answer["reason"] == "rollout" and answer["enabled"]
        metrics = (await call(client, "metrics"))["text"]
        assert _kills(metrics) == 0
        # 41 exposures now ("z" too); 19 more make 60, and the next error kills.
        await evaluate_many(client, "risky", people[41:60])
        await _errors(client, people[30:31])
        answer = await call(client, "flags.evaluate", {"flag": "risky", "subject": "a"})
        assert answer == {
            "flag": "risky",
            "enabled": False,
            "variant": None,
            "reason": "killed",
        }
        await _errors(client, people[31:50])  # more errors: no second kill
        metrics = (await call(client, "metrics"))["text"]
        assert _kills(metrics) == 1
        stats = await call(client, "flags.stats", {"name": "risky"})
        assert stats["killed"]["exposures"] == 60
        assert stats["killed"]["errors"] == 31
        listed = (await call(client, "flags.list"))["flags"]
        assert listed[0]["killed"] is True
    return logs


async def test_set_delete_and_auto_kill_reach_flags_changed_subscribers(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    async with running(config) as (_, client):
        await call(client, "workspace.add", {"root": str(root)})
        subscribed = await call(
            client, "subscribe", {"root": str(root), "events": ["flags.changed"]}
        )
        await _kill_risky(client, subjects(60))
        await call(client, "flags.delete", {"name": "risky"})
        notes: list[dict[str, Any]] = []
        with anyio.fail_after(30):
            while len(notes) < 3:
                method, params = await client.notifications.receive()
                if method == "flags.changed":
                    notes.append(json.loads(params))
    ident = subscribed["subscription"]
    assert notes == [
        {"subscription": ident, "names": ["risky"], "reason": reason}
        for reason in ("set", "killed", "deleted")
    ]


async def test_no_kill_below_the_rate_or_without_a_kill_rate(config: Config) -> None:
    people = subjects(200)
    async with running(config) as (_, client):
        await call(client, "flags.set", RISKY)
        await call(client, "flags.set", {**RISKY, "name": "unguarded"})
        await call(client, "flags.set", {"name": "plain", "rollout_percentage": 100})
        await evaluate_many(client, "risky", people)
        await evaluate_many(client, "plain", people)
        await _errors(client, people[:40])  # exactly 20 %: not over it
        for subject in people:
            await call(client, "flags.track", {"flag": "plain", "subject": subject})
        for flag in ("risky", "plain"):
            answer = await call(
                client, "flags.evaluate", {"flag": flag, "subject": "q"}
            )
            assert answer["reason"] == "rollout", flag
        assert _kills((await call(client, "metrics"))["text"]) == 0


async def test_stats_compare_variants_with_a_z_test(config: Config) -> None:
    people = subjects(2_000)
    async with running(config) as (_, client):
        await call(
            client,
            "flags.set",
            {"name": "ab", "variants": [{"name": "control"}, {"name": "treatment"}]},
        )
        answers = await evaluate_many(client, "ab", people)
        by_variant: dict[str, list[str]] = {"control": [], "treatment": []}
        for subject, answer in answers.items():
            by_variant[answer["variant"]].append(subject)
        # 2 % errors in control, 10 % in treatment.
        failing = by_variant["control"][::50] + by_variant["treatment"][::10]
        for subject in failing:
            await call(client, "flags.track", {"flag": "ab", "subject": subject})
        stats = await call(client, "flags.stats", {"name": "ab"})
    arms = {arm["variant"]: arm for arm in stats["arms"]}
    assert arms["control"]["exposures"] == len(by_variant["control"])
    assert arms["treatment"]["errors"] == len(by_variant["treatment"][::10])
    (comparison,) = stats["comparisons"]
    assert comparison["baseline"] == "control"
    assert comparison["significant"] is True and comparison["z"] > 0


def test_z_test_matches_a_worked_example() -> None:
    # 30/1000 against 45/1000: pooled 0.0375, z = 1.7655, p = 0.0775.
    z, p = z_test(30, 1000, 45, 1000)
    assert z == pytest.approx(1.7655, abs=1e-4)
    assert p == pytest.approx(0.0775, abs=1e-4)
    assert z_test(0, 0, 1, 10) == (None, None)
    assert z_test(0, 10, 0, 10) == (None, None)


async def test_kill_and_set_are_published_to_event_subscribers(tmp_path: Path) -> None:
    events = Events()
    service = FlagService(
        tmp_path / "flags.db",
        events=events,
        daemon_flags={flag.name: flag.methods for flag in DAEMON_FLAGS},
    )
    service.open()
    definition = FlagDefinition(
        name="search.exact_name_boost",
        rollout_percentage=100,
        kill_error_rate=0.45,
        kill_min_samples=10,
    )
    got: list[Any] = []
    with events.subscribed() as received:
        await service.set(definition)
        # The dispatch observer: thirteen searches, six failing on the server
        # side (6/13 > 0.45 at the last one), three failing on the caller's
        # side (not the flag's fault).
        for outcome in ["ok"] * 4 + ["invalid_params"] * 3:
            service.request_done("search", outcome, 0.001)
        assert not service.kill_of(definition.name)
        for _ in range(6):
            service.request_done("search", "internal_error", 0.001)
        assert service.kill_of(definition.name) is not None
        assert service.daemon_flag(definition.name) is False
        with anyio.fail_after(5):
            while len(got) < 2:
                got.append(await received.receive())
    assert got == [
        FlagsChanged(("search.exact_name_boost",), "set"),
        FlagsChanged(("search.exact_name_boost",), "killed"),
    ]
    assert events.subscriber_count == 0
    await service.close()
    reopened = FlagService(tmp_path / "flags.db")
    reopened.open()
    assert reopened.kill_of(definition.name) is not None
    counts = reopened.counts(definition.name)
    assert counts is not None and counts.arm("on").exposures == 13
    await reopened.close()
