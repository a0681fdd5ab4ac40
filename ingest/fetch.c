/* fetch.c — the crawl loop of `ovseg fetch` (see fetch.h, docs/fetch.md).
 *
 * One main thread runs the curl event loop, feeds it samples read from the database in id order,
 * records failures (in small transactions, as they happen) and assembles shards; a pool of image
 * threads decodes, resizes and encodes the downloaded bodies. Successful samples wait in memory
 * until their shard is full; the shard is written as NNNNNN.tar.tmp, fsynced, renamed, and only
 * then are its samples marked ok in one transaction. A killed run therefore loses at most the shard
 * in progress: its samples never left 'pending', and the next run removes the stale .tmp (and a
 * renamed .tar whose transaction never committed) before starting. */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/fetch.h"
#include "shards/tarwrite.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"

typedef struct item {
    struct item *next;
    int64_t id;
    char *url, *caption;
    int http_status;
    int64_t bytes;        /* downloaded */
    ovs_reason reason;
    char *error;          /* failures: what happened */
    ovs_buf body;         /* downloaded bytes, until the image stage consumed them */
    ovs_fetch_img img;
} item;

static void item_free(item *it) {
    if (!it) return;
    free(it->url);
    free(it->caption);
    free(it->error);
    ovs_buf_free(&it->body);
    ovs_buf_free(&it->img.encoded);
    free(it);
}

static void list_free(item *it) {
    for (item *nx; it; it = nx) nx = it->next, item_free(it);
}

/* ── image thread pool ───────────────────────────────────────────────────────────────────── */

enum { MAX_THREADS = 64 };

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    item *jobs, *jobs_tail, *done, *done_tail;
    int njobs, busy, stop, nth;
    pthread_t th[MAX_THREADS];
    const ovs_fetch_opts *o;
    ovs_http *http;
} pool;

static void *pool_worker(void *arg) {
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->jobs && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        if (!p->jobs) break;
        item *it = p->jobs;
        if (!(p->jobs = it->next)) p->jobs_tail = NULL;
        p->njobs--, p->busy++;
        pthread_mutex_unlock(&p->mu);
        ovs_fetch_image(p->o, it->body.data, it->body.len, &it->img);
        ovs_buf_free(&it->body);
        it->next = NULL;
        pthread_mutex_lock(&p->mu);
        if (p->done_tail) p->done_tail->next = it;
        else p->done = it;
        p->done_tail = it;
        p->busy--;
        ovs_http_wakeup(p->http); /* the main thread may be waiting in curl's poll */
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int pool_start(pool *p, int nth, const ovs_fetch_opts *o, ovs_http *http, ovs_err *e) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->o = o, p->http = http;
    for (; p->nth < nth; p->nth++)
        if (pthread_create(&p->th[p->nth], NULL, pool_worker, p))
            return ovs_errf(e, OVS_EINTERNAL, "cannot start image thread %d", p->nth);
    return 0;
}

static void pool_submit(pool *p, item *it) {
    it->next = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->jobs_tail) p->jobs_tail->next = it;
    else p->jobs = it;
    p->jobs_tail = it;
    p->njobs++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Takes the finished items (a list, oldest first); *backlog gets the jobs not finished yet. */
static item *pool_take(pool *p, int *backlog) {
    pthread_mutex_lock(&p->mu);
    item *d = p->done;
    p->done = p->done_tail = NULL;
    *backlog = p->njobs + p->busy;
    pthread_mutex_unlock(&p->mu);
    return d;
}

static void pool_stop(pool *p) {
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    list_free(p->jobs); /* not started: dropped */
    p->jobs = p->jobs_tail = NULL;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nth; i++) pthread_join(p->th[i], NULL);
    list_free(p->done);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

/* ── the crawl ───────────────────────────────────────────────────────────────────────────── */

enum { LOAD_BATCH = 512, FAIL_BATCH = 2000 };

