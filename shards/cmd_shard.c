/* cmd_shard.c — `ovseg shard DB --subset NAME --out DIR`: the training shards.
 *
 * The subset's fetched samples (state ok, with a stored image) are put in a seeded random order and
 * cut into shards of --shard-size samples: DIR/train-000000.tar, ... Each sample carries its stored
 * image bytes (copied out of the raw fetch shard by samples.member_offset), caption, entity spans and
 * its first --partners-per-sample pairs with the partners' images (format: shards/shardwrite.h).
 * Each shard is committed atomically, then recorded (shards row kind='train', train_members rows)
 * in one transaction; DIR/manifest.json lists the shards at the end. A re-run with the same
 * parameters skips the shards already recorded (kill -9 safe); one with different parameters into
 * the same DIR is refused. Raw shard paths (shards.path) are relative to --raw-root (default: the
 * meta value 'fetch_root' when set, else the folder of DB). */
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "db/db.h"
#include "shards/shardwrite.h"
#include "shards/tarread.h"
#include "util/args.h"
#include "util/cli.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/rng.h"

typedef struct raw_fd { int64_t shard_id; int fd; int64_t size; char path[4200]; } raw_fd;

typedef struct shard_job {
    ovs_db *db;
    int64_t subset_id, partners;
    char raw_root[4096], out[4096];
    raw_fd cache[32];
    int next_evict;
    sqlite3_stmt *q_sample, *q_ents, *q_pairs, *q_raw;
    ovs_buf img, pimg[8], json;
    int64_t n_pairs, n_missing_pair_img, n_bad_img;
} shard_job;

/* The open raw shard with this id (cached). */
static int raw_open(shard_job *j, int64_t shard_id, raw_fd **out, ovs_err *e) {
    for (int i = 0; i < 32; i++)
        if (j->cache[i].fd > 0 && j->cache[i].shard_id == shard_id) { *out = &j->cache[i]; return 0; }
    sqlite3_reset(j->q_raw);
    sqlite3_bind_int64(j->q_raw, 1, shard_id);
    if (sqlite3_step(j->q_raw) != SQLITE_ROW) return ovs_errf(e, OVS_EUSER, "shards row %" PRId64 " missing", shard_id);
    raw_fd *r = &j->cache[j->next_evict];
    j->next_evict = (j->next_evict + 1) % 32;
    if (r->fd > 0) close(r->fd);
    r->fd = 0;
    const char *rel = (const char *)sqlite3_column_text(j->q_raw, 0);
    if (rel[0] == '/') snprintf(r->path, sizeof r->path, "%s", rel);
    else snprintf(r->path, sizeof r->path, "%s/%s", j->raw_root, rel);
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ovs_errno(e, OVS_EUSER, "%s (raw shard %" PRId64 "; see --raw-root)", r->path, shard_id);
    struct stat st;
    fstat(fd, &st);
    r->fd = fd, r->size = st.st_size, r->shard_id = shard_id;
    *out = r;
    return 0;
}

/* Reads the stored image of sample id into out; *caption (may be NULL) gets a malloc'd copy. */
static int read_sample_image(shard_job *j, int64_t id, ovs_buf *out, char **caption, ovs_err *e) {
    sqlite3_reset(j->q_sample);
    sqlite3_bind_int64(j->q_sample, 1, id);
    if (sqlite3_step(j->q_sample) != SQLITE_ROW || sqlite3_column_type(j->q_sample, 1) == SQLITE_NULL)
        return ovs_errf(e, OVS_EUSER, "sample %" PRId64 ": no stored image", id);
    int64_t shard_id = sqlite3_column_int64(j->q_sample, 1), off = sqlite3_column_int64(j->q_sample, 2);
    if (caption) *caption = strdup((const char *)sqlite3_column_text(j->q_sample, 0));
    raw_fd *r = NULL;
    int rc = raw_open(j, shard_id, &r, e);
    ovs_tar_member m;
    if (!rc) rc = ovs_tar_read_member_at(r->fd, r->path, off, r->size, &m, out, e);
    if (!rc && ovs_image_ext(out->data, out->len)[0] == 'b')
        rc = ovs_errf(e, OVS_EUSER, "%s:%s: not an image", r->path, m.name);
    if (rc && caption) { free(*caption); *caption = NULL; }
    return rc;
}

