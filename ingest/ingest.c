/* ingest.c — the ingest pipeline: a reader thread turns a TSV file into batches of checked rows
 * and the calling thread writes each batch in one transaction together with the source's new
 * lines_done (see ingest.h), in one of two ways:
 *
 * - incremental (the url_hash index in place): the reader sorts a batch by URL hash and drops the
 *   repeats inside it. Sorted, the rows walk the UNIQUE url_hash index once from left to right
 *   instead of jumping to a random page for every row (about 3x cheaper). Sample ids follow hash
 *   order within a batch (samples.line keeps the file order).
 * - bulk (the UNIQUE url_hash index dropped, see ingest.h): duplicates are found in the in-memory
 *   url_hash -> id map, a batch goes in with one INSERT ... SELECT (rowtab.h), and the index is
 *   built once at the end (sorted batches make that sort cheaper: its input is in sorted runs). */
#include "ingest/ingest.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "util/rng.h"

/* ── batches ────────────────────────────────────────────────────────────────────────────── */

typedef ovs_ingest_row row; /* url and caption: ranges of batch.text */

typedef struct rej {
    int64_t line;
    int reason;
    uint32_t off, len; /* the excerpt, into batch.text */
} rej;

typedef struct batch {
    row *rows;
    size_t nrows, rows_cap;
    rej *rejs;
    size_t nrejs, rejs_cap;
    char *text;
    size_t tlen, tcap;
    int64_t last_line;              /* sources.lines_done once this batch is written */
    int64_t lines, duplicates, other_part;
    int final;                      /* no batch follows (end of input, or rc) */
    int rc;                         /* the reader's error, reported after the batch is written */
    ovs_err err;
} batch;

enum { TEXT_LIMIT = 48 << 20, EXCERPT = 80 };

static void batch_reset(batch *b) {
    b->nrows = b->nrejs = b->tlen = 0;
    b->lines = b->duplicates = b->other_part = 0;
    b->final = b->rc = 0;
    ovs_err_clear(&b->err);
}

static void batch_free(batch *b) {
    free(b->rows);
    free(b->rejs);
    free(b->text);
    memset(b, 0, sizeof *b);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return OVS_EINTERNAL;
    *p = q;
    *cap = n;
    return 0;
}

static int text_add(batch *b, const char *s, size_t n, uint32_t *off) {
    if (grow((void **)&b->text, &b->tcap, b->tlen + n, 1)) return OVS_EINTERNAL;
    memcpy(b->text + b->tlen, s, n);
    *off = (uint32_t)b->tlen;
    b->tlen += n;
    return 0;
}

