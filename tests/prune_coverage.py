"""Remove the coverage data files that killed processes left unusable.

The tests SIGKILL daemons and workers on purpose (crash safety). A process
killed before coverage wrote its data file's schema leaves an empty,
schema-less or version-less SQLite file, which `coverage combine` reports
as "isn't a coverage data file" (a warning a reader of `make test` would
wonder about).
Run by `make unit` before the combine; prints how many it removed.

    python tests/prune_coverage.py build/coverage
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path


def usable(path: Path) -> bool:
    """Whether `path` is a SQLite database whose coverage schema version was
    written (what `coverage combine` reads first: a process killed while it
    created the file leaves no table, or the table without its row)."""
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            found = conn.execute("SELECT version FROM coverage_schema").fetchone()
    except sqlite3.Error:
        return False
    return found is not None


def main(directory: str) -> int:
    removed = 0
    for path in sorted(Path(directory).glob(".coverage.*")):
        if not usable(path):
            path.unlink()
            removed += 1
    if removed:
        print(f"coverage: {removed} data files of killed test processes left out")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
