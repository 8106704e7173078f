"""Portable snapshots: exported by a daemon indexing one copy of a tree,
imported by a second daemon on another copy at another path. The second
answers like the first before re-parsing anything, then reconciles the file
that changed in between; files that did not change are never re-parsed."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import msgspec
import pytest
from support import with_config
from test_snapshots import add, definitions, function, raw, run_daemon, wait_ready

from axd.client.connection import RemoteError

if TYPE_CHECKING:
    from pathlib import Path

    from axd.daemon.config import Config


def make_tree(root: Path) -> None:
    (root / "pkg").mkdir(parents=True)
    for index in range(20):
        (root / "pkg" / f"m{index}.py").write_text(
            f"import pkg.m{(index + 1) % 20}\n\n" + function(f"compute_{index}")
        )


async def test_export_then_import_at_another_path(
    config: Config, tmp_path: Path, short_dir: Path
) -> None:
    first = (tmp_path / "ci" / "checkout").resolve()
    make_tree(first)
    second = (tmp_path / "laptop" / "work" / "copy").resolve()
    shutil.copytree(first, second)
    exported = tmp_path / "index.axdsnap"

    async with run_daemon(config) as client:
        await add(client, first)
        snap = await raw(client, "snapshot.create", root=str(first), label="ci")
        result = await raw(
            client,
            "snapshot.export",
            root=str(first),
            id=snap["id"],
            path=str(exported),
        )
        assert result["path"] == str(exported) and len(result["sha256"]) == 64
        expected_defs = await definitions(client, first, "compute_3")
        expected_search = await raw(client, "search", root=str(first), query="compute")
        expected_imports = await raw(
            client, "graph.importers", root=str(first), path="pkg/m4.py"
        )

    (second / "pkg" / "m7.py").write_text(function("changed_in_between"))
    other = with_config(
        config,
        socket_path=str(short_dir / "b.sock"),
        state_dir=str(tmp_path / "state-b"),
    )
    async with run_daemon(other) as client:
        imported = await raw(
            client, "snapshot.import", root=str(second), path=str(exported)
        )
        generation = imported["generation"]
        # Before anything is re-parsed: the same answers as the first daemon.
        assert await definitions(client, second, "compute_3") == expected_defs
        found = await raw(client, "search", root=str(second), query="compute")
        top = [(r["path"], r["symbol"]) for r in found["results"]]
        assert top == [(r["path"], r["symbol"]) for r in expected_search["results"]]
        importers = await raw(
            client, "graph.importers", root=str(second), path="pkg/m4.py"
        )
        assert importers["importers"] == expected_imports["importers"]

        await wait_ready(client, second)
        assert await definitions(client, second, "changed_in_between") == ["pkg/m7.py"]
        assert await definitions(client, second, "compute_7") == []
        kept = await raw(client, "files.explain", root=str(second), path="pkg/m3.py")
        changed = await raw(client, "files.explain", root=str(second), path="pkg/m7.py")
        assert kept["generation"] <= generation < changed["generation"]
        listed = await raw(client, "snapshot.list", root=str(second))
        assert "import" in {s["kind"] for s in listed["snapshots"]}


async def test_a_newer_schema_or_a_damaged_file_is_refused(
    client,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    root = (tmp_path / "repo").resolve()
    make_tree(root)
    await add(client, root)
    snap = await raw(client, "snapshot.create", root=str(root))
    good = tmp_path / "good.axdsnap"
    await raw(client, "snapshot.export", root=str(root), id=snap["id"], path=str(good))
    magic, manifest, body = good.read_bytes().split(b"\n", 2)
    fields = msgspec.json.decode(manifest)

    newer = tmp_path / "newer.axdsnap"
    fields_newer = dict(fields, schema_version=fields["schema_version"] + 50)
    newer.write_bytes(b"\n".join([magic, msgspec.json.encode(fields_newer), body]))
    damaged = tmp_path / "damaged.axdsnap"
    damaged.write_bytes(b"\n".join([magic, manifest, body[:-4096] + b"\0" * 4096]))
    for path, words in ((newer, "upgrade axd"), (damaged, "sha256")):
        with pytest.raises(RemoteError) as refused:
            await raw(client, "snapshot.import", root=str(root), path=str(path))
        assert refused.value.code == -32602, refused.value
        assert refused.value.data["field"] == "$.path"
        assert words in refused.value.message
    assert (await wait_ready(client, root)) > 0
