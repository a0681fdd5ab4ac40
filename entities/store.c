/* store.c — incremental entity extraction into SQLite and the TSV export (see store.h). */
#include "entities/store.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/rng.h"

typedef struct row {
    int64_t id, old_sig, sig;
    int had_version;
    size_t cap_off, cap_len; /* caption in the batch text buffer */
    ovs_entity *ents;
    size_t nent;
} row;

/* Entity ids by name, and per-id count deltas of the batch in flight. */
typedef struct ent_ids {
    ovs_strmap names;
    int64_t *id;         /* parallel to names */
    uint32_t id_cap;
    int64_t *docc, *dsamp; /* indexed by entity id */
    int64_t dcap;
    int64_t *touched;
    int64_t ntouched, tcap;
} ent_ids;

typedef struct stmts {
    sqlite3_stmt *sel, *old, *del, *ins, *upd, *newent, *cnt;
} stmts;

static int sql_fail(ovs_db *db, ovs_err *e, const char *what) {
    return ovs_errf(e, OVS_EINTERNAL, "%s: %s: %s", db->path, what, sqlite3_errmsg(db->h));
}

static int ids_reserve(ent_ids *m, int64_t id) {
    if (id < m->dcap) return 0;
    int64_t cap = m->dcap ? m->dcap : 1024;
    while (cap <= id) cap *= 2;
    int64_t *a = realloc(m->docc, (size_t)cap * sizeof *a), *b = a ? realloc(m->dsamp, (size_t)cap * sizeof *b) : NULL;
    if (a) m->docc = a;
    if (!a || !b) return -1;
    m->dsamp = b;
    memset(a + m->dcap, 0, (size_t)(cap - m->dcap) * sizeof *a);
    memset(b + m->dcap, 0, (size_t)(cap - m->dcap) * sizeof *b);
    m->dcap = cap;
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
    return ids_reserve(m, id);
}

static int delta(ent_ids *m, int64_t id, int64_t occ, int64_t samp) {
    if (ids_reserve(m, id)) return -1;
    if (!m->docc[id] && !m->dsamp[id]) {
        if (m->ntouched == m->tcap) {
            int64_t cap = m->tcap ? m->tcap * 2 : 1024;
            int64_t *t = realloc(m->touched, (size_t)cap * sizeof *t);
            if (!t) return -1;
            m->touched = t;
            m->tcap = cap;
        }
        m->touched[m->ntouched++] = id;
    }
    m->docc[id] += occ;
    m->dsamp[id] += samp;
    if (!m->docc[id] && !m->dsamp[id]) m->docc[id] = 0; /* stays in touched; harmless */
    return 0;
}

