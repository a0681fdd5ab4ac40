/* cmd_pairs.c — `ovseg pairs DB --subset NAME [--partners 10] [--seed S]`: for every member of a
 * subset, up to N partners that share one of its subset entities, for the cross-image mask
 * consistency loss. Each draw takes an entity uniformly among the member's subset entities that
 * some other member also has, then a partner uniformly among the other members with that entity
 * (never the member itself); a partner already drawn is redrawn (8 tries), so a member gets fewer
 * than N partners only when few exist. The random stream of a member is seeded by (seed, sample id):
 * the same seed gives the same pairs. In memory: inverted lists per entity (CSR arrays). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/args.h"
#include "util/buf.h"
#include "util/cli.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/rng.h"

static const ovs_cmd_spec SPEC = {
    .verb = "pairs", .usage = "DB --subset NAME",
    .summary = "Pair every member of a subset with up to N other members that share one of its subset entities\n"
               "(entity and partner drawn uniformly; deterministic for --seed). Replaces the subset's pairs.",
    .min_pos = 1, .max_pos = 1};

typedef struct graph {
    int64_t *sample;        /* member index -> sample id (ascending) */
    int64_t nm;
    int64_t *ent_id;        /* entity index -> entity id */
    int64_t ne;
    int64_t *m_off, *m_ent; /* CSR: member -> entity indices */
    int64_t *e_off, *e_mem; /* CSR: entity -> member indices (ascending) */
} graph;

static void graph_free(graph *g) {
    free(g->sample);
    free(g->ent_id);
    free(g->m_off);
    free(g->m_ent);
    free(g->e_off);
    free(g->e_mem);
}

static int grow(int64_t **a, int64_t *cap, int64_t need) {
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 1024;
    while (c < need) c *= 2;
    int64_t *p = realloc(*a, (size_t)c * sizeof *p);
    if (!p) return -1;
    *a = p;
    *cap = c;
    return 0;
}

