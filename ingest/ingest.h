/* ingest.h — caption TSV files into the samples table: idempotent (a file is a `sources` row whose
 * lines_done says how far it has been ingested), duplicate URLs counted and not inserted, bad lines
 * recorded in `rejects`, and --part i/N keeping only URLs whose hash falls in part i.
 *
 *   ovs_ingest s;
 *   ovs_ingest_begin(&s, db, &e)  ...  ovs_ingest_file(&s, path, &opts, &counts, &progress, &e) ...  ovs_ingest_end(&s, &e)
 *
 * Each file is read by a second thread (decompression, line split, validation, hashing) while the
 * calling thread writes the previous batch to SQLite in one transaction that also advances
 * sources.lines_done: a kill -9 loses or duplicates nothing.
 *
 * Two ways to write (chosen per file, see ovs_ingest_opts.bulk):
 * - incremental: rows of a batch sorted by URL hash, inserted with the url_hash index in place
 *   (the UNIQUE url_hash index finds duplicates);
 * - bulk: the UNIQUE url_hash index is dropped (in the first batch's transaction), duplicates are
 *   found in an in-memory map of every url_hash (ovs_hashset), each batch goes in with one
 *   INSERT ... SELECT (rowtab.h), and ovs_ingest_end builds the index again (CREATE INDEX sorts:
 *   far cheaper than row-by-row upkeep). A run killed in between leaves the index missing: the next
 *   ingest goes on in bulk mode, any other verb's ovs_db_open builds it (ovs_db_ensure_indexes). */
#ifndef OVS_INGEST_H
#define OVS_INGEST_H

#include <stdint.h>

#include "db/db.h"
#include "ingest/hashset.h"
#include "ingest/rowtab.h"
#include "ingest/tsv.h"
#include "util/progress.h"

typedef struct ovs_ingest_opts {
    int caption_first;  /* --columns caption,url */
    int part_i, part_n; /* --part i/N; part_n == 0: every URL */
    int batch_lines;    /* input lines per transaction; 0 = OVS_INGEST_BATCH */
    int hash_bits;      /* 0 or 64 = the full hash; fewer only in tests, to make collisions happen */
    int bulk;           /* --bulk: OVS_BULK_AUTO (0), OVS_BULK_YES or OVS_BULK_NO */
} ovs_ingest_opts;

/* AUTO: bulk when the file is estimated to add at least half as many rows as samples already has
 * (rebuilding the index costs in proportion to all rows), or when an interrupted bulk ingest left
 * the index missing. Bulk needs the exclusive bulk-load mode (ovs_ingest_begin). */
enum { OVS_BULK_AUTO = 0, OVS_BULK_YES = 1, OVS_BULK_NO = 2 };

/* One ingest run over one database (several files). */
typedef struct ovs_ingest {
    ovs_db *db;
    int exclusive;      /* the bulk-load mode is on: this connection holds the database alone */
    int can_bulk;       /* exclusive, and the url_hash index is a named one (not a column constraint) */
    int bulk;           /* the url_hash index is dropped (committed): writes go the bulk way */
    int urls_loaded;    /* urls holds every samples row */
    ovs_hashset urls;   /* url_hash -> sample id, while bulk */
    int64_t next_id;    /* the id of the next sample inserted in bulk */
    ovs_rowtab rowtab;  /* the batch being inserted in bulk, as the table ovs_ingest_rows */
    int64_t existing;   /* samples rows when first counted; -1 before */
    double index_secs;  /* time ovs_ingest_end spent building the url_hash index */
} ovs_ingest;

enum { OVS_INGEST_BATCH = 200000 };

typedef struct ovs_ingest_counts {
    int64_t skipped_lines; /* lines already ingested by earlier runs, not looked at again */
    int64_t lines;         /* lines read now = inserted + duplicates + rejected + other_part */
    int64_t inserted, duplicates, rejected, other_part;
    int64_t by_reason[OVS_REJ_N];
} ovs_ingest_counts;

/* The url_hash of a URL: ovs_hash64 of its bytes (keeping the low hash_bits bits when 0 < bits < 64),
 * stored as a signed 64-bit integer. --part i/N keeps the URLs with (uint64)hash % N == i. */
int64_t ovs_url_hash(const char *url, size_t len, int hash_bits);

/* Starts a run: puts the connection in bulk-load mode for its duration (it holds the database
 * exclusively, rollback journal with synchronous=OFF: safe against kill -9, which loses no write
 * the OS has accepted; not against power loss; no foreign-key checks). When another connection has
 * the database open, the run stays in WAL mode (slower, never bulk). db should be opened with
 * OVS_DB_KEEP_INDEXES (the index an interrupted bulk ingest left missing is then built only once,
 * at the end). ovs_ingest_end builds the samples indexes that are missing and returns to WAL mode;
 * call it after any begin, also after an error. */
int ovs_ingest_begin(ovs_ingest *s, ovs_db *db, ovs_err *e);
int ovs_ingest_end(ovs_ingest *s, ovs_err *e);

/* Ingests the lines of path not ingested yet; adds to *c. progress may be NULL. On a read error
 * mid-file the lines before it stay committed and the error names path:line. */
int ovs_ingest_file(ovs_ingest *s, const char *path, const ovs_ingest_opts *o, ovs_ingest_counts *c,
                    ovs_progress *progress, ovs_err *e);

/* Adds a to *total (field by field). */
void ovs_ingest_counts_add(ovs_ingest_counts *total, const ovs_ingest_counts *a);

#endif