typedef struct fetcher {
    ovs_db *db;
    const ovs_fetch_opts *o;
    ovs_fetch_stats *st;
    ovs_http *http;
    pool pool;
    int pool_started;
    sqlite3_stmt *sel, *upd_fail, *upd_ok, *ins_shard;
    /* samples read from the db, not yet started */
    item *queue[LOAD_BATCH];
    int nqueue, qpos, exhausted;
    int64_t last_id, loaded;
    int64_t inpipe;              /* started, not yet failed or waiting for a shard */
    /* finished */
    item **ok;                   /* waiting for their shard */
    int nok;
    item *fails;                 /* not yet recorded */
    int nfails;
    double last_flush;
    int64_t shard_no;
    int64_t shard_fail[OVS_R_COUNT];
    double shard_t0;
} fetcher;

static int sql_fail(fetcher *f, ovs_err *e, const char *what) {
    return ovs_errf(e, ovs_db_rc(f->db), "%s: %s: %s", f->db->path, what, sqlite3_errmsg(f->db->h));
}

/* Reads the next samples to do, in id order (keyset pagination: the table may be large). */
static int load_more(fetcher *f, ovs_err *e) {
    f->nqueue = f->qpos = 0;
    int64_t want = LOAD_BATCH;
    if (f->o->limit > 0 && f->o->limit - f->loaded < want) want = f->o->limit - f->loaded;
    if (want <= 0) { f->exhausted = 1; return 0; }
    sqlite3_reset(f->sel);
    sqlite3_bind_int64(f->sel, 1, f->last_id);
    sqlite3_bind_int(f->sel, 2, f->o->retries);
    sqlite3_bind_int64(f->sel, 3, want);
    int s;
    while ((s = sqlite3_step(f->sel)) == SQLITE_ROW) {
        item *it = calloc(1, sizeof *it);
        if (!it) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        it->id = sqlite3_column_int64(f->sel, 0);
        it->url = strdup((const char *)sqlite3_column_text(f->sel, 1));
        it->caption = strdup((const char *)sqlite3_column_text(f->sel, 2));
        f->queue[f->nqueue++] = it;
        f->last_id = it->id;
        if (!it->url || !it->caption) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    if (s != SQLITE_DONE) return sql_fail(f, e, "reading pending samples");
    f->loaded += f->nqueue;
    if (f->nqueue < want) f->exhausted = 1;
    return 0;
}

static void count_outcome(fetcher *f, item *it) {
    f->st->done++;
    f->st->by_reason[it->reason]++;
    f->st->download_bytes += it->bytes;
    if (it->reason != OVS_R_OK) f->shard_fail[it->reason]++;
}

static void add_fail(fetcher *f, item *it, ovs_reason why, const char *error) {
    it->reason = why;
    free(it->error);
    it->error = strdup(error ? error : "");
    it->next = f->fails;
    f->fails = it;
    f->nfails++;
    f->inpipe--;
    count_outcome(f, it);
}

static void on_http_done(void *ctx, ovs_http_done *d) {
    fetcher *f = ctx;
    item *it = d->user;
    it->http_status = d->http_status;
    it->bytes = (int64_t)(d->reason == OVS_R_OK ? d->body.len : 0);
    if (d->reason != OVS_R_OK) {
        add_fail(f, it, d->reason, d->error);
        return;
    }
    it->body = d->body;
    d->body = (ovs_buf){0};
    pool_submit(&f->pool, it);
}

static void on_image_done(fetcher *f, item *it) {
    if (it->img.reason != OVS_R_OK) {
        add_fail(f, it, it->img.reason, it->img.error);
        return;
    }
    it->reason = OVS_R_OK;
    f->inpipe--;
    count_outcome(f, it);
    f->st->stored_bytes += (int64_t)it->img.encoded.len;
    f->ok[f->nok++] = it;
}

/* Records the failures gathered so far in one transaction. */
static int flush_fails(fetcher *f, ovs_err *e) {
    f->last_flush = ovs_now();
    if (!f->nfails) return 0;
    if (ovs_db_begin(f->db, e)) return e->code;
    for (item *it = f->fails; it; it = it->next) {
        sqlite3_stmt *s = f->upd_fail;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, it->id);
        sqlite3_bind_text(s, 2, ovs_reason_retriable(it->reason) ? "retry" : "failed", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, ovs_reason_name(it->reason), -1, SQLITE_STATIC);
        if (it->http_status) sqlite3_bind_int(s, 4, it->http_status);
        else sqlite3_bind_null(s, 4);
        sqlite3_bind_text(s, 5, it->error, -1, SQLITE_STATIC);
        if (it->bytes) sqlite3_bind_int64(s, 6, it->bytes);
        else sqlite3_bind_null(s, 6);
        if (it->img.orig_width) {
            sqlite3_bind_int(s, 7, it->img.orig_width);
            sqlite3_bind_int(s, 8, it->img.orig_height);
        } else {
            sqlite3_bind_null(s, 7);
            sqlite3_bind_null(s, 8);
        }
        if (it->img.sha256[0]) sqlite3_bind_text(s, 9, it->img.sha256, -1, SQLITE_STATIC);
        else sqlite3_bind_null(s, 9);
        if (sqlite3_step(s) != SQLITE_DONE) {
            int rc = sql_fail(f, e, "recording a failure");
            ovs_db_rollback(f->db);
            return rc;
        }
    }
    if (ovs_db_commit(f->db, e)) { ovs_db_rollback(f->db); return e->code; }
    list_free(f->fails);
    f->fails = NULL;
    f->nfails = 0;
    return 0;
}

