"""Index-side fuzzing: adversarial source files through the real worker pool.

Hypothesis draws small trees of files with every language's extension and
contents that parsers find hard: random bytes, deep nesting, huge lines,
unbalanced brackets, NULs, invalid UTF-8. A real daemon indexes each tree
with its real worker processes; then every file must be indexed or skipped
with one of PROTOCOL.md's reasons (a worker crash takes at most its own
file), and the chunks of every indexed file must tile it: contiguous byte
ranges from 0 to its size, no gap, no overlap.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import anyio
import apsw
import pytest
from hypothesis import strategies as st
from support import add_and_wait, drawn, index_db

from axd.daemon.index.languages import LANGUAGES
from axd.daemon.records import SKIP_REASONS
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon

GUARD_S = 60
EXTENSIONS = sorted({ext for spec in LANGUAGES.values() for ext in spec.extensions})
_serial = itertools.count()


def _nested(opening: bytes, closing: bytes, depth: int) -> bytes:
    return opening * depth + b"x" + closing * depth


CONTENTS = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=2000).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.builds(
        _nested,
        st.sampled_from([b"(", b"[", b"{", b"<a>", b"def f():\n ", b"if x {"]),
        st.sampled_from([b")", b"]", b"}", b"</a>", b"", b"}"]),
        st.integers(50, 20_000),
    ),
    # One huge line (minified-looking) or many long ones.
    st.builds(
        lambda n, c: c * n,
        st.integers(1000, 60_000),
        st.sampled_from([b"a", b"x=1;", b"\xff"]),
    ),
    st.builds(
        lambda body, tail: body + tail,
        st.sampled_from(
            [b"def f(:\n", b"class {", b"fn main() {", b"<?php ", b"---\n- ["]
        ),
        st.binary(max_size=300),
    ),
)

TREES = st.lists(
    st.tuples(st.sampled_from(EXTENSIONS), CONTENTS), min_size=1, max_size=6
)


def _tiles(db: Path, paths: list[str]) -> dict[str, str]:
    """Problems per path: chunks that do not tile the file."""
    problems: dict[str, str] = {}
    conn = apsw.Connection(
        f"file:{db}?mode=ro", flags=apsw.SQLITE_OPEN_URI | apsw.SQLITE_OPEN_READONLY
    )
    try:
        for path in paths:
            rows = conn.execute(
                "SELECT f.status, f.size, c.start_byte, c.end_byte FROM files f "
                "LEFT JOIN chunks c ON c.file_id = f.id WHERE f.path = ? "
                "ORDER BY c.start_byte",
                (path,),
            ).fetchall()
            if not rows:
                problems[path] = "not in the index at all"
                continue
            status, size = rows[0][0], rows[0][1]
            spans = [(start, end) for _, _, start, end in rows if start is not None]
            if status != "indexed" or size == 0:
                continue
            edge = 0
            for start, end in spans:
                if start != edge or end <= start:
                    problems[path] = f"chunk {start}-{end} after byte {edge}"
                    break
                edge = end
            else:
                if edge != size:
                    problems[path] = f"chunks end at {edge} of {size} bytes"
    finally:
        conn.close()
    return problems


@pytest.mark.slow
@pytest.mark.timeout(300)  # a hang guard; the run is bounded by max_examples
async def test_adversarial_files_are_indexed_or_skipped_with_a_reason(
    daemon: Daemon, client: AsyncClient, config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "fuzzed"
    root.mkdir()
    await add_and_wait(client, root, GUARD_S)
    db = index_db(config, root)
    failures: list[str] = []
    indexed = 0

    async def check(tree: list[tuple[str, bytes]]) -> None:
        nonlocal indexed
        folder = f"ex{next(_serial)}"
        (root / folder).mkdir()
        paths = []
        for index, (ext, content) in enumerate(tree):
            relative = f"{folder}/f{index}{ext}"
            (root / relative).write_bytes(content)
            paths.append(relative)
        await client.call(
            m.INDEX_REINDEX, t.IndexReindexParams(root=str(root), paths=paths)
        )
        # The watcher may queue the same files again after the reindex:
        # wait until the workspace is settled, not just for one wait.
        with anyio.fail_after(GUARD_S):
            while True:
                status = await client.call(
                    m.INDEX_WAIT, t.IndexWaitParams(root=str(root), timeout_s=GUARD_S)
                )
                if status.state == "ready" and not status.queue_depth:
                    break
        for relative in paths:
            why = await client.call(
                m.FILES_EXPLAIN, t.FilesExplainParams(root=str(root), path=relative)
            )
            indexed += why.indexed and why.chunks > 0
            if not why.indexed and why.reason not in SKIP_REASONS:
                failures.append(f"{relative}: not indexed, reason {why.reason!r}")
        problems = await anyio.to_thread.run_sync(_tiles, db, paths)
        failures.extend(f"{path}: {problem}" for path, problem in problems.items())
        # The daemon and its pool still serve.
        assert (await client.call(m.SERVER_INFO)).pid

    for tree in await drawn(TREES, 25):
        await check(tree)
    assert not failures, "\n".join(failures[:20])
    assert indexed, "no file was indexed: the tiling check checked nothing"