/* Builds and writes one sample; OVS_EUSER with *stop == 0: the sample is skipped (message in e);
 * *stop == 1: writing the shard failed (disk full, I/O error: OVS_EUSER; else OVS_EINTERNAL) and the run stops. */
static int write_sample(shard_job *j, ovs_tarw *w, int64_t id, int *stop, ovs_err *e) {
    *stop = 0;
    char *caption = NULL;
    int rc = read_sample_image(j, id, &j->img, &caption, e);
    if (rc) return rc;
    ovs_train_entity ents[64];
    char *names[64];
    int ne = 0;
    sqlite3_reset(j->q_ents);
    sqlite3_bind_int64(j->q_ents, 1, id);
    while (ne < 64 && sqlite3_step(j->q_ents) == SQLITE_ROW) {
        names[ne] = strdup((const char *)sqlite3_column_text(j->q_ents, 0));
        ents[ne] = (ovs_train_entity){names[ne], sqlite3_column_int(j->q_ents, 1), sqlite3_column_int(j->q_ents, 2)};
        ne++;
    }
    ovs_train_pair pairs[8];
    char *pnames[8];
    int np = 0;
    sqlite3_reset(j->q_pairs);
    sqlite3_bind_int64(j->q_pairs, 1, j->subset_id);
    sqlite3_bind_int64(j->q_pairs, 2, id);
    sqlite3_bind_int64(j->q_pairs, 3, j->partners);
    int64_t pid[8];
    while (np < 8 && np < j->partners && sqlite3_step(j->q_pairs) == SQLITE_ROW) {
        pid[np] = sqlite3_column_int64(j->q_pairs, 0);
        pnames[np] = strdup((const char *)sqlite3_column_text(j->q_pairs, 1));
        np++;
    }
    int kept = 0;
    for (int k = 0; k < np; k++) {
        ovs_err pe = {0};
        if (read_sample_image(j, pid[k], &j->pimg[kept], NULL, &pe)) {
            ovs_warn("shard: sample %" PRId64 ": partner %" PRId64 " left out: %s", id, pid[k], pe.msg);
            j->n_missing_pair_img++;
            continue;
        }
        pairs[kept] = (ovs_train_pair){pid[k], pnames[k], j->pimg[kept].data, j->pimg[kept].len};
        kept++;
    }
    j->n_pairs += kept;
    ovs_train_sample s = {id, caption, j->img.data, j->img.len, ents, ne, pairs, kept};
    rc = ovs_train_write(w, &s, &j->json, e);
    *stop = rc != 0; /* a write failure is not a bad sample */
    for (int i = 0; i < ne; i++) free(names[i]);
    for (int k = 0; k < np; k++) free(pnames[k]);
    free(caption);
    return rc;
}

/* Records shard (path relative to nothing: DIR/NAME as given) and its members in one transaction. */
static int record_shard(shard_job *j, const char *path, const int64_t *ids, int n, int64_t bytes, const char *sha,
                        const char *stats, ovs_err *e) {
    char now[32];
    ovs_iso_time(now);
    int rc = ovs_db_begin(j->db, e);
    sqlite3_stmt *st = NULL, *mt = NULL;
    if (!rc) rc = ovs_db_prepare(j->db, &st, "INSERT OR REPLACE INTO shards(kind,path,samples,bytes,sha256,run_id,"
                                             "created_at,stats) VALUES('train',?,?,?,?,?,?,?)", e);
    if (!rc) {
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, n);
        sqlite3_bind_int64(st, 3, bytes);
        sqlite3_bind_text(st, 4, sha, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, j->db->run_id);
        sqlite3_bind_text(st, 6, now, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, stats, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = ovs_errf(e, ovs_db_rc(j->db), "recording %s: %s", path, sqlite3_errmsg(j->db->h));
    }
    int64_t shard_id = sqlite3_last_insert_rowid(j->db->h);
    if (!rc) rc = ovs_db_prepare(j->db, &mt, "INSERT OR IGNORE INTO train_members(shard_id,sample_id) VALUES(?,?)", e);
    for (int i = 0; i < n && !rc; i++) {
        sqlite3_reset(mt);
        sqlite3_bind_int64(mt, 1, shard_id);
        sqlite3_bind_int64(mt, 2, ids[i]);
        if (sqlite3_step(mt) != SQLITE_DONE) rc = ovs_errf(e, ovs_db_rc(j->db), "recording members of %s: %s", path, sqlite3_errmsg(j->db->h));
    }
    sqlite3_finalize(st);
    sqlite3_finalize(mt);
    if (!rc) rc = ovs_db_commit(j->db, e);
    else ovs_db_rollback(j->db);
    return rc;
}

