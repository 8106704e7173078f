"""Worker records cross the process boundary as encoded extractions, decoded
by the writer one file at a time (#16: memory): the rows written are the
same as from in-process records."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from axd.daemon.index.worker import (
    WorkerSettings,
    WorkItem,
    process_batch,
    process_file,
)
from axd.daemon.records import FileOutcome, extraction_of
from axd.daemon.store.store import Store

if TYPE_CHECKING:
    from pathlib import Path

# Table -> the order its rows are compared in (refs has no id since 0003).
_TABLES = {
    "files": "id",
    "chunks": "id",
    "symbols": "id",
    "refs": "name, file_id",
    "imports": "id",
}


def _dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store.reader() as conn:
        return {
            table: [
                tuple(r)
                for r in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
            ]
            for table, order in _TABLES.items()
        }


def test_shipped_outcomes_write_the_same_rows(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "a.py").write_text(
        "import os\n\n\nclass Parser:\n    '''Parses.'''\n\n"
        "    def parse_file(self, path):\n        return os.stat(path)\n"
    )
    (root / "b.ts").write_text(
        "export function handleRequest(x: number) { return x }\n"
    )
    (root / "c.bin").write_bytes(b"\0\1\2" * 100)
    settings = WorkerSettings(
        root=str(root),
        max_file_bytes=1 << 20,
        max_line_bytes=1 << 16,
        max_chunk_bytes=4096,
        parse_timeout_ms=60_000,
    )
    items = [WorkItem(p) for p in ("a.py", "b.ts", "c.bin", "gone.py")]
    local = [process_file(settings, item) for item in items]
    blob = process_batch(
        msgspec.msgpack.encode(settings), msgspec.msgpack.encode(items)
    )
    shipped = msgspec.msgpack.decode(blob, type=list[FileOutcome])
    assert [o.status for o in shipped] == ["indexed", "indexed", "skipped", "missing"]
    assert all(o.extraction is None for o in shipped)
    assert [o.shipped is not None for o in shipped] == [True, True, False, False]
    for mine, theirs in zip(local, shipped, strict=True):
        # The worker also derives the writer's columns; the rest is as made.
        decoded = extraction_of(theirs)
        if mine.extraction is None:
            assert decoded is None
        else:
            assert decoded is not None and decoded.derived is not None
            assert msgspec.structs.replace(decoded, derived=None) == (
                msgspec.structs.replace(mine.extraction, derived=None)
            )
    # Records without the worker's derived columns (built elsewhere): the
    # writer derives the same ones itself.
    bare = [
        o
        if o.extraction is None
        else msgspec.structs.replace(
            o, extraction=msgspec.structs.replace(o.extraction, derived=None)
        )
        for o in local
    ]
    dumps = []
    for name, outcomes in (("local", local), ("shipped", shipped), ("bare", bare)):
        store = Store.open(tmp_path / f"{name}.db")
        try:
            store.apply_batch(outcomes, [])
            dumps.append(_dump(store))
        finally:
            store.close()
    assert dumps[0] == dumps[1] == dumps[2]
    assert len(dumps[0]["symbols"]) == 3 and dumps[0]["refs"]