/* The first bytes of a rejected line, printable ASCII only (others become '?'). */
static int add_reject(batch *b, int64_t line, int reason, const char *s, size_t n) {
    if (grow((void **)&b->rejs, &b->rejs_cap, b->nrejs + 1, sizeof(rej))) return OVS_EINTERNAL;
    char ex[EXCERPT];
    size_t m = n < EXCERPT ? n : EXCERPT;
    for (size_t i = 0; i < m; i++) {
        unsigned char ch = (unsigned char)s[i];
        ex[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    rej *r = &b->rejs[b->nrejs++];
    r->line = line;
    r->reason = reason;
    r->len = (uint32_t)m;
    return text_add(b, ex, m, &r->off);
}

static int add_row(batch *b, int64_t line, int64_t hash, const ovs_tsv_fields *f) {
    if (grow((void **)&b->rows, &b->rows_cap, b->nrows + 1, sizeof(row))) return OVS_EINTERNAL;
    row *r = &b->rows[b->nrows++];
    r->hash = hash;
    r->line = line;
    r->id = 0;
    r->url_len = (uint32_t)f->url_len;
    r->cap_len = (uint32_t)f->caption_len;
    if (text_add(b, f->url, f->url_len, &r->url_off)) return OVS_EINTERNAL;
    return text_add(b, f->caption, f->caption_len, &r->cap_off);
}

static int row_cmp(const void *pa, const void *pb) {
    const row *a = pa, *b = pb;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return a->line < b->line ? -1 : a->line > b->line;
}

static int same_url(const batch *b, const row *x, const row *y) {
    return x->url_len == y->url_len && !memcmp(b->text + x->url_off, b->text + y->url_off, x->url_len);
}

/* Sorts the rows by (hash, line) and drops repeats of a hash inside the batch: the same URL is a
 * duplicate, a different URL a hash collision (rejected); the earliest line wins either way. */
static int sort_and_dedupe(batch *b) {
    if (b->nrows) qsort(b->rows, b->nrows, sizeof(row), row_cmp); /* rows may be NULL when empty */
    size_t keep = 0;
    for (size_t i = 0; i < b->nrows; i++) {
        row *r = &b->rows[i];
        if (keep && b->rows[keep - 1].hash == r->hash) {
            if (same_url(b, &b->rows[keep - 1], r)) b->duplicates++;
            else if (add_reject(b, r->line, OVS_REJ_HASH_COLLISION, b->text + r->url_off, r->url_len))
                return OVS_EINTERNAL;
            continue;
        }
        b->rows[keep++] = *r;
    }
    b->nrows = keep;
    return 0;
}

int64_t ovs_url_hash(const char *url, size_t len, int hash_bits) {
    uint64_t h = ovs_hash64(url, len);
    if (hash_bits > 0 && hash_bits < 64) h &= (UINT64_C(1) << hash_bits) - 1;
    return (int64_t)h;
}

/* ── the reader thread ──────────────────────────────────────────────────────────────────── */

typedef struct pipeline {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    batch slot[2];
    int full[2];
    int stop; /* set by the writer after an error: the reader ends */
    ovs_tsv tsv;
    const ovs_ingest_opts *o;
    int bulk;           /* rows stay in file order (no sort, no dedupe here: the writer's map does it) */
    int64_t lines_done; /* from earlier runs: skipped */
    int64_t skipped;    /* lines actually skipped (fewer when the file shrank) */
    double reader_cpu, writer_cpu, writer_busy, writer_waited; /* seconds, for --verbose */
} pipeline;

static int oom(pipeline *pl, batch *b) {
    return ovs_errf(&b->err, OVS_EINTERNAL, "%s:%lld: out of memory", pl->tsv.path, (long long)pl->tsv.line);
}

/* Reads one line into the batch (*end = 1 at the end of the input); returns 0 or an error. */
static int read_line(pipeline *pl, batch *b, int *end) {
    ovs_tsv_line l;
    int rc = ovs_tsv_next(&pl->tsv, &l, &b->err);
    if (rc) return rc;
    if (!l.ptr) { *end = 1; return 0; }
    b->lines++;
    ovs_tsv_fields f;
    int why = l.too_long ? OVS_REJ_LINE_TOO_LONG : ovs_tsv_check(l.ptr, l.len, pl->o->caption_first, &f);
    if (why) return add_reject(b, l.number, why, l.ptr, l.len) ? oom(pl, b) : 0;
    int64_t h = ovs_url_hash(f.url, f.url_len, pl->o->hash_bits);
    if (pl->o->part_n > 0 && (uint64_t)h % (uint64_t)pl->o->part_n != (uint64_t)pl->o->part_i) {
        b->other_part++;
        return 0;
    }
    if (add_row(b, l.number, h, &f)) return oom(pl, b);
    return 0;
}

/* Fills b with up to batch_lines lines; sets b->final at the end of the input or on an error. */
static void fill_batch(pipeline *pl, batch *b) {
    int64_t max = pl->o->batch_lines > 0 ? pl->o->batch_lines : OVS_INGEST_BATCH;
    while (b->lines < max && b->tlen < TEXT_LIMIT) {
        int end = 0, rc = read_line(pl, b, &end);
        if (rc) { b->rc = rc; b->final = 1; break; }
        if (end) { b->final = 1; break; }
        if ((b->lines & 4095) == 0 && __atomic_load_n(&pl->stop, __ATOMIC_RELAXED)) { b->final = 1; break; }
    }
    b->last_line = pl->tsv.line;
    if (sort_and_dedupe(b)) {
        b->rc = oom(pl, b);
        b->final = 1;
    }
}

static int skip_done_lines(pipeline *pl, batch *b) {
    ovs_tsv_line l;
    while (pl->tsv.line < pl->lines_done) {
        int rc = ovs_tsv_next(&pl->tsv, &l, &b->err);
        if (rc) return rc;
        if (!l.ptr) break;
    }
    pl->skipped = pl->tsv.line;
    return 0;
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *reader_main(void *arg) {
    pipeline *pl = arg;
    for (int k = 0;; k ^= 1) {
        pthread_mutex_lock(&pl->mu);
        while (pl->full[k] && !pl->stop) pthread_cond_wait(&pl->cv, &pl->mu);
        int stop = pl->stop;
        pthread_mutex_unlock(&pl->mu);
        if (stop) break;
        batch *b = &pl->slot[k];
        batch_reset(b);
        if (pl->tsv.line < pl->lines_done) {
            int rc = skip_done_lines(pl, b);
            if (rc) { b->rc = rc; b->final = 1; }
        }
        if (!b->final) fill_batch(pl, b);
        int final = b->final;
        pthread_mutex_lock(&pl->mu);
        pl->full[k] = 1;
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
        if (final) break;
    }
    pl->reader_cpu = thread_cpu();
    return NULL;
}

/* ── the writer (calling thread) ────────────────────────────────────────────────────────── */

typedef struct writer {
    ovs_ingest *s;
    int64_t source_id;
    int bulk;
    sqlite3_stmt *ins, *find, *rej, *upd;
} writer;

static const char *SQL_INSERT =
    "INSERT INTO samples(url, url_hash, caption, source_id, line) VALUES(?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT(url_hash) DO NOTHING";
/* The whole batch (rowtab.h); the map said which rows are new. The ids are left to SQLite (max + 1,
 * one after the other: 8% faster than giving them, which costs a rowid lookup per row) and checked
 * against the ones the map was given after each batch. */
static const char *SQL_INSERT_BULK =
    "INSERT INTO samples(url, url_hash, caption, source_id, line)"
    " SELECT url, url_hash, caption, ?1, line FROM ovs_ingest_rows";
static const char *SQL_FIND = "SELECT url FROM samples WHERE url_hash = ?1";
static const char *SQL_FIND_BULK = "SELECT url FROM samples WHERE id = ?1";
static const char *SQL_REJECT = "INSERT INTO rejects(source_id, line, reason, excerpt) VALUES(?1, ?2, ?3, ?4)"
                                " ON CONFLICT(source_id, line) DO NOTHING";
static const char *SQL_UPDATE = "UPDATE sources SET lines_done = ?2, inserted = inserted + ?3, duplicates = duplicates + ?4,"
                                " rejected = rejected + ?5, other_part = other_part + ?6 WHERE id = ?1";

static int sql_fail(ovs_db *db, ovs_err *e, const char *what) {
    return ovs_errf(e, ovs_db_rc(db), "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static void writer_close(writer *w) {
    sqlite3_finalize(w->ins);
    sqlite3_finalize(w->find);
    sqlite3_finalize(w->rej);
    sqlite3_finalize(w->upd);
}

static int writer_open(writer *w, ovs_ingest *s, int64_t source_id, int bulk, ovs_err *e) {
    memset(w, 0, sizeof *w);
    w->s = s;
    w->source_id = source_id;
    w->bulk = bulk;
    int rc = ovs_db_prepare(s->db, &w->ins, bulk ? SQL_INSERT_BULK : SQL_INSERT, e);
    if (!rc) rc = ovs_db_prepare(s->db, &w->find, bulk ? SQL_FIND_BULK : SQL_FIND, e);
    if (!rc) rc = ovs_db_prepare(s->db, &w->rej, SQL_REJECT, e);
    if (!rc) rc = ovs_db_prepare(s->db, &w->upd, SQL_UPDATE, e);
    if (rc) writer_close(w);
    return rc;
}

static int put_reject(writer *w, int64_t line, int reason, const char *ex, size_t n, ovs_err *e) {
    sqlite3_bind_int64(w->rej, 1, w->source_id);
    sqlite3_bind_int64(w->rej, 2, line);
    sqlite3_bind_text(w->rej, 3, ovs_reject_name(reason), -1, SQLITE_STATIC);
    sqlite3_bind_text(w->rej, 4, ex, (int)n, SQLITE_STATIC);
    int s = sqlite3_step(w->rej);
    sqlite3_reset(w->rej);
    return s == SQLITE_DONE ? 0 : sql_fail(w->s->db, e, "recording a rejected line");
}

/* A row whose hash is already in samples (key: that hash, or in bulk mode the id holding it): the
 * same URL (a duplicate) or a different one (a hash collision: recorded as a reject). Counts it. */
static int resolve_conflict(writer *w, const batch *b, const row *r, int64_t key, ovs_ingest_counts *c,
                            ovs_err *e) {
    sqlite3_bind_int64(w->find, 1, key);
    int s = sqlite3_step(w->find);
    const char *url = s == SQLITE_ROW ? (const char *)sqlite3_column_text(w->find, 0) : NULL;
    int n = s == SQLITE_ROW ? sqlite3_column_bytes(w->find, 0) : 0;
    int same = url && (uint32_t)n == r->url_len && !memcmp(url, b->text + r->url_off, r->url_len);
    sqlite3_reset(w->find);
    if (s != SQLITE_ROW) return sql_fail(w->s->db, e, "looking up a duplicate URL");
    if (same) { c->duplicates++; return 0; }
    c->rejected++;
    c->by_reason[OVS_REJ_HASH_COLLISION]++;
    return put_reject(w, r->line, OVS_REJ_HASH_COLLISION, b->text + r->url_off, r->url_len, e);
}

static int insert_row(writer *w, const batch *b, const row *r) {
    sqlite3_stmt *st = w->ins;
    sqlite3_bind_text(st, 1, b->text + r->url_off, (int)r->url_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r->hash);
    sqlite3_bind_text(st, 3, b->text + r->cap_off, (int)r->cap_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, w->source_id);
    sqlite3_bind_int64(st, 5, r->line);
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE ? 0 : -1;
}

/* Incremental: rows in hash order; the UNIQUE index turns a known hash into "no change". */
static int write_rows(writer *w, const batch *b, ovs_ingest_counts *c, ovs_err *e) {
    sqlite3 *h = w->s->db->h;
    for (size_t i = 0; i < b->nrows; i++) {
        const row *r = &b->rows[i];
        if (insert_row(w, b, r)) return sql_fail(w->s->db, e, "inserting a sample");
        if (sqlite3_changes(h) == 1) { c->inserted++; continue; }
        int rc = resolve_conflict(w, b, r, r->hash, c, e);
        if (rc) return rc;
    }
    return 0;
}

/* Bulk: a hash already in the map is a duplicate or a collision with a row of an earlier batch
 * (the reader removed the repeats inside the batch; the earliest line wins: it is in the map first).
 * The new rows go in with one INSERT ... SELECT from ovs_ingest_rows and get the next ids. */
static int write_rows_bulk(writer *w, batch *b, ovs_ingest_counts *c, ovs_err *e) {
    ovs_ingest *s = w->s;
    /* room for the whole batch first: sorted keys put into a table that grows on the way would
     * crowd into its first slots (see hashset.h) */
    if (ovs_hashset_reserve(&s->urls, s->urls.n + b->nrows))
        return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory for the URL hashes of %zu samples", s->db->path,
                        s->urls.n + b->nrows);
    int64_t first_id = s->next_id;
    for (size_t i = 0; i < b->nrows; i++) {
        row *r = &b->rows[i];
        int64_t *id;
        if (ovs_hashset_put(&s->urls, r->hash, &id) == 1) {
            r->id = *id = s->next_id++;
            continue;
        }
        r->id = 0;
        int rc = resolve_conflict(w, b, r, *id, c, e);
        if (rc) return rc;
    }
    s->rowtab = (ovs_rowtab){.rows = b->rows, .n = b->nrows, .text = b->text};
    sqlite3_bind_int64(w->ins, 1, w->source_id);
    int q = sqlite3_step(w->ins);
    sqlite3_reset(w->ins);
    s->rowtab = (ovs_rowtab){0};
    if (q != SQLITE_DONE) return sql_fail(s->db, e, "inserting samples");
    int64_t n = s->next_id - first_id, got = sqlite3_changes(s->db->h);
    if (got != n || (n && sqlite3_last_insert_rowid(s->db->h) != s->next_id - 1))
        return ovs_errf(e, OVS_EINTERNAL, "%s: bulk insert: %lld rows with ids %lld..%lld expected, %lld inserted up to id %lld",
                        s->db->path, (long long)n, (long long)first_id, (long long)s->next_id - 1, (long long)got,
                        (long long)sqlite3_last_insert_rowid(s->db->h));
    c->inserted += got;
    return 0;
}

/* Fills the map with every (url_hash, id) of samples (from the url_hash index while it is there). */
static int load_urls(ovs_ingest *s, ovs_err *e) {
    if (s->urls_loaded) return 0;
    ovs_hashset_free(&s->urls);
    double t0 = ovs_now();
    int64_t n = 0, max_id = 0;
    int rc = ovs_db_int(s->db, "SELECT count(*) FROM samples", &n, e);
    if (!rc) rc = ovs_db_int(s->db, "SELECT coalesce(max(id), 0) FROM samples", &max_id, e);
    if (rc) return rc;
    s->next_id = (max_id > 0 ? max_id : 0) + 1;
    if (ovs_hashset_reserve(&s->urls, (size_t)n)) /* before the keys come, in order (see hashset.h) */
        return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory for the URL hashes of %lld samples", s->db->path,
                        (long long)n);
    sqlite3_stmt *st;
    rc = ovs_db_prepare(s->db, &st, "SELECT url_hash, id FROM samples", e);
    if (rc) return rc;
    int q;
    while (!rc && (q = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t *id, hash = sqlite3_column_int64(st, 0);
        int added = ovs_hashset_put(&s->urls, hash, &id);
        if (added < 0) rc = ovs_errf(e, OVS_EINTERNAL, "%s: out of memory for the URL hashes of %zu samples",
                                     s->db->path, s->urls.n);
        else if (!added) rc = ovs_errf(e, OVS_EINTERNAL, "%s: samples %lld and %lld have the same url_hash", s->db->path,
                                       (long long)*id, (long long)sqlite3_column_int64(st, 1));
        else *id = sqlite3_column_int64(st, 1);
    }
    if (!rc && q != SQLITE_DONE) rc = sql_fail(s->db, e, "reading the URL hashes of samples");
    sqlite3_finalize(st);
    if (rc) ovs_hashset_free(&s->urls);
    else s->urls_loaded = 1;
    if (!rc && n) ovs_debug("%s: loaded the URL hashes of %lld samples in %.2f s", s->db->path, (long long)n, ovs_now() - t0);
    return rc;
}

/* Only the UNIQUE url_hash index: rows come in id order with state 'pending', so samples_state grows
 * at one place (cheap to keep: dropping it too cost more to rebuild than it saved, for 2M rows). */
static const char *SQL_DROP_INDEXES = "DROP INDEX IF EXISTS samples_url_hash";

/* One transaction: the rows, the rejects, and the source's lines_done and counters. The first
 * bulk batch with rows also drops the url_hash index (in the same transaction). */
static int write_batch(writer *w, batch *b, ovs_ingest_counts *c, ovs_err *e) {
    if (b->lines == 0) return 0;
    ovs_ingest *s = w->s;
    ovs_db *db = s->db;
    int dropping = w->bulk && !s->bulk && b->nrows > 0;
    ovs_ingest_counts d = {0};
    int rc = w->bulk && b->nrows > 0 ? load_urls(s, e) : 0;
    if (!rc) rc = ovs_db_begin(db, e);
    if (rc) return rc;
    if (dropping) rc = ovs_db_exec(db, SQL_DROP_INDEXES, e);
    if (!rc) rc = w->bulk ? write_rows_bulk(w, b, &d, e) : write_rows(w, b, &d, e);
    for (size_t i = 0; !rc && i < b->nrejs; i++) {
        const rej *r = &b->rejs[i];
        rc = put_reject(w, r->line, r->reason, b->text + r->off, r->len, e);
        d.rejected++;
        d.by_reason[r->reason]++;
    }
    d.lines = b->lines;
    d.duplicates += b->duplicates;
    d.other_part = b->other_part;
    if (!rc) {
        sqlite3_bind_int64(w->upd, 1, w->source_id);
        sqlite3_bind_int64(w->upd, 2, b->last_line);
        sqlite3_bind_int64(w->upd, 3, d.inserted);
        sqlite3_bind_int64(w->upd, 4, d.duplicates);
        sqlite3_bind_int64(w->upd, 5, d.rejected);
        sqlite3_bind_int64(w->upd, 6, d.other_part);
        int q = sqlite3_step(w->upd);
        sqlite3_reset(w->upd);
        if (q != SQLITE_DONE) rc = sql_fail(db, e, "updating the source");
    }
    if (!rc) rc = ovs_db_commit(db, e);
    if (rc) {
        ovs_db_rollback(db);
        if (w->bulk) s->urls_loaded = 0; /* the map may hold rows that were rolled back */
        return rc;
    }
    if (dropping) s->bulk = 1;
    ovs_ingest_counts_add(c, &d);
    return 0;
}

/* ── sources ────────────────────────────────────────────────────────────────────────────── */

/* Finds or creates the sources row of path (by its real path); refuses a different column order
 * or part than the file was ingested with before (lines_done would not mean the same). */
static int open_source(ovs_db *db, const char *path, const ovs_ingest_opts *o, int64_t *id, int64_t *done,
                       ovs_err *e) {
    char abs[PATH_MAX];
    if (!realpath(path, abs)) return ovs_errno(e, OVS_EUSER, "%s", path);
    const char *cols = o->caption_first ? "caption,url" : "url,caption";
    char part[64] = "";
    if (o->part_n > 0) snprintf(part, sizeof part, "%d/%d", o->part_i, o->part_n);
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, "SELECT id, columns, coalesce(part, ''), lines_done FROM sources WHERE path = ?1", e);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        *done = sqlite3_column_int64(st, 3);
        const char *had_cols = (const char *)sqlite3_column_text(st, 1), *had_part = (const char *)sqlite3_column_text(st, 2);
        if (strcmp(had_cols, cols))
            rc = ovs_errf(e, OVS_EUSER, "%s: was ingested with --columns %s; use the same order (now %s)", path,
                          had_cols, cols);
        else if (strcmp(had_part, part))
            rc = ovs_errf(e, OVS_EUSER, "%s: was ingested with %s%s; use the same (now %s%s)", path,
                          *had_part ? "--part " : "no --part", had_part, *part ? "--part " : "no --part", part);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) return ovs_errf(e, OVS_EINTERNAL, "%s: looking up source: %s", db->path, sqlite3_errmsg(db->h));
    rc = ovs_db_prepare(db, &st, "INSERT INTO sources(path, columns, part) VALUES(?1, ?2, nullif(?3, ''))", e);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, abs, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cols, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, part, -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s != SQLITE_DONE) return ovs_errf(e, OVS_EUSER, "%s: recording source %s: %s", db->path, path, sqlite3_errmsg(db->h));
    *id = sqlite3_last_insert_rowid(db->h);
    *done = 0;
    return 0;
}

