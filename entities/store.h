/* store.h — the entities stage's database work: incremental extraction into sample_entities with
 * exact counts in entities, and the TSV export. Used by `ovseg entities` and the tests. */
#ifndef OVS_ENT_STORE_H
#define OVS_ENT_STORE_H

#include <stdint.h>

#include "db/db.h"
#include "entities/extract.h"

typedef struct ovs_ent_stats {
    int64_t processed; /* samples extracted this run */
    int64_t changed;   /* of which rows were (re)written */
    int64_t unchanged; /* of which only the version was updated (same list as before) */
    int64_t rows;      /* sample_entities rows inserted */
    int64_t exported;
} ovs_ent_stats;

/* Processes every sample whose entities_version differs from the rules version, in batches of
 * batch samples per transaction (extraction of the next batch overlaps the writing of this one). */
int ovs_ent_update(ovs_db *db, const ovs_ent_rules *rules, int batch, ovs_ent_stats *st, ovs_err *e);
/* Writes url<TAB>caption<TAB>entities (distinct names, sorted, comma-separated) for every sample
 * with entities_version set, in id order, atomically (FILE.tmp then rename). */
int ovs_ent_export(ovs_db *db, const char *path, ovs_ent_stats *st, ovs_err *e);

#endif