static int cmp_item_id(const void *a, const void *b) {
    int64_t x = (*(item *const *)a)->id, y = (*(item *const *)b)->id;
    return x < y ? -1 : x > y;
}

typedef struct member { char name[32]; const void *data; size_t n; } member;
static int cmp_member(const void *a, const void *b) { return strcmp(((const member *)a)->name, ((const member *)b)->name); }

static void sample_json(const item *it, const char *key, ovs_buf *js) {
    ovs_buf_reset(js);
    ovs_buf_puts(js, "{\"key\":");
    ovs_buf_json_str(js, key, strlen(key));
    ovs_buf_puts(js, ",\"url\":");
    ovs_buf_json_str(js, it->url, strlen(it->url));
    ovs_buf_puts(js, ",\"caption\":");
    ovs_buf_json_str(js, it->caption, strlen(it->caption));
    ovs_buf_printf(js, ",\"width\":%d,\"height\":%d,\"orig_width\":%d,\"orig_height\":%d,\"sha256\":\"%s\",\"status\":\"ok\"}",
                   it->img.width, it->img.height, it->img.orig_width, it->img.orig_height, it->img.sha256);
}

/* Writes the tar members of the waiting ok samples, sorted by key; offs gets each image member's
 * header offset. */
static int write_members(fetcher *f, ovs_tarw *w, int64_t *offs, ovs_err *e) {
    const char *ext = f->o->format == OVS_IMG_JPEG ? "jpg" : "webp";
    ovs_buf js = {0};
    int rc = 0;
    for (int i = 0; i < f->nok && !rc; i++) {
        item *it = f->ok[i];
        char key[24];
        snprintf(key, sizeof key, "%09lld", (long long)it->id);
        sample_json(it, key, &js);
        member m[3];
        snprintf(m[0].name, sizeof m[0].name, "%s.%s", key, ext);
        m[0].data = it->img.encoded.data, m[0].n = it->img.encoded.len;
        snprintf(m[1].name, sizeof m[1].name, "%s.txt", key);
        m[1].data = it->caption, m[1].n = strlen(it->caption);
        snprintf(m[2].name, sizeof m[2].name, "%s.json", key);
        m[2].data = js.data, m[2].n = js.len;
        qsort(m, 3, sizeof *m, cmp_member);
        for (int k = 0; k < 3 && !rc; k++) {
            int64_t off;
            rc = ovs_tarw_add(w, m[k].name, m[k].data, m[k].n, &off, e);
            if (!rc && m[k].data == it->img.encoded.data) offs[i] = off;
        }
    }
    ovs_buf_free(&js);
    return rc;
}

