-- The ledger: an append-only, hash-chained event log, plus the state that runs need to resume.
-- Events are the record; runs, plan_rows and row_outcomes are what the engine works from.

CREATE TABLE events (
  seq      INTEGER PRIMARY KEY,          -- 1, 2, 3, ... without gaps
  id       TEXT NOT NULL UNIQUE,         -- ev_<random>
  run_id   TEXT,                         -- NULL for events about the ledger or plans
  kind     TEXT NOT NULL,
  data     TEXT NOT NULL,                -- JSON
  version  TEXT NOT NULL,                -- redress version / ledger schema version that wrote it
  at       TEXT NOT NULL,                -- ISO 8601
  prev     TEXT NOT NULL,                -- checksum of the event before (64 zeros for the first)
  checksum TEXT NOT NULL                 -- sha256(prev, seq, id, run_id, kind, data, version, at)
);
CREATE INDEX events_by_run ON events (run_id, seq);
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
  BEGIN SELECT RAISE(ABORT, 'the Redress ledger is append-only: events cannot be changed'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
  BEGIN SELECT RAISE(ABORT, 'the Redress ledger is append-only: events cannot be deleted'); END;

CREATE TABLE runs (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL,         -- dry-run | apply | rollback | verify
  correction_id   TEXT NOT NULL,
  correction_path TEXT NOT NULL,
  plan_id         TEXT,                  -- apply, rollback, verify: the plan they work from
  parent_run_id   TEXT,                  -- rollback and verify: the apply run they follow
  status          TEXT NOT NULL,
  options         TEXT NOT NULL,         -- JSON: batch size, params, canary, seed
  total_rows      INTEGER,
  batches_done    INTEGER NOT NULL DEFAULT 0,
  cursor          TEXT,                  -- JSON checkpoint: last key (dry-run) or last plan seq (apply)
  counts          TEXT NOT NULL,         -- JSON Summary
  apply_counts    TEXT NOT NULL,         -- JSON ApplyCounts
  message         TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);

CREATE TABLE plans (
  id              TEXT PRIMARY KEY,      -- plan_<first 16 hex of content_hash>
  content_hash    TEXT NOT NULL,         -- over code, manifest, schema fingerprint and planned changes
  dry_run_id      TEXT NOT NULL REFERENCES runs (id),
  correction_id   TEXT NOT NULL,
  correction_path TEXT NOT NULL,
  code_hash       TEXT NOT NULL,
  code            TEXT NOT NULL,         -- the compiled correction the plan was made with
  manifest        TEXT NOT NULL,         -- JSON
  target          TEXT NOT NULL,
  table_schema    TEXT NOT NULL,         -- JSON TableSchema, fingerprint included
  changes         INTEGER NOT NULL,
  created_at      TEXT NOT NULL
);

-- Rows a dry-run found to change, skip or quarantine, in key order. For changed rows, before and after
-- hold only the changed columns: they are the plan, and the before-images that rollback restores.
CREATE TABLE plan_rows (
  run_id      TEXT NOT NULL,
  seq         INTEGER NOT NULL,
  status      TEXT NOT NULL,             -- changed | skipped | quarantined
  key         TEXT NOT NULL,             -- JSON array of wire values
  before_hash TEXT,
  after_hash  TEXT,
  before      TEXT,                      -- JSON {column: wire value}
  after       TEXT,
  reason      TEXT,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Apply and rollback: only the rows that did not go as planned (drifted, missing, already applied).
-- A row of a committed batch with no outcome here was written.
CREATE TABLE row_outcomes (
  run_id  TEXT NOT NULL,
  seq     INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
