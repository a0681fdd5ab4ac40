/* cmd_subset.c — `ovseg subset DB --name cc4m --top 100 [--entities FILE] [--require-ok]`: choose
 * the K entities in most samples (or the names listed in FILE), then every processed sample that
 * contains at least one of them. Records the parameters, the entity list with ranks and member
 * counts, and the members; prints a summary. A subset of the same name is replaced (with its
 * pairs). Works on ingested rows before any download (without --require-ok), to size a crawl. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/args.h"
#include "util/buf.h"
#include "util/cli.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"

static const ovs_cmd_spec SPEC = {
    .verb = "subset", .usage = "DB --name NAME",
    .summary = "Choose the top-K entities (or those in --entities FILE) and the samples that contain one of\n"
               "them; store them as subset NAME (replacing one of that name) and print coverage.",
    .min_pos = 1, .max_pos = 1};

static int sql_fail(ovs_db *db, ovs_err *e, const char *what) {
    return ovs_errf(e, ovs_db_rc(db), "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static int exec_bind(ovs_db *db, const char *sql, int64_t a, const char *what, ovs_err *e) {
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, sql, e);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, a);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_fail(db, e, what);
    sqlite3_finalize(st);
    return rc;
}

/* Fills temp table chosen(entity_id, rank) from FILE (one name a line, # comments). */
static int choose_from_file(ovs_db *db, const char *path, int64_t *n, ovs_err *e) {
    char *text;
    size_t len;
    int rc = ovs_read_file(path, &text, &len, e);
    if (rc) return ovs_errctx(e, "--entities");
    sqlite3_stmt *ins;
    rc = ovs_db_prepare(db, &ins, "INSERT OR IGNORE INTO temp.chosen(entity_id, rank) "
                                  "SELECT id, ?2 FROM entities WHERE name = ?1", e);
    int lineno = 0;
    for (char *p = text, *nl; !rc && p && *p; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        while (*p == ' ' || *p == '\t') p++;
        size_t l = strlen(p);
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '\r')) p[--l] = 0;
        if (!l || *p == '#') continue;
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, p, (int)l, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, *n + 1);
        if (sqlite3_step(ins) != SQLITE_DONE) rc = sql_fail(db, e, "reading --entities");
        else if (sqlite3_changes(db->h)) (*n)++;
        else ovs_warn("%s:%d: entity '%s' is in no sample (or listed twice); skipped", path, lineno, p);
    }
    sqlite3_finalize(ins);
    free(text);
    if (!rc && !*n) rc = ovs_errf(e, OVS_EUSER, "--entities %s: none of its names is an entity of any sample", path);
    return rc;
}

/* Fills temp table chosen with the top K entities by samples (state 'ok' samples with require_ok). */
static int choose_top(ovs_db *db, int64_t k, int require_ok, int64_t *n, ovs_err *e) {
    const char *sql = require_ok
        ? "INSERT INTO temp.chosen(entity_id, rank) SELECT id, row_number() OVER (ORDER BY c DESC, name) FROM "
          "(SELECT e.id, e.name, count(DISTINCT se.sample_id) AS c FROM sample_entities se JOIN samples s ON s.id = se.sample_id "
          " JOIN entities e ON e.id = se.entity_id WHERE s.state = 'ok' GROUP BY e.id) ORDER BY c DESC, name LIMIT ?1"
        : "INSERT INTO temp.chosen(entity_id, rank) SELECT id, row_number() OVER (ORDER BY samples DESC, name) "
          "FROM entities WHERE samples > 0 ORDER BY samples DESC, name LIMIT ?1";
    int rc = exec_bind(db, sql, k, "choosing the top entities", e);
    if (!rc) *n = sqlite3_changes(db->h);
    if (!rc && !*n) rc = ovs_errf(e, OVS_EUSER, "%s: no entities yet (run `ovseg entities %s` first)", db->path, db->path);
    /* a small world (e.g. `ovseg synth`) has fewer entities than K: then the top K is every noun */
    if (!rc && *n < k)
        ovs_warn("--top %lld: only %lld entities are in any sample, so every sample naming any entity is a member "
                 "(--entities FILE gives a fixed list, e.g. CC4M's words)", (long long)k, (long long)*n);
    return rc;
}

