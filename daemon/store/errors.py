"""What the store raises. The two a client can meet are also `RpcError`s
answered NOT_READY (-32002) with a reason, never as internal errors."""

from __future__ import annotations

import apsw

from axd.protocol.errors import ErrorCode, RpcError

# SQLite's words for a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB).
DAMAGE = (apsw.CorruptError, apsw.NotADBError)


class StoreError(Exception):
    """The index database cannot be used."""


class StoreClosedError(StoreError, RpcError):
    """The store was used after `close()`: its workspace was removed or is
    being reopened (a damaged index is replaced)."""

    def __init__(self, message: str) -> None:
        RpcError.__init__(self, ErrorCode.NOT_READY, message, reason="closed")


class StoreCorruptError(StoreError):
    """``PRAGMA quick_check`` found damage on open."""


class StoreDamagedError(StoreError, RpcError):
    """SQLite reported damage (SQLITE_CORRUPT/NOTADB) during a query or a
    commit: answered as NOT_READY while the database is quarantined."""
