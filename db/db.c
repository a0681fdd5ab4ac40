/* db.c — opening, migrating and using the ovseg SQLite database (see db.h). */
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/progress.h"

/* Generated at build time from sql/schema.sql and sql/migrations/NNN-*.sql (see Makefile). */
extern const char ovs_schema_sql[];
extern const int ovs_schema_version;
extern const char *const ovs_migrations[]; /* index v = SQL upgrading v-1 -> v; NULL if none */
extern const int ovs_n_migrations;

int ovs_db_schema_version(void) { return ovs_schema_version; }

int ovs_db_rc(ovs_db *db) {
    switch (sqlite3_errcode(db->h)) {
    case SQLITE_FULL: case SQLITE_READONLY: case SQLITE_IOERR: case SQLITE_CANTOPEN: case SQLITE_BUSY:
    case SQLITE_LOCKED: case SQLITE_PERM:
        return OVS_EUSER;
    default:
        return OVS_EINTERNAL;
    }
}

static int sqlerr(ovs_db *db, ovs_err *e, const char *what) {
    return ovs_errf(e, ovs_db_rc(db), "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

int ovs_db_exec(ovs_db *db, const char *sql, ovs_err *e) {
    char *msg = NULL;
    if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    int rc = ovs_errf(e, ovs_db_rc(db), "%s: %s", db->path, msg ? msg : "sqlite error");
    sqlite3_free(msg);
    return rc;
}

int ovs_db_user_version(ovs_db *db) {
    int64_t v = 0;
    ovs_db_int(db, "PRAGMA user_version", &v, NULL);
    return (int)v;
}

int ovs_db_begin(ovs_db *db, ovs_err *e) { return ovs_db_exec(db, "BEGIN IMMEDIATE", e); }
int ovs_db_commit(ovs_db *db, ovs_err *e) { return ovs_db_exec(db, "COMMIT", e); }
void ovs_db_rollback(ovs_db *db) {
    if (!sqlite3_get_autocommit(db->h)) sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

int ovs_db_prepare(ovs_db *db, sqlite3_stmt **st, const char *sql, ovs_err *e) {
    if (sqlite3_prepare_v2(db->h, sql, -1, st, NULL) == SQLITE_OK) return 0;
    return ovs_errf(e, ovs_db_rc(db), "%s: preparing \"%.60s\": %s", db->path, sql, sqlite3_errmsg(db->h));
}

int ovs_db_int(ovs_db *db, const char *sql, int64_t *out, ovs_err *e) {
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, sql, e);
    if (rc) return rc;
    *out = 0;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) return sqlerr(db, e, sql);
    return 0;
}

static int is_ovseg_db(ovs_db *db) {
    int64_t n = 0;
    if (ovs_db_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('samples','runs','meta')", &n, NULL))
        return 0;
    return n == 3;
}

static int create_schema(ovs_db *db, ovs_err *e) {
    if (ovs_db_begin(db, e)) return e->code;
    if (ovs_db_exec(db, ovs_schema_sql, e)) { ovs_db_rollback(db); return ovs_errctx(e, "creating schema"); }
    char now[32];
    ovs_iso_time(now);
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO meta(key,value) VALUES('created_at','%s')", now);
    if (ovs_db_exec(db, sql, e)) { ovs_db_rollback(db); return e->code; }
    return ovs_db_commit(db, e);
}

static int migrate(ovs_db *db, ovs_err *e) {
    int v = ovs_db_user_version(db);
    if (v > ovs_schema_version)
        return ovs_errf(e, OVS_EUSER, "%s: database schema version %d is newer than this ovseg (%d)", db->path,
                        v, ovs_schema_version);
    for (int to = v + 1; to <= ovs_schema_version; to++) {
        const char *sql = to < ovs_n_migrations ? ovs_migrations[to] : NULL;
        if (!sql) return ovs_errf(e, OVS_EINTERNAL, "%s: no migration to schema version %d", db->path, to);
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %d", to);
        if (ovs_db_begin(db, e) || ovs_db_exec(db, sql, e) || ovs_db_exec(db, set, e) || ovs_db_commit(db, e)) {
            ovs_db_rollback(db);
            return ovs_errctx(e, "migrating to schema version %d", to);
        }
    }
    return 0;
}

static int configure(ovs_db *db, ovs_err *e) {
    sqlite3_busy_timeout(db->h, 30000);
    sqlite3_extended_result_codes(db->h, 1);
    /* 16 KiB pages (new databases only; no effect on an existing file): ingest writes ~14% less CPU
     * than with 4 KiB (docs/ingest.md), at the cost of bigger WAL frames for one-row updates. */
    if (ovs_db_exec(db, "PRAGMA page_size=16384", e)) return e->code;
    if (ovs_db_exec(db, "PRAGMA journal_mode=WAL", e)) return e->code;
    return ovs_db_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-262144;"
                           " PRAGMA temp_store=MEMORY", e);
}

int ovs_db_open(ovs_db *db, const char *path, int flags, ovs_err *e) {
    memset(db, 0, sizeof *db);
    snprintf(db->path, sizeof db->path, "%s", path);
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) return ovs_errf(e, OVS_EUSER, "%s: is a directory, not a database", path);
    if (!exists && !(flags & OVS_DB_CREATE))
        return ovs_errf(e, OVS_EUSER, "%s: no such database (create it with: ovseg init %s)", path, path);
    int oflags = SQLITE_OPEN_READWRITE | (flags & OVS_DB_CREATE ? SQLITE_OPEN_CREATE : 0) |
                 (flags & OVS_DB_ONE_THREAD ? SQLITE_OPEN_NOMUTEX : 0);
    if (sqlite3_open_v2(path, &db->h, oflags, NULL) != SQLITE_OK) {
        int rc = ovs_errf(e, OVS_EUSER, "%s: cannot open database: %s", path,
                          db->h ? sqlite3_errmsg(db->h) : "out of memory");
        ovs_db_close(db);
        return rc;
    }
    int rc = configure(db, e);
    if (rc && (sqlite3_errcode(db->h) & 0xff) == SQLITE_CANTOPEN) {
        ovs_errf(e, OVS_EUSER, "%s: cannot open database: %s (is its folder writable?)", path, sqlite3_errmsg(db->h));
        ovs_db_close(db);
        return OVS_EUSER;
    }
    if (rc) {
        ovs_errf(e, OVS_EUSER, "%s: not a usable SQLite database (%s)", path, sqlite3_errmsg(db->h));
        ovs_db_close(db);
        return OVS_EUSER;
    }
    int64_t ntables = 0;
    ovs_db_int(db, "SELECT count(*) FROM sqlite_master", &ntables, NULL);
    if (ntables == 0 && (flags & OVS_DB_CREATE)) rc = create_schema(db, e);
    else if (!is_ovseg_db(db)) rc = ovs_errf(e, OVS_EUSER, "%s: not an ovseg database", path);
    else rc = migrate(db, e);
    if (!rc && !(flags & OVS_DB_KEEP_INDEXES)) {
        int made = 0;
        double t0 = ovs_now();
        rc = ovs_db_ensure_indexes(db, &made, e);
        if (made) ovs_info("%s: built %d missing index(es) of samples in %.1f s (a bulk ingest was interrupted)",
                           path, made, ovs_now() - t0);
    }
    if (rc) ovs_db_close(db);
    return rc;
}