static void shard_stats_json(fetcher *f, int64_t img_bytes, int64_t down_bytes, ovs_buf *out) {
    ovs_buf_printf(out, "{\"ok\":%d,\"image_bytes\":%lld,\"download_bytes\":%lld,\"seconds\":%.1f,\"failed\":{",
                   f->nok, (long long)img_bytes, (long long)down_bytes, ovs_now() - f->shard_t0);
    int first = 1;
    for (int r = 1; r < OVS_R_COUNT; r++)
        if (f->shard_fail[r]) {
            ovs_buf_printf(out, "%s\"%s\":%lld", first ? "" : ",", ovs_reason_name(r), (long long)f->shard_fail[r]);
            first = 0;
        }
    ovs_buf_puts(out, "}}");
}

/* Marks the shard's samples ok and records the shard, in one transaction. */
static int record_shard(fetcher *f, const char *rel, int64_t bytes, const char *sha, const int64_t *offs, ovs_err *e) {
    int64_t img_bytes = 0, down_bytes = 0;
    for (int i = 0; i < f->nok; i++) img_bytes += (int64_t)f->ok[i]->img.encoded.len, down_bytes += f->ok[i]->bytes;
    ovs_buf stats = {0};
    shard_stats_json(f, img_bytes, down_bytes, &stats);
    char now[32];
    ovs_iso_time(now);
    if (ovs_db_begin(f->db, e)) { ovs_buf_free(&stats); return e->code; }
    sqlite3_stmt *s = f->ins_shard;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, rel, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, f->nok);
    sqlite3_bind_int64(s, 3, bytes);
    sqlite3_bind_text(s, 4, sha, -1, SQLITE_STATIC);
    if (f->db->run_id) sqlite3_bind_int64(s, 5, f->db->run_id);
    else sqlite3_bind_null(s, 5);
    sqlite3_bind_text(s, 6, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, stats.data, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(s) != SQLITE_DONE) rc = sql_fail(f, e, "recording shard");
    int64_t shard_id = sqlite3_last_insert_rowid(f->db->h);
    for (int i = 0; i < f->nok && !rc; i++) {
        const item *it = f->ok[i];
        s = f->upd_ok;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, it->id);
        sqlite3_bind_int(s, 2, it->http_status);
        sqlite3_bind_int64(s, 3, it->bytes);
        sqlite3_bind_int(s, 4, it->img.orig_width);
        sqlite3_bind_int(s, 5, it->img.orig_height);
        sqlite3_bind_int(s, 6, it->img.width);
        sqlite3_bind_int(s, 7, it->img.height);
        sqlite3_bind_text(s, 8, it->img.sha256, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 9, shard_id);
        sqlite3_bind_int64(s, 10, offs[i]);
        if (sqlite3_step(s) != SQLITE_DONE) rc = sql_fail(f, e, "marking a sample ok");
    }
    ovs_buf_free(&stats);
    if (!rc) rc = ovs_db_commit(f->db, e);
    if (rc) ovs_db_rollback(f->db);
    return rc;
}

/* Writes the waiting ok samples as the next shard and marks them done. */
static int write_shard(fetcher *f, ovs_err *e) {
    if (!f->nok) return 0;
    qsort(f->ok, (size_t)f->nok, sizeof *f->ok, cmp_item_id);
    char rel[32], path[PATH_MAX + 64];
    snprintf(rel, sizeof rel, "%06lld.tar", (long long)f->shard_no);
    snprintf(path, sizeof path, "%s/%s", f->o->out_dir, rel);
    int64_t *offs = calloc((size_t)f->nok, sizeof *offs), bytes = 0;
    char sha[65];
    ovs_tarw *w = NULL;
    if (!offs) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    int rc = ovs_tarw_open(&w, path, e);
    if (!rc && (rc = write_members(f, w, offs, e))) ovs_tarw_abort(w);
    if (!rc) rc = ovs_tarw_commit(w, &bytes, sha, e);
    /* after the rename: a crash or failure here leaves an orphan .tar the next run removes */
    if (!rc) rc = record_shard(f, rel, bytes, sha, offs, e);
    free(offs);
    if (rc) return ovs_errctx(e, "shard %s", path);
    for (int i = 0; i < f->nok; i++) item_free(f->ok[i]);
    f->nok = 0;
    f->shard_no++;
    f->st->shards++;
    memset(f->shard_fail, 0, sizeof f->shard_fail);
    f->shard_t0 = ovs_now();
    return 0;
}

