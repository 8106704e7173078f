-- Back to one row per reference (schema 2). The packed rows are not expanded
-- in SQL: the table is recreated empty and every indexed file is marked for
-- re-indexing (a NULL content hash never matches), so the daemon of version 2
-- rewrites their rows at its next start.
UPDATE files SET content_hash = NULL WHERE status = 'indexed';
DROP TABLE refs;
CREATE TABLE refs (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    end_col INTEGER NOT NULL
) STRICT;
CREATE INDEX refs_name ON refs (name);
CREATE INDEX refs_file ON refs (file_id);

-- Symbols back to stored columns, read from the generated ones.
CREATE TABLE symbols_plain (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    chunk_id INTEGER,
    parent_id INTEGER,
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    initials TEXT NOT NULL,
    qualified_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    end_col INTEGER NOT NULL,
    sel_start_line INTEGER NOT NULL,
    sel_start_col INTEGER NOT NULL,
    sel_end_line INTEGER NOT NULL,
    sel_end_col INTEGER NOT NULL,
    signature TEXT NOT NULL,
    docstring TEXT
) STRICT;
INSERT INTO symbols_plain
SELECT id, file_id, chunk_id, parent_id, name, name_lower, initials,
    qualified_name, kind, start_line, start_col, end_line, end_col,
    sel_start_line, sel_start_col, sel_end_line, sel_end_col, signature, docstring
FROM symbols ORDER BY id;
DROP TABLE symbols;
ALTER TABLE symbols_plain RENAME TO symbols;
CREATE INDEX symbols_name ON symbols (name);
CREATE INDEX symbols_name_lower ON symbols (name_lower);
CREATE INDEX symbols_initials ON symbols (initials);
CREATE INDEX symbols_file ON symbols (file_id);
CREATE INDEX symbols_chunk ON symbols (chunk_id);