/* ── the whole file ─────────────────────────────────────────────────────────────────────── */

static void progress_batch(ovs_progress *p, const ovs_ingest_counts *c) {
    if (!p) return;
    char extra[128];
    snprintf(extra, sizeof extra, "inserted %lld  dup %lld  rejected %lld", (long long)c->inserted,
             (long long)c->duplicates, (long long)c->rejected);
    ovs_progress_update(p, c->lines, extra);
}

/* Takes the batches from the reader in order and writes them; stops the reader on an error. */
static int consume(pipeline *pl, writer *w, ovs_ingest_counts *c, ovs_progress *p, ovs_err *e) {
    int rc = 0;
    double waited = 0, busy = 0;
    for (int k = 0;; k ^= 1) {
        double t0 = ovs_now();
        pthread_mutex_lock(&pl->mu);
        while (!pl->full[k]) pthread_cond_wait(&pl->cv, &pl->mu);
        pthread_mutex_unlock(&pl->mu);
        double t1 = ovs_now();
        batch *b = &pl->slot[k];
        rc = write_batch(w, b, c, e);
        waited += t1 - t0;
        busy += ovs_now() - t1;
        if (!rc && b->rc) { rc = b->rc; *e = b->err; }
        int final = b->final;
        pthread_mutex_lock(&pl->mu);
        pl->full[k] = 0;
        if (rc) __atomic_store_n(&pl->stop, 1, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&pl->cv);
        pthread_mutex_unlock(&pl->mu);
        progress_batch(p, c);
        if (rc || final) break;
    }
    pl->writer_busy = busy;
    pl->writer_waited = waited;
    pl->writer_cpu = thread_cpu();
    return rc;
}