/* ── start-up: the output folder and what a killed run left ──────────────────────────────── */

static int is_shard_name(const char *name, const char *suffix) {
    size_t n = strspn(name, "0123456789");
    return n >= 6 && !strcmp(name + n, suffix);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Removes NNNNNN.tar.tmp (shards in progress when a run died) and NNNNNN.tar files the database
 * does not know (renamed, but their transaction never committed); sets the next shard number. */
static int clean_out_dir(fetcher *f, ovs_err *e) {
    sqlite3_stmt *s;
    if (ovs_db_prepare(f->db, &s, "SELECT path FROM shards WHERE kind = 'raw'", e)) return e->code;
    char **known = NULL;
    size_t nknown = 0, cap = 0;
    int rc = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(s, 0);
        if (nknown == cap) {
            cap = cap ? cap * 2 : 64;
            char **nk = realloc(known, cap * sizeof *known);
            if (!nk) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); break; }
            known = nk;
        }
        known[nknown++] = strdup(p);
        const char *base = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
        if (is_shard_name(base, ".tar")) {
            int64_t no = atoll(base);
            if (no >= f->shard_no) f->shard_no = no + 1;
        }
    }
    sqlite3_finalize(s);
    if (!rc && nknown) qsort(known, nknown, sizeof *known, cmp_str); /* known may be NULL when empty */
    DIR *d = rc ? NULL : opendir(f->o->out_dir);
    if (!rc && !d) rc = ovs_errno(e, OVS_EUSER, "%s", f->o->out_dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        const char *name = de->d_name;
        int tmp = is_shard_name(name, ".tar.tmp");
        const char *np = name;
        int orphan = is_shard_name(name, ".tar") && (!nknown || !bsearch(&np, known, nknown, sizeof *known, cmp_str));
        if (!tmp && !orphan) continue;
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", f->o->out_dir, name);
        if (unlink(path)) { rc = ovs_errno(e, OVS_EUSER, "removing %s", path); break; }
        if (tmp) f->st->removed_tmp++;
        else f->st->removed_orphans++, ovs_warn("%s: removed shard not recorded in the database (a run died while committing it)", path);
    }
    if (d) closedir(d);
    for (size_t i = 0; i < nknown; i++) free(known[i]);
    free(known);
    return rc;
}

/* The database remembers the output folder of its raw shards (their paths are relative to it). */
static int check_out_dir(fetcher *f, ovs_err *e) {
    char real[PATH_MAX];
    if (!realpath(f->o->out_dir, real)) return ovs_errno(e, OVS_EUSER, "%s", f->o->out_dir);
    sqlite3_stmt *s;
    if (ovs_db_prepare(f->db, &s, "SELECT value FROM meta WHERE key = 'fetch_root'", e)) return e->code;
    int rc = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *had = (const char *)sqlite3_column_text(s, 0);
        if (strcmp(had, real))
            rc = ovs_errf(e, OVS_EUSER, "--out %s: the shards of %s are in %s (fetch continues there; use --out %s)",
                          f->o->out_dir, f->db->path, had, had);
        sqlite3_finalize(s);
        return rc;
    }
    sqlite3_finalize(s);
    if (ovs_db_prepare(f->db, &s, "INSERT INTO meta(key, value) VALUES('fetch_root', ?)", e)) return e->code;
    sqlite3_bind_text(s, 1, real, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE) rc = sql_fail(f, e, "recording the output folder");
    sqlite3_finalize(s);
    return rc;
}

