"""Re-indexing a file by writing only the rows that changed (#16, live edits).

A re-indexed file used to lose every child row (chunks and their FTS5 rows,
symbols, refs, imports) and get them all back: at 100k files that is ~4-5 ms
of the one writer per file, most of it B-tree maintenance of rows that did
not change (an edit that appends a function keeps every other chunk, symbol
and reference of the file). Here the new rows, built exactly as a first
write builds them (`batch._Writer.add_children`), are compared with the
stored ones and only the difference is written:

* **chunks, their FTS rows and symbols: the longest unchanged prefix is
  kept**, in file order; everything after it is deleted and inserted with
  fresh ids. (A kept chunk stored before migration 0002, its text not
  packed, is packed in place: the row a full rewrite writes.) A chunk is kept when its row (all but ``id``) is equal, and its
  FTS row is then equal too as long as the symbols defined in it are kept
  (the FTS ``names``/``docstrings`` come from them: `index/derive.py`); a
  symbol is kept when its row is equal with ``chunk_id`` and ``parent_id``
  read as positions in the file, and its chunk and parent are kept. Ids
  stay increasing in file order within the file, so every per-file order
  (`outline` by id, a search's symbols of a chunk) is what a full rewrite
  gives; only the file's place in cross-file id order differs (a full
  rewrite moves it last), which is the order of past writes, not data.
* **refs** (one row per (name, file), no id): rows equal by name and spots
  are left alone, changed ones updated in place, others deleted or added.
* **imports**: rows equal but for ``id`` and ``target_id`` are kept with
  their resolution, the others deleted or added. A kept import resolves as
  before unless a file it could point at came or went, or a configuration
  file changed: the linker re-resolves those by key whatever wrote them
  (`linker.relink`). The file's imports are re-resolved only when a row was
  added (`Written.imports_changed`).

So the index after `rewrite` holds the same rows as after delete+insert, up
to the numbering of the file's chunk and symbol ids (tests/test_burst_rewrite.py
compares both on real files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from axd.daemon.store.indexes import PENDING_REFS
from axd.daemon.store.symbolrows import COLUMNS as SYMBOL_COLUMNS

if TYPE_CHECKING:
    import apsw

# Positions in the row tuples `batch._Writer.add_children` builds (the
# column order of their INSERTs): chunks (id, file_id, start_byte .. symbol,
# ztext); symbols `symbolrows.COLUMNS` (id, file_id, chunk_id, parent_id, ...).
_CHUNK_DATA = slice(2, 10)
_CHUNK_ZTEXT = 10
# The stored chunk as `rewrite` selects it: ... `text` (unpacked, before
# migration 0002; '' since), `ztext` (packed); the FTS row's text column.
_OLD_TEXT, _OLD_ZTEXT, _FTS_TEXT = 10, 11, 1
_SYM_ID, _SYM_CHUNK, _SYM_PARENT, _SYM_DATA = 0, 2, 3, slice(4, None)
_GONE = -2  # an old reference to a row not among the file's own: never equal


@dataclass(slots=True)
class Fresh:
    """The new rows of one file, ids numbered from `first_chunk` and
    `first_symbol` (as `add_children` numbers them)."""

    first_chunk: int
    first_symbol: int
    chunks: list[tuple[object, ...]]
    fts: list[tuple[object, ...]]
    symbols: list[tuple[object, ...]]
    refs: list[tuple[object, ...]]  # (name, file_id, spots)
    imports: list[tuple[object, ...]]  # (file_id, language, module, ..., key)


@dataclass(slots=True)
class Written:
    """What `rewrite` left to do, and how much it kept. `fts_gone`: the
    rowids of `chunks_fts` rows to delete (the chunks it deleted), which the
    caller deletes with the batch's other FTS writes, in rowid order."""

    fts_gone: list[int]
    chunks: list[tuple[object, ...]]
    fts: list[tuple[object, ...]]
    symbols: list[tuple[object, ...]]
    refs: list[tuple[object, ...]]
    imports: list[tuple[object, ...]]
    kept_chunks: int = 0
    kept_symbols: int = 0
    kept_refs: int = 0
    kept_imports: int = 0
    gone_imports: int = 0

    @property
    def imports_changed(self) -> bool:
        """Whether an import row was added (to be resolved)."""
        return bool(self.imports)


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def _opt(value: object) -> int | None:
    return None if value is None else _int(value)


