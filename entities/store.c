/* store.c — incremental entity extraction into SQLite and the TSV export (see store.h).
 *
 * Batches of samples (id order) flow through a two-stage pipeline: while the main thread writes
 * batch k in one transaction, a worker thread extracts batch k+1 (selected just before). Writing
 * is the slow stage, so extraction costs no wall time. A batch's samples.entities_version update is
 * one statement over its id range. A sample that had an older version is re-extracted; its stored
 * (entity, start, end) list is compared with the new one and rewritten only when different.
 * Foreign-key checks are off for this connection during the run
 * (the rows are correct by construction) and back on after. One `ovseg entities` at a time per DB. */
#include "entities/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/progress.h"

typedef struct row {
    int64_t id;
    int had_version;
    size_t cap_off, cap_len; /* caption in the batch text buffer */
    ovs_entity *ents;
    size_t nent;
} row;

typedef struct batch {
    row *rows;
    size_t n;
    ovs_buf text;
    ovs_extractor *x;
    int oom;
} batch;

/* Entity ids by name (and by the extractor's name_id), and per-id count deltas of a batch. */
typedef struct ent_ids {
    ovs_strmap names;
    int64_t *id; /* parallel to names */
    uint32_t id_cap;
    int64_t *by_name_id; /* extractor name_id -> entity id, 0 = not looked up yet */
    uint32_t bn_cap;
    int64_t *docc, *dsamp; /* indexed by entity id */
    int64_t dcap;
    int64_t *touched;
    int64_t ntouched, tcap;
} ent_ids;

enum { MULTI = 16 }; /* sample_entities rows per INSERT statement */

typedef struct stmts {
    sqlite3_stmt *sel, *old, *del, *ins, *upd, *newent, *cnt, *ins_multi;
    int64_t pend[MULTI][4]; /* rows waiting for ins_multi */
    int npend;
} stmts;

