/* rowtab.h — the rows of one ingest batch (held in memory) as an SQLite table, so that the bulk
 * ingest path inserts a whole batch with ONE statement:
 *
 *   INSERT INTO samples(url, url_hash, caption, source_id, line)
 *     SELECT url, url_hash, caption, ?1, line FROM ovs_ingest_rows
 *
 * Stepping one INSERT ... SELECT is about twice as fast as binding and stepping a one-row INSERT per
 * row (the per-statement work of sqlite3_step/reset is done once). ovs_ingest_rows is an eponymous
 * virtual table (no CREATE needed) with the columns id, url, url_hash, caption, line; it lists the
 * rows whose id > 0, in array order. */
#ifndef OVS_ROWTAB_H
#define OVS_ROWTAB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* One checked input line; url and caption are byte ranges of the batch's text. */
typedef struct ovs_ingest_row {
    int64_t hash, line;
    int64_t id; /* the sample id it gets; <= 0: not inserted (a duplicate or a collision) */
    uint32_t url_off, url_len, cap_off, cap_len;
} ovs_ingest_row;

/* What ovs_ingest_rows shows: set rows/n/text before stepping a statement that reads it. */
typedef struct ovs_rowtab {
    const ovs_ingest_row *rows;
    size_t n;
    const char *text;
} ovs_rowtab;

/* Registers ovs_ingest_rows on the connection, reading from *src (which must outlive it). */
int ovs_rowtab_register(sqlite3 *db, ovs_rowtab *src);

#endif