/* 1 when the shard at path was already written by a run with this fingerprint (fills ms). */
static int already_done(shard_job *j, const char *path, const char *fp, ovs_manifest_shard *ms, ovs_err *e) {
    sqlite3_stmt *st;
    if (ovs_db_prepare(j->db, &st, "SELECT samples, bytes, sha256, stats FROM shards WHERE path=? AND kind='train'", e))
        return -1;
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int done = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *stats = (const char *)sqlite3_column_text(st, 3);
        struct stat sb;
        if (!stats || !strstr(stats, fp)) {
            done = -1;
            ovs_errf(e, OVS_EUSER, "%s was written by a different `ovseg shard` run (other subset, seed, size or "
                                   "partners); use a new --out", path);
        } else if (!stat(path, &sb) && sb.st_size == sqlite3_column_int64(st, 1)) {
            done = 1;
            ms->samples = sqlite3_column_int64(st, 0);
            ms->bytes = sqlite3_column_int64(st, 1);
            snprintf(ms->sha256, sizeof ms->sha256, "%s", (const char *)sqlite3_column_text(st, 2));
        }
    }
    sqlite3_finalize(st);
    return done;
}

static int load_members(ovs_db *db, int64_t subset_id, int64_t **ids, int64_t *n, ovs_err *e) {
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, "SELECT s.id FROM subset_members m JOIN samples s ON s.id=m.sample_id "
                                     "WHERE m.subset_id=? AND s.state='ok' AND s.shard_id IS NOT NULL ORDER BY s.id", e);
    if (rc) return rc;
    sqlite3_bind_int64(st, 1, subset_id);
    int64_t cap = 1024;
    *ids = malloc((size_t)cap * sizeof **ids);
    *n = 0;
    int r;
    while (*ids && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            int64_t *p = realloc(*ids, (size_t)(cap *= 2) * sizeof *p);
            if (!p) { free(*ids); *ids = NULL; break; }
            *ids = p;
        }
        (*ids)[(*n)++] = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return *ids ? 0 : ovs_errf(e, OVS_EINTERNAL, "out of memory");
}

static void default_raw_root(ovs_db *db, char *out, size_t cap) {
    sqlite3_stmt *st;
    ovs_err e = {0};
    out[0] = 0;
    if (!ovs_db_prepare(db, &st, "SELECT value FROM meta WHERE key='fetch_root'", &e)) {
        if (sqlite3_step(st) == SQLITE_ROW) snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    if (!out[0]) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s", db->path);
        snprintf(out, cap, "%s", dirname(tmp));
    }
}