/* The indexes of samples, as in sql/schema.sql. The UNIQUE one may also be the automatic index of
 * databases created when url_hash was a UNIQUE column (that one is never dropped). */
static const struct {
    const char *names, *sql;
} SAMPLES_INDEXES[] = {
    {"'samples_url_hash','sqlite_autoindex_samples_1'", "CREATE UNIQUE INDEX IF NOT EXISTS samples_url_hash ON samples(url_hash)"},
    {"'samples_state'", "CREATE INDEX IF NOT EXISTS samples_state ON samples(state)"},
};
enum { N_SAMPLES_INDEXES = sizeof SAMPLES_INDEXES / sizeof SAMPLES_INDEXES[0] };

static int index_exists(ovs_db *db, const char *names, int *yes, ovs_err *e) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'samples'"
                              " AND name IN (%s)", names);
    int64_t n = 0;
    int rc = ovs_db_int(db, sql, &n, e);
    *yes = n > 0;
    return rc;
}

int ovs_db_indexes_missing(ovs_db *db) {
    for (int i = 0; i < N_SAMPLES_INDEXES; i++) {
        int yes = 1;
        if (index_exists(db, SAMPLES_INDEXES[i].names, &yes, NULL) == 0 && !yes) return 1;
    }
    return 0;
}

