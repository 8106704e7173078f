-- axd index schema, version 1.
-- Positions follow PROTOCOL.md: lines 1-based, columns 0-based bytes,
-- exclusive end column. Every child row belongs to one `files` row and goes
-- with it (ON DELETE CASCADE); the writer also deletes children explicitly
-- when it replaces a file's rows, keeping the file's id stable so import
-- edges pointing at it survive a re-index.

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value ANY
) STRICT, WITHOUT ROWID;

INSERT INTO meta (key, value) VALUES ('generation', 0);

CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,          -- workspace-relative, '/'-separated
    basename TEXT NOT NULL,             -- Java resolution looks files up by name
    language TEXT,
    status TEXT NOT NULL CHECK (status IN ('indexed', 'skipped')),
    size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    extractor_version INTEGER NOT NULL DEFAULT 0,
    skip_reason TEXT,
    detail TEXT,
    parse_errors INTEGER NOT NULL DEFAULT 0,
    chunk_count INTEGER NOT NULL DEFAULT 0,   -- denormalised: counts() stays O(files)
    symbol_count INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0     -- generation that last changed the row's content
) STRICT;
CREATE INDEX files_basename ON files (basename);

CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,             -- also the rowid of chunks_fts
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    start_byte INTEGER NOT NULL,
    end_byte INTEGER NOT NULL,
    start_line INTEGER NOT NULL,
    start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    end_col INTEGER NOT NULL,
    kind TEXT NOT NULL,
    symbol TEXT,
    text TEXT NOT NULL
) STRICT;
CREATE INDEX chunks_file ON chunks (file_id, start_line);

-- Contentless (the text lives in `chunks`) with contentless_delete so a
-- file's rows are removed cheaply by rowid. Columns: the chunk text; the
-- words of its compound identifiers (parseFile -> parse file); names of the
-- symbols defined in it, whole and split; their docstrings.
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    text, terms, names, docstrings,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE symbols (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    chunk_id INTEGER,                   -- the chunk holding the name; search ranking
    parent_id INTEGER,                  -- symbols.id of the enclosing definition
    name TEXT NOT NULL,
    name_lower TEXT NOT NULL,           -- Python str.lower(): SQLite's lower() is ASCII-only
    initials TEXT NOT NULL,             -- HandleRequest -> hr, for camel-hump search
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
CREATE INDEX symbols_name ON symbols (name);
CREATE INDEX symbols_name_lower ON symbols (name_lower);
CREATE INDEX symbols_initials ON symbols (initials);
CREATE INDEX symbols_file ON symbols (file_id);
CREATE INDEX symbols_chunk ON symbols (chunk_id);

CREATE TABLE refs (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    end_col INTEGER NOT NULL,
    context TEXT NOT NULL
) STRICT;
CREATE INDEX refs_name ON refs (name);
CREATE INDEX refs_file ON refs (file_id);

CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    language TEXT,
    module TEXT NOT NULL,               -- as written (.helpers, ./format, crate::a)
    start_line INTEGER NOT NULL,
    start_col INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    end_col INTEGER NOT NULL,
    -- A path component any file this import could resolve to has (as its
    -- stem or a directory name); adding or deleting such a file re-resolves
    -- the import. NULL: the import can never resolve inside the workspace.
    key TEXT,
    target_id INTEGER REFERENCES files (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX imports_file ON imports (file_id);
CREATE INDEX imports_target ON imports (target_id) WHERE target_id IS NOT NULL;
CREATE INDEX imports_key ON imports (key) WHERE key IS NOT NULL;