static int run(shard_job *j, const char *subset, int64_t shard_size, uint64_t seed, ovs_err *e) {
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(j->db, &st, "SELECT id FROM subsets WHERE name=?", e);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, subset, -1, SQLITE_STATIC);
    j->subset_id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (!j->subset_id) return ovs_errf(e, OVS_EUSER, "--subset: no subset named '%s' (see ovseg subset)", subset);
    int64_t *ids, n;
    if ((rc = load_members(j->db, j->subset_id, &ids, &n, e))) return rc;
    if (!n) { free(ids); return ovs_errf(e, OVS_EUSER, "subset '%s' has no fetched samples", subset); }
    ovs_rng r;
    ovs_rng_seed(&r, seed, 0x5348415244ULL /* "SHARD" */);
    ovs_rng_shuffle(&r, ids, (uint64_t)n, sizeof *ids);
    char fp[80];
    uint64_t h = ovs_hash64(ids, (uint64_t)n * sizeof *ids) ^ ovs_mix64((uint64_t)shard_size) ^ ovs_mix64((uint64_t)j->partners + 7);
    snprintf(fp, sizeof fp, "\"fingerprint\":\"%016" PRIx64 "\"", h);
    int nshards = (int)((n + shard_size - 1) / shard_size);
    ovs_manifest man = {.seed = seed, .shard_size = shard_size, .partners = j->partners, .nshards = 0};
    snprintf(man.subset, sizeof man.subset, "%s", subset);
    man.shards = calloc((size_t)nshards, sizeof *man.shards);
    int64_t *kept = malloc((size_t)shard_size * sizeof *kept);
    ovs_progress pr;
    ovs_progress_start(&pr, "shard", n);
    int64_t skipped = 0, resumed = 0, written = 0;
    for (int s = 0; s < nshards && !rc && man.shards && kept; s++) {
        ovs_manifest_shard *ms = &man.shards[man.nshards];
        snprintf(ms->path, sizeof ms->path, "train-%06d.tar", s);
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", j->out, ms->path);
        int64_t lo = s * shard_size, hi = lo + shard_size < n ? lo + shard_size : n;
        int done = already_done(j, path, fp, ms, e);
        if (done < 0) { rc = e->code ? e->code : OVS_EINTERNAL; break; }
        if (done) { resumed++; man.samples += ms->samples; man.nshards++; continue; }
        ovs_tarw *w;
        if ((rc = ovs_tarw_open(&w, path, e))) break;
        int nk = 0;
        for (int64_t i = lo; i < hi && !rc; i++) {
            ovs_err se = {0};
            int stop, src = write_sample(j, w, ids[i], &stop, &se);
            if (src == OVS_EUSER && !stop) {
                ovs_warn("shard: sample %" PRId64 " skipped: %s", ids[i], se.msg);
                if (++skipped >= 100 && !man.samples && !nk) { /* nothing readable: a wrong --raw-root? */
                    rc = ovs_errf(e, OVS_EUSER, "the first %" PRId64 " samples could not be read (check --raw-root, now "
                                                "%s); last: %s", skipped, j->raw_root, se.msg);
                }
            }
            else if (src) { rc = src; *e = se; }
            else kept[nk++] = ids[i];
            ovs_progress_update(&pr, i + 1, NULL);
        }
        char stats[200];
        snprintf(stats, sizeof stats, "{%s,\"shard\":%d}", fp, s);
        if (rc) { ovs_tarw_abort(w); break; }
        if (!nk) { ovs_tarw_abort(w); continue; } /* every sample skipped: no empty shard */
        if ((rc = ovs_tarw_commit(w, &ms->bytes, ms->sha256, e))) break;
        ms->samples = nk;
        rc = record_shard(j, path, kept, nk, ms->bytes, ms->sha256, stats, e);
        man.samples += nk;
        man.nshards++;
        written++;
    }
    ovs_progress_end(&pr);
    if (!rc && (!man.shards || !kept)) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!rc && !man.samples)
        rc = ovs_errf(e, OVS_EUSER, "no sample of subset '%s' could be read (check --raw-root, now %s)", subset, j->raw_root);
    if (!rc) rc = ovs_manifest_write(j->out, &man, e);
    if (!rc) {
        ovs_info("shard: %" PRId64 " samples in %d shards (%" PRId64 " written, %" PRId64 " already done), %" PRId64
                 " skipped, %" PRId64 " partner images, manifest %s/manifest.json",
                 man.samples, man.nshards, written, resumed, skipped, j->n_pairs, j->out);
        char counts[300];
        snprintf(counts, sizeof counts, "{\"samples\":%" PRId64 ",\"shards\":%d,\"written\":%" PRId64 ",\"resumed\":%" PRId64
                 ",\"skipped\":%" PRId64 ",\"pairs\":%" PRId64 ",\"pairs_missing\":%" PRId64 "}",
                 man.samples, man.nshards, written, resumed, skipped, j->n_pairs, j->n_missing_pair_img);
        rc = ovs_db_run_end(j->db, 1, counts, e);
    }
    free(kept);
    free(ids);
    ovs_manifest_free(&man);
    return rc;
}

