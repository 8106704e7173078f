"""A worker's CPU per language against the parse alone (#16 target 1).

Serially, in one fresh process, every N-th file of a tree through
`worker.process_file`, after every language's parser and query is built
(`worker.preload`, as the daemon's forkserver does before any worker
forks), with the identifier caches cold, as a fresh worker has them; the tree-sitter parse
inside it is timed on its own by wrapping `extract.parse`. Per language:
files, megabytes, the worker's CPU seconds (``process_time``), the parse's,
their ratio (the work axd does per unit of parsing, which bounds a cold
index against the parse floor) and microseconds per kilobyte.

    .venv/bin/python perf/worker_languages.py TREE [EVERY]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_extract import bench_settings, list_files

import axd.daemon.index.extract as extract_module
from axd.daemon.index.languages import LANGUAGES
from axd.daemon.index.worker import WorkItem, preload, process_file


class _Row:
    def __init__(self) -> None:
        self.files = 0
        self.size = 0
        self.worker_s = 0.0
        self.parse_s = 0.0


def main() -> None:
    root = sys.argv[1]
    every = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    parsing = [0.0]
    inner = extract_module.parse

    def timed_parse(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            parsing[0] += time.process_time() - started

    extract_module.parse = timed_parse  # type: ignore[assignment]
    settings = bench_settings(root)
    preload(list(LANGUAGES))  # no query compile inside the figures
    rows: dict[str, _Row] = {}
    for path in list_files(root, every):
        parsing[0] = 0.0
        started = time.process_time()
        outcome = process_file(settings, WorkItem(path))
        spent = time.process_time() - started
        row = rows.setdefault(outcome.language or "-", _Row())
        row.files += 1
        row.size += outcome.size or 0
        row.worker_s += spent
        row.parse_s += parsing[0]
    print(f"{root} every {every}")
    print(f"{'language':12} {'files':>6} {'MB':>6} {'worker s':>9} {'parse s':>8}"
          f" {'worker/parse':>12} {'us/KB':>6}")  # fmt: skip
    for language, row in sorted(rows.items(), key=lambda kv: -kv[1].worker_s):
        ratio = row.worker_s / row.parse_s if row.parse_s else 0.0
        per_kb = row.worker_s / (row.size / 1e3) * 1e6 if row.size else 0.0
        print(f"{language:12} {row.files:6} {row.size / 1e6:6.1f} {row.worker_s:9.2f}"
              f" {row.parse_s:8.2f} {ratio:12.2f} {per_kb:6.0f}")  # fmt: skip
    worker_s = sum(row.worker_s for row in rows.values())
    parse_s = sum(row.parse_s for row in rows.values())
    print(
        f"all: worker {worker_s:.2f} s, parse {parse_s:.2f} s,"
        f" {worker_s / parse_s if parse_s else 0.0:.2f}x"
    )


if __name__ == "__main__":
    main()
