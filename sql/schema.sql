-- schema.sql — the ovseg database: the pipeline's memory. Compiled into the binary; `ovseg init DB`
-- creates it. Schema version = PRAGMA user_version (set by the last line). Upgrades of older
-- databases live in sql/migrations/NNN-*.sql and are applied on open (see db/db.c).
-- Sections belong to stages; each stage edits its own section.

-- ── foundation ─────────────────────────────────────────────────────────────────────────────
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- Every command invocation that changes the db.
CREATE TABLE runs (
  id         INTEGER PRIMARY KEY,
  verb       TEXT NOT NULL,
  args       TEXT NOT NULL,            -- the command line, as typed
  started_at TEXT NOT NULL,            -- ISO-8601 UTC
  ended_at   TEXT,                     -- NULL while running or after a crash
  status     TEXT NOT NULL DEFAULT 'running',  -- running | ok | error
  counts     TEXT                      -- JSON object of the verb's counters
);

-- ── ingest ─────────────────────────────────────────────────────────────────────────────────
-- One row per input file; lines_done makes re-ingest add only new lines.
CREATE TABLE sources (
  id          INTEGER PRIMARY KEY,
  path        TEXT NOT NULL UNIQUE,    -- absolute path as given (realpath)
  columns     TEXT NOT NULL,           -- 'url,caption' or 'caption,url'
  lines_done  INTEGER NOT NULL DEFAULT 0,
  inserted    INTEGER NOT NULL DEFAULT 0,
  duplicates  INTEGER NOT NULL DEFAULT 0,
  rejected    INTEGER NOT NULL DEFAULT 0,
  other_part  INTEGER NOT NULL DEFAULT 0, -- valid lines whose URL belongs to another --part
  part        TEXT                     -- 'i/N' when ingested with --part
);

-- The samples: one per unique URL. id is the sample key (9 decimal digits in shards).
CREATE TABLE samples (
  id           INTEGER PRIMARY KEY,
  url          TEXT NOT NULL,
  url_hash     INTEGER NOT NULL,        -- ovs_hash64(url) as signed 64-bit; the dedupe key (unique: index below)
  caption      TEXT NOT NULL,
  source_id    INTEGER NOT NULL REFERENCES sources(id),
  line         INTEGER NOT NULL,        -- 1-based line in the source file
  -- fetch
  state        TEXT NOT NULL DEFAULT 'pending', -- pending | ok | retry | failed
  reason       TEXT,                    -- ok, http_4xx, http_5xx, timeout, dns, connect, too_large,
                                        -- not_image, decode_error, too_small, bad_aspect, noai, redirect
  http_status  INTEGER,
  attempts     INTEGER NOT NULL DEFAULT 0,
  last_error   TEXT,
  bytes        INTEGER,                 -- downloaded bytes
  orig_width   INTEGER,
  orig_height  INTEGER,
  width        INTEGER,                 -- stored image size
  height       INTEGER,
  sha256       TEXT,                    -- of the downloaded bytes
  shard_id     INTEGER REFERENCES shards(id),
  member_offset INTEGER,                -- byte offset of the image member's header in the shard
  shard_key    INTEGER,                 -- the sample's key in that shard when it is not id (merge renumbered it)
  -- entities
  entities_version TEXT                 -- rules hash the entities were extracted with; NULL = not yet
);
-- Named indexes, not column constraints: a large ingest drops them and builds them again at its
-- end (much faster than keeping them up to date row by row); db/db.c creates any that an
-- interrupted ingest left missing when the database is opened (it keeps their SQL: edit both).
CREATE UNIQUE INDEX samples_url_hash ON samples(url_hash);
CREATE INDEX samples_state ON samples(state);

CREATE TABLE rejects (
  id        INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  line      INTEGER NOT NULL,
  reason    TEXT NOT NULL,             -- missing_tab, empty_url, bad_scheme, ... (docs/ingest.md)
  excerpt   TEXT,                      -- first bytes of the line, made printable
  UNIQUE(source_id, line)
);

