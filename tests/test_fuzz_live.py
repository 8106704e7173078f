"""Live-index fuzzing: random sequences of file operations, applied back to
back while the real daemon watches and indexes them, must leave the index
equal to the disk.

Hypothesis draws sequences over a few names in two directories: writes,
a file written twice at once (format-on-save), large writes (a longer parse
for another change to overtake), a large write rewritten small as soon as a
worker has read it (inotify says when: the second version's parse ends
first), appends, emptied files, binary content (skipped, then text again), deletions, renames over another
file, a file turned into a directory of the same name (and back), links
to another of the files (written through, left dangling, chained), an
.axdignore naming one of them (or removed), a directory removed or renamed, and waits for the index to settle
between some of them. Each sequence runs in a folder of its own of one
workspace, through the real watcher (nothing is queued by hand). Then a
last file is written; once it is indexed and the queue is empty, every file
of the folder must be in the index with the hash of its content on disk,
its chunks joining into that content and its symbols those an extraction of
it finds, and nothing else: no older version of a file, no deleted file.
"""

from __future__ import annotations

import itertools
import shutil
from typing import TYPE_CHECKING

import anyio
import apsw
import pytest
from hypothesis import strategies as st
from support import add_and_wait, drawn, index_db, read_watch, settled_after

from axd.daemon.index.classify import content_hash
from axd.daemon.index.extract import extract
from axd.daemon.store.chunktext import chunk_text
from axd.protocol import methods as m
from axd.protocol import types as t

if TYPE_CHECKING:
    from pathlib import Path

    from axd.client.aio import AsyncClient
    from axd.daemon.config import Config
    from axd.daemon.lifecycle import Daemon

GUARD_S = 60  # hang guard per wait
EXAMPLES = 30  # sequences per run (~8 s; ~16 s under coverage)
NAMES = ["a.py", "b.py", "c.py", "sub/d.py", "sub/e.py", "sub/f.py"]
_serial = itertools.count()
_versions = itertools.count()

Op = tuple[str, int, int]  # (kind, name index, other name index)

OPS: st.SearchStrategy[list[Op]] = st.lists(
    st.tuples(
        st.sampled_from(
            ["write", "write", "twice", "large", "overtake", "append", "empty",
             "delete", "rename", "todir", "rmdir", "mvdir", "link", "ignore",
             "binary", "settle"]
        ),
        st.integers(0, len(NAMES) - 1),
        st.integers(0, len(NAMES) - 1),
    ),
    min_size=1,
    max_size=14,
)  # fmt: skip


def _source(functions: int = 1) -> str:
    version = next(_versions)
    return "".join(
        f"def v{version}_{i}(x):\n    return x + {i}\n\n" for i in range(functions)
    )


def _remove(path: Path) -> None:
    """Whatever is at `path` (a link itself, not what it leads to)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _writable(path: Path) -> None:
    """A directory or a dangling link at `path` goes (a file comes back);
    a link to a file stays, and is written through, as editors do."""
    path.parent.mkdir(exist_ok=True)
    if path.is_dir() or (path.is_symlink() and not path.exists()):
        _remove(path)


def _apply(folder: Path, op: Op) -> None:
    """One operation on the files of `folder` (missing files are created)."""
    kind, first, second = op
    path, other = folder / NAMES[first], folder / NAMES[second]
    path.parent.mkdir(exist_ok=True)
    if kind in ("write", "twice", "large", "append", "empty", "binary"):
        _writable(path)
    if kind == "write":
        path.write_text(_source())
    elif kind == "twice":
        path.write_text(_source())
        path.write_text(_source())
    elif kind == "large":
        path.write_text(_source(2_000))
    elif kind == "append":
        with path.open("a") as handle:
            handle.write(_source())
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":  # skipped as binary, until written as text again
        path.write_bytes(b"\x00\x01binary\x00" * 64)
    elif kind == "delete":
        _remove(path)
    elif kind == "todir" and not path.is_dir():  # a file becomes a directory
        _remove(path)
        path.mkdir()
        (path / "inner.py").write_text(_source())
    elif kind == "rename" and path.is_file() and path != other and not other.is_dir():
        other.parent.mkdir(exist_ok=True)
        path.replace(other)
    elif kind == "link" and path != other and not other.is_dir():
        other.parent.mkdir(exist_ok=True)
        other.unlink(missing_ok=True)
        other.symlink_to(path)
    elif kind == "ignore" and first == second:
        (folder / ".axdignore").unlink(missing_ok=True)
    elif kind == "ignore":
        (folder / ".axdignore").write_text(f"/{NAMES[first]}\n")
    elif kind == "rmdir":
        shutil.rmtree(folder / "sub", ignore_errors=True)
    elif kind == "mvdir" and (folder / "sub").exists():
        shutil.rmtree(folder / "moved", ignore_errors=True)
        (folder / "sub").rename(folder / "moved")


def _ignored(base: Path, relative: str) -> bool:
    """Whether `base`'s .axdignore (one anchored name, the "ignore"
    operation's) excludes `relative`."""
    rules = base / ".axdignore"
    name = rules.read_text().strip().lstrip("/") if rules.exists() else ""
    return bool(name) and (relative == name or relative.startswith(name + "/"))


