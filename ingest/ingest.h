/* ingest.h — caption TSV files into the samples table: idempotent (a file is a `sources` row whose
 * lines_done says how far it has been ingested), duplicate URLs counted and not inserted, bad lines
 * recorded in `rejects`, and --part i/N keeping only URLs whose hash falls in part i.
 *
 *   ovs_ingest_begin(db)  ...  ovs_ingest_file(db, path, &opts, &counts, &progress, &e) ...  ovs_ingest_end(db)
 *
 * Each file is read by a second thread (decompression, line split, validation, hashing, sorting a
 * batch by URL hash) while the calling thread writes the previous batch to SQLite in one
 * transaction that also advances sources.lines_done: a kill -9 loses or duplicates nothing. */
#ifndef OVS_INGEST_H
#define OVS_INGEST_H

#include <stdint.h>

#include "db/db.h"
#include "ingest/tsv.h"
#include "util/progress.h"

typedef struct ovs_ingest_opts {
    int caption_first;  /* --columns caption,url */
    int part_i, part_n; /* --part i/N; part_n == 0: every URL */
    int batch_lines;    /* input lines per transaction; 0 = OVS_INGEST_BATCH */
    int hash_bits;      /* 0 or 64 = the full hash; fewer only in tests, to make collisions happen */
} ovs_ingest_opts;

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

/* Puts the connection in bulk-load mode for the duration of an ingest: it holds the database
 * exclusively, rollback journal with synchronous=OFF (safe against kill -9, which loses no write
 * the OS has accepted; not against power loss), no foreign-key checks. ovs_ingest_end returns to
 * WAL mode. Without begin, ingest works in the database's normal WAL mode, only slower. */
int ovs_ingest_begin(ovs_db *db, ovs_err *e);
int ovs_ingest_end(ovs_db *db, ovs_err *e);

/* Ingests the lines of path not ingested yet; adds to *c. progress may be NULL. On a read error
 * mid-file the lines before it stay committed and the error names path:line. */
int ovs_ingest_file(ovs_db *db, const char *path, const ovs_ingest_opts *o, ovs_ingest_counts *c,
                    ovs_progress *progress, ovs_err *e);

/* Adds a to *total (field by field). */
void ovs_ingest_counts_add(ovs_ingest_counts *total, const ovs_ingest_counts *a);

#endif
