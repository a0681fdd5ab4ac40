/* merge.h — bringing the databases of a crawl split over machines (`ingest --part i/N` + `fetch`
 * on each) into one database: sources, samples with their fetch states, rejects and shard rows,
 * with shard paths rewritten relative to one root folder. */
#ifndef OVS_MERGE_H
#define OVS_MERGE_H

#include <stdint.h>

#include "db/db.h"
#include "util/err.h"

typedef struct ovs_merge_stats {
    int64_t parts, skipped_parts;  /* skipped: merged before */
    int64_t samples, updated, duplicates, shards, rejects;
    int64_t renumbered;            /* parts whose sample ids were taken in DB: numbered on */
} ovs_merge_stats;

/* Merges the database at part_path into db, in one transaction. Shard paths (relative to the
 * part's fetch folder) become relative to root (an existing folder). Samples are matched by URL
 * (url_hash); new ones keep their id when it is free in db, otherwise the whole part is numbered on
 * from db's largest id, and samples.shard_key keeps their key in the raw shard. A part merged
 * before is skipped. Only ingest and fetch data are merged (run entities etc. after merging). */
int ovs_merge_part(ovs_db *db, const char *part_path, const char *root, ovs_merge_stats *st, ovs_err *e);

/* Writes into out the path of target relative to folder base (both absolute, no "." or ".."). */
void ovs_relpath(const char *target, const char *base, char *out, size_t n);

#endif
