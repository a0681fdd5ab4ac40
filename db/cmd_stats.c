/* cmd_stats.c — `ovseg stats DB [TOPIC]`: print the saved queries of sql/ (compiled in).
 * Without TOPIC: every query. With TOPIC: the queries whose file name starts with TOPIC. */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "util/args.h"
#include "util/cli.h"

typedef struct ovs_saved_query { const char *name, *sql; } ovs_saved_query;
extern const ovs_saved_query ovs_saved_queries[]; /* generated from the sql folder, NULL-terminated */

static const ovs_cmd_spec SPEC = {
    .verb = "stats", .usage = "DB [TOPIC]",
    .summary = "Print the saved queries (sql/*.sql). TOPIC (e.g. crawl, entities, subset) keeps those\n"
               "whose file name starts with it.",
    .opts = (const ovs_opt[]){{0}}, .min_pos = 1, .max_pos = 2};

int cmd_stats(int argc, char **argv) {
    ovs_err e = {0};
    char *pos[2];
    int np, rc = ovs_args_parse(&SPEC, argc, argv, pos, 2, &np, &e);
    if (rc) return ovs_cli_finish("stats", rc, &e);
    const char *topic = np > 1 ? pos[1] : NULL;
    ovs_db db;
    if ((rc = ovs_db_open(&db, pos[0], 0, &e))) return ovs_cli_finish("stats", rc, &e);
    int shown = 0;
    for (const ovs_saved_query *q = ovs_saved_queries; q->name && !rc; q++) {
        if (topic && strncmp(q->name, topic, strlen(topic))) continue;
        printf("== %s\n", q->name);
        rc = ovs_db_print_query(&db, q->sql, &e);
        shown++;
    }
    ovs_db_close(&db);
    if (!rc && !shown) rc = ovs_errf(&e, OVS_EUSER, "no saved query matches topic '%s'", topic);
    return ovs_cli_finish("stats", rc, &e);
}
