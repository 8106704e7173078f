"""Where `process_file`'s CPU goes, phase by phase (#16 target 1).

Serially over every N-th file of a tree (after a warm-up pass), the CPU
seconds (`time.process_time`) of: the parse, `QueryCursor.matches`, the
capture loop and reference records (the rest of `extract`), `nest_symbols`,
`chunk_file`, `derive`, and everything else `process_file` does (open,
read, classify, hash, records). The phases are measured by wrapping the
module-level functions `extract` calls, so the figures include a small
wrapper cost (one call per file and phase). Runs on whatever `axd` is
importable: set ``PYTHONPATH`` to a ``git archive`` of another commit to
measure that one, alternating runs to compare under the same load.

    .venv/bin/python perf/phases_extract.py /work/corpora/deno 6
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_extract import bench_settings, list_files

import axd.daemon.index.extract as extract_module
import axd.daemon.index.worker as worker_module
from axd.daemon.index.worker import WorkItem, process_file

SPENT: collections.Counter[str] = collections.Counter()


def wrap(module: Any, name: str, label: str) -> None:
    inner = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            SPENT[label] += time.process_time() - started

    setattr(module, name, timed)


class _TimedCursor:
    """QueryCursor with `matches` timed (the C type cannot be patched)."""

    def __init__(self, query: Any) -> None:
        self._cursor = _QueryCursor(query)

    def set_max_start_depth(self, depth: int) -> None:
        self._cursor.set_max_start_depth(depth)

    def matches(self, *args: Any) -> Any:
        started = time.process_time()
        try:
            return self._cursor.matches(*args)
        finally:
            SPENT["matches"] += time.process_time() - started


_QueryCursor = extract_module.QueryCursor


def main() -> None:
    root, every = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1
    # The parse is `parse` since the one-parse change, `_parse` before it.
    parse_name = "parse" if hasattr(extract_module, "parse") else "_parse"
    wrap(extract_module, parse_name, "parse")
    wrap(extract_module, "nest_symbols", "nest")
    wrap(extract_module, "chunk_file", "chunk")
    wrap(worker_module, "derive", "derive")
    wrap(worker_module, "extract", "extract")
    extract_module.QueryCursor = _TimedCursor  # type: ignore[misc]
    settings = bench_settings(root)
    items = [WorkItem(path) for path in list_files(root, every)]
    for item in items:
        process_file(settings, item)
    SPENT.clear()
    started = time.process_time()
    for item in items:
        process_file(settings, item)
    total = time.process_time() - started
    inside = SPENT.pop("extract")
    SPENT["capture loop + references"] = inside - sum(
        SPENT[k] for k in ("parse", "matches", "nest", "chunk")
    )
    SPENT["process_file, the rest"] = total - inside - SPENT["derive"]
    print(f"{root} every {every}: {len(items)} files, process_file {total:.3f} s CPU")
    for label, seconds in SPENT.most_common():
        print(f"  {label:28} {seconds:6.3f} s  {seconds / total:6.1%}")


if __name__ == "__main__":
    main()