/* Bulk or incremental for this file (see OVS_BULK_AUTO). Rebuilding the index costs about a
 * third of what keeping them up to date costs per row; 128 bytes a line is a short guess. */
static int choose_bulk(ovs_ingest *s, const ovs_tsv *t, int64_t lines_done, const ovs_ingest_opts *o, int *bulk,
                       ovs_err *e) {
    *bulk = s->bulk;
    if (s->bulk || !s->can_bulk || o->bulk == OVS_BULK_NO) return 0;
    if (o->bulk == OVS_BULK_YES) { *bulk = 1; return 0; }
    if (s->existing < 0) {
        int rc = ovs_db_int(s->db, "SELECT count(*) FROM samples", &s->existing, e);
        if (rc) return rc;
    }
    int64_t new_lines = ovs_tsv_size_guess(t) / 128 - lines_done;
    *bulk = new_lines > 0 && new_lines * 2 >= s->existing;
    return 0;
}

int ovs_ingest_file(ovs_ingest *s, const char *path, const ovs_ingest_opts *o, ovs_ingest_counts *c,
                    ovs_progress *progress, ovs_err *e) {
    ovs_db *db = s->db;
    pipeline pl;
    memset(&pl, 0, sizeof pl);
    pl.o = o;
    int rc = ovs_tsv_open(&pl.tsv, path, e);
    if (rc) return rc;
    int64_t source_id = 0;
    writer w;
    if ((rc = open_source(db, path, o, &source_id, &pl.lines_done, e)) ||
        (rc = choose_bulk(s, &pl.tsv, pl.lines_done, o, &pl.bulk, e)) ||
        (rc = writer_open(&w, s, source_id, pl.bulk, e))) {
        ovs_tsv_close(&pl.tsv);
        return rc;
    }
    pthread_mutex_init(&pl.mu, NULL);
    pthread_cond_init(&pl.cv, NULL);
    ovs_ingest_counts mine = {0};
    pthread_t th;
    if (pthread_create(&th, NULL, reader_main, &pl)) {
        rc = ovs_errf(e, OVS_EINTERNAL, "%s: cannot start the reader thread", path);
    } else {
        pthread_setname_np(th, "ovseg-reader");
        rc = consume(&pl, &w, &mine, progress, e);
        pthread_join(th, NULL);
        ovs_debug("%s: %s; writer busy %.2f s (cpu %.2f s), waited for the reader %.2f s; reader cpu %.2f s", path,
                  pl.bulk ? "bulk" : "incremental", pl.writer_busy, pl.writer_cpu, pl.writer_waited, pl.reader_cpu);
    }
    mine.skipped_lines = pl.skipped;
    if (!rc && pl.skipped < pl.lines_done)
        ovs_warn("%s: has %lld lines, fewer than the %lld ingested before: was it replaced? (nothing ingested)",
                 path, (long long)pl.skipped, (long long)pl.lines_done);
    ovs_ingest_counts_add(c, &mine);
    writer_close(&w);
    for (int k = 0; k < 2; k++) batch_free(&pl.slot[k]);
    pthread_cond_destroy(&pl.cv);
    pthread_mutex_destroy(&pl.mu);
    ovs_tsv_close(&pl.tsv);
    return rc;
}

