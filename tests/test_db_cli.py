"""`axd snapshot ...` and `axd db ...` end to end (subprocesses, a real
daemon): dry runs change no byte, --offline refuses while a daemon holds the
lock and works on a stopped one, a rollback and a migrate round trip, db
backup/restore validate, a modified applied migration is named."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_cli import axd
from test_snapshots import db_of, function

from axd.daemon.store.migrator import MigrationChecksumError
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from collections.abc import Iterator

    from axd.daemon.config import Config


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


EMPTY = hashlib.sha256(b"").hexdigest()


def files_of(db: Path) -> dict[str, str]:
    """SHA-256 of the database and of its WAL (SQLite opens an empty one
    even to read; the shared-memory index is not data)."""
    wal = Path(f"{db}-wal")
    return {"db": sha256(db), "wal": sha256(wal) if wal.exists() else EMPTY}


def stopped(config: Config) -> None:
    """Until the daemon has exited: it holds its lock to the very end."""
    lock = f"{config.socket_path}.lock"
    subprocess.run(["flock", "-w", "60", lock, "true"], check=True)


@pytest.fixture
def indexed(config: Config, tmp_path: Path) -> Iterator[tuple[Config, Path]]:
    """A repo indexed by a CLI-started daemon, which is then stopped."""
    repo = (tmp_path / "repo").resolve()
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "a.py").write_text(function("alpha"))
    done = axd(config, "add", str(repo), "--wait")
    assert done.returncode == 0, done.stderr
    yield config, repo
    axd(config, "stop")


def ok(config: Config, *args: str) -> dict:  # type: ignore[type-arg]
    done = axd(config, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# Many subprocesses (each `axd` call, daemon restarts): a wider hang guard.
pytestmark = pytest.mark.timeout(300)


def test_snapshot_commands(indexed: tuple[Config, Path], tmp_path: Path) -> None:
    config, repo = indexed
    made = ok(config, "snapshot", "create", "--label", "cli", "--root", str(repo))
    listed = ok(config, "snapshot", "list", "--root", str(repo))
    assert made["id"] in {s["id"] for s in listed["snapshots"]}
    target = tmp_path / "out.axdsnap"
    exported = ok(
        config, "snapshot", "export", made["id"], str(target), "--root", str(repo)
    )
    assert exported["sha256"] == sha256(target)
    restored = ok(config, "snapshot", "restore", made["id"], "--root", str(repo))
    assert restored["generation"] > made["generation"]
    assert ok(config, "snapshot", "delete", made["id"], "--root", str(repo)) == {
        "ok": True
    }
    missing = axd(config, "snapshot", "restore", made["id"], "--root", str(repo))
    assert missing.returncode == 1 and "[not_found]" in missing.stderr
    human = axd(config, "snapshot", "list", "--root", str(repo))
    assert human.returncode == 0 and "gen" in human.stdout


def test_db_over_the_socket_and_offline(
    indexed: tuple[Config, Path], tmp_path: Path
) -> None:
    config, repo = indexed
    status = ok(config, "db", "status", "--root", str(repo))
    assert status["current"] == status["latest"] == 3 and not status["modified"]
    assert len(status["applied"][0]["checksum"]) == 64

    locked = axd(config, "db", "status", "--offline", "--root", str(repo))
    assert locked.returncode == 1 and "daemon is running" in locked.stderr

    backup = tmp_path / "backup.db"
    made = ok(config, "db", "backup", str(backup), "--root", str(repo))
    assert made["sha256"] == sha256(backup)

    assert axd(config, "stop").returncode == 0
    stopped(config)
    db = db_of(config, repo)
    before = files_of(db)
    for action in ("migrate", "rollback"):
        dry = ok(config, "db", action, "--dry-run", "--offline", "--root", str(repo))
        assert dry["dry_run"] and dry["snapshot"] is None
        assert files_of(db) == before  # a dry run changes no byte
    dry = ok(config, "db", "rollback", "--dry-run", "--offline", "--root", str(repo))
    assert "DROP" in dry["steps"][0]["sql"].upper()
    human = axd(config, "db", "rollback", "--dry-run", "--offline", "--root", str(repo))
    assert "would run 0003_packed_refs" in human.stdout  # the newest only

    down = ok(config, "db", "rollback", "--to", "0", "--offline", "--root", str(repo))
    assert down["current"] == 0 and down["snapshot"]
    pending = ok(config, "db", "status", "--offline", "--root", str(repo))
    assert [m["version"] for m in pending["pending"]] == [1, 2, 3]
    up = ok(config, "db", "migrate", "--offline", "--root", str(repo))
    assert up["current"] == 3 and [s["version"] for s in up["steps"]] == [1, 2, 3]

    restored = ok(
        config, "db", "restore", str(backup), "--offline", "--root", str(repo)
    )
    assert restored["snapshot"]
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite" * 1000)
    refused = axd(config, "db", "restore", str(junk), "--offline", "--root", str(repo))
    assert refused.returncode == 1 and "junk.db" in refused.stderr

    # The daemon starts again on the restored index and answers from it.
    found = ok(config, "def", "alpha", "--root", str(repo))
    assert [d["path"] for d in found["definitions"]] == ["src/a.py"]


def test_a_modified_applied_migration_is_named(tmp_path: Path) -> None:
    from importlib import resources

    source = tmp_path / "migrations"
    shutil.copytree(str(resources.files("axd.migrations")), source)
    store = Store.open(tmp_path / "index.db", migrations=source)
    store.close()
    up = source / "0001_initial.up.sql"
    up.write_text(up.read_text() + "\n-- edited after it was applied\n")
    with pytest.raises(MigrationChecksumError, match="0001_initial.up.sql"):
        Store.open(tmp_path / "index.db", migrations=source)


async def test_rollback_and_migrate_over_the_socket(client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from test_snapshots import add, definitions, raw

    from axd.client.connection import RemoteError

    repo = (tmp_path / "repo").resolve()
    repo.mkdir()
    (repo / "a.py").write_text(function("alpha"))
    await add(client, repo)
    dry = await raw(client, "db.rollback", root=str(repo), dry_run=True)
    assert dry["dry_run"] and dry["current"] == 3 and dry["snapshot"] is None
    down = await raw(client, "db.rollback", root=str(repo))
    assert down["current"] == 2 and down["snapshot"]
    with pytest.raises(RemoteError) as held:
        await definitions(client, repo, "alpha")
    assert held.value.code == -32002 and "db migrate" in held.value.message
    status = await raw(client, "index.status", root=str(repo))
    assert status["state"] == "degraded" and "db migrate" in status["last_error"]
    listed = await raw(client, "workspace.list")
    assert listed["workspaces"][0]["state"] == "degraded"
    up = await raw(client, "db.migrate", root=str(repo))
    assert up["current"] == 3 and up["snapshot"]
    # Back to the snapshot taken before the rollback: the index as it was.
    restored = await raw(
        client, "snapshot.restore", root=str(repo), id=down["snapshot"]
    )
    assert restored["generation"] > 0
    from test_snapshots import wait_ready

    await wait_ready(client, repo)
    assert await definitions(client, repo, "alpha") == ["a.py"]


async def test_db_backup_and_restore_over_the_socket_validate(
    client,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from test_snapshots import add, definitions, raw, wait_ready

    from axd.client.connection import RemoteError

    repo = (tmp_path / "repo").resolve()
    repo.mkdir()
    (repo / "a.py").write_text(function("alpha"))
    await add(client, repo)
    backup = tmp_path / "b.db"
    made = await raw(client, "db.backup", root=str(repo), path=str(backup))
    assert made["sha256"] == sha256(backup)
    with pytest.raises(RemoteError) as exists:  # never overwritten
        await raw(client, "db.backup", root=str(repo), path=str(backup))
    assert exists.value.code == -32005
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"SQLite format 3\0" + b"\xff" * 5000)
    with pytest.raises(RemoteError) as refused:
        await raw(client, "db.restore", root=str(repo), path=str(junk))
    assert refused.value.code == -32602 and refused.value.data["field"] == "$.path"
    (repo / "a.py").write_text(function("beta"))
    edited = await wait_ready(client, repo, 2)  # the edit is committed
    restored = await raw(client, "db.restore", root=str(repo), path=str(backup))
    assert restored["generation"] > edited and restored["snapshot"]
    await wait_ready(client, repo)
    assert await definitions(client, repo, "beta") == ["a.py"]  # reconciled