static int print_summary(ovs_db *db, int64_t sid, const char *name, int require_ok, ovs_err *e) {
    int64_t members = 0, input = 0;
    char sql[400];
    snprintf(sql, sizeof sql, "SELECT members FROM subsets WHERE id = %lld", (long long)sid);
    int rc = ovs_db_int(db, sql, &members, e);
    if (!rc) rc = ovs_db_int(db, require_ok ? "SELECT count(*) FROM samples WHERE entities_version IS NOT NULL AND state = 'ok'"
                                            : "SELECT count(*) FROM samples WHERE entities_version IS NOT NULL", &input, e);
    if (rc) return rc;
    printf("subset %s: %lld members of %lld %s samples (%.1f%%)\n", name, (long long)members, (long long)input,
           require_ok ? "crawled (ok) and processed" : "processed", input ? 100.0 * (double)members / (double)input : 0.0);
    snprintf(sql, sizeof sql,
             "SELECT x.rank, e.name, x.samples, printf('%%.1f%%%%', 100.0 * x.samples / max(%lld, 1)) AS of_members "
             "FROM subset_entities x JOIN entities e ON e.id = x.entity_id WHERE x.subset_id = %lld ORDER BY x.rank",
             (long long)members, (long long)sid);
    return ovs_db_print_query(db, sql, e);
}

static int make_subset(ovs_db *db, const char *name, int64_t top, const char *file, int require_ok, ovs_err *e) {
    int rc = ovs_db_exec(db, "CREATE TEMP TABLE IF NOT EXISTS chosen(entity_id INTEGER PRIMARY KEY, rank INTEGER NOT NULL);"
                             "DELETE FROM temp.chosen", e);
    if (!rc) rc = ovs_db_begin(db, e);
    if (rc) return rc;
    int64_t n = 0, sid = 0;
    rc = file ? choose_from_file(db, file, &n, e) : choose_top(db, top, require_ok, &n, e);
    sqlite3_stmt *st = NULL;
    if (!rc) rc = ovs_db_prepare(db, &st, "SELECT id FROM subsets WHERE name = ?1", e);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) sid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    if (!rc && sid) { /* replace the old subset of this name */
        rc = exec_bind(db, "DELETE FROM pairs WHERE subset_id = ?1", sid, "deleting old pairs", e);
        if (!rc) rc = exec_bind(db, "DELETE FROM subset_members WHERE subset_id = ?1", sid, "deleting old members", e);
        if (!rc) rc = exec_bind(db, "DELETE FROM subset_entities WHERE subset_id = ?1", sid, "deleting old entities", e);
        if (!rc) rc = exec_bind(db, "DELETE FROM subsets WHERE id = ?1", sid, "deleting old subset", e);
    }
    ovs_buf params = {0};
    ovs_buf_puts(&params, "{\"name\":");
    ovs_buf_json_str(&params, name, strlen(name));
    if (file) {
        ovs_buf_puts(&params, ",\"entities_file\":");
        ovs_buf_json_str(&params, file, strlen(file));
    } else {
        ovs_buf_printf(&params, ",\"top\":%lld", (long long)top);
    }
    ovs_buf_printf(&params, ",\"require_ok\":%s,\"entities\":%lld}", require_ok ? "true" : "false", (long long)n);
    char now[32];
    ovs_iso_time(now);
    if (!rc) rc = ovs_db_prepare(db, &st, "INSERT INTO subsets(name, params, created_at) VALUES(?1, ?2, ?3)", e);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, params.data, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_fail(db, e, "inserting the subset");
        sid = sqlite3_last_insert_rowid(db->h);
        sqlite3_finalize(st);
    }
    ovs_buf_free(&params);
    const char *members_sql = require_ok
        ? "INSERT INTO subset_members(subset_id, sample_id) SELECT DISTINCT ?1, se.sample_id FROM sample_entities se "
          "JOIN temp.chosen c ON c.entity_id = se.entity_id JOIN samples s ON s.id = se.sample_id WHERE s.state = 'ok'"
        : "INSERT INTO subset_members(subset_id, sample_id) SELECT DISTINCT ?1, se.sample_id FROM sample_entities se "
          "JOIN temp.chosen c ON c.entity_id = se.entity_id";
    if (!rc) rc = exec_bind(db, members_sql, sid, "choosing the members", e);
    if (!rc) rc = exec_bind(db,
                            "INSERT INTO subset_entities(subset_id, entity_id, rank, samples) "
                            "SELECT ?1, c.entity_id, c.rank, coalesce(n.cnt, 0) FROM temp.chosen c LEFT JOIN "
                            "(SELECT se.entity_id, count(DISTINCT se.sample_id) AS cnt FROM sample_entities se "
                            " JOIN temp.chosen c2 ON c2.entity_id = se.entity_id "
                            " JOIN subset_members m ON m.subset_id = ?1 AND m.sample_id = se.sample_id GROUP BY se.entity_id) n "
                            "ON n.entity_id = c.entity_id", sid, "counting members per entity", e);
    if (!rc) rc = exec_bind(db, "UPDATE subsets SET members = (SELECT count(*) FROM subset_members WHERE subset_id = ?1) WHERE id = ?1",
                            sid, "counting members", e);
    if (!rc) rc = ovs_db_commit(db, e);
    else ovs_db_rollback(db);
    if (!rc) rc = print_summary(db, sid, name, require_ok, e);
    return rc;
}

