# (tests write source files with plain blocking calls on purpose)
"""axd's own behaviours behind flags, both paths, through the real daemon:
`search.exact_name_boost` (ranking) and `index.fine_chunks` (chunking)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from flagtools import call, running

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config


async def _add(client: AsyncClient, root: Path) -> str:
    added = await call(client, "workspace.add", {"root": str(root)})
    await call(client, "index.wait", {"root": added["root"], "timeout_s": 30})
    return str(added["root"])


async def _reindex(client: AsyncClient, root: str) -> None:
    status = await call(client, "index.status", {"root": root})
    await call(client, "index.reindex", {"root": root, "force": True})
    await call(
        client,
        "index.wait",
        {"root": root, "generation": status["generation"] + 1, "timeout_s": 30},
    )


def _hit(result: dict[str, Any], symbol: str) -> dict[str, Any]:
    return next(hit for hit in result["results"] if hit["symbol"] == symbol)


async def test_exact_name_boost_changes_the_score_only_when_on(
    config: Config, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "shapes.py").write_text(
        "def tessellate(grid):\n"
        '    """Split a grid into tiles."""\n'
        "    return [cell for row in grid for cell in row]\n"
    )
    (repo / "many.py").write_text(
        "from shapes import tessellate\n\n\n"
        "def tessellate_all(grids):\n"
        "    return [tessellate(g) for g in grids]\n"
    )
    async with running(config) as (_, client):
        root = await _add(client, repo)
        query = {"root": root, "query": "tessellate"}
        off = await call(client, "search", query)
        await call(
            client,
            "flags.set",
            {"name": "search.exact_name_boost", "rollout_percentage": 100},
        )
        on = await call(client, "search", query)
        await call(
            client, "flags.set", {"name": "search.exact_name_boost", "enabled": False}
        )
        off_again = await call(client, "search", query)
        stats = await call(client, "flags.stats", {"name": "search.exact_name_boost"})
    exact_off, exact_on = _hit(off, "tessellate"), _hit(on, "tessellate")
    # Scores are rounded to 4 decimals after the boost.
    assert exact_on["score"] == pytest.approx(exact_off["score"] * 1.25, abs=2e-4)
    # A hit whose name is not the query keeps its score.
    assert _hit(on, "tessellate_all")["score"] == _hit(off, "tessellate_all")["score"]
    assert _hit(off_again, "tessellate")["score"] == exact_off["score"]
    # Searches after the last flags.set are exposures of the "off" arm.
    arms = {arm["variant"]: arm["exposures"] for arm in stats["arms"]}
    assert arms == {"off": 1, "on": 0}


async def test_fine_chunks_split_files_into_smaller_chunks_only_when_on(
    config: Config, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    methods = "".join(
        f"    def step_{i}(self, value):\n"
        f'        """Step {i} of the pipeline, documented at some length."""\n'
        + "".join(f"        value = value * {j} + {i}\n" for j in range(12))
        + "        return value\n\n"
        for i in range(8)
    )
    source = "class Pipeline:\n" + methods
    assert 2048 < len(source.encode()) < 4096 * 2
    (repo / "pipeline.py").write_text(source)
    async with running(config) as (_, client):
        root = await _add(client, repo)
        chunks = {"root": root, "path": str(repo / "pipeline.py")}
        before = await call(client, "chunks.get", chunks)
        await call(client, "flags.set", {"name": "index.fine_chunks"})
        await _reindex(client, root)
        finer = await call(client, "chunks.get", chunks)
        await call(client, "flags.delete", {"name": "index.fine_chunks"})
        await _reindex(client, root)
        after = await call(client, "chunks.get", chunks)

    def sizes(result: dict[str, Any]) -> list[int]:
        return [len(chunk["text"].encode()) for chunk in result["chunks"]]

    assert len(finer["chunks"]) > len(before["chunks"])
    assert max(sizes(finer)) <= 2048 < max(sizes(before))
    assert sizes(after) == sizes(before)
    # Every byte still belongs to exactly one chunk.
    assert "".join(c["text"] for c in finer["chunks"]) == source