static int count_todo(fetcher *f, ovs_err *e) {
    sqlite3_stmt *s;
    if (ovs_db_prepare(f->db, &s, "SELECT count(*) FROM samples WHERE state = 'pending' OR (state = 'retry' AND attempts <= ?)", e))
        return e->code;
    sqlite3_bind_int(s, 1, f->o->retries);
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : sql_fail(f, e, "counting pending samples");
    f->st->total = rc ? 0 : sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (f->o->limit > 0 && f->st->total > f->o->limit) f->st->total = f->o->limit;
    return rc;
}

static int prepare_all(fetcher *f, ovs_err *e) {
    return ovs_db_prepare(f->db, &f->sel,
                          "SELECT id, url, caption FROM samples WHERE id > ?1 AND (state = 'pending' OR"
                          " (state = 'retry' AND attempts <= ?2)) ORDER BY id LIMIT ?3", e) ||
           ovs_db_prepare(f->db, &f->upd_fail,
                          "UPDATE samples SET state = ?2, reason = ?3, http_status = ?4, attempts = attempts + 1,"
                          " last_error = ?5, bytes = ?6, orig_width = ?7, orig_height = ?8, sha256 = ?9,"
                          " width = NULL, height = NULL, shard_id = NULL, member_offset = NULL, shard_key = NULL WHERE id = ?1", e) ||
           ovs_db_prepare(f->db, &f->upd_ok,
                          "UPDATE samples SET state = 'ok', reason = 'ok', http_status = ?2, attempts = attempts + 1,"
                          " last_error = NULL, bytes = ?3, orig_width = ?4, orig_height = ?5, width = ?6, height = ?7,"
                          " sha256 = ?8, shard_id = ?9, member_offset = ?10, shard_key = NULL WHERE id = ?1", e) ||
           ovs_db_prepare(f->db, &f->ins_shard,
                          "INSERT INTO shards(kind, path, samples, bytes, sha256, run_id, created_at, stats)"
                          " VALUES('raw', ?, ?, ?, ?, ?, ?, ?)", e);
}

static void show_progress(fetcher *f, ovs_progress *pr) {
    if (!pr->enabled) return;
    double el = ovs_now() - pr->start;
    int64_t ok = f->st->by_reason[OVS_R_OK];
    char extra[160];
    snprintf(extra, sizeof extra, "ok %.1f%%  %.0f img/s  %.1f MB/s", f->st->done ? 100.0 * ok / f->st->done : 0.0,
             el > 0 ? ok / el : 0.0, el > 0 ? ovs_http_bytes(f->http) / el / 1e6 : 0.0);
    ovs_progress_update(pr, f->st->done, extra);
}

