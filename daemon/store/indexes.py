"""Secondary indexes a first index builds once at its end instead of row by row.

A first index writes files in path order with growing ids, so the indexes
keyed on a file or chunk id (`symbols_file`, `refs_file`, ...) only ever grow
at their right edge, but the ones keyed on a name land at random places in
a B-tree that grows with the index: late in a 100k first index each row
costs a few page reads and writes in each of them, and the writer's CPU per
file more than doubled from the empty index to the full one (perf/RESULTS.md
"#16 cold pipeline (round 4)"). Sorting all the rows once at the end
(``CREATE INDEX``) is cheaper than that (perf/RESULTS.md "#16 bulk writer
(round 5)").

The indexes listed here are ones no write of a first index reads: batches
written with ``defer_links`` resolve no import (`files_basename` and
`imports_key` serve the linker, which runs after the build) and never look
a symbol up by its initials (`symbols_initials` serves the camel-hump tier
of ``symbols.search``, which scans while it is missing: correct, slower).
`symbols_name_lower` stays, although it is the dearest of the name indexes
to keep up: without it every ``symbols.definition`` during a first index
would scan all symbols (1.5-2 s on a 100k index against 6 ms with it;
measured in perf/RESULTS.md "#16 bulk writer (round 5)"), and it costs the
writer ~0.08 ms per file late in a 100k first index.

Crash safety does not depend on anything being recorded: `ensure` creates
whichever is missing, and runs at every `Store.open`, when a first index
ends (`Store.relink_all`), and on a snapshot before it is installed. So a
SIGKILL mid-index, a snapshot taken mid-index or an interrupted build leave
at worst a store that rebuilds them the next time it is opened.

These definitions must match the newest migration's (a test compares them
with a freshly migrated database): a migration that changes one of these
indexes changes it here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import apsw

# name -> the CREATE INDEX statement of the newest schema (migrations/).
DEFERRED: dict[str, str] = {
    "symbols_initials": "CREATE INDEX symbols_initials ON symbols (initials)",
    "files_basename": "CREATE INDEX files_basename ON files (basename)",
    "imports_key": ("CREATE INDEX imports_key ON imports (key) WHERE key IS NOT NULL"),
}


def missing(conn: apsw.Connection) -> list[str]:
    """The `DEFERRED` indexes the database lacks, by name."""
    present = {
        str(row[0])
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    return [name for name in DEFERRED if name not in present]


def drop(conn: apsw.Connection) -> list[str]:
    """Drop the `DEFERRED` indexes present, in the caller's transaction;
    the names dropped."""
    present = [name for name in DEFERRED if name not in missing(conn)]
    for name in present:
        conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    return present


def ensure(conn: apsw.Connection) -> list[str]:
    """Create the `DEFERRED` indexes that are missing, in the caller's
    transaction; the names created (none: nothing written)."""
    absent = missing(conn)
    for name in absent:
        conn.execute(DEFERRED[name])
    return absent
