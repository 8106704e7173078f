"""WAL checkpoints beside the writer, not inside its COMMIT (#16).

SQLite's automatic checkpoint runs in the connection whose COMMIT takes the
WAL past 1,000 pages, so the writer waited for the copy and its fsyncs
before it could announce its commit or start the next one. A PASSIVE
checkpoint takes no write lock: run from a connection of its own, in a
thread of its own, commits go on while it copies. The store's WAL hook says
when one is due (`Store._wal_committed`); a snapshot's or shutdown's
TRUNCATE checkpoint still runs on the writer (`Store.checkpoint`), and
SQLite's locks order the two.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import apsw
import structlog

if TYPE_CHECKING:
    from pathlib import Path

log = structlog.get_logger()

_BUSY_TIMEOUT_MS = 5_000
# WAL pages after a commit that make a checkpoint due (SQLite's own default).
CHECKPOINT_PAGES = 1_000
# ... and past which the writer checkpoints itself before its next write
# (`Store._write`): the WAL starts over only once every frame is copied, so
# a writer that keeps committing while a checkpoint runs would grow it
# without end. 64 MiB of 4 KiB pages, a little over one 100-file batch of
# the 100k index.
CHECKPOINT_MAX_PAGES = 16_384


class Checkpointer:
    """Copies the WAL into the database in a thread of its own, beside the
    writer (module docstring). `due()` asks for one; asks while one runs
    become one more. Its connection is opened on first use, closed by
    `close()`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Condition()
        self._due = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def due(self) -> None:
        with self._wake:
            if self._closed:
                return
            self._due = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"axd-checkpoint-{self._path.parent.name}",
                    daemon=True,
                )  # fmt: skip
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        conn: apsw.Connection | None = None
        try:
            while True:
                with self._wake:
                    while not self._due and not self._closed:
                        self._wake.wait()
                    if self._closed:
                        return
                    self._due = False
                if conn is None:
                    conn = apsw.Connection(
                        str(self._path), flags=apsw.SQLITE_OPEN_READWRITE
                    )
                    conn.set_busy_timeout(_BUSY_TIMEOUT_MS)
                    conn.pragma("synchronous", "NORMAL")
                try:
                    conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
                except apsw.BusyError:
                    pass  # another checkpoint (a snapshot's TRUNCATE) got there first
        except apsw.Error as exc:
            # The writer's own use of the file reports damage; a later commit
            # asks again, on a fresh connection.
            log.warning("checkpoint_failed", path=str(self._path), error=str(exc))
            with self._wake:
                self._thread = None
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        """Stop the thread (after a checkpoint it is running) and close its
        connection."""
        with self._wake:
            self._closed = True
            thread, self._thread = self._thread, None
            self._wake.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