int cmd_subset(int argc, char **argv) {
    ovs_err e = {0};
    const char *name = NULL, *file = NULL;
    int64_t top = 100;
    int require_ok = 0;
    const ovs_opt opts[] = {
        {"name", OVS_ARG_STR, &name, "subset name (required), e.g. cc4m"},
        {"top", OVS_ARG_INT, &top, "number of entities, those in most samples (default 100)"},
        {"entities", OVS_ARG_STR, &file, "take the entity names from FILE (one a line) instead of --top"},
        {"require-ok", OVS_ARG_FLAG, &require_ok, "keep only crawled samples (state 'ok'); ranks count only those"},
        {0}};
    ovs_cmd_spec spec = SPEC;
    spec.opts = opts;
    char *pos[1];
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, 1, &np, &e);
    if (rc) return ovs_cli_finish("subset", rc, &e);
    if (!name || !*name) return ovs_cli_finish("subset", ovs_errf(&e, OVS_EUSER, "--name is required"), &e);
    if (top < 1) return ovs_cli_finish("subset", ovs_errf(&e, OVS_EUSER, "--top: must be at least 1, got %lld", (long long)top), &e);
    ovs_db db;
    if ((rc = ovs_db_open(&db, pos[0], 0, &e))) return ovs_cli_finish("subset", rc, &e);
    int64_t pending = 0;
    if (!(rc = ovs_db_int(&db, "SELECT count(*) FROM samples WHERE entities_version IS NULL", &pending, &e)) && pending)
        ovs_warn("%s: %lld samples have no entities yet (run `ovseg entities %s`); they are not in the subset",
                 pos[0], (long long)pending, pos[0]);
    if (!rc) rc = ovs_db_run_start(&db, "subset", argc, argv, &e);
    if (!rc) {
        rc = make_subset(&db, name, top, file, require_ok, &e);
        ovs_db_run_end(&db, rc == 0, NULL, NULL);
    }
    ovs_db_close(&db);
    return ovs_cli_finish("subset", rc, &e);
}