def _on_disk(root: Path, folder: str) -> dict[str, str]:
    """What the index should hold: the files of `folder` not ignored."""
    found: dict[str, str] = {}
    for path in sorted((root / folder).rglob("*.py")):
        relative = path.relative_to(root / folder).as_posix()
        if _ignored(root / folder, relative):
            continue
        if path.is_file() and b"\x00" not in (data := path.read_bytes()):
            found[f"{folder}/{relative}"] = content_hash(data)
    return found


def _in_index(db: Path, folder: str) -> dict[str, str]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        rows = conn.execute(
            "SELECT path, content_hash FROM files"
            " WHERE path >= ? AND path < ? AND status = 'indexed'",
            (f"{folder}/", f"{folder}0"),
        ).fetchall()
    finally:
        conn.close()
    return {str(path): str(digest) for path, digest in rows}


def _row_problems(db: Path, root: Path, paths: list[str]) -> list[str]:
    """Where a file's rows are not those of its content on disk: its chunks
    must join into its text, its symbols be those an extraction finds."""
    problems: list[str] = []
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        for path in paths:
            source = (root / path).read_bytes()
            file_id = conn.execute("SELECT id FROM files WHERE path = ?", (path,)).get
            text = "".join(
                chunk_text(text, ztext)
                for text, ztext in conn.execute(
                    "SELECT text, ztext FROM chunks WHERE file_id = ?"
                    " ORDER BY start_byte",
                    (file_id,),
                )
            )
            if text != source.decode("utf-8"):
                problems.append(f"{path}: chunks are not its text")
            names = sorted(
                str(name)
                for (name,) in conn.execute(
                    "SELECT name FROM symbols WHERE file_id = ?", (file_id,)
                )
            )
            if names != sorted(s.name for s in extract(source, "python").symbols):
                problems.append(f"{path}: symbols are not its definitions")
    finally:
        conn.close()
    return problems


async def _settle(client: AsyncClient, root: Path) -> None:
    with anyio.fail_after(GUARD_S):
        await client.call(
            m.INDEX_WAIT, t.IndexWaitParams(root=str(root), timeout_s=GUARD_S)
        )


@pytest.mark.slow
@pytest.mark.timeout(400)  # a hang guard; the run is bounded by max_examples
async def test_any_sequence_of_changes_leaves_the_index_equal_to_the_disk(
    daemon: Daemon, client: AsyncClient, config: Config, tmp_path: Path
) -> None:
    root = tmp_path / "live"
    root.mkdir()
    await add_and_wait(client, root, GUARD_S)
    db = index_db(config, root)

    failures: list[str] = []
    for ops in await drawn(OPS, EXAMPLES):
        folder = f"ex{next(_serial)}"
        base = root / folder
        for name in NAMES[:4]:  # a starting tree, indexed first
            _apply(base, ("write", NAMES.index(name), 0))
        await settled_after(client, root, f"{folder}/{NAMES[3]}")
        for op in ops:
            if op[0] == "settle":
                await _settle(client, root)
            elif op[0] == "overtake" and not _ignored(base, NAMES[op[1]]):
                # (no worker reads an ignored file: nothing to wait for)
                path = base / NAMES[op[1]]
                _writable(path)
                path.touch()
                with read_watch(path) as was_read:
                    path.write_text(_source(4_000))
                    assert await anyio.to_thread.run_sync(was_read, GUARD_S)
                path.write_text(_source())
            elif op[0] == "overtake":
                _apply(base, ("write", op[1], op[2]))
            else:
                _apply(base, op)
        (base / "zz_last.py").write_text(_source())
        await settled_after(client, root, f"{folder}/zz_last.py")
        disk, index = _on_disk(root, folder), _in_index(db, folder)
        failures.extend(
            f"{ops}: {problem}"
            for problem in _row_problems(db, root, sorted(disk.keys() & index.keys()))
        )
        if disk != index:
            stale = {p for p in disk.keys() & index.keys() if disk[p] != index[p]}
            failures.append(
                f"{ops}: stale {sorted(stale)}, missing {sorted(disk.keys() - index.keys())},"
                f" ghosts {sorted(index.keys() - disk.keys())}"
            )
    assert not failures, "\n".join(failures)