static void ids_free(ent_ids *m) {
    ovs_strmap_free(&m->names);
    free(m->id);
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

/* The entity id of name, creating the entities row when new. */
static int entity_id(ovs_db *db, stmts *s, ent_ids *m, const char *name, size_t n, int64_t *id, ovs_err *e) {
    int32_t k = ovs_strmap_find(&m->names, name, n);
    if (k >= 0) {
        *id = m->id[k];
        return 0;
    }
    sqlite3_reset(s->newent);
    sqlite3_bind_text(s->newent, 1, name, (int)n, SQLITE_STATIC);
    if (sqlite3_step(s->newent) != SQLITE_DONE) return sql_fail(db, e, "inserting an entity");
    *id = sqlite3_last_insert_rowid(db->h);
    return ids_put(m, name, n, *id) ? ovs_errf(e, OVS_EINTERNAL, "out of memory") : 0;
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

static int64_t signature(const ovs_entity *en, size_t n) {
    uint64_t h = 0x656e74697469ULL;
    for (size_t i = 0; i < n; i++)
        h = ovs_mix64(h ^ ovs_hash64(en[i].name, en[i].name_len) ^ ((uint64_t)en[i].start << 32 | en[i].end));
    return (int64_t)h;
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

static int write_row(ovs_db *db, stmts *s, ent_ids *m, const row *r, const char *version, ovs_ent_stats *st, ovs_err *e) {
    int rc;
    if (r->had_version && r->old_sig == r->sig) {
        st->unchanged++;
    } else {
        st->changed++;
        if (r->had_version && (rc = drop_old(db, s, m, r->id, e))) return rc;
        seen_set seen = {0};
        for (size_t k = 0; k < r->nent; k++) {
            int64_t id = 0;
            int dup = (rc = entity_id(db, s, m, r->ents[k].name, r->ents[k].name_len, &id, e)) ? 0 : seen_add(&seen, id);
            if (!rc && (dup < 0 || delta(m, id, 1, dup ? 0 : 1))) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
            if (rc) {
                free(seen.v);
                return rc;
            }
            sqlite3_reset(s->ins);
            sqlite3_bind_int64(s->ins, 1, r->id);
            sqlite3_bind_int64(s->ins, 2, id);
            sqlite3_bind_int64(s->ins, 3, r->ents[k].start);
            sqlite3_bind_int64(s->ins, 4, r->ents[k].end);
            if (sqlite3_step(s->ins) != SQLITE_DONE) {
                free(seen.v);
                return sql_fail(db, e, "inserting sample_entities");
            }
            st->rows++;
        }
        free(seen.v);
    }
    sqlite3_reset(s->upd);
    sqlite3_bind_int64(s->upd, 1, r->id);
    sqlite3_bind_text(s->upd, 2, version, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->upd, 3, r->sig);
    return sqlite3_step(s->upd) == SQLITE_DONE ? 0 : sql_fail(db, e, "updating samples.entities_version");
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

/* Extracts the entities of every row of the batch on all threads. */
static int extract_batch(ovs_extractor **xs, int nx, row *rows, size_t n, const char *text) {
    int oom = 0;
#pragma omp parallel num_threads(nx) reduction(| : oom)
    {
        ovs_extractor *x = xs[omp_get_thread_num()];
#pragma omp for schedule(dynamic, 256)
        for (size_t i = 0; i < n; i++) {
            size_t ne;
            const ovs_entity *en = ovs_extract(x, text + rows[i].cap_off, rows[i].cap_len, &ne);
            rows[i].nent = ne;
            rows[i].ents = ne ? malloc(ne * sizeof *en) : NULL;
            if (ne && !rows[i].ents) oom = 1;
            else if (ne) memcpy(rows[i].ents, en, ne * sizeof *en);
            rows[i].sig = signature(en, ne);
        }
    }
    return oom;
}

static int prepare_all(ovs_db *db, stmts *s, ovs_err *e) {
    int rc = 0;
    if (!rc) rc = ovs_db_prepare(db, &s->sel,
                                 "SELECT id, caption, entities_version IS NOT NULL, entities_sig FROM samples "
                                 "WHERE id > ?1 AND (entities_version IS NULL OR entities_version <> ?2) ORDER BY id LIMIT ?3", e);
    if (!rc) rc = ovs_db_prepare(db, &s->old, "SELECT entity_id FROM sample_entities WHERE sample_id = ?1", e);
    if (!rc) rc = ovs_db_prepare(db, &s->del, "DELETE FROM sample_entities WHERE sample_id = ?1", e);
    if (!rc) rc = ovs_db_prepare(db, &s->ins, "INSERT INTO sample_entities(sample_id, entity_id, start, end) VALUES(?1, ?2, ?3, ?4)", e);
    if (!rc) rc = ovs_db_prepare(db, &s->upd, "UPDATE samples SET entities_version = ?2, entities_sig = ?3 WHERE id = ?1", e);
    if (!rc) rc = ovs_db_prepare(db, &s->newent, "INSERT INTO entities(name) VALUES(?1)", e);
    if (!rc) rc = ovs_db_prepare(db, &s->cnt, "UPDATE entities SET occurrences = occurrences + ?2, samples = samples + ?3 WHERE id = ?1", e);
    return rc;
}

static void finalize_all(stmts *s) {
    sqlite3_stmt **p = (sqlite3_stmt **)s;
    for (size_t i = 0; i < sizeof *s / sizeof *p; i++) sqlite3_finalize(p[i]);
}

/* One batch: select, extract, write, commit. *got = rows processed (0: done). */
static int one_batch(ovs_db *db, stmts *s, ent_ids *m, ovs_extractor **xs, int nx, const char *version, int batch,
                     int64_t *last_id, size_t *got, ovs_ent_stats *st, ovs_err *e) {
    row *rows = calloc((size_t)batch, sizeof *rows);
    ovs_buf text = {0};
    size_t n = 0;
    int rc = rows ? ovs_db_begin(db, e) : ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (rc) {
        free(rows);
        return rc;
    }
    sqlite3_reset(s->sel);
    sqlite3_bind_int64(s->sel, 1, *last_id);
    sqlite3_bind_text(s->sel, 2, version, -1, SQLITE_STATIC);
    sqlite3_bind_int(s->sel, 3, batch);
    int sr;
    while (!rc && (sr = sqlite3_step(s->sel)) == SQLITE_ROW) {
        row *r = &rows[n++];
        r->id = sqlite3_column_int64(s->sel, 0);
        r->cap_off = text.len;
        r->cap_len = (size_t)sqlite3_column_bytes(s->sel, 1);
        r->had_version = sqlite3_column_int(s->sel, 2);
        r->old_sig = sqlite3_column_int64(s->sel, 3);
        if (ovs_buf_append(&text, sqlite3_column_text(s->sel, 1), r->cap_len) || ovs_buf_append(&text, "", 1))
            rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    if (!rc && sr != SQLITE_DONE) rc = sql_fail(db, e, "selecting samples to process");
    if (!rc && n && extract_batch(xs, nx, rows, n, text.data)) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) rc = write_row(db, s, m, &rows[i], version, st, e);
    if (!rc) rc = apply_deltas(db, s, m, e);
    if (!rc) rc = ovs_db_commit(db, e);
    if (rc) {
        ovs_db_rollback(db);
        m->ntouched = 0; /* the deltas died with the transaction */
    } else {
        st->processed += (int64_t)n;
        if (n) *last_id = rows[n - 1].id;
        *got = n;
    }
    for (size_t i = 0; i < n; i++) free(rows[i].ents);
    free(rows);
    ovs_buf_free(&text);
    return rc;
}

int ovs_ent_update(ovs_db *db, const ovs_ent_rules *rules, int batch, ovs_ent_stats *st, ovs_err *e) {
    const char *version = ovs_ent_rules_version(rules);
    int nx = omp_get_max_threads();
    ovs_extractor **xs = calloc((size_t)nx, sizeof *xs);
    ent_ids m = {0};
    stmts s = {0};
    int rc = xs ? 0 : ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int i = 0; i < nx && !rc; i++)
        if (!(xs[i] = ovs_extractor_new(rules))) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!rc) rc = load_ids(db, &m, e);
    if (!rc) rc = prepare_all(db, &s, e);
    int64_t pending = 0;
    if (!rc) {
        sqlite3_stmt *c;
        rc = ovs_db_prepare(db, &c, "SELECT count(*) FROM samples WHERE entities_version IS NULL OR entities_version <> ?1", e);
        if (!rc) {
            sqlite3_bind_text(c, 1, version, -1, SQLITE_STATIC);
            if (sqlite3_step(c) == SQLITE_ROW) pending = sqlite3_column_int64(c, 0);
            sqlite3_finalize(c);
        }
    }
    ovs_progress pr;
    ovs_progress_start(&pr, "entities", pending);
    int64_t last_id = 0;
    size_t got = 1;
    while (!rc && got) {
        got = 0;
        rc = one_batch(db, &s, &m, xs, nx, version, batch, &last_id, &got, st, e);
        ovs_progress_update(&pr, st->processed, NULL);
    }
    ovs_progress_end(&pr);
    finalize_all(&s);
    ids_free(&m);
    for (int i = 0; xs && i < nx; i++) ovs_extractor_free(xs[i]);
    free(xs);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Writes one export line: names sorted and distinct. */
static int export_line(FILE *f, const char *url, const char *cap, char **names, size_t n) {
    qsort(names, n, sizeof *names, cmp_str);
    fprintf(f, "%s\t%s\t", url, cap);
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
    int sr, werr = 0;
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
                if (!nn) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); break; }
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