static int sql_fail(ovs_db *db, ovs_err *e, const char *what) {
    return ovs_errf(e, ovs_db_rc(db), "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static int grow64(int64_t **a, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 1024, old = *cap;
    while (c < need) c *= 2;
    int64_t *p = realloc(*a, (size_t)c * sizeof *p);
    if (!p) return -1;
    memset(p + old, 0, (size_t)(c - old) * sizeof *p);
    *a = p;
    *cap = c;
    return 0;
}

static int ids_put(ent_ids *m, const char *name, size_t n, int64_t id) {
    int32_t k = ovs_strmap_add(&m->names, name, n, NULL);
    if (k < 0) return -1;
    if ((uint32_t)k >= m->id_cap) {
        uint32_t cap = m->id_cap ? m->id_cap * 2 : 1024;
        int64_t *a = realloc(m->id, cap * sizeof *a);
        if (!a) return -1;
        m->id = a;
        m->id_cap = cap;
    }
    m->id[k] = id;
    int64_t dc = m->dcap;
    if (grow64(&m->docc, &dc, id + 1)) return -1;
    dc = m->dcap;
    if (grow64(&m->dsamp, &dc, id + 1)) return -1;
    m->dcap = dc;
    return 0;
}

static int delta(ent_ids *m, int64_t id, int64_t occ, int64_t samp) {
    if (id >= m->dcap) {
        int64_t dc = m->dcap;
        if (grow64(&m->docc, &dc, id + 1)) return -1;
        dc = m->dcap;
        if (grow64(&m->dsamp, &dc, id + 1)) return -1;
        m->dcap = dc;
    }
    if (!m->docc[id] && !m->dsamp[id]) {
        if (grow64(&m->touched, &m->tcap, m->ntouched + 1)) return -1;
        m->touched[m->ntouched++] = id;
    }
    m->docc[id] += occ;
    m->dsamp[id] += samp;
    return 0;
}

static void ids_free(ent_ids *m) {
    ovs_strmap_free(&m->names);
    free(m->id);
    free(m->by_name_id);
    free(m->docc);
    free(m->dsamp);
    free(m->touched);
}

static int load_ids(ovs_db *db, ent_ids *m, ovs_err *e) {
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, "SELECT id, name FROM entities", e);
    if (rc) return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (ids_put(m, (const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_int64(st, 0))) {
            sqlite3_finalize(st);
            return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sql_fail(db, e, "reading entities");
}

/* The entity id of an extracted entity, creating the entities row when new. */
static int entity_id(ovs_db *db, stmts *s, ent_ids *m, const ovs_entity *en, int64_t *id, ovs_err *e) {
    if (en->name_id < m->bn_cap && m->by_name_id[en->name_id]) {
        *id = m->by_name_id[en->name_id];
        return 0;
    }
    int32_t k = ovs_strmap_find(&m->names, en->name, en->name_len);
    if (k >= 0) {
        *id = m->id[k];
    } else {
        sqlite3_reset(s->newent);
        sqlite3_bind_text(s->newent, 1, en->name, (int)en->name_len, SQLITE_STATIC);
        if (sqlite3_step(s->newent) != SQLITE_DONE) return sql_fail(db, e, "inserting an entity");
        *id = sqlite3_last_insert_rowid(db->h);
        if (ids_put(m, en->name, en->name_len, *id)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    if (en->name_id >= m->bn_cap) {
        uint32_t cap = m->bn_cap ? m->bn_cap : 4096;
        while (cap <= en->name_id) cap *= 2;
        int64_t *p = realloc(m->by_name_id, cap * sizeof *p);
        if (!p) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        memset(p + m->bn_cap, 0, (cap - m->bn_cap) * sizeof *p);
        m->by_name_id = p;
        m->bn_cap = cap;
    }
    m->by_name_id[en->name_id] = *id;
    return 0;
}

/* A growable list of the entity ids seen in one sample (to count samples once per entity). */
typedef struct seen_set { int64_t *v; size_t n, cap; } seen_set;

/* 1 if id was seen already, else records it; -1 on out-of-memory. */
static int seen_add(seen_set *s, int64_t id) {
    for (size_t k = 0; k < s->n; k++)
        if (s->v[k] == id) return 1;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        int64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = id;
    return 0;
}

/* 1 if the stored rows of a sample are exactly ents (same names, spans, order), else 0; -1 on error. */
static int same_as_stored(ovs_db *db, stmts *s, const row *r, ovs_err *e) {
    sqlite3_reset(s->old);
    sqlite3_bind_int64(s->old, 1, r->id);
    size_t k = 0;
    int same = 1, rc;
    while ((rc = sqlite3_step(s->old)) == SQLITE_ROW) {
        const ovs_entity *en = k < r->nent ? &r->ents[k] : NULL;
        if (!en || sqlite3_column_int64(s->old, 1) != en->start || sqlite3_column_int64(s->old, 2) != en->end ||
            (size_t)sqlite3_column_bytes(s->old, 3) != en->name_len ||
            memcmp(sqlite3_column_text(s->old, 3), en->name, en->name_len))
            same = 0;
        k++;
    }
    if (rc != SQLITE_DONE) return sql_fail(db, e, "reading stored sample_entities"), -1;
    return same && k == r->nent;
}

/* Subtracts a sample's stored rows from the counts and deletes them. */
static int drop_old(ovs_db *db, stmts *s, ent_ids *m, int64_t sample, ovs_err *e) {
    seen_set seen = {0};
    int rc;
    sqlite3_reset(s->old);
    sqlite3_bind_int64(s->old, 1, sample);
    while ((rc = sqlite3_step(s->old)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s->old, 0);
        int dup = seen_add(&seen, id);
        if (dup < 0 || delta(m, id, -1, dup ? 0 : -1)) {
            free(seen.v);
            return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        }
    }
    free(seen.v);
    if (rc != SQLITE_DONE) return sql_fail(db, e, "reading old sample_entities");
    sqlite3_reset(s->del);
    sqlite3_bind_int64(s->del, 1, sample);
    return sqlite3_step(s->del) == SQLITE_DONE ? 0 : sql_fail(db, e, "deleting old sample_entities");
}

/* Writes the buffered rows: MULTI at a time with ins_multi, the rest one by one. */
static int flush_rows(ovs_db *db, stmts *s, int all, ovs_err *e) {
    if (s->npend == MULTI) {
        sqlite3_reset(s->ins_multi);
        for (int k = 0; k < MULTI; k++)
            for (int c = 0; c < 4; c++) sqlite3_bind_int64(s->ins_multi, 4 * k + c + 1, s->pend[k][c]);
        if (sqlite3_step(s->ins_multi) != SQLITE_DONE) return sql_fail(db, e, "inserting sample_entities");
        s->npend = 0;
    }
    for (int k = 0; all && k < s->npend; k++) {
        sqlite3_reset(s->ins);
        for (int c = 0; c < 4; c++) sqlite3_bind_int64(s->ins, c + 1, s->pend[k][c]);
        if (sqlite3_step(s->ins) != SQLITE_DONE) return sql_fail(db, e, "inserting sample_entities");
    }
    if (all) s->npend = 0;
    return 0;
}

static int insert_rows(ovs_db *db, stmts *s, ent_ids *m, const row *r, ovs_ent_stats *st, ovs_err *e) {
    seen_set seen = {0};
    int rc = 0;
    for (size_t k = 0; k < r->nent && !rc; k++) {
        int64_t id = 0;
        int dup = (rc = entity_id(db, s, m, &r->ents[k], &id, e)) ? 0 : seen_add(&seen, id);
        if (!rc && (dup < 0 || delta(m, id, 1, dup ? 0 : 1))) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
        if (rc) break;
        int64_t *p = s->pend[s->npend++];
        p[0] = r->id, p[1] = id, p[2] = r->ents[k].start, p[3] = r->ents[k].end;
        st->rows++;
        if (s->npend == MULTI) rc = flush_rows(db, s, 0, e);
    }
    free(seen.v);
    return rc;
}

static int write_row(ovs_db *db, stmts *s, ent_ids *m, const row *r, ovs_ent_stats *st, ovs_err *e) {
    int rc;
    if (r->had_version) {
        int same = same_as_stored(db, s, r, e);
        if (same < 0) return e->code;
        if (same) {
            st->unchanged++;
            return 0;
        }
        if ((rc = drop_old(db, s, m, r->id, e))) return rc;
    }
    st->changed++;
    return insert_rows(db, s, m, r, st, e);
}

static int apply_deltas(ovs_db *db, stmts *s, ent_ids *m, ovs_err *e) {
    for (int64_t k = 0; k < m->ntouched; k++) {
        int64_t id = m->touched[k];
        if (m->docc[id] || m->dsamp[id]) {
            sqlite3_reset(s->cnt);
            sqlite3_bind_int64(s->cnt, 1, id);
            sqlite3_bind_int64(s->cnt, 2, m->docc[id]);
            sqlite3_bind_int64(s->cnt, 3, m->dsamp[id]);
            if (sqlite3_step(s->cnt) != SQLITE_DONE) return sql_fail(db, e, "updating entity counts");
        }
        m->docc[id] = m->dsamp[id] = 0;
    }
    m->ntouched = 0;
    return 0;
}

static void batch_clear(batch *b) {
    for (size_t i = 0; i < b->n; i++) free(b->rows[i].ents);
    b->n = 0;
    ovs_buf_reset(&b->text);
    b->oom = 0;
}

/* Reads the next batch: samples after last_id whose version differs (autocommit read). */
static int select_batch(ovs_db *db, stmts *s, const char *version, int64_t last_id, int size, batch *b, ovs_err *e) {
    batch_clear(b);
    sqlite3_reset(s->sel);
    sqlite3_bind_int64(s->sel, 1, last_id);
    sqlite3_bind_text(s->sel, 2, version, -1, SQLITE_STATIC);
    sqlite3_bind_int(s->sel, 3, size);
    int sr;
    while ((sr = sqlite3_step(s->sel)) == SQLITE_ROW) {
        row *r = &b->rows[b->n++];
        r->id = sqlite3_column_int64(s->sel, 0);
        r->cap_off = b->text.len;
        r->cap_len = (size_t)sqlite3_column_bytes(s->sel, 1);
        r->had_version = sqlite3_column_int(s->sel, 2);
        r->ents = NULL;
        r->nent = 0;
        if (ovs_buf_append(&b->text, sqlite3_column_text(s->sel, 1), r->cap_len) || ovs_buf_append(&b->text, "", 1)) {
            sqlite3_reset(s->sel);
            return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        }
    }
    sqlite3_reset(s->sel);
    return sr == SQLITE_DONE ? 0 : sql_fail(db, e, "selecting samples to process");
}

/* The worker: extracts every row of a batch. */
static void *extract_batch(void *arg) {
    batch *b = arg;
    for (size_t i = 0; i < b->n; i++) {
        row *r = &b->rows[i];
        size_t ne;
        const ovs_entity *en = ovs_extract(b->x, b->text.data + r->cap_off, r->cap_len, &ne);
        r->nent = ne;
        r->ents = ne ? malloc(ne * sizeof *en) : NULL;
        if (ne && !r->ents) b->oom = 1;
        else if (ne) memcpy(r->ents, en, ne * sizeof *en);
    }
    return NULL;
}

/* Writes an extracted batch in one transaction. */
static int write_batch(ovs_db *db, stmts *s, ent_ids *m, batch *b, const char *version, ovs_ent_stats *st, ovs_err *e) {
    if (b->oom) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    int rc = ovs_db_begin(db, e);
    if (rc) return rc;
    s->npend = 0;
    for (size_t i = 0; i < b->n && !rc; i++) rc = write_row(db, s, m, &b->rows[i], st, e);
    if (!rc) rc = flush_rows(db, s, 1, e);
    if (!rc) rc = apply_deltas(db, s, m, e);
    if (!rc) {
        sqlite3_reset(s->upd);
        sqlite3_bind_text(s->upd, 1, version, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s->upd, 2, b->rows[0].id);
        sqlite3_bind_int64(s->upd, 3, b->rows[b->n - 1].id);
        if (sqlite3_step(s->upd) != SQLITE_DONE) rc = sql_fail(db, e, "updating samples.entities_version");
        else if (sqlite3_changes(db->h) != (int)b->n)
            rc = ovs_errf(e, OVS_EUSER, "%s: samples changed during `ovseg entities` (is another one running?)", db->path);
    }
    if (!rc) rc = ovs_db_commit(db, e);
    if (rc) {
        ovs_db_rollback(db);
        m->ntouched = 0;
    } else {
        st->processed += (int64_t)b->n;
    }
    return rc;
}

static int prepare_all(ovs_db *db, stmts *s, ovs_err *e) {
    int rc = 0;
    if (!rc) rc = ovs_db_prepare(db, &s->sel,
                                 "SELECT id, caption, entities_version IS NOT NULL FROM samples "
                                 "WHERE id > ?1 AND (entities_version IS NULL OR entities_version <> ?2) ORDER BY id LIMIT ?3", e);
    if (!rc) rc = ovs_db_prepare(db, &s->old,
                                 "SELECT se.entity_id, se.start, se.end, e.name FROM sample_entities se "
                                 "JOIN entities e ON e.id = se.entity_id WHERE se.sample_id = ?1 ORDER BY se.start", e);
    if (!rc) rc = ovs_db_prepare(db, &s->del, "DELETE FROM sample_entities WHERE sample_id = ?1", e);
    if (!rc) rc = ovs_db_prepare(db, &s->ins, "INSERT INTO sample_entities(sample_id, entity_id, start, end) VALUES(?1, ?2, ?3, ?4)", e);
    if (!rc) rc = ovs_db_prepare(db, &s->upd,
                                 "UPDATE samples SET entities_version = ?1 WHERE id BETWEEN ?2 AND ?3 "
                                 "AND (entities_version IS NULL OR entities_version <> ?1)", e);
    if (!rc) {
        ovs_buf q = {0};
        ovs_buf_puts(&q, "INSERT INTO sample_entities(sample_id, entity_id, start, end) VALUES");
        for (int k = 0; k < MULTI; k++) ovs_buf_puts(&q, k ? ",(?,?,?,?)" : "(?,?,?,?)");
        rc = q.data ? ovs_db_prepare(db, &s->ins_multi, q.data, e) : ovs_errf(e, OVS_EINTERNAL, "out of memory");
        ovs_buf_free(&q);
    }
    if (!rc) rc = ovs_db_prepare(db, &s->newent, "INSERT INTO entities(name) VALUES(?1)", e);
    if (!rc) rc = ovs_db_prepare(db, &s->cnt, "UPDATE entities SET occurrences = occurrences + ?2, samples = samples + ?3 WHERE id = ?1", e);
    return rc;
}

static void finalize_all(stmts *s) {
    sqlite3_stmt *all[] = {s->sel, s->old, s->del, s->ins, s->upd, s->newent, s->cnt, s->ins_multi};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sqlite3_finalize(all[i]);
}

/* Samples to process (for the progress line). */
static int64_t count_pending(ovs_db *db, const char *version) {
    sqlite3_stmt *c;
    int64_t pending = 0;
    if (ovs_db_prepare(db, &c, "SELECT count(*) FROM samples WHERE entities_version IS NULL OR entities_version <> ?1", NULL)) return 0;
    sqlite3_bind_text(c, 1, version, -1, SQLITE_STATIC);
    if (sqlite3_step(c) == SQLITE_ROW) pending = sqlite3_column_int64(c, 0);
    sqlite3_finalize(c);
    return pending;
}

/* Seconds spent per phase, for `ovseg -v entities`. */
typedef struct phase_times { double select, write, wait; } phase_times;

/* The pipeline: select k+1, extract k+1 on the worker while writing k. */
static int run_pipeline(phase_times *pt, ovs_db *db, stmts *s, ent_ids *m, batch b[2], const char *version, int size, int64_t pending,
                        ovs_ent_stats *st, ovs_err *e) {
    ovs_progress pr;
    ovs_progress_start(&pr, "entities", pending);
    int rc = select_batch(db, s, version, 0, size, &b[0], e);
    if (!rc) extract_batch(&b[0]);
    int cur = 0;
    while (!rc && b[cur].n) {
        batch *now = &b[cur], *next = &b[!cur];
        double t0 = ovs_now();
        rc = select_batch(db, s, version, now->rows[now->n - 1].id, size, next, e);
        if (rc) break;
        double t1 = ovs_now();
        pthread_t worker;
        int threaded = next->n && !pthread_create(&worker, NULL, extract_batch, next);
        if (next->n && !threaded) extract_batch(next);
        rc = write_batch(db, s, m, now, version, st, e);
        double t2 = ovs_now();
        if (threaded) pthread_join(worker, NULL);
        pt->select += t1 - t0, pt->write += t2 - t1, pt->wait += ovs_now() - t2;
        ovs_progress_update(&pr, st->processed, NULL);
        cur = !cur;
    }
    ovs_progress_end(&pr);
    return rc;
}

int ovs_ent_update(ovs_db *db, const ovs_ent_rules *rules, int size, ovs_ent_stats *st, ovs_err *e) {
    const char *version = ovs_ent_rules_version(rules);
    ent_ids m = {0};
    stmts s = {0};
    batch b[2] = {{0}, {0}};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        b[k].rows = calloc((size_t)size, sizeof *b[k].rows);
        b[k].x = k ? b[0].x : ovs_extractor_new(rules); /* one extractor: the worker runs one batch at a time */
        if (!b[k].rows || !b[k].x) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    int64_t pending = rc ? 0 : count_pending(db, version);
    if (!rc) rc = ovs_db_exec(db, "PRAGMA foreign_keys = OFF", e);
    if (!rc) rc = load_ids(db, &m, e);
    if (!rc) rc = prepare_all(db, &s, e);
    phase_times pt = {0};
    if (!rc) rc = run_pipeline(&pt, db, &s, &m, b, version, size, pending, st, e);
    finalize_all(&s);
    ovs_err e2 = {0};
    int rc2 = ovs_db_exec(db, "PRAGMA foreign_keys = ON", &e2);
    ovs_debug("entities: seconds in select %.2f, write %.2f, waiting for extraction %.2f", pt.select, pt.write, pt.wait);
    if (!rc && rc2) rc = rc2, *e = e2;
    ids_free(&m);
    for (int k = 0; k < 2; k++) {
        batch_clear(&b[k]);
        free(b[k].rows);
        ovs_buf_free(&b[k].text);
    }
    ovs_extractor_free(b[0].x);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Writes s with tabs and line breaks as spaces, so every record stays one TSV line. */
static void put_field(FILE *f, const char *s) {
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
    fputc('\t', f);
}

/* Writes one export line: names sorted and distinct. */
static int export_line(FILE *f, const char *url, const char *cap, char **names, size_t n) {
    qsort(names, n, sizeof *names, cmp_str);
    put_field(f, url);
    put_field(f, cap);
    for (size_t i = 0; i < n; i++)
        if (!i || strcmp(names[i], names[i - 1])) fprintf(f, "%s%s", i ? "," : "", names[i]);
    return fputc('\n', f) == EOF ? -1 : 0;
}

int ovs_ent_export(ovs_db *db, const char *path, ovs_ent_stats *st, ovs_err *e) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return ovs_errno(e, OVS_EUSER, "--export: %s", tmp);
    sqlite3_stmt *q;
    int rc = ovs_db_prepare(db, &q,
                            "SELECT s.id, s.url, s.caption, e.name FROM samples s "
                            "LEFT JOIN sample_entities se ON se.sample_id = s.id LEFT JOIN entities e ON e.id = se.entity_id "
                            "WHERE s.entities_version IS NOT NULL ORDER BY s.id", e);
    char *url = NULL, *cap = NULL, **names = NULL;
    size_t n = 0, ncap = 0;
    int64_t cur = -1;
    int sr = SQLITE_DONE, werr = 0;
    while (!rc && (sr = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(q, 0);
        if (id != cur) {
            if (cur >= 0) werr |= export_line(f, url, cap, names, n), st->exported++;
            for (size_t i = 0; i < n; i++) free(names[i]);
            n = 0;
            free(url);
            free(cap);
            url = strdup((const char *)sqlite3_column_text(q, 1));
            cap = strdup((const char *)sqlite3_column_text(q, 2));
            cur = id;
        }
        if (sqlite3_column_type(q, 3) != SQLITE_NULL) {
            if (n == ncap) {
                ncap = ncap ? ncap * 2 : 16;
                char **nn = realloc(names, ncap * sizeof *nn);
                if (!nn) {
                    rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
                    break;
                }
                names = nn;
            }
            names[n++] = strdup((const char *)sqlite3_column_text(q, 3));
        }
    }
    if (!rc && sr != SQLITE_DONE) rc = sql_fail(db, e, "reading entities for export");
    if (!rc && cur >= 0) werr |= export_line(f, url, cap, names, n), st->exported++;
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(url);
    free(cap);
    sqlite3_finalize(q);
    if (fflush(f) || fsync(fileno(f))) werr = 1;
    fclose(f);
    if (!rc && werr) rc = ovs_errno(e, OVS_EUSER, "--export: writing %s", tmp);
    if (!rc && rename(tmp, path)) rc = ovs_errno(e, OVS_EUSER, "--export: rename %s to %s", tmp, path);
    if (rc) unlink(tmp);
    return rc;
}
