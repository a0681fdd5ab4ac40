/* cmd_merge.c — `ovseg merge DB PART_DB... [--root DIR]`: bring the databases of a crawl split over
 * machines into DB (created when missing), shard paths relative to DIR (see ingest/merge.h). */
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "ingest/merge.h"
#include "util/args.h"
#include "util/cli.h"
#include "util/log.h"

/* Absolute root: --root, else the folder of DB. Must exist. */
static int resolve_root(const char *root, const char *dbpath, char out[PATH_MAX], ovs_err *e) {
    char tmp[PATH_MAX];
    if (!root) {
        snprintf(tmp, sizeof tmp, "%s", dbpath);
        root = dirname(tmp);
    }
    if (!realpath(root, out)) return ovs_errno(e, OVS_EUSER, "--root %s", root);
    return 0;
}

static int check_root(ovs_db *db, const char *root, ovs_err *e) {
    sqlite3_stmt *s;
    if (ovs_db_prepare(db, &s, "SELECT value FROM meta WHERE key = 'fetch_root'", e)) return e->code;
    int rc = 0, found = sqlite3_step(s) == SQLITE_ROW;
    if (found && strcmp((const char *)sqlite3_column_text(s, 0), root))
        rc = ovs_errf(e, OVS_EUSER, "--root %s: the shard paths of %s are relative to %s (use --root %s)", root,
                      db->path, sqlite3_column_text(s, 0), sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    if (rc || found) return rc;
    if (ovs_db_prepare(db, &s, "INSERT INTO meta(key, value) VALUES('fetch_root', ?)", e)) return e->code;
    sqlite3_bind_text(s, 1, root, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) rc = ovs_errf(e, OVS_EINTERNAL, "%s: %s", db->path, sqlite3_errmsg(db->h));
    sqlite3_finalize(s);
    return rc;
}

int cmd_merge(int argc, char **argv) {
    const char *root = NULL;
    const ovs_opt opts[] = {
        {"root", OVS_ARG_STR, &root, "folder the merged shard paths are relative to (default: DB's folder)"},
        {0}};
    const ovs_cmd_spec spec = {
        .verb = "merge", .usage = "DB PART_DB... [--root DIR]",
        .summary = "Merge the databases of a crawl split over machines (ingest --part i/N, then fetch on each)\n"
                   "into DB: sources, samples with their states, rejects and shard rows. Samples are matched by\n"
                   "URL; ids are kept when free, else the part is numbered on. A part merged before is skipped.",
        .opts = opts, .min_pos = 2, .max_pos = -1};
    ovs_err e = {0};
    enum { MAXPARTS = 4096 };
    char **pos = calloc(MAXPARTS, sizeof *pos);
    if (!pos) return ovs_cli_finish("merge", ovs_errf(&e, OVS_EINTERNAL, "out of memory"), &e);
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, MAXPARTS, &np, &e);
    if (!rc && np > MAXPARTS) rc = ovs_errf(&e, OVS_EUSER, "at most %d parts at once", MAXPARTS - 1);
    char rootabs[PATH_MAX], self[PATH_MAX], part[PATH_MAX];
    int have_self = realpath(pos[0], self) != NULL;
    for (int i = 1; i < np && !rc; i++) { /* check the parts before touching DB */
        if (!realpath(pos[i], part)) rc = ovs_errno(&e, OVS_EUSER, "%s", pos[i]);
        else if (have_self && !strcmp(part, self)) rc = ovs_errf(&e, OVS_EUSER, "%s: cannot merge a database into itself", pos[i]);
    }
    if (!rc) rc = resolve_root(root, pos[0], rootabs, &e);
    ovs_db db = {0};
    if (!rc) rc = ovs_db_open(&db, pos[0], OVS_DB_CREATE, &e);
    if (rc) { free(pos); return ovs_cli_finish("merge", rc, &e); }
    if (!(rc = ovs_db_run_start(&db, "merge", argc, argv, &e))) rc = check_root(&db, rootabs, &e);
    ovs_merge_stats st = {0};
    for (int i = 1; i < np && !rc; i++) {
        int64_t before = st.skipped_parts;
        rc = ovs_merge_part(&db, pos[i], rootabs, &st, &e);
        if (!rc && st.skipped_parts > before) ovs_warn("%s: merged into %s before; skipped", pos[i], pos[0]);
    }
    char counts[512];
    snprintf(counts, sizeof counts,
             "{\"parts\":%lld,\"skipped_parts\":%lld,\"renumbered_parts\":%lld,\"samples\":%lld,\"updated\":%lld,"
             "\"duplicates\":%lld,\"shards\":%lld,\"rejects\":%lld}",
             (long long)st.parts, (long long)st.skipped_parts, (long long)st.renumbered, (long long)st.samples,
             (long long)st.updated, (long long)st.duplicates, (long long)st.shards, (long long)st.rejects);
    ovs_err e2 = {0};
    ovs_db_run_end(&db, rc == 0, counts, &e2);
    ovs_db_close(&db);
    if (!rc)
        ovs_info("merge: %lld parts (%lld skipped, %lld renumbered): %lld samples added, %lld updated, %lld URLs "
                 "already there, %lld shards, %lld rejects; shard paths relative to %s",
                 (long long)st.parts, (long long)st.skipped_parts, (long long)st.renumbered, (long long)st.samples,
                 (long long)st.updated,
                 (long long)st.duplicates, (long long)st.shards, (long long)st.rejects, rootabs);
    free(pos);
    return ovs_cli_finish("merge", rc, &e);
}
