-- Index size (issue #16): chunk text stored compressed, reference context
-- lines not stored. Rows written from now on keep their chunk text
-- zlib-compressed in `ztext` and '' in `text`; rows written before keep their
-- text as it was (readers take `ztext` when it is not NULL). A reference's
-- context line is read back from the chunks covering it (chunks tile their
-- file), so `refs.context` goes.
ALTER TABLE chunks ADD COLUMN ztext BLOB;
ALTER TABLE refs DROP COLUMN context;