void ovs_ingest_counts_add(ovs_ingest_counts *t, const ovs_ingest_counts *a) {
    t->skipped_lines += a->skipped_lines;
    t->lines += a->lines;
    t->inserted += a->inserted;
    t->duplicates += a->duplicates;
    t->rejected += a->rejected;
    t->other_part += a->other_part;
    for (int i = 0; i < OVS_REJ_N; i++) t->by_reason[i] += a->by_reason[i];
}

/* ── bulk-load mode ─────────────────────────────────────────────────────────────────────── */

static int pragma_text(ovs_db *db, const char *sql, char *out, size_t n, ovs_err *e) {
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, sql, e);
    if (rc) return rc;
    out[0] = 0;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_text(st, 0)) snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        return ovs_errf(e, OVS_EUSER, "%s: %s: %s", db->path, sql, sqlite3_errmsg(db->h));
    return 0;
}

int ovs_ingest_begin(ovs_ingest *s, ovs_db *db, ovs_err *e) {
    memset(s, 0, sizeof *s);
    s->db = db;
    s->existing = -1;
    if (ovs_rowtab_register(db->h, &s->rowtab) != SQLITE_OK)
        return ovs_errf(e, OVS_EINTERNAL, "%s: registering ovs_ingest_rows: %s", db->path, sqlite3_errmsg(db->h));
    int rc = ovs_db_exec(db, "PRAGMA foreign_keys=OFF", e);
    if (rc) return rc;
    char mode[32];
    ovs_err busy = {0};
    if (pragma_text(db, "PRAGMA journal_mode=DELETE", mode, sizeof mode, &busy) || strcmp(mode, "delete")) {
        /* another connection has the database open: stay in WAL mode (slower, equally safe), never
         * bulk (the others must find the indexes) */
        ovs_debug("%s: staying in WAL mode: %s", db->path, busy.msg[0] ? busy.msg : mode);
        return ovs_db_ensure_indexes(db, NULL, e);
    }
    rc = ovs_db_exec(db, "PRAGMA locking_mode=EXCLUSIVE; PRAGMA synchronous=OFF", e);
    if (rc) return rc;
    s->exclusive = 1;
    int64_t autoindex = 0; /* databases from before the url_hash index had a name: it cannot be dropped */
    rc = ovs_db_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_autoindex_samples_1'", &autoindex, e);
    if (rc) return rc;
    s->can_bulk = autoindex == 0;
    int64_t named = 0;
    rc = ovs_db_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'samples_url_hash'", &named, e);
    if (rc) return rc;
    s->bulk = s->can_bulk && named == 0; /* an interrupted bulk ingest: go on with it */
    return s->bulk ? 0 : ovs_db_ensure_indexes(db, NULL, e);
}

