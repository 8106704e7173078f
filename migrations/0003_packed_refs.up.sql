-- Index size (issue #16): references stored one row per (name, file) with
-- their positions packed in `spots` (format: daemon/store/refspots.py), in a
-- table clustered on (name, file_id), so the name is stored once per file
-- and the `refs_name` index goes; `refs_file` stays for deleting a file's
-- rows. Exact lookups by name use `symbols_name_lower` (name_lower is
-- name.lower()) and check the name, so `symbols_name` goes too.
CREATE TABLE refs_packed (
    name TEXT NOT NULL,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    spots TEXT NOT NULL,
    PRIMARY KEY (name, file_id)
) STRICT, WITHOUT ROWID;

-- Spots ordered by start and, for equal starts, by insertion (id), as the
-- writer orders them; line deltas from the previous spot, the end only when
-- it is not on the start line `length(name)` bytes on.
INSERT INTO refs_packed (name, file_id, spots)
SELECT name, file_id, group_concat(spot, ' ' ORDER BY start_line, start_col, id)
FROM (
    SELECT id, name, file_id, start_line, start_col,
        (start_line - lag(start_line, 1, 0) OVER (
            PARTITION BY file_id, name ORDER BY start_line, start_col, id))
        || CASE kind WHEN 'call' THEN 'c' WHEN 'import' THEN 'i' ELSE 'r' END
        || start_col
        || CASE
            WHEN end_line = start_line
                AND end_col = start_col + length(CAST(name AS BLOB)) THEN ''
            ELSE '-' || (end_line - start_line) || '.' || end_col
        END AS spot
    FROM refs
)
GROUP BY name, file_id;

DROP TABLE refs;
ALTER TABLE refs_packed RENAME TO refs;
CREATE INDEX refs_file ON refs (file_id);


-- Symbols: what a row can derive from its other columns is not stored
-- (daemon/store/symbolrows.py writes them): `qualified_name` not where it is
-- `name`, only its
-- qualifier where it is `<qualifier>.<name>`; `signature` without its first
-- occurrence of `name`; `kind` as a small code (any kind without a code is
-- stored as its text); the end and the selection's lines as offsets from the
-- start line (mostly 0 or small). The old column names are generated
-- columns, so every reader and index keeps using them.
CREATE TABLE symbols_packed (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    chunk_id INTEGER,                   -- the chunk holding the name; search ranking
    parent_id INTEGER,                  -- symbols.id of the enclosing definition
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,           -- Python str.lower(): SQLite's lower() is ASCII-only
    initials TEXT NOT NULL,             -- HandleRequest -> hr, for camel-hump search
    qual_name TEXT,                     -- NULL when name or qual_prefix.name
    qual_prefix TEXT,                   -- X when the qualified name is X.name
    kind_code ANY NOT NULL,             -- symbolrows.KIND_CODES, or the kind's text
    start_line INTEGER NOT NULL,
    start_col INTEGER NOT NULL,
    end_lines INTEGER NOT NULL,         -- end_line - start_line
    end_col INTEGER NOT NULL,
    sel_line_offset INTEGER NOT NULL,   -- sel_start_line - start_line
    sel_start_col INTEGER NOT NULL,
    sel_lines INTEGER NOT NULL,         -- sel_end_line - sel_start_line
    sel_end_col INTEGER NOT NULL,
    sig_head TEXT NOT NULL,             -- the signature up to the name (all of it
    sig_tail TEXT,                      -- without the name), after it (or NULL)
    docstring TEXT,
    qualified_name TEXT GENERATED ALWAYS AS (
        coalesce(qual_name, qual_prefix || '.' || name, name)
    ) VIRTUAL,
    signature TEXT GENERATED ALWAYS AS (
        CASE WHEN sig_tail IS NULL THEN sig_head ELSE sig_head || name || sig_tail END
    ) VIRTUAL,
    kind TEXT GENERATED ALWAYS AS (
        CASE kind_code
            WHEN 1 THEN 'function'
            WHEN 2 THEN 'method'
            WHEN 3 THEN 'class'
            WHEN 4 THEN 'struct'
            WHEN 5 THEN 'interface'
            WHEN 6 THEN 'trait'
            WHEN 7 THEN 'enum'
            WHEN 8 THEN 'module'
            WHEN 9 THEN 'namespace'
            WHEN 10 THEN 'type'
            WHEN 11 THEN 'constant'
            WHEN 12 THEN 'variable'
            WHEN 13 THEN 'field'
            WHEN 14 THEN 'property'
            WHEN 15 THEN 'macro'
            WHEN 16 THEN 'key'
            WHEN 17 THEN 'heading'
            ELSE CAST(kind_code AS TEXT)
        END
    ) VIRTUAL,
    end_line INTEGER GENERATED ALWAYS AS (start_line + end_lines) VIRTUAL,
    sel_start_line INTEGER GENERATED ALWAYS AS (start_line + sel_line_offset) VIRTUAL,
    sel_end_line INTEGER GENERATED ALWAYS AS (
        start_line + sel_line_offset + sel_lines
    ) VIRTUAL
) STRICT;

INSERT INTO symbols_packed (id, file_id, chunk_id, parent_id, name, name_lower,
    initials, qual_name, qual_prefix, kind_code, start_line, start_col, end_lines,
    end_col, sel_line_offset, sel_start_col, sel_lines, sel_end_col, sig_head,
    sig_tail, docstring)
SELECT id, file_id, chunk_id, parent_id, name, name_lower, initials,
    CASE
        WHEN qualified_name = name THEN NULL
        WHEN substr(qualified_name, -length(name) - 1) = '.' || name THEN NULL
        ELSE qualified_name
    END,
    CASE
        WHEN qualified_name != name
            AND substr(qualified_name, -length(name) - 1) = '.' || name
            THEN substr(qualified_name, 1, length(qualified_name) - length(name) - 1)
    END,
    CASE kind
        WHEN 'function' THEN 1
        WHEN 'method' THEN 2
        WHEN 'class' THEN 3
        WHEN 'struct' THEN 4
        WHEN 'interface' THEN 5
        WHEN 'trait' THEN 6
        WHEN 'enum' THEN 7
        WHEN 'module' THEN 8
        WHEN 'namespace' THEN 9
        WHEN 'type' THEN 10
        WHEN 'constant' THEN 11
        WHEN 'variable' THEN 12
        WHEN 'field' THEN 13
        WHEN 'property' THEN 14
        WHEN 'macro' THEN 15
        WHEN 'key' THEN 16
        WHEN 'heading' THEN 17
        ELSE kind
    END,
    start_line, start_col, end_line - start_line, end_col,
    sel_start_line - start_line, sel_start_col, sel_end_line - sel_start_line,
    sel_end_col,
    CASE WHEN instr(signature, name) > 0
        THEN substr(signature, 1, instr(signature, name) - 1) ELSE signature END,
    CASE WHEN instr(signature, name) > 0
        THEN substr(signature, instr(signature, name) + length(name)) END,
    docstring
FROM symbols ORDER BY id;

DROP TABLE symbols;
ALTER TABLE symbols_packed RENAME TO symbols;
CREATE INDEX symbols_name_lower ON symbols (name_lower);
CREATE INDEX symbols_initials ON symbols (initials);
CREATE INDEX symbols_file ON symbols (file_id);
CREATE INDEX symbols_chunk ON symbols (chunk_id);
