"""References packed one row per (name, file) and symbols without their
derivable columns (migration 0003, #16): what the queries return is what was
written, through the writer and through the migration of older rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import apsw
import pytest

from axd.daemon.query.symbols import definitions, outline, references, symbol_search
from axd.daemon.records import SYMBOL_KINDS, Span, SymbolRecord
from axd.daemon.store.migrator import Migrator
from axd.daemon.store.refspots import Spot, pack, unpack
from axd.daemon.store.symbolrows import INSERT, KIND_CODES, symbol_row

if TYPE_CHECKING:
    from pathlib import Path

# Old (schema 2) symbol columns: the names readers use, generated since 0003.
_SYMBOL_COLUMNS = (
    "id, file_id, chunk_id, parent_id, name, name_lower, initials, qualified_name,"
    " kind, start_line, start_col, end_line, end_col, sel_start_line, sel_start_col,"
    " sel_end_line, sel_end_col, signature, docstring"
)

# name, qualified name, kind, signature: the encodings' edge cases.
_SYMBOLS = [
    ("parse", "parse", "function", "def parse(x)"),  # qualified = name
    ("run", "Server.run", "method", "func (s *Server) run() error"),  # X.name
    ("new", "a::b::new", "function", "pub fn new() -> Self"),  # other qualifier
    ("x", ".x", "field", "x"),  # empty qualifier; the whole signature
    ("go", "Go.go", "method", "no name in here"),  # name absent (case differs)
    ("Ünï", "Mod.Ünï", "class", "class Ünï(Ünï)"),  # non-ASCII, name twice
    ("", "", "key", ""),  # empty name
    ("w", "w", "widget", "widget w"),  # a kind without a code
    ("end", "end.", "constant", "end = 1"),  # qualifier ends with '.'
]


def _spots(name: str, start_line: int) -> list[Spot]:
    width = len(name.encode())
    return [
        ("call", start_line, 4, start_line, 4 + width),
        ("import", start_line + 3, 0, start_line + 3, width),
        ("reference", start_line + 3, 0, start_line + 3, width),  # same start
        ("call", start_line + 1, 2, start_line + 2, 7),  # ends on a later line
        ("reference", start_line + 200, 130, start_line + 200, 131),  # short end
    ]


def test_spots_round_trip() -> None:
    for name in ("go", "Ünï", "x"):
        spots = _spots(name, 7)
        text = pack(name, spots)
        # Ordered by start; equal starts keep the order they came in.
        assert list(unpack(name, text)) == sorted(spots, key=lambda s: (s[1], s[2]))
        assert list(unpack(name, pack(name, reversed(spots))))[2:4] == [
            spots[2],
            spots[1],
        ]
    assert pack("go", []) == "" and list(unpack("go", "")) == []
    assert pack("go", [("call", 3, 4, 3, 6), ("reference", 5, 0, 6, 2)]) == (
        "3c4 2r0-1.2"
    )


@pytest.mark.parametrize("text", ["3x4", "3c", "c4", "3c4-1", "3c4 junk", "-1c4"])
def test_damaged_spots_are_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="bad reference spot"):
        list(unpack("go", text))


def test_every_symbol_kind_has_a_code_the_schema_reads_back(tmp_path: Path) -> None:
    assert set(KIND_CODES) == SYMBOL_KINDS
    assert sorted(KIND_CODES.values()) == list(range(1, len(SYMBOL_KINDS) + 1))
    conn = apsw.Connection(str(tmp_path / "index.db"))
    Migrator(conn).migrate()
    conn.execute(
        "INSERT INTO files (id, path, basename, status) VALUES (1, 'a', 'a', 'indexed')"
    )
    for i, kind in enumerate([*sorted(SYMBOL_KINDS), "widget"], start=1):
        record = SymbolRecord(
            "n", "n", kind, Span(1, 0, 1, 1), Span(1, 0, 1, 1), "n", None, None
        )
        conn.execute(INSERT, symbol_row(i, 1, None, None, "n", record))
        assert conn.execute(
            "SELECT kind FROM symbols WHERE id = ?", (i,)
        ).fetchone() == (kind,)


def _schema2_rows(conn: apsw.Connection) -> list[SymbolRecord]:
    """Files, chunks, symbols and references as version 2 stored them."""
    conn.execute(
        "INSERT INTO files (id, path, basename, language, status, content_hash)"
        " VALUES (1, 'a.go', 'a.go', 'go', 'indexed', 'h1'),"
        " (2, 'b.go', 'b.go', 'go', 'indexed', 'h2')"
    )
    conn.execute(
        "INSERT INTO chunks (id, file_id, start_byte, end_byte, start_line, start_col,"
        " end_line, end_col, kind, symbol, text) VALUES"
        " (1, 1, 0, 10, 1, 0, 400, 0, 'block', NULL, ?),"
        " (2, 2, 0, 10, 1, 0, 400, 0, 'block', NULL, ?)",
        ("go(x)\n" * 400, "go(y)\n" * 400),
    )
    records = []
    for i, (name, qualified, kind, signature) in enumerate(_SYMBOLS, start=1):
        record = SymbolRecord(
            name, qualified, kind, Span(i, 2, i + 3, 9), Span(i + 1, 6, i + 1, 6 + len(name)),
            signature, f"doc {i}" if i % 2 else None, None,
        )  # fmt: skip
        records.append(record)
        s, sel = record.span, record.selection
        conn.execute(
            f"INSERT INTO symbols ({_SYMBOL_COLUMNS})"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (i, 1 + i % 2, 1 + i % 2, i - 1 or None, name, name.lower(), name[:1].lower(),
             qualified, kind, s.start_line, s.start_col, s.end_line, s.end_col,
             sel.start_line, sel.start_col, sel.end_line, sel.end_col, signature,
             record.docstring),
        )  # fmt: skip
    for file_id in (1, 2):
        for name in ("go", "Ünï", "x"):
            for spot in _spots(name, 10 * file_id):
                conn.execute(
                    "INSERT INTO refs (file_id, name, kind, start_line, start_col,"
                    " end_line, end_col) VALUES (?,?,?,?,?,?,?)",
                    (file_id, name, *spot),
                )
    return records


def _answers(conn: apsw.Connection) -> list[object]:
    """What the symbol queries answer (they read the same column names before
    and after 0003)."""
    out: list[object] = []
    for name, qualified, _, _ in _SYMBOLS:
        out += [definitions(conn, name), definitions(conn, qualified)]
        out.append(symbol_search(conn, name or "x"))
    return [*out, outline(conn, "a.go"), outline(conn, "b.go")]


def _schema2_references(conn: apsw.Connection, name: str) -> list[tuple[object, ...]]:
    """What version 2's ``references`` returned, context lines aside."""
    return conn.execute(
        "SELECT f.path, r.start_line, r.start_col, r.end_line, r.end_col, r.kind"
        " FROM refs r JOIN files f ON f.id = r.file_id WHERE r.name = ?"
        " ORDER BY f.path, r.start_line, r.start_col, r.id",
        (name,),
    ).fetchall()


