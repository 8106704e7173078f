# (tests read databases and write source files with plain blocking calls)
"""Local telemetry through the real daemon: off by default, consent,
DO_NOT_TRACK, what is stored (and what never is), retention, export, clear."""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec
import pytest
from flagtools import call, isolated_env, running

from axd.client.connection import RemoteError
from axd.daemon.config import TelemetryConfig
from axd.daemon.telemetry.db import TelemetryDB

if TYPE_CHECKING:
    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config


def _db(config: Config) -> Path:
    return Path(str(config.state_dir)) / "telemetry.db"


def _consent_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_CONFIG_HOME"]) / "axd" / "telemetry.json"


async def _traffic(client: AsyncClient) -> None:
    await call(client, "server.info")
    await call(client, "flags.evaluate", {"flag": "x", "subject": "s"})
    with pytest.raises(RemoteError):
        await call(client, "index.status", {})


async def test_off_by_default_writes_nothing(config: Config) -> None:
    env = isolated_env(config)
    async with running(config, env) as (_, client):
        await _traffic(client)
        status = await call(client, "telemetry.status")
        stats = await call(client, "telemetry.stats")
        exported = await call(client, "telemetry.export")
    assert status["enabled"] is False and status["consent"] is None
    assert status["events"] == 0 and status["blocked_by"] is None
    assert stats["methods"] == [] and exported == {"events": []}
    assert not _db(config).exists()
    assert not _consent_file(env).exists()


async def test_consent_records_reports_and_survives_restart(config: Config) -> None:
    env = isolated_env(config)
    async with running(config, env) as (_, client):
        status = await call(client, "telemetry.consent", {"enabled": True})
        assert status["enabled"] is True and status["consent"] is True
        for _ in range(5):
            await _traffic(client)
        stats = await call(client, "telemetry.stats")
        errors = await call(client, "telemetry.errors")
        performance = await call(client, "telemetry.performance")
    consent = _consent_file(env)
    assert json.loads(consent.read_text())["enabled"] is True
    assert consent.stat().st_mode & 0o777 == 0o600
    assert _db(config).stat().st_mode & 0o777 == 0o600
    methods = {row["method"]: row for row in stats["methods"]}
    assert methods["server.info"]["calls"] == 5
    assert methods["server.info"]["mean_bytes"] > 50
    assert methods["index.status"]["errors"] == 5
    assert methods["index.status"]["error_rate"] == 1.0
    assert {(e["method"], e["kind"], e["count"]) for e in errors["errors"]} == {
        ("index.status", "invalid_params", 5)
    }
    assert errors["total_calls"] >= 15
    timing = {row["method"]: row for row in performance["methods"]}
    assert 0 < timing["server.info"]["p50_ms"] <= timing["server.info"]["p95_ms"]
    assert stats["exposures"] == []  # flag "x" is not defined: not an exposure

    async with running(config, env) as (_, client):
        status = await call(client, "telemetry.status")
        assert status["enabled"] is True and status["events"] >= 15
        kept = status["events"]
        status = await call(client, "telemetry.consent", {"enabled": False})
        assert status["enabled"] is False and status["consent"] is False
        await _traffic(client)
        status = await call(client, "telemetry.status")
        assert status["events"] == kept  # nothing more is recorded


@pytest.mark.parametrize(
    ("variable", "value"), [("DO_NOT_TRACK", "1"), ("AXD_TELEMETRY", "0")]
)
async def test_environment_always_wins(
    config: Config, variable: str, value: str
) -> None:
    env = isolated_env(config, **{variable: value})
    consent = _consent_file(env)
    consent.parent.mkdir(parents=True)
    consent.write_text('{"enabled": true, "decided_at": "2026-01-01T00:00:00Z"}')
    async with running(config, env) as (_, client):
        await _traffic(client)
        status = await call(client, "telemetry.status")
        assert status["enabled"] is False and status["consent"] is True
        assert status["blocked_by"] == variable
        status = await call(client, "telemetry.consent", {"enabled": True})
        assert status["enabled"] is False
        await _traffic(client)
        await call(client, "telemetry.status")
    assert not _db(config).exists()