def _prefix(old: list[tuple[object, ...]], new: list[tuple[object, ...]]) -> int:
    n = 0
    for a, b in zip(old, new, strict=False):
        if a != b:
            break
        n += 1
    return n


def rewrite(
    conn: apsw.Connection, file_id: int, fresh: Fresh, *, staged_refs: bool = False
) -> Written:
    """Delete the file's stored rows that `fresh` does not keep (see the
    module docstring) but their FTS rows, and return those FTS rows' ids
    and the rows still to insert, with their ids and references mapped onto
    the kept rows. `staged_refs`: a bulk first index stages references in
    `indexes.PENDING_REFS` (store/indexes.py); a stored row is in one of the
    two tables, so both are read and changed, and added rows go there."""
    old_chunks = conn.execute(
        "SELECT id, file_id, start_byte, end_byte, start_line, start_col, end_line,"
        " end_col, kind, symbol, text, ztext FROM chunks WHERE file_id = ? ORDER BY id",
        (file_id,),
    ).fetchall()
    old_symbols = conn.execute(
        f"SELECT {SYMBOL_COLUMNS} FROM symbols WHERE file_id = ? ORDER BY id",
        (file_id,),
    ).fetchall()
    old_chunk_ids = [_int(r[0]) for r in old_chunks]
    old_symbol_ids = [_int(r[0]) for r in old_symbols]
    chunk_at = {cid: i for i, cid in enumerate(old_chunk_ids)}
    symbol_at = {sid: i for i, sid in enumerate(old_symbol_ids)}

    # Chunks: equal position, kind, symbol and text. A row from before
    # migration 0002 holds its text unpacked (`text`, no `ztext`): equal when
    # the text is, and then only repacked in place (below).
    kept_c = 0
    unpacked: list[tuple[int, object, object]] = []  # (position, ztext, id)
    for old, new, fts in zip(old_chunks, fresh.chunks, fresh.fts, strict=False):
        if old[_CHUNK_DATA] != new[_CHUNK_DATA]:
            break
        if old[_OLD_TEXT] == "" and old[_OLD_ZTEXT] == new[_CHUNK_ZTEXT]:
            pass
        elif old[_OLD_ZTEXT] is None and old[_OLD_TEXT] == fts[_FTS_TEXT]:
            unpacked.append((kept_c, new[_CHUNK_ZTEXT], old[0]))
        else:
            break
        kept_c += 1

    def old_pos(value: object, at: dict[int, int]) -> int | None:
        return None if value is None else at.get(_int(value), _GONE)

    def new_pos(value: object, first: int) -> int | None:
        return None if value is None else _int(value) - first

    old_s = [
        (old_pos(r[_SYM_CHUNK], chunk_at), old_pos(r[_SYM_PARENT], symbol_at),
         *r[_SYM_DATA])
        for r in old_symbols
    ]  # fmt: skip
    new_s = [
        (new_pos(r[_SYM_CHUNK], fresh.first_chunk),
         new_pos(r[_SYM_PARENT], fresh.first_symbol), *r[_SYM_DATA])
        for r in fresh.symbols
    ]  # fmt: skip
    kept_s = _prefix(old_s, new_s)
    # Each new symbol's chunk and parent, as positions (None: none).
    new_links = [(_opt(row[0]), _opt(row[1])) for row in new_s]
    # Shrink both prefixes until they agree (each step only shrinks: ends).
    while True:
        # A kept chunk's FTS names/docstrings are those of the symbols in it:
        # none of them may be rewritten, on either side.
        for rows in (old_s, new_s):
            for row in rows[kept_s:]:
                chunk = _opt(row[0])
                if chunk is not None and 0 <= chunk < kept_c:
                    kept_c = chunk
        # A kept symbol points at a kept chunk and a kept parent.
        shrunk = kept_s
        for index in range(kept_s):
            chunk, parent = new_links[index]
            if (chunk is not None and chunk >= kept_c) or (
                parent is not None and parent >= index
            ):
                shrunk = index
                break
        if shrunk == kept_s:
            break
        kept_s = shrunk

    if unpacked:
        conn.executemany(
            "UPDATE chunks SET text = '', ztext = ? WHERE id = ?",
            [(ztext, cid) for at, ztext, cid in unpacked if at < kept_c],
        )
    gone_chunks = old_chunk_ids[kept_c:]
    gone_symbols = old_symbol_ids[kept_s:]
    if gone_chunks:
        # Their FTS rows are left to the caller (`Written.fts_gone`), who
        # deletes the batch's together in rowid order (`batch._Writer.flush`).
        conn.executemany("DELETE FROM chunks WHERE id = ?", [(c,) for c in gone_chunks])
    if gone_symbols:
        conn.executemany(
            "DELETE FROM symbols WHERE id = ?", [(sid,) for sid in gone_symbols]
        )

    def chunk_id(value: object) -> object:
        at = new_pos(value, fresh.first_chunk)
        return value if at is None or at >= kept_c else old_chunk_ids[at]

    def parent_id(value: object) -> object:
        at = new_pos(value, fresh.first_symbol)
        return value if at is None or at >= kept_s else old_symbol_ids[at]

    symbols = [
        (*r[:_SYM_CHUNK], chunk_id(r[_SYM_CHUNK]), parent_id(r[_SYM_PARENT]),
         *r[_SYM_DATA])
        for r in fresh.symbols[kept_s:]
    ]  # fmt: skip

    ref_tables = ("refs", PENDING_REFS) if staged_refs else ("refs",)
    old_refs: dict[object, object] = {}
    for table in ref_tables:
        old_refs.update(
            conn.execute(
                f"SELECT name, spots FROM {table} WHERE file_id = ?", (file_id,)
            )
        )
    added: list[tuple[object, ...]] = []
    changed: list[tuple[object, ...]] = []
    kept_r = 0
    for row in fresh.refs:
        name, spots = row[0], row[2]
        before = old_refs.pop(name, None)
        if before is None:
            added.append(row)
        elif before == spots:
            kept_r += 1
        else:
            changed.append((spots, name, file_id))
    for table in ref_tables:
        if old_refs:
            conn.executemany(
                f"DELETE FROM {table} WHERE name = ? AND file_id = ?",
                [(name, file_id) for name in old_refs],
            )
        if changed:
            conn.executemany(
                f"UPDATE {table} SET spots = ? WHERE name = ? AND file_id = ?", changed
            )
    imports, kept_i, gone_i = _imports(conn, file_id, fresh.imports)
    return Written(
        fts_gone=gone_chunks,
        chunks=fresh.chunks[kept_c:],
        fts=fresh.fts[kept_c:],
        symbols=symbols,
        refs=added,
        imports=imports,
        kept_imports=kept_i,
        gone_imports=gone_i,
        kept_chunks=kept_c,
        kept_symbols=kept_s,
        kept_refs=kept_r,
    )


def _imports(
    conn: apsw.Connection, file_id: int, rows: list[tuple[object, ...]]
) -> tuple[list[tuple[object, ...]], int, int]:
    """Delete the file's import rows not among `rows`; the rows to insert,
    how many were kept (equal rows matched one to one) and how many deleted."""
    stored: dict[tuple[object, ...], list[object]] = {}
    for row in conn.execute(
        "SELECT id, file_id, language, module, start_line, start_col, end_line,"
        " end_col, key FROM imports WHERE file_id = ? ORDER BY id",
        (file_id,),
    ):
        stored.setdefault(tuple(row[1:]), []).append(row[0])
    added: list[tuple[object, ...]] = []
    kept = 0
    for row in rows:
        ids = stored.get(row)
        if ids:
            ids.pop(0)
            kept += 1
        else:
            added.append(row)
    gone = [(i,) for ids in stored.values() for i in ids]
    if gone:
        conn.executemany("DELETE FROM imports WHERE id = ?", gone)
    return added, kept, len(gone)
