# ruff: noqa: ASYNC220
"""A real daemon killed (SIGKILL) in a first index, whose deferred indexes
(store/indexes.py) are missing and references staged at that moment, comes
back with every index, its references in `refs` and the answers of a clean
run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from support import environment_for, with_config
from test_bulk_indexes import index_names, table_names
from test_robust_index import (
    call,
    check_counting,
    connect_when_up,
    db_path,
    kill_after_a_batch,
    make_tree,
    needs_proc,
    stop,
)

from axd.daemon.store import indexes

if TYPE_CHECKING:
    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config


async def answers(client: AsyncClient, root: Path) -> dict[str, Any]:
    """Queries served by the deferred indexes (camel humps) and the linker's."""
    humps = await call(client, "symbols.search", root=str(root), query="HaReNo")
    definition = await call(
        client, "symbols.definition", root=str(root), name="helper7"
    )
    importers = await call(
        client, "graph.importers", root=str(root), path="pkg3/__init__.py"
    )
    uses = await call(client, "symbols.references", root=str(root), name="helper7")
    return {
        "humps": sorted(s["name"] for s in humps["symbols"]),
        "definition": [d["path"] for d in definition["definitions"]],
        "references": [(r["path"], r["range"]) for r in uses["references"]],
        "importers": sorted(i["path"] for i in importers["importers"]),
    }


@needs_proc
async def test_sigkill_while_the_indexes_are_deferred(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    make_tree(root, 2500)
    for package in range(25):
        (root / f"pkg{package}" / "__init__.py").write_text("")
    (root / "pkg24" / "camel.py").write_text("class HandleRequestNow:\n    pass\n")

    async def run_daemon(state: Path, *, kill: bool) -> tuple[str, dict[str, Any]]:
        cfg = with_config(config, state_dir=str(state))
        proc = subprocess.Popen(
            [sys.executable, "-m", "axd.daemon", "--add", str(root)],
            env=environment_for(cfg),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            async with await connect_when_up(
                Path(str(cfg.socket_path)), proc
            ) as client:
                listing = await call(client, "workspace.list")
                ident = str(listing["workspaces"][0]["id"])
                if kill:
                    await kill_after_a_batch(client, proc, root)
                    return ident, {}
                status = await call(client, "index.wait", root=str(root), timeout_s=50)
                check_counting(status)
                found = await answers(client, root)
                await call(client, "server.shutdown")
            assert proc.wait(30) == 0
            return ident, found
        finally:
            stop(proc)

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    ident, _ = await run_daemon(killed, kill=True)
    # Killed in the first index: its deferred indexes were not there, and
    # its references were staged.
    assert not set(indexes.DEFERRED) & index_names(db_path(killed, ident))
    assert table_names(db_path(killed, ident)) >= {indexes.PENDING_REFS}
    _, resumed = await run_daemon(killed, kill=False)
    _, expected = await run_daemon(clean, kill=False)
    assert resumed == expected
    assert expected["humps"] == ["HandleRequestNow"], expected
    assert expected["definition"] == ["pkg0/mod7.py"]
    assert "pkg2/mod277.py" in expected["importers"], expected
    assert [path for path, _ in expected["references"]] == ["pkg0/mod7.py"]
    for state in (killed, clean):
        assert set(indexes.DEFERRED) <= index_names(db_path(state, ident))
        assert indexes.PENDING_REFS not in table_names(db_path(state, ident))