/* --threads, or one image thread per core. */
static int image_threads(const ovs_fetch_opts *o) {
    long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* The main loop: keep downloads and image threads busy, collect outcomes, cut shards. */
static int crawl(fetcher *f, ovs_err *e) {
    const ovs_fetch_opts *o = f->o;
    int backlog_cap = 4 * image_threads(o) + 32, backlog = 0, rc = 0;
    ovs_progress pr;
    ovs_progress_start(&pr, "fetch", f->st->total);
    while (!rc) {
        if (o->stop && *o->stop && !f->st->interrupted) {
            f->st->interrupted = 1;
            ovs_progress_end(&pr);
            ovs_info("fetch: interrupted: finishing the %lld downloads under way, then writing the last shard",
                     (long long)f->inpipe);
        }
        /* start downloads while there is room in the network layer and the image queue */
        while (!f->st->interrupted && ovs_http_pending(f->http) < 2 * o->workers && backlog < backlog_cap) {
            if (f->qpos == f->nqueue) {
                if (f->exhausted) break;
                if ((rc = load_more(f, e)) || !f->nqueue) break;
            }
            item *it = f->queue[f->qpos++];
            f->inpipe++;
            if ((rc = ovs_http_add(f->http, it->url, it, e))) { f->inpipe--, item_free(it); break; }
        }
        if (rc) break;
        int more = !f->st->interrupted && (f->qpos < f->nqueue || !f->exhausted);
        if (!more && f->inpipe == 0) break;
        if ((rc = ovs_http_step(f->http, 100, on_http_done, f, e))) break;
        item *it = pool_take(&f->pool, &backlog);
        while (it && !rc) {
            item *nx = it->next;
            on_image_done(f, it);
            it = nx;
            if (f->nok >= o->shard_size) rc = write_shard(f, e);
        }
        list_free(it); /* after a failed shard: dropped, still pending in the db */
        if (rc) break;
        if ((f->nfails >= FAIL_BATCH || ovs_now() - f->last_flush > 1.0) && (rc = flush_fails(f, e))) break;
        show_progress(f, &pr);
    }
    if (!rc) rc = flush_fails(f, e);
    if (!rc) rc = write_shard(f, e);
    show_progress(f, &pr);
    ovs_progress_end(&pr);
    return rc;
}

int ovs_fetch_run(ovs_db *db, const ovs_fetch_opts *o, ovs_fetch_stats *st, ovs_err *e) {
    memset(st, 0, sizeof *st);
    double t0 = ovs_now();
    fetcher *f = calloc(1, sizeof *f);
    if (!f) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    f->db = db, f->o = o, f->st = st;
    f->shard_t0 = f->last_flush = t0;
    int rc = ovs_mkdir_p(o->out_dir, e);
    if (!rc) rc = check_out_dir(f, e);
    if (!rc) rc = clean_out_dir(f, e);
    if (!rc) rc = prepare_all(f, e) ? e->code : 0;
    if (!rc) rc = count_todo(f, e);
    if (!rc && !(f->ok = calloc((size_t)o->shard_size + 1, sizeof *f->ok))) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    ovs_http_opts ho = {.max_inflight = o->workers, .per_host = o->per_host, .timeout_ms = (long)(o->timeout_s * 1000),
                        .max_bytes = o->max_bytes, .max_pixels = o->max_pixels, .user_agent = o->user_agent,
                        .allow_noai = o->allow_noai, .ca_file = o->ca_file};
    if (!rc) rc = ovs_http_new(&f->http, &ho, e);
    if (!rc) {
        rc = pool_start(&f->pool, image_threads(o), o, f->http, e);
        f->pool_started = 1;
    }
    if (!rc) rc = crawl(f, e);
    if (f->pool_started) pool_stop(&f->pool);
    ovs_http_free(f->http);
    for (int i = f->qpos; i < f->nqueue; i++) item_free(f->queue[i]);
    for (int i = 0; i < f->nok; i++) item_free(f->ok[i]);
    list_free(f->fails);
    free(f->ok);
    sqlite3_finalize(f->sel);
    sqlite3_finalize(f->upd_fail);
    sqlite3_finalize(f->upd_ok);
    sqlite3_finalize(f->ins_shard);
    free(f);
    st->seconds = ovs_now() - t0;
    return rc;
}

int ovs_fetch_stats_json(const ovs_fetch_stats *st, ovs_buf *out) {
    ovs_buf_printf(out, "{\"total\":%lld,\"done\":%lld,\"ok\":%lld,\"shards\":%lld,\"download_bytes\":%lld,"
                        "\"stored_bytes\":%lld,\"removed_tmp\":%lld,\"removed_orphans\":%lld,\"seconds\":%.2f,\"reasons\":{",
                   (long long)st->total, (long long)st->done, (long long)st->by_reason[OVS_R_OK], (long long)st->shards,
                   (long long)st->download_bytes, (long long)st->stored_bytes, (long long)st->removed_tmp,
                   (long long)st->removed_orphans, st->seconds);
    int first = 1;
    for (int r = 0; r < OVS_R_COUNT; r++)
        if (st->by_reason[r]) {
            ovs_buf_printf(out, "%s\"%s\":%lld", first ? "" : ",", ovs_reason_name(r), (long long)st->by_reason[r]);
            first = 0;
        }
    return ovs_buf_puts(out, "}}");
}