async def test_no_paths_queries_symbols_or_user_names_are_stored(
    config: Config, tmp_path: Path
) -> None:
    repo = tmp_path / "quokkaproject"
    (repo / "ledgerdir").mkdir(parents=True)
    source = repo / "ledgerdir" / "confidential_ledger.py"
    source.write_text(
        "def embezzle_funds_xq(amount):\n"
        '    """Move the marsupial reserve."""\n'
        "    return amount\n\n\n"
        "def audit():\n"
        "    return embezzle_funds_xq(3)\n"
    )
    secrets = [
        str(repo),
        "quokkaproject",
        "ledgerdir",
        "confidential_ledger",
        "embezzle_funds_xq",
        "marsupial reserve",
        "marsupial",
        "alice.smith@example.com",
        "wombat-cohort",
        getpass.getuser(),
    ]
    env = isolated_env(config)
    async with running(config, env) as (_, client):
        await call(client, "telemetry.consent", {"enabled": True})
        added = await call(client, "workspace.add", {"root": str(repo)})
        root = added["root"]
        await call(client, "index.wait", {"root": root, "timeout_s": 30})
        await call(client, "flags.set", {"name": "pii-check", "rollout_percentage": 50})
        await call(
            client,
            "flags.evaluate",
            {
                "flag": "pii-check",
                "subject": "alice.smith@example.com",
                "attributes": {"cohorts": ["wombat-cohort"]},
            },
        )
        await call(client, "search", {"root": root, "query": "marsupial reserve"})
        await call(
            client, "symbols.definition", {"root": root, "name": "embezzle_funds_xq"}
        )
        await call(
            client, "symbols.references", {"root": root, "name": "embezzle_funds_xq"}
        )
        await call(client, "chunks.get", {"root": root, "path": str(source)})
        await call(client, "files.explain", {"root": root, "path": str(source)})
        with pytest.raises(RemoteError):
            await call(client, "search", {"root": str(tmp_path), "query": "x"})
        exported = await call(client, "telemetry.export")
        stats = await call(client, "telemetry.stats")
    kinds = {event["kind"] for event in exported["events"]}
    assert kinds == {"request", "index_run", "flag_exposure"}
    assert {"search", "symbols.definition", "chunks.get"} <= {
        e["name"] for e in exported["events"]
    }
    assert stats["index"]["runs"] >= 1 and stats["index"]["files"] >= 1
    stored = b"".join(
        path.read_bytes() for path in _db(config).parent.glob("telemetry.db*")
    )
    assert len(stored) > 4096
    text = json.dumps(exported)
    for secret in secrets:
        assert secret.encode() not in stored, secret
        assert secret not in text, secret


async def test_retention_prunes_old_raw_events_and_keeps_aggregates(
    config: Config,
) -> None:
    env = isolated_env(config)
    consent = _consent_file(env)
    consent.parent.mkdir(parents=True)
    consent.write_text('{"enabled": true}')
    now = time.time()
    db = TelemetryDB(_db(config))
    db.insert(
        [
            (now - 10 * 86_400, "request", "search", "ok", 1.0, 100, None),
            (now - 3 * 86_400, "request", "search", "ok", 2.0, 100, None),
            (now - 400 * 86_400, "request", "search", "ok", 2.0, 100, None),
        ]
    )
    db.close()
    short = msgspec.structs.replace(config, telemetry=TelemetryConfig(retention_days=7))
    async with running(short, env) as (_, client):
        exported = await call(client, "telemetry.export")
        old = time.strftime("%Y-%m-%d", time.gmtime(now - 30 * 86_400))
        stats = await call(client, "telemetry.stats", {"since": old})
        with pytest.raises(RemoteError) as caught:
            await call(client, "telemetry.stats", {"since": "last tuesday"})
    assert caught.value.data["field"] == "$.since"
    assert [e["duration_ms"] for e in exported["events"]] == [2.0]
    # The daily aggregates outlive the raw events (aggregate_days: 365).
    calls = {m["method"]: m["calls"] for m in stats["methods"]}
    assert calls == {"search": 2, "telemetry.export": 1}


async def test_a_config_reload_reaches_telemetry(config: Config) -> None:
    async with running(config) as (daemon, client):
        before = await call(client, "telemetry.status")
        assert before["retention_days"] == 30
        daemon.apply_config(
            msgspec.structs.replace(config, telemetry=TelemetryConfig(retention_days=7))
        )
        # Telemetry takes the `ConfigReloaded` event on its own task.
        with anyio.fail_after(10):
            while (await call(client, "telemetry.status"))["retention_days"] != 7:
                pass


async def test_export_is_json_lines_ready_and_clear_deletes_everything(
    config: Config,
) -> None:
    env = isolated_env(config)
    async with running(config, env) as (_, client):
        await call(client, "telemetry.consent", {"enabled": True})
        await _traffic(client)
        exported = await call(client, "telemetry.export")
        assert exported["events"]
        for event in exported["events"]:
            assert set(event) == {
                "ts",
                "kind",
                "name",
                "outcome",
                "duration_ms",
                "size",
                "variant",
            }
            assert event["ts"].endswith("Z")
        cleared = await call(client, "telemetry.clear")
        assert cleared["deleted_events"] >= 3
        assert not list(_db(config).parent.glob("telemetry.db*"))
        status = await call(client, "telemetry.status")
        # still consenting: the status call itself is the first new event
        assert status["enabled"] is True and status["events"] <= 1