-- ── fetch / shard ──────────────────────────────────────────────────────────────────────────
CREATE TABLE shards (
  id         INTEGER PRIMARY KEY,
  kind       TEXT NOT NULL,            -- raw (fetch) | train (shard)
  path       TEXT NOT NULL UNIQUE,     -- relative to the output root
  samples    INTEGER NOT NULL,
  bytes      INTEGER NOT NULL,
  sha256     TEXT,
  run_id     INTEGER REFERENCES runs(id),
  created_at TEXT NOT NULL,
  stats      TEXT                      -- JSON: per-shard counters
);

CREATE TABLE train_members (
  shard_id  INTEGER NOT NULL REFERENCES shards(id),
  sample_id INTEGER NOT NULL REFERENCES samples(id),
  PRIMARY KEY (shard_id, sample_id)
);

-- ── entities ───────────────────────────────────────────────────────────────────────────────
CREATE TABLE entities (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  occurrences INTEGER NOT NULL DEFAULT 0,
  samples     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sample_entities (
  sample_id INTEGER NOT NULL REFERENCES samples(id),
  entity_id INTEGER NOT NULL REFERENCES entities(id),
  start     INTEGER NOT NULL,          -- byte offset in the caption
  end       INTEGER NOT NULL,          -- exclusive
  PRIMARY KEY (sample_id, start)
) WITHOUT ROWID;
-- No index on entity_id: keeping one up to date costs `ovseg entities` a third of its time, and the
-- verbs read sample_entities by sample or in full scans. For ad-hoc lookups by entity:
--   CREATE INDEX sample_entities_entity ON sample_entities(entity_id);

CREATE TABLE subsets (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  params     TEXT NOT NULL,            -- JSON
  members    INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);

CREATE TABLE subset_entities (
  subset_id INTEGER NOT NULL REFERENCES subsets(id),
  entity_id INTEGER NOT NULL REFERENCES entities(id),
  rank      INTEGER NOT NULL,
  samples   INTEGER NOT NULL,          -- members containing it
  pairs     INTEGER NOT NULL DEFAULT 0, -- pairs made through it (by `ovseg pairs`)
  PRIMARY KEY (subset_id, entity_id)
);

CREATE TABLE subset_members (
  subset_id INTEGER NOT NULL REFERENCES subsets(id),
  sample_id INTEGER NOT NULL REFERENCES samples(id),
  PRIMARY KEY (subset_id, sample_id)
) WITHOUT ROWID;

CREATE TABLE pairs (
  subset_id  INTEGER NOT NULL REFERENCES subsets(id),
  sample_id  INTEGER NOT NULL REFERENCES samples(id),
  k          INTEGER NOT NULL,         -- 0..partners-1
  partner_id INTEGER NOT NULL REFERENCES samples(id),
  entity_id  INTEGER NOT NULL REFERENCES entities(id),
  PRIMARY KEY (subset_id, sample_id, k)
) WITHOUT ROWID;

-- ── eval ───────────────────────────────────────────────────────────────────────────────────
CREATE TABLE eval_results (
  id         INTEGER PRIMARY KEY,
  run_id     INTEGER REFERENCES runs(id),
  ckpt       TEXT NOT NULL,
  dataset    TEXT NOT NULL,
  method     TEXT NOT NULL DEFAULT 'model', -- model | random | group_oracle | patch_ceiling | all_background
  miou       REAL NOT NULL,               -- 0..1 (NaN never stored: a run with no image fails)
  pixel_acc  REAL NOT NULL,
  images     INTEGER NOT NULL DEFAULT 0,
  skipped    INTEGER NOT NULL DEFAULT 0,
  per_class  TEXT NOT NULL,               -- JSON {class: iou|null}
  protocol   TEXT NOT NULL DEFAULT '{}',  -- JSON: short_side, window, stride, whole, bg_thresh, ...
  out_dir    TEXT,                        -- results.json, confusion.tsv, masks/, overlays/
  created_at TEXT NOT NULL
);
CREATE INDEX eval_results_dataset ON eval_results(dataset, created_at);

PRAGMA user_version = 1;