int ovs_ingest_end(ovs_ingest *s, ovs_err *e) {
    ovs_db *db = s->db;
    ovs_hashset_free(&s->urls);
    s->urls_loaded = 0;
    int made = 0, rc = 0;
    if (ovs_db_indexes_missing(db)) { /* still holding the database alone */
        ovs_progress p;
        ovs_progress_start(&p, "building the url_hash index", 0);
        ovs_progress_update(&p, 0, NULL);
        double t0 = ovs_now();
        /* SQLite's sorter is fastest with small in-memory runs merged through a temporary file: with
         * the 256 MiB cache and in-memory temp store of ovs_db_open the UNIQUE index took 3x longer */
        rc = ovs_db_exec(db, "PRAGMA cache_size=-2000; PRAGMA temp_store=DEFAULT; PRAGMA mmap_size=1099511627776", e);
        if (!rc) rc = ovs_db_ensure_indexes(db, &made, e);
        ovs_db_exec(db, "PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=0", NULL);
        ovs_progress_end(&p);
        s->index_secs = ovs_now() - t0;
        ovs_debug("%s: built %d index(es) of samples in %.2f s", db->path, made, s->index_secs);
    }
    if (!rc) s->bulk = 0;
    char mode[32];
    ovs_err e2 = {0};
    int rc2 = ovs_db_exec(db, "PRAGMA locking_mode=NORMAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", &e2);
    if (!rc2) rc2 = pragma_text(db, "PRAGMA journal_mode=WAL", mode, sizeof mode, &e2);
    if (!rc2 && strcmp(mode, "wal")) ovs_warn("%s: could not return to WAL mode (now %s)", db->path, mode);
    if (!rc && rc2) *e = e2;
    return rc ? rc : rc2;
}