/* Reads (member, entity) of the subset and builds both CSR directions. */
static int load_graph(ovs_db *db, int64_t sid, graph *g, ovs_err *e) {
    sqlite3_stmt *q;
    int rc = ovs_db_prepare(db, &q,
                            "SELECT DISTINCT m.sample_id, x.rank - 1, x.entity_id FROM subset_members m "
                            "JOIN sample_entities se ON se.sample_id = m.sample_id "
                            "JOIN subset_entities x ON x.subset_id = m.subset_id AND x.entity_id = se.entity_id "
                            "WHERE m.subset_id = ?1 ORDER BY m.sample_id, x.rank", e);
    if (rc) return rc;
    sqlite3_bind_int64(q, 1, sid);
    int64_t scap = 0, ocap = 0, ecap = 0, idcap = 0, n = 0, sr;
    while ((sr = sqlite3_step(q)) == SQLITE_ROW) {
        int64_t s = sqlite3_column_int64(q, 0), ei = sqlite3_column_int64(q, 1), eid = sqlite3_column_int64(q, 2);
        if (!g->nm || g->sample[g->nm - 1] != s) {
            if (grow(&g->sample, &scap, g->nm + 1) || grow(&g->m_off, &ocap, g->nm + 2)) break;
            g->m_off[g->nm] = n;
            g->sample[g->nm++] = s;
        }
        if (grow(&g->m_ent, &ecap, n + 1) || grow(&g->ent_id, &idcap, ei + 1)) break;
        for (int64_t k = g->ne; k <= ei; k++) g->ent_id[k] = 0;
        if (ei >= g->ne) g->ne = ei + 1;
        g->ent_id[ei] = eid;
        g->m_ent[n++] = ei;
    }
    sqlite3_finalize(q);
    if (sr != SQLITE_DONE) return sr == SQLITE_ROW ? ovs_errf(e, OVS_EINTERNAL, "out of memory") : ovs_errf(e, OVS_EINTERNAL, "%s: reading members: %s", db->path, sqlite3_errmsg(db->h));
    if (!g->nm) return 0;
    g->m_off[g->nm] = n;
    g->e_off = calloc((size_t)g->ne + 1, sizeof *g->e_off);
    g->e_mem = malloc((size_t)(n ? n : 1) * sizeof *g->e_mem);
    int64_t *fill = calloc((size_t)g->ne + 1, sizeof *fill);
    if (!g->e_off || !g->e_mem || !fill) {
        free(fill);
        return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    for (int64_t k = 0; k < n; k++) g->e_off[g->m_ent[k] + 1]++;
    for (int64_t k = 0; k < g->ne; k++) g->e_off[k + 1] += g->e_off[k];
    for (int64_t m = 0; m < g->nm; m++) /* members in ascending order: lists come out sorted */
        for (int64_t k = g->m_off[m]; k < g->m_off[m + 1]; k++) {
            int64_t ei = g->m_ent[k];
            g->e_mem[g->e_off[ei] + fill[ei]++] = m;
        }
    free(fill);
    return 0;
}

/* Position of member m in the sorted list a[0..n). */
static int64_t find_pos(const int64_t *a, int64_t n, int64_t m) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (a[mid] < m) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Draws up to np partners of member m; writes partner member indices and entity indices. */
static int draw(const graph *g, int64_t m, int np, uint64_t seed, int64_t *partner, int64_t *ent) {
    ovs_rng r;
    ovs_rng_seed(&r, seed, (uint64_t)g->sample[m]);
    int64_t elig[256], ne = 0;
    for (int64_t k = g->m_off[m]; k < g->m_off[m + 1] && ne < 256; k++) {
        int64_t ei = g->m_ent[k];
        if (g->e_off[ei + 1] - g->e_off[ei] >= 2) elig[ne++] = ei;
    }
    int got = 0;
    for (int k = 0; ne && k < np; k++) {
        int ok = 0;
        for (int tries = 0; tries < 8 && !ok; tries++) {
            int64_t ei = elig[ovs_rng_below(&r, (uint64_t)ne)];
            const int64_t *list = g->e_mem + g->e_off[ei];
            int64_t len = g->e_off[ei + 1] - g->e_off[ei], self = find_pos(list, len, m);
            int64_t j = (int64_t)ovs_rng_below(&r, (uint64_t)(len - 1));
            int64_t p = list[j >= self ? j + 1 : j];
            ok = 1;
            for (int q = 0; q < got && ok; q++) ok = partner[q] != p;
            if (ok) {
                partner[got] = p;
                ent[got++] = ei;
            }
        }
        if (!ok) break;
    }
    return got;
}

enum { MULTI = 32 }; /* pairs rows per INSERT statement */

/* Inserts rows[0..n) (sample, k, partner, entity), MULTI at a time when n == MULTI. */
static int insert_pairs(ovs_db *db, sqlite3_stmt *one, sqlite3_stmt *multi, int64_t sid, int64_t (*rows)[4], int n, ovs_err *e) {
    if (n == MULTI) {
        sqlite3_reset(multi);
        for (int r = 0; r < n; r++) {
            sqlite3_bind_int64(multi, 5 * r + 1, sid);
            for (int c = 0; c < 4; c++) sqlite3_bind_int64(multi, 5 * r + c + 2, rows[r][c]);
        }
        if (sqlite3_step(multi) != SQLITE_DONE) return ovs_errf(e, OVS_EINTERNAL, "%s: inserting pairs: %s", db->path, sqlite3_errmsg(db->h));
        return 0;
    }
    for (int r = 0; r < n; r++) {
        sqlite3_reset(one);
        sqlite3_bind_int64(one, 1, sid);
        for (int c = 0; c < 4; c++) sqlite3_bind_int64(one, c + 2, rows[r][c]);
        if (sqlite3_step(one) != SQLITE_DONE) return ovs_errf(e, OVS_EINTERNAL, "%s: inserting pairs: %s", db->path, sqlite3_errmsg(db->h));
    }
    return 0;
}

/* Records how many pairs went through each subset entity. */
static int store_entity_counts(ovs_db *db, int64_t sid, const graph *g, const int64_t *per_entity, ovs_err *e) {
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, "UPDATE subset_entities SET pairs = ?3 WHERE subset_id = ?1 AND entity_id = ?2", e);
    for (int64_t k = 0; k < g->ne && !rc; k++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, sid);
        sqlite3_bind_int64(st, 2, g->ent_id[k]);
        sqlite3_bind_int64(st, 3, per_entity[k]);
        if (sqlite3_step(st) != SQLITE_DONE) rc = ovs_errf(e, OVS_EINTERNAL, "%s: counting pairs per entity: %s", db->path, sqlite3_errmsg(db->h));
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_pairs(ovs_db *db, int64_t sid, const graph *g, int np, uint64_t seed, int64_t *npairs, int64_t *paired, ovs_err *e) {
    sqlite3_stmt *one = NULL, *multi = NULL;
    int rc = ovs_db_exec(db, "PRAGMA foreign_keys = OFF", e); /* rows reference members by construction */
    if (!rc) rc = ovs_db_begin(db, e);
    if (rc) return rc;
    rc = ovs_db_prepare(db, &one, "DELETE FROM pairs WHERE subset_id = ?1", e);
    if (!rc) {
        sqlite3_bind_int64(one, 1, sid);
        if (sqlite3_step(one) != SQLITE_DONE) rc = ovs_errf(e, OVS_EINTERNAL, "%s: deleting old pairs: %s", db->path, sqlite3_errmsg(db->h));
        sqlite3_finalize(one);
        one = NULL;
    }
    if (!rc) rc = ovs_db_prepare(db, &one, "INSERT INTO pairs(subset_id, sample_id, k, partner_id, entity_id) VALUES(?1, ?2, ?3, ?4, ?5)", e);
    if (!rc) {
        ovs_buf q = {0};
        ovs_buf_puts(&q, "INSERT INTO pairs(subset_id, sample_id, k, partner_id, entity_id) VALUES");
        for (int r = 0; r < MULTI; r++) ovs_buf_puts(&q, r ? ",(?,?,?,?,?)" : "(?,?,?,?,?)");
        rc = q.data ? ovs_db_prepare(db, &multi, q.data, e) : ovs_errf(e, OVS_EINTERNAL, "out of memory");
        ovs_buf_free(&q);
    }
    int64_t *partner = malloc((size_t)np * sizeof *partner), *ent = malloc((size_t)np * sizeof *ent);
    int64_t *per_entity = calloc((size_t)g->ne + 1, sizeof *per_entity);
    if (!rc && (!partner || !ent || !per_entity)) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    int64_t rows[MULTI][4];
    int nrows = 0;
    ovs_progress pr;
    ovs_progress_start(&pr, "pairs", g->nm);
    for (int64_t m = 0; m < g->nm && !rc; m++) {
        int got = draw(g, m, np, seed, partner, ent);
        *paired += got > 0;
        for (int k = 0; k < got && !rc; k++) {
            rows[nrows][0] = g->sample[m], rows[nrows][1] = k;
            rows[nrows][2] = g->sample[partner[k]], rows[nrows][3] = g->ent_id[ent[k]];
            per_entity[ent[k]]++;
            (*npairs)++;
            if (++nrows == MULTI) rc = insert_pairs(db, one, multi, sid, rows, nrows, e), nrows = 0;
        }
        if ((m & 4095) == 0) ovs_progress_update(&pr, m, NULL);
    }
    if (!rc && nrows) rc = insert_pairs(db, one, multi, sid, rows, nrows, e);
    if (!rc) rc = store_entity_counts(db, sid, g, per_entity, e);
    ovs_progress_end(&pr);
    free(partner);
    free(ent);
    free(per_entity);
    sqlite3_finalize(one);
    sqlite3_finalize(multi);
    if (!rc) rc = ovs_db_commit(db, e);
    else ovs_db_rollback(db);
    ovs_db_exec(db, "PRAGMA foreign_keys = ON", NULL);
    return rc;
}

int cmd_pairs(int argc, char **argv) {
    ovs_err e = {0};
    const char *subset = NULL;
    int64_t partners = 10, seed = 0;
    const ovs_opt opts[] = {
        {"subset", OVS_ARG_STR, &subset, "subset name (required), made by `ovseg subset`"},
        {"partners", OVS_ARG_INT, &partners, "partners per member (default 10)"},
        {"seed", OVS_ARG_INT, &seed, "random seed (default 0)"},
        {0}};
    ovs_cmd_spec spec = SPEC;
    spec.opts = opts;
    char *pos[1];
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, 1, &np, &e);
    if (rc) return ovs_cli_finish("pairs", rc, &e);
    if (!subset) return ovs_cli_finish("pairs", ovs_errf(&e, OVS_EUSER, "--subset is required"), &e);
    if (partners < 1 || partners > 1000)
        return ovs_cli_finish("pairs", ovs_errf(&e, OVS_EUSER, "--partners: must be 1..1000, got %lld", (long long)partners), &e);
    ovs_db db;
    if ((rc = ovs_db_open(&db, pos[0], 0, &e))) return ovs_cli_finish("pairs", rc, &e);
    int64_t sid = 0;
    sqlite3_stmt *st;
    if (!(rc = ovs_db_prepare(&db, &st, "SELECT id FROM subsets WHERE name = ?1", &e))) {
        sqlite3_bind_text(st, 1, subset, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) sid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (!sid) rc = ovs_errf(&e, OVS_EUSER, "--subset %s: no such subset in %s (make it with `ovseg subset`)", subset, pos[0]);
    }
    graph g = {0};
    int64_t npairs = 0, paired = 0;
    if (!rc) rc = ovs_db_run_start(&db, "pairs", argc, argv, &e);
    if (!rc) {
        rc = load_graph(&db, sid, &g, &e);
        if (!rc) rc = write_pairs(&db, sid, &g, (int)partners, (uint64_t)seed, &npairs, &paired, &e);
        char counts[200];
        snprintf(counts, sizeof counts, "{\"members\":%lld,\"paired\":%lld,\"pairs\":%lld}", (long long)g.nm,
                 (long long)paired, (long long)npairs);
        ovs_db_run_end(&db, rc == 0, counts, NULL);
        if (!rc)
            printf("pairs %s: %lld members, %lld with partners, %lld pairs (%.2f per member), seed %lld\n", subset,
                   (long long)g.nm, (long long)paired, (long long)npairs, g.nm ? (double)npairs / (double)g.nm : 0.0,
                   (long long)seed);
    }
    graph_free(&g);
    ovs_db_close(&db);
    return ovs_cli_finish("pairs", rc, &e);
}
