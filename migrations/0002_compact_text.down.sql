-- Back to stored text. Chunks written under 0002 have their text only in
-- `ztext`, which goes, and references get an empty context: every indexed
-- file is marked for re-indexing (a NULL content hash never matches), so the
-- daemon of version 1 rewrites their rows at its next start.
UPDATE files SET content_hash = NULL WHERE status = 'indexed';
ALTER TABLE chunks DROP COLUMN ztext;
ALTER TABLE refs ADD COLUMN context TEXT NOT NULL DEFAULT '';
