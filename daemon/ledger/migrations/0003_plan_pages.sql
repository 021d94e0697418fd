-- A plan's rows hash is over the hashes of its pages (up to 400 changed rows each, in seq order), so an
-- apply or rollback can check each page just before it writes from it, instead of re-reading the whole
-- plan before its first write. rows_pages is how many pages the plan has; NULL for plans made before.
ALTER TABLE plans ADD COLUMN rows_pages INTEGER;
CREATE TABLE plan_pages (
  dry_run_id TEXT NOT NULL,
  last_seq   INTEGER NOT NULL,  -- the page holds the changed rows after the previous page's last_seq, up to this
  rows       INTEGER NOT NULL,
  hash       TEXT NOT NULL,     -- sha-256 of the page's text (daemon/engine/planHash.ts pageText)
  PRIMARY KEY (dry_run_id, last_seq)
) WITHOUT ROWID;
