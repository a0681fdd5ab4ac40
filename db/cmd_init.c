/* cmd_init.c — `ovseg init DB`: create a new ovseg database (a no-op on an existing one). */
#include <stdio.h>

#include "db/db.h"
#include "util/args.h"
#include "util/cli.h"
#include "util/log.h"

static const ovs_cmd_spec SPEC = {
    .verb = "init", .usage = "DB", .summary = "Create a new ovseg database at DB (SQLite, WAL mode).",
    .opts = (const ovs_opt[]){{0}}, .min_pos = 1, .max_pos = 1};

int cmd_init(int argc, char **argv) {
    ovs_err e = {0};
    char *pos[1];
    int np, rc = ovs_args_parse(&SPEC, argc, argv, pos, 1, &np, &e);
    if (rc) return ovs_cli_finish("init", rc, &e);
    ovs_db db;
    rc = ovs_db_open(&db, pos[0], OVS_DB_CREATE, &e);
    if (rc) return ovs_cli_finish("init", rc, &e);
    ovs_info("%s: ovseg database, schema version %d", pos[0], ovs_db_user_version(&db));
    ovs_db_close(&db);
    return 0;
}
