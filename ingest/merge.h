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
} ovs_merge_stats;

/* Merges the database at part_path into db, in one transaction. Shard paths (relative to the
 * part's fetch folder) become relative to root (an existing folder). Sample ids are kept (shard
 * keys are sample ids), so parts must not give one id to different URLs: that is an OVS_EUSER
 * error and nothing of the part is merged. A part merged before is skipped. */
int ovs_merge_part(ovs_db *db, const char *part_path, const char *root, ovs_merge_stats *st, ovs_err *e);

/* Writes into out the path of target relative to folder base (both absolute, no "." or ".."). */
void ovs_relpath(const char *target, const char *base, char *out, size_t n);

#endif