int cmd_shard(int argc, char **argv) {
    const char *subset = NULL, *out = NULL, *raw_root = NULL;
    int64_t shard_size = 5000, partners = 1, seed = 0;
    ovs_opt opts[] = {
        {"subset", OVS_ARG_STR, &subset, "subset name (required), e.g. cc4m"},
        {"out", OVS_ARG_STR, &out, "output folder for train-NNNNNN.tar and manifest.json (required)"},
        {"shard-size", OVS_ARG_COUNT, &shard_size, "samples per shard (default 5000)"},
        {"partners-per-sample", OVS_ARG_INT, &partners, "partner images embedded per sample, 0..8 (default 1)"},
        {"seed", OVS_ARG_INT, &seed, "seed of the global sample order (default 0)"},
        {"raw-root", OVS_ARG_STR, &raw_root, "folder the raw fetch shard paths are relative to"},
        {0}};
    ovs_cmd_spec spec = {.verb = "shard", .usage = "DB --subset NAME --out DIR",
                         .summary = "Write training shards (WebDataset tar): image, caption, entity spans and partner\n"
                                    "images per sample, in a seeded random order, plus DIR/manifest.json.",
                         .opts = opts, .min_pos = 1, .max_pos = 1};
    ovs_err e = {0};
    char *pos[1];
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, 1, &np, &e);
    if (rc) return ovs_cli_finish("shard", rc, &e);
    if (!subset || !out) return ovs_cli_finish("shard", ovs_errf(&e, OVS_EUSER, "--subset and --out are required"), &e);
    if (shard_size < 1) return ovs_cli_finish("shard", ovs_errf(&e, OVS_EUSER, "--shard-size: must be >= 1"), &e);
    if (partners < 0 || partners > 8)
        return ovs_cli_finish("shard", ovs_errf(&e, OVS_EUSER, "--partners-per-sample: must be 0..8"), &e);
    ovs_db db;
    if ((rc = ovs_db_open(&db, pos[0], 0, &e))) return ovs_cli_finish("shard", rc, &e);
    shard_job *j = calloc(1, sizeof *j);
    if (!j) { ovs_db_close(&db); return ovs_cli_finish("shard", ovs_errf(&e, OVS_EINTERNAL, "out of memory"), &e); }
    j->db = &db;
    j->partners = partners;
    if (raw_root) snprintf(j->raw_root, sizeof j->raw_root, "%s", raw_root);
    else default_raw_root(&db, j->raw_root, sizeof j->raw_root);
    snprintf(j->out, sizeof j->out, "%s", out);
    rc = ovs_mkdir_p(out, &e);
    if (!rc) rc = ovs_db_run_start(&db, "shard", argc, argv, &e);
    if (!rc) rc = ovs_db_prepare(&db, &j->q_sample, "SELECT caption, shard_id, member_offset FROM samples WHERE id=?", &e);
    if (!rc) rc = ovs_db_prepare(&db, &j->q_ents, "SELECT e.name, se.start, se.end FROM sample_entities se JOIN entities e "
                                                  "ON e.id=se.entity_id WHERE se.sample_id=? ORDER BY se.start", &e);
    if (!rc) rc = ovs_db_prepare(&db, &j->q_pairs, "SELECT p.partner_id, e.name FROM pairs p JOIN entities e ON e.id=p.entity_id "
                                                   "WHERE p.subset_id=? AND p.sample_id=? ORDER BY p.k LIMIT ?", &e);
    if (!rc) rc = ovs_db_prepare(&db, &j->q_raw, "SELECT path FROM shards WHERE id=?", &e);
    if (!rc) rc = run(j, subset, shard_size, (uint64_t)seed, &e);
    if (rc && db.run_id) ovs_db_run_end(&db, 0, NULL, &(ovs_err){0});
    sqlite3_finalize(j->q_sample);
    sqlite3_finalize(j->q_ents);
    sqlite3_finalize(j->q_pairs);
    sqlite3_finalize(j->q_raw);
    for (int i = 0; i < 32; i++) if (j->cache[i].fd > 0) close(j->cache[i].fd);
    ovs_buf_free(&j->img);
    ovs_buf_free(&j->json);
    for (int i = 0; i < 8; i++) ovs_buf_free(&j->pimg[i]);
    free(j);
    ovs_db_close(&db);
    return ovs_cli_finish("shard", rc, &e);
}
