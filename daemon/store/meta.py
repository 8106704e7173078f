"""Bookkeeping keys in an index's `meta` table besides its generation
(e.g. whether its first full index is complete, `index/indexer.py`).

Written in a transaction of their own and without a new generation:
nothing a query reads changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from axd.daemon.store.store import Store


def read_meta(store: Store, key: str) -> str | None:
    """The committed value of `key`, or None when absent."""
    with store.reader() as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def write_meta(store: Store, key: str, value: str | None) -> None:
    """Set `key` (None deletes it); call through the writer (`Writer.write_meta`)."""
    with store.exclusive() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if value is None:
                conn.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (key, value),
                )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
