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
DROP INDEX symbols_name;
