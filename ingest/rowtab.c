/* rowtab.c — the eponymous virtual table ovs_ingest_rows over an in-memory batch (see rowtab.h).
 * Read-only, full scans only; text columns point into the batch (SQLITE_STATIC: the batch does not
 * change while a statement reads it). */
#include "ingest/rowtab.h"

#include <stdlib.h>
#include <string.h>

typedef struct rowtab_vtab {
    sqlite3_vtab base;
    ovs_rowtab *src;
} rowtab_vtab;

typedef struct rowtab_cursor {
    sqlite3_vtab_cursor base;
    size_t i;
} rowtab_cursor;

enum { COL_ID, COL_URL, COL_URL_HASH, COL_CAPTION, COL_LINE };

static int rt_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **out, char **err) {
    (void)argc, (void)argv, (void)err;
    int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(id INTEGER, url TEXT, url_hash INTEGER, caption TEXT, line INTEGER)");
    if (rc != SQLITE_OK) return rc;
    rowtab_vtab *t = sqlite3_malloc(sizeof *t);
    if (!t) return SQLITE_NOMEM;
    memset(t, 0, sizeof *t);
    t->src = aux;
    *out = &t->base;
    return SQLITE_OK;
}

static int rt_disconnect(sqlite3_vtab *v) {
    sqlite3_free(v);
    return SQLITE_OK;
}

static int rt_best_index(sqlite3_vtab *v, sqlite3_index_info *info) {
    info->estimatedCost = (double)((rowtab_vtab *)v)->src->n + 1;
    info->estimatedRows = (sqlite3_int64)((rowtab_vtab *)v)->src->n;
    return SQLITE_OK;
}

static int rt_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out) {
    (void)v;
    rowtab_cursor *c = sqlite3_malloc(sizeof *c);
    if (!c) return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    *out = &c->base;
    return SQLITE_OK;
}

static int rt_close(sqlite3_vtab_cursor *c) {
    sqlite3_free(c);
    return SQLITE_OK;
}

static const ovs_rowtab *src_of(sqlite3_vtab_cursor *c) { return ((rowtab_vtab *)c->pVtab)->src; }

static void skip_dropped(rowtab_cursor *c) {
    const ovs_rowtab *s = src_of(&c->base);
    while (c->i < s->n && s->rows[c->i].id <= 0) c->i++;
}

static int rt_filter(sqlite3_vtab_cursor *c, int idx, const char *idx_str, int argc, sqlite3_value **argv) {
    (void)idx, (void)idx_str, (void)argc, (void)argv;
    rowtab_cursor *rc = (rowtab_cursor *)c;
    rc->i = 0;
    skip_dropped(rc);
    return SQLITE_OK;
}

static int rt_next(sqlite3_vtab_cursor *c) {
    rowtab_cursor *rc = (rowtab_cursor *)c;
    rc->i++;
    skip_dropped(rc);
    return SQLITE_OK;
}

static int rt_eof(sqlite3_vtab_cursor *c) { return ((rowtab_cursor *)c)->i >= src_of(c)->n; }

static int rt_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col) {
    const ovs_rowtab *s = src_of(c);
    const ovs_ingest_row *r = &s->rows[((rowtab_cursor *)c)->i];
    switch (col) {
    case COL_ID: sqlite3_result_int64(ctx, r->id); break;
    case COL_URL: sqlite3_result_text(ctx, s->text + r->url_off, (int)r->url_len, SQLITE_STATIC); break;
    case COL_URL_HASH: sqlite3_result_int64(ctx, r->hash); break;
    case COL_CAPTION: sqlite3_result_text(ctx, s->text + r->cap_off, (int)r->cap_len, SQLITE_STATIC); break;
    default: sqlite3_result_int64(ctx, r->line); break;
    }
    return SQLITE_OK;
}

static int rt_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *out) {
    *out = (sqlite3_int64)((rowtab_cursor *)c)->i;
    return SQLITE_OK;
}

static const sqlite3_module ROWTAB = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous only: usable as a table named after the module, no CREATE VIRTUAL TABLE */
    .xConnect = rt_connect,
    .xBestIndex = rt_best_index,
    .xDisconnect = rt_disconnect,
    .xDestroy = rt_disconnect,
    .xOpen = rt_open,
    .xClose = rt_close,
    .xFilter = rt_filter,
    .xNext = rt_next,
    .xEof = rt_eof,
    .xColumn = rt_column,
    .xRowid = rt_rowid,
};

int ovs_rowtab_register(sqlite3 *db, ovs_rowtab *src) {
    return sqlite3_create_module(db, "ovs_ingest_rows", &ROWTAB, src);
}