int ovs_db_ensure_indexes(ovs_db *db, int *created, ovs_err *e) {
    int n = 0;
    for (int i = 0; i < N_SAMPLES_INDEXES; i++) {
        int yes;
        int rc = index_exists(db, SAMPLES_INDEXES[i].names, &yes, e);
        if (rc) return rc;
        if (yes) continue;
        if (ovs_db_exec(db, SAMPLES_INDEXES[i].sql, e))
            return ovs_errctx(e, "building index %d of samples", i + 1);
        n++;
    }
    if (created) *created = n;
    return 0;
}

void ovs_db_close(ovs_db *db) {
    if (db->h) sqlite3_close_v2(db->h);
    db->h = NULL;
}

int ovs_db_run_start(ovs_db *db, const char *verb, int argc, char **argv, ovs_err *e) {
    ovs_buf args = {0};
    for (int i = 0; i < argc; i++) {
        if (i) ovs_buf_puts(&args, " ");
        ovs_buf_puts(&args, argv[i]);
    }
    char now[32];
    ovs_iso_time(now);
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, "INSERT INTO runs(verb,args,started_at) VALUES(?,?,?)", e);
    if (!rc) {
        sqlite3_bind_text(st, 1, verb, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, args.data ? args.data : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = sqlerr(db, e, "recording run");
        else db->run_id = sqlite3_last_insert_rowid(db->h);
        sqlite3_finalize(st);
    }
    ovs_buf_free(&args);
    return rc;
}

int ovs_db_run_end(ovs_db *db, int ok, const char *counts_json, ovs_err *e) {
    if (!db->run_id) return 0;
    char now[32];
    ovs_iso_time(now);
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, "UPDATE runs SET ended_at=?, status=?, counts=? WHERE id=?", e);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ok ? "ok" : "error", -1, SQLITE_STATIC);
    if (counts_json) sqlite3_bind_text(st, 3, counts_json, -1, SQLITE_STATIC);
    else sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, db->run_id);
    if (sqlite3_step(st) != SQLITE_DONE) rc = sqlerr(db, e, "finishing run");
    sqlite3_finalize(st);
    return rc;
}

/* Pretty-prints every statement in sql (several separated by ';' allowed). */
int ovs_db_print_query(ovs_db *db, const char *sql, ovs_err *e) {
    const char *tail = sql;
    while (tail && *tail) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db->h, tail, -1, &st, &tail) != SQLITE_OK) return sqlerr(db, e, "query");
        if (!st) break;
        int nc = sqlite3_column_count(st);
        enum { MAXR = 200 };
        char *cells[MAXR + 1][16] = {{0}};
        int w[16] = {0}, nr = 0;
        if (nc > 16) nc = 16;
        for (int c = 0; c < nc; c++) cells[0][c] = strdup(sqlite3_column_name(st, c));
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW && nr < MAXR) {
            nr++;
            for (int c = 0; c < nc; c++) {
                const unsigned char *t = sqlite3_column_text(st, c);
                cells[nr][c] = strdup(t ? (const char *)t : "");
            }
        }
        if (s != SQLITE_ROW && s != SQLITE_DONE) { sqlite3_finalize(st); return sqlerr(db, e, "query"); }
        sqlite3_finalize(st);
        if (!nc) continue;
        for (int r = 0; r <= nr; r++)
            for (int c = 0; c < nc; c++) {
                int l = (int)strlen(cells[r][c]);
                if (l > w[c]) w[c] = l > 60 ? 60 : l;
            }
        for (int r = 0; r <= nr; r++) {
            for (int c = 0; c < nc; c++) printf("%s%-*.*s", c ? "  " : "", w[c], w[c], cells[r][c]);
            printf("\n");
            if (r == 0) {
                for (int c = 0; c < nc; c++) {
                    printf("%s", c ? "  " : "");
                    for (int k = 0; k < w[c]; k++) putchar('-');
                }
                printf("\n");
            }
        }
        printf("\n");
        for (int r = 0; r <= nr; r++)
            for (int c = 0; c < nc; c++) free(cells[r][c]);
    }
    return 0;
}