def _references(
    conn: apsw.Connection, name: str, path: str | None = None, limit: int = 200
) -> list[tuple[object, ...]]:
    return [
        (r.path, r.range.start_line, r.range.start_col, r.range.end_line, r.range.end_col,
         r.kind)
        for r in references(conn, name, path, limit)
    ]  # fmt: skip


def test_migration_keeps_every_answer_and_column(tmp_path: Path) -> None:
    conn = apsw.Connection(str(tmp_path / "index.db"))
    conn.execute("PRAGMA foreign_keys = ON")
    Migrator(conn).migrate(target=2)
    records = _schema2_rows(conn)
    before = _answers(conn)
    symbols = conn.execute(
        f"SELECT {_SYMBOL_COLUMNS} FROM symbols ORDER BY id"
    ).fetchall()
    refs = {name: _schema2_references(conn, name) for name in ("go", "Ünï", "x")}
    assert len(refs["go"]) == 10  # five in each file
    Migrator(conn).migrate()
    assert _answers(conn) == before
    for name, expected in refs.items():
        assert _references(conn, name) == expected
        assert _references(conn, name, limit=3) == expected[:3]
        assert _references(conn, name, path="b.go") == expected[5:]
    # Context lines still come from the chunks.
    assert {r.context for r in references(conn, "go")} == {"go(x)", "go(y)"}
    assert conn.execute(
        f"SELECT {_SYMBOL_COLUMNS} FROM symbols ORDER BY id"
    ).fetchall() == (symbols)
    assert conn.execute("SELECT count(*) FROM refs").fetchone() == (
        6,
    )  # 3 names x 2 files
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    # The writer's rows for the same symbols are the migration's rows.
    migrated = conn.execute("SELECT * FROM symbols ORDER BY id").fetchall()
    conn.execute("DELETE FROM symbols")
    for i, record in enumerate(records, start=1):
        conn.execute(
            INSERT,
            symbol_row(
                i, 1 + i % 2, 1 + i % 2, i - 1 or None, record.name[:1].lower(), record
            ),
        )
    assert conn.execute("SELECT * FROM symbols ORDER BY id").fetchall() == migrated
    # Deleting a file takes its packed references with it.
    conn.execute("DELETE FROM files WHERE id = 2")
    assert [r.path for r in references(conn, "go")] == ["a.go"] * 5
    # Back to version 2: symbols as they were, references re-parsed.
    Migrator(conn).rollback(2)
    assert conn.execute("SELECT content_hash FROM files").fetchall() == [(None,)]
    assert conn.execute(
        f"SELECT {_SYMBOL_COLUMNS} FROM symbols ORDER BY id"
    ).fetchall() == [s for s in symbols if s[1] == 1]
    assert conn.execute("SELECT count(*) FROM refs").fetchone() == (0,)
    conn.close()
