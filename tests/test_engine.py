# ruff: noqa: ASYNC240
# (tests set up files and processes with plain blocking calls on purpose)
"""The incremental rules of the index engine, end to end.

A file is re-parsed only when its content (or its extractor) changed;
nothing else moves the generation. Checked through the wire: `index.status`
generations and `files.explain`'s per-file generation (the generation that
last changed the file's rows).

Not tested here: "a changed extractor version re-parses only that
language". The versions live in `languages.LANGUAGES` (code, not config);
changing one needs a different build of axd, and tests do not patch axd.
`test_skipped_rows_carry_the_extractor_version` checks the stored half of it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import apsw
from support import call

from axd.client.aio import AsyncClient
from axd.daemon.index.languages import LANGUAGES
from axd.daemon.index.resolve import RULES_VERSION
from axd.daemon.lifecycle import Daemon
from axd.daemon.records import FileOutcome
from axd.daemon.store.linker import RULES_KEY
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from axd.daemon.config import Config


@contextlib.asynccontextmanager
async def running(config: Config) -> AsyncIterator[AsyncClient]:
    instance = Daemon(config)
    async with anyio.create_task_group() as tg:
        await tg.start(instance.run)
        try:
            async with await AsyncClient.connect(instance.socket_path) as client:
                yield client
        finally:
            instance.request_stop()


def write_tree(root: Path) -> None:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text("def alpha():\n    return 1\n")
    (root / "pkg" / "b.py").write_text(
        "from pkg.a import alpha\n\ndef beta():\n    return alpha()\n"
    )
    (root / "c.js").write_text("export function gamma() { return 3; }\n")
    (root / "notes.md").write_text("# Notes\n\nSome words.\n")
    (root / "big.py").write_bytes(b"x = 1\n\0")  # skipped: binary


async def generations(client: AsyncClient, root: Path) -> dict[str, int]:
    """Per file: the generation that last changed its rows."""
    found = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        answer = await call(client, "files.explain", root=str(root), path=relative)
        found[relative] = answer["generation"]
    return found


async def test_restart_over_unchanged_tree_reparses_nothing(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    write_tree(root)
    async with running(config) as client:
        await call(client, "workspace.add", root=str(root))
        first = await call(client, "index.wait", root=str(root), timeout_s=30)
        before = await generations(client, root)
    # Restart, mtime-only touches first: still nothing to re-parse.
    for path in root.rglob("*.py"):
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    async with running(config) as client:
        status = await call(client, "index.wait", root=str(root), timeout_s=30)
        assert status["generation"] == first["generation"]
        assert status["files_total"] == first["files_total"]
        assert status["files_skipped"] == first["files_skipped"] == {"binary": 1}
        assert await generations(client, root) == before
        # A touch while running: no new generation either.
        (root / "c.js").touch()
        await call(client, "index.reindex", root=str(root), paths=["c.js"])
        after = await call(client, "index.wait", root=str(root), timeout_s=30)
        assert after["generation"] == first["generation"]
        assert await generations(client, root) == before


async def test_files_deleted_while_down_disappear_at_start(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    write_tree(root)
    async with running(config) as client:
        await call(client, "workspace.add", root=str(root))
        first = await call(client, "index.wait", root=str(root), timeout_s=30)
    (root / "pkg" / "a.py").unlink()
    (root / "big.py").unlink()
    (root / "pkg" / "new.py").write_text("def delta():\n    pass\n")
    async with running(config) as client:
        status = await call(client, "index.wait", root=str(root), timeout_s=30)
        assert status["files_total"] == first["files_total"] - 1
        assert status["files_skipped"] == {}
        assert status["generation"] > first["generation"]
        gone = await call(client, "symbols.definition", root=str(root), name="alpha")
        assert gone["definitions"] == []
        new = await call(client, "symbols.definition", root=str(root), name="delta")
        assert [d["path"] for d in new["definitions"]] == ["pkg/new.py"]
        imports = await call(client, "graph.imports", root=str(root), path="pkg/b.py")
        assert [i["path"] for i in imports["imports"]] == [None]


async def test_reindex_paths_force_reparses_exactly_those(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    write_tree(root)
    async with running(config) as client:
        await call(client, "workspace.add", root=str(root))
        first = await call(client, "index.wait", root=str(root), timeout_s=30)
        before = await generations(client, root)
        # Without force an unchanged file is not re-parsed.
        await call(client, "index.reindex", root=str(root), paths=["pkg/a.py"])
        same = await call(client, "index.wait", root=str(root), timeout_s=30)
        assert same["generation"] == first["generation"]
        queued = await call(
            client,
            "index.reindex",
            root=str(root),
            paths=["pkg/a.py", str(root / "c.js")],
            force=True,
        )
        assert queued == {"queued": 2}
        after = await call(
            client,
            "index.wait",
            root=str(root),
            generation=first["generation"] + 1,
            timeout_s=30,
        )
        assert after["generation"] == first["generation"] + 1
        now = await generations(client, root)
        changed = {path for path in now if now[path] != before[path]}
        assert changed == {"pkg/a.py", "c.js"}
        assert now["pkg/a.py"] == after["generation"]
        # force on the whole workspace re-parses every file (one or more batches).
        await call(client, "index.reindex", root=str(root), force=True)
        final = await call(client, "index.wait", root=str(root), timeout_s=30)
        assert final["generation"] > after["generation"]
        everything = await generations(client, root)
        indexed = [p for p in everything if p != "big.py"]
        assert all(everything[p] > after["generation"] for p in indexed)


async def test_content_change_reparses_only_that_file(
    config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    write_tree(root)
    async with running(config) as client:
        await call(client, "workspace.add", root=str(root))
        first = await call(client, "index.wait", root=str(root), timeout_s=30)
        before = await generations(client, root)
        (root / "notes.md").write_text("# Notes\n\nOther words.\n")
        await call(client, "index.reindex", root=str(root), paths=["notes.md"])
        after = await call(
            client,
            "index.wait",
            root=str(root),
            generation=first["generation"] + 1,
            timeout_s=30,
        )
        now = await generations(client, root)
        assert {p for p in now if now[p] != before[p]} == {"notes.md"}
        assert now["notes.md"] <= after["generation"]


async def test_skipped_rows_carry_the_extractor_version(
    config: Config, tmp_path: Path
) -> None:
    """A skipped file of a known language stores the version that judged it,
    so a warm restart (which compares versions) leaves it alone."""
    root = tmp_path / "tree"
    write_tree(root)
    async with running(config) as client:
        added = await call(client, "workspace.add", root=str(root))
        await call(client, "index.wait", root=str(root), timeout_s=30)
    db = Path(str(config.state_dir)) / "workspaces" / added["id"] / "index.db"
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        rows = dict(
            conn.execute("SELECT path, extractor_version FROM files").fetchall()
        )
    finally:
        conn.close()
    assert rows["big.py"] == LANGUAGES["python"].extractor_version
    assert rows["pkg/a.py"] == LANGUAGES["python"].extractor_version
    assert rows["c.js"] == LANGUAGES["javascript"].extractor_version


async def test_a_file_this_axd_learned_to_parse_is_indexed_at_the_next_start(
    config: Config, tmp_path: Path
) -> None:
    """An index written by an axd that did not know `.sbt` holds build.sbt as
    skipped, with no language; a start of this one parses it."""
    root = tmp_path / "tree"
    write_tree(root)
    build = root / "build.sbt"
    build.write_text('lazy val core = project.in(file("core"))\n')
    async with running(config) as client:
        added = await call(client, "workspace.add", root=str(root))
        await call(client, "index.wait", root=str(root), timeout_s=30)
    db = Path(str(config.state_dir)) / "workspaces" / added["id"] / "index.db"
    info = build.stat()
    store = Store.open(db, root=root)
    try:
        store.apply_batch(
            [
                FileOutcome(
                    path="build.sbt",
                    status="skipped",
                    skip_reason="unsupported",
                    detail="no language for '.sbt' files",
                    size=info.st_size,
                    mtime_ns=info.st_mtime_ns,
                )
            ],
            [],
        )
    finally:
        store.close()
    async with running(config) as client:
        await call(client, "index.wait", root=str(root), timeout_s=30)
        explained = await call(
            client, "files.explain", root=str(root), path="build.sbt"
        )
        assert explained["indexed"] is True
        assert explained["language"] == "scala"
        found = await call(client, "symbols.definition", root=str(root), name="core")
        assert [d["path"] for d in found["definitions"]] == ["build.sbt"]


async def test_an_index_linked_under_older_import_rules_is_relinked_after_a_start(
    config: Config, tmp_path: Path
) -> None:
    """An upgraded axd resolves the stored imports under its own rules once,
    without re-parsing: here `extends`, which rules before 2 did not follow."""
    root = tmp_path / "tree"
    (root / "pkg" / "src").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "tsconfig.base.json").write_text(
        '{"compilerOptions": {"paths": {"@lib/*": ["./lib/*"]}}}'
    )
    (root / "pkg" / "tsconfig.json").write_text('{"extends": "../tsconfig.base.json"}')
    (root / "pkg" / "src" / "a.ts").write_text('import { b } from "@lib/b";\n')
    (root / "lib" / "b.ts").write_text("export const b = 1;\n")
    async with running(config) as client:
        added = await call(client, "workspace.add", root=str(root))
        await call(client, "index.wait", root=str(root), timeout_s=30)
        edges = await call(client, "graph.imports", root=str(root), path="pkg/src/a.ts")
        assert [e["path"] for e in edges["imports"]] == ["lib/b.ts"]
    db = Path(str(config.state_dir)) / "workspaces" / added["id"] / "index.db"
    conn = apsw.Connection(str(db))
    try:  # as an axd of rules 1 left it: the edge unresolved, no note
        with conn:
            conn.execute("UPDATE imports SET target_id = NULL")
            conn.execute("DELETE FROM meta WHERE key = ?", (RULES_KEY,))
        generation = conn.execute(
            "SELECT value FROM meta WHERE key = 'generation'"
        ).fetchone()[0]
    finally:
        conn.close()
    async with running(config) as client:
        await call(
            client,
            "index.wait",
            root=str(root),
            generation=generation + 1,
            timeout_s=30,
        )
        edges = await call(client, "graph.imports", root=str(root), path="pkg/src/a.ts")
        assert [e["path"] for e in edges["imports"]] == ["lib/b.ts"]
        files = await call(client, "files.explain", root=str(root), path="lib/b.ts")
        assert files["generation"] < generation  # nothing was parsed again
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        rules = conn.execute("SELECT value FROM meta WHERE key = ?", (RULES_KEY,))
        assert rules.fetchone()[0] == RULES_VERSION
    finally:
        conn.close()
