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

**References go to a staging table** (`PENDING_REFS`) for the same reason.
`refs` is clustered on (name, file_id), so a first index's references land
at random pages of the largest name-ordered tree: at 100k files that wrote
6.6 GB of pages for a 96 MB table and cost 14.6 s of CPU, against 4.8 s and
0.6 GB for the same rows appended to a table clustered on (file_id, name)
and copied once, sorted, at the end (perf/RESULTS.md "#16 round 10"). While
`refs_pending` exists every reference write goes to it, and every reader of
references reads both tables (`REFS_SOURCES`; a row is in one or the other,
never both): `symbols.references` looks every file's staged rows up by its
key meanwhile (correct, slower), the writer a file's. `ensure` moves the
rows into `refs`, in name order, and drops the table. Creating and dropping
it are schema changes an incremental snapshot's session cannot record: the
writer leaves both writes unrecorded (`Writer.apply_batch`, `relink_all`).

These definitions must match the newest migration's (a test compares them
with a freshly migrated database): a migration that changes one of these
indexes changes it here too. Migrations know `refs`, not the staging table:
`Migrator` moves staged rows into `refs` before any step runs.
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


# A bulk first index's references until `ensure` (module docstring): the
# columns of `refs`, clustered on the file so that rows are appended.
PENDING_REFS = "refs_pending"
_CREATE_PENDING_REFS = """
CREATE TABLE refs_pending (
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    spots TEXT NOT NULL,
    PRIMARY KEY (file_id, name)
) STRICT, WITHOUT ROWID
"""
# `refs_file` of the newest schema: dropped while the staged rows are copied
# into an empty `refs`, then built once.
_CREATE_REFS_FILE = "CREATE INDEX refs_file ON refs (file_id)"
# What a reader of references selects from, with or without staged rows.
REFS_SOURCES = (
    "(SELECT name, file_id, spots FROM refs"
    " UNION ALL SELECT name, file_id, spots FROM refs_pending)"
)


def refs_pending(conn: apsw.Connection) -> bool:
    """Whether a bulk first index's references wait in `PENDING_REFS`."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
        (PENDING_REFS,),
    ).fetchone()
    return row is not None


def refs_source(conn: apsw.Connection) -> str:
    """The table expression holding every reference: ``refs``, or both
    tables while a first index stages them."""
    return REFS_SOURCES if refs_pending(conn) else "refs"


def missing(conn: apsw.Connection) -> list[str]:
    """The `DEFERRED` indexes the database lacks, by name."""
    present = {
        str(row[0])
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    return [name for name in DEFERRED if name not in present]


def drop(conn: apsw.Connection) -> list[str]:
    """Drop the `DEFERRED` indexes present and start staging references
    (`PENDING_REFS`), in the caller's transaction; the names dropped."""
    present = [name for name in DEFERRED if name not in missing(conn)]
    for name in present:
        conn.execute(f'DROP INDEX IF EXISTS "{name}"')
    if not refs_pending(conn):
        conn.execute(_CREATE_PENDING_REFS)
    return present


def ensure(conn: apsw.Connection) -> list[str]:
    """Move staged references into `refs` and create the `DEFERRED` indexes
    that are missing, in the caller's transaction; the names created, with
    `PENDING_REFS` first when references were moved (none: nothing written)."""
    done: list[str] = []
    if refs_pending(conn):
        move_pending_refs(conn)
        done.append(PENDING_REFS)
    # After the move: the pages the staging table gave back hold these.
    absent = missing(conn)
    for name in absent:
        conn.execute(DEFERRED[name])
    return done + absent


def move_pending_refs(conn: apsw.Connection) -> None:
    """Staged references into `refs`, in its key order, so each of its
    pages is written once; `refs_file` is built after them when `refs` was
    empty (a first index from scratch), not row by row."""
    row = conn.execute("SELECT EXISTS (SELECT 1 FROM refs)").fetchone()
    rebuild = row is not None and not row[0]
    if rebuild:
        conn.execute("DROP INDEX IF EXISTS refs_file")
    conn.execute(
        "INSERT INTO refs (name, file_id, spots)"
        " SELECT name, file_id, spots FROM refs_pending ORDER BY name, file_id"
    )
    conn.execute(f"DROP TABLE {PENDING_REFS}")
    if rebuild:
        conn.execute(_CREATE_REFS_FILE)
