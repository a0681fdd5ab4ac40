/* test_dist_train.c — data-parallel training (train/dist.h, the model's collectives) against one
 * process on the same samples. `mpirun -np 2` of this binary, B samples per rank, must give what one
 * process gives with the 2B samples in rank order (rank 0's then rank 1's):
 *   - one step, stage 1 and stage 2 (drop-path on, Gumbel noise from the rng): the losses and the
 *     whole gradient (summed over ranks) within 1e-4 relative, the BatchNorm buffers within 1e-4,
 *     the rng state identical; each gradient tensor within 1e-4 relative or, where float32 rounding
 *     is amplified (cancelling bias-like sums), within 4x float32's own noise on that tensor
 *     (measured: the one-process step with its images moved by one ulp, and with the batch halves
 *     swapped); both ranks hold the same summed gradient, bit for bit;
 *   - the training loop (train.c: gradient sum, clipping, AdamW, the stage-2 EMA, rank 0 writing
 *     metrics and checkpoints): the loss columns of metrics.tsv within 1e-4 relative over 4 steps;
 *   - a 2-rank run stopped after step 2 and resumed gives metrics.tsv byte for byte as the straight
 *     2-rank run, and the same checkpoint (every rank's cursor is in it, joined by '|').
 * The ranks are real processes over loopback TCP; skipped when built without MPI. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "train/dist.h"
#include "train/stage2.h"
#include "train/train.h"
#include "util/fsutil.h"

enum { BL = 3, W = 2, BG = BL * W, STEPS = 4 };

static void small_cfg(ovs_config *c) {
    ovs_err e = {0};
    ovs_config_load(c, "tiny", &e);
    const char *kv[] = {"img_size=32", "patch=8", "width=64", "heads=2", "depth0=1", "depth1=1", "groups_in=8",
                        "groups_out=4", "text_width=64", "text_heads=2", "text_layers=1", "text_ff=128",
                        "proj_hidden=128", "proj_out=32", "mem_heads=2", "text_len=10", "vocab=200", "drop_path=0.2"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) ovs_config_set(c, kv[i], &e);
}

/* ── a deterministic global batch k, and a rank's slice of it ─────────────────────────────── */

typedef struct gbatch {
    float img[BG * 3 * 32 * 32], img2[BG * 3 * 32 * 32];
    int32_t ids[6][BG * 10];   /* ids, mask, q_ids, q_mask, a_ids, a_mask ... */
    int32_t e_ids[BG * 10], e_mask[BG * 10];
} gbatch;

static void make_batch(gbatch *g, int64_t k) {
    ovs_rng r;
    ovs_rng_seed(&r, 1234 + (uint64_t)k, 99);
    for (int i = 0; i < BG * 3 * 32 * 32; i++) g->img[i] = (float)ovs_rng_normal(&r), g->img2[i] = (float)ovs_rng_normal(&r);
    int32_t *id[4] = {g->ids[0], g->ids[2], g->ids[4], g->e_ids}, *mk[4] = {g->ids[1], g->ids[3], g->ids[5], g->e_mask};
    for (int t = 0; t < 4; t++)
        for (int b = 0; b < BG; b++) {
            int len = 3 + (int)ovs_rng_below(&r, 8);
            for (int j = 0; j < 10; j++) {
                id[t][b * 10 + j] = j == 0 ? 101 % 200 : j < len ? 1 + (int32_t)ovs_rng_below(&r, 199) : 0;
                mk[t][b * 10 + j] = j < len;
            }
        }
}

static ovs_batch slice(gbatch *g, int rank, int B) {
    size_t im = (size_t)rank * B * 3 * 32 * 32, tk = (size_t)rank * B * 10;
    return (ovs_batch){.B = B, .S = 32, .L = 10, .img = g->img + im, .img2 = g->img2 + im,
                       .ids = g->ids[0] + tk, .mask = g->ids[1] + tk, .q_ids = g->ids[2] + tk, .q_mask = g->ids[3] + tk,
                       .a_ids = g->ids[4] + tk, .a_mask = g->ids[5] + tk, .e_ids = g->e_ids + tk, .e_mask = g->e_mask + tk};
}

/* ── a model (stage 1 or 2) as the training loop sees it ──────────────────────────────────── */

typedef struct net {
    ovs_model *m;
    ovs_stage2 *s2;
    ovs_trainee tr;
} net;

static int model_step(void *ctx, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e) {
    return ovs_model_step(ctx, b, rng, out, e);
}

static int net_make(net *n, int stage, int B, ovs_dist *d, ovs_err *e) {
    memset(n, 0, sizeof *n);
    ovs_config c;
    small_cfg(&c);
    int rc = ovs_model_create(&n->m, &c, B, 11, e);
    if (!rc && d) {
        ovs_collective coll;
        ovs_dist_collective(d, &coll);
        rc = ovs_model_set_collective(n->m, &coll, e);
    }
    if (rc) return rc;
    int nt;
    const ovs_param *tab = ovs_model_table(n->m, &nt);
    n->tr = (ovs_trainee){.ctx = n->m, .params = ovs_model_params(n->m), .grads = ovs_model_grads(n->m),
                          .numel = ovs_model_numel(n->m), .table = tab, .n = nt, .cfg = ovs_model_config(n->m),
                          .step = model_step};
    if (stage == 2) {
        if ((rc = ovs_stage2_create(&n->s2, n->m, e))) return rc;
        float *mom = ovs_stage2_momentum(n->s2); /* a momentum encoder that differs from the online one */
        for (size_t i = 0; i < n->tr.numel; i++) mom[i] *= 1.0f + 0.05f * sinf((float)i);
        n->tr.ctx = n->s2, n->tr.step = ovs_stage2_step, n->tr.after_update = ovs_stage2_after_update;
        n->tr.extra[0] = ovs_stage2_part(n->s2), n->tr.nextra = 1;
    }
    return 0;
}

static void net_free(net *n) { ovs_stage2_free(n->s2); ovs_model_free(n->m); }

/* ── the synthetic source: batch k's slice for this rank ──────────────────────────────────── */

typedef struct src { int rank, B; int64_t k; gbatch *g; ovs_batch b; } src;

static int src_next(void *ctx, const ovs_batch **b, int64_t *epoch, ovs_err *e) {
    (void)e;
    src *s = ctx;
    make_batch(s->g, s->k++);
    s->b = slice(s->g, s->rank, s->B);
    *b = &s->b, *epoch = 0;
    return 0;
}
static int src_save(void *ctx, ovs_buf *out, ovs_err *e) {
    (void)e;
    src *s = ctx;
    return ovs_buf_printf(out, "k=%lld rank=%d", (long long)s->k, s->rank);
}
static int src_restore(void *ctx, const char *cur, ovs_err *e) {
    src *s = ctx;
    /* every rank's cursor, joined by '|': this rank's is its own */
    const char *p = cur;
    for (int r = 0; r < s->rank && p; r++) p = strchr(p, '|'), p = p ? p + 1 : NULL;
    long long k;
    int rk;
    if (!p || sscanf(p, "k=%lld rank=%d", &k, &rk) != 2 || rk != s->rank)
        return ovs_errf(e, OVS_EUSER, "synthetic source: rank %d: bad cursor '%s'", s->rank, cur);
    s->k = k;
    return 0;
}

/* rank 1 after its first update (stage 1): one parameter moves, as if the gradient sum had given it
 * other bits */
static int drift_once(void *ctx, ovs_err *e) {
    (void)e;
    static int done;
    if (!done++) ovs_model_params(ctx)[0] += 1e-3f;
    return 0;
}

static int train_loop(int stage, const char *rundir, int resume, int stop_after, ovs_dist *d, ovs_err *e) {
    int rank = d ? d->rank : 0, B = d ? BL : BG;
    net n;
    int rc = net_make(&n, stage, B, d, e);
    gbatch *g = calloc(1, sizeof *g);
    src s = {.rank = rank, .B = B, .g = g};
    ovs_source so = {.ctx = &s, .next = src_next, .save = src_save, .restore = src_restore};
    ovs_train_cfg cfg;
    ovs_train_defaults(&cfg, "tiny", stage);
    cfg.batch = BG, cfg.steps = STEPS, cfg.warmup_steps = 1, cfg.ckpt_every = 2, cfg.lr = 1e-3, cfg.seed = 5;
    ovs_train_opts o = {.rundir = rundir, .resume = resume, .stop_after = stop_after, .quiet = 1, .dist = d};
    if (!rc && stage == 1 && rank == 1 && getenv("OVS_DIST_DRIFT")) n.tr.after_update = drift_once;
    if (!rc) rc = ovs_train_run(&cfg, &n.tr, &so, &o, e);
    net_free(&n);
    free(g);
    return rc;
}

/* ── the child: one rank of `mpirun -np 2` ───────────────────────────────────────────────── */

static int write_floats(const char *path, const float *a, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(a, sizeof(float), n, f);
    return fclose(f) || w != n ? -1 : 0;
}

/* One step on this rank's slice; writes losses, summed gradients, parameters and the rng state. */
static int child_step(ovs_dist *d, int stage, const char *dir, ovs_err *e) {
    net n;
    int rc = net_make(&n, stage, BL, d, e);
    gbatch *g = calloc(1, sizeof *g);
    make_batch(g, 0);
    ovs_batch b = slice(g, d->rank, BL);
    ovs_rng rng;
    ovs_rng_seed(&rng, 8, 9);
    ovs_losses l = {0};
    /* stage 1: the sum after the step, in small buckets (many rounds); stage 2: overlapped with the
     * backward as the training loop does it */
    if (stage == 2) ovs_dist_grads_begin(d, n.tr.grads, n.tr.numel);
    if (!rc) rc = n.tr.step(n.tr.ctx, &b, &rng, &l, e);
    if (!rc && stage == 2) {
        int early = d->nreq;
        rc = ovs_dist_grads_end(d, e);
        if (!rc && early < 3) rc = ovs_errf(e, OVS_EINTERNAL, "only %d sums started during the backward", early);
    }
    if (!rc && stage == 1) rc = ovs_dist_allreduce_grads(d, n.tr.grads, n.tr.numel, 1000, e);
    char path[600];
    float v[4 + 8] = {l.total, l.contrastive, l.entity, l.mask};
    memcpy(v + 4, rng.s, sizeof rng.s);
    snprintf(path, sizeof path, "%s/s%d-r%d-loss", dir, stage, d->rank);
    if (!rc && write_floats(path, v, 12)) rc = ovs_errf(e, OVS_EINTERNAL, "%s: cannot write", path);
    snprintf(path, sizeof path, "%s/s%d-r%d-grads", dir, stage, d->rank);
    if (!rc && write_floats(path, n.tr.grads, n.tr.numel)) rc = ovs_errf(e, OVS_EINTERNAL, "%s: cannot write", path);
    snprintf(path, sizeof path, "%s/s%d-r%d-params", dir, stage, d->rank);
    if (!rc && write_floats(path, n.tr.params, n.tr.numel)) rc = ovs_errf(e, OVS_EINTERNAL, "%s: cannot write", path);
    if (getenv("VERBOSE")) {
        const char *acts[] = {"image_x", "assign_hard", "assign_raw", "text_proj", "img_proj", "bridge_out", "mec_answer", "a_proj"};
        for (int i = 0; i < 8; i++) {
            size_t k;
            const float *a = ovs_model_activation(n.m, acts[i], &k);
            snprintf(path, sizeof path, "%s/s%d-r%d-act-%s", dir, stage, d->rank, acts[i]);
            write_floats(path, a, k);
        }
    }
    net_free(&n);
    free(g);
    return rc;
}

static int child_main(void) {
    ovs_dist d;
    ovs_err e = {0};
    int rc = ovs_dist_init(&d, &e);
    const char *mode = getenv("OVS_DIST_CHILD"), *dir = getenv("OVS_DIST_DIR");
    if (!rc && !strcmp(mode, "step")) {
        rc = child_step(&d, 1, dir, &e);
        if (!rc) rc = child_step(&d, 2, dir, &e);
    } else if (!rc && !strcmp(mode, "loop")) {
        int stage = atoi(getenv("OVS_DIST_STAGE")), stop = atoi(getenv("OVS_DIST_STOP")), resume = stop < 0;
        rc = train_loop(stage, dir, resume, stop > 0 ? stop : 0, &d, &e);
    }
    if (rc) fprintf(stderr, "rank %d: %s\n", d.rank, e.msg);
    ovs_dist_finalize(&d);
    return rc ? 1 : 0;
}

/* ── the parent ──────────────────────────────────────────────────────────────────────────── */

static int have_mpi(void) {
    if (ovs_dist_have_mpi() && !system("command -v mpirun >/dev/null 2>&1")) return 1;
    printf("  (built without MPI or no mpirun: skipped)\n");
    return 0;
}

static int mpirun(const char *env, const char *log) {
    char cmd[2000];
    snprintf(cmd, sizeof cmd,
             "%s OMP_NUM_THREADS=1 " CHECK_MPIRUN " -np %d /proc/%d/exe > '%s' 2>&1",
             env, W, (int)getpid(), log);
    int rc = system(cmd);
    if (rc) {
        char *out = NULL;
        size_t n;
        if (!ovs_read_file(log, &out, &n, NULL)) fprintf(stderr, "%.*s\n", (int)(n > 3000 ? 3000 : n), out);
        free(out);
    }
    return rc;
}

static float *read_floats(const char *path, size_t n) {
    char *data = NULL;
    size_t len = 0;
    if (ovs_read_file(path, &data, &len, NULL) || len != n * sizeof(float)) { free(data); return NULL; }
    return (float *)data;
}

static double rel(const float *a, const float *b, size_t n) {
    double dmax = 0, bmax = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > dmax) dmax = d;
        if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    }
    return bmax > 0 ? dmax / bmax : dmax;
}

static const char *step_dir(void) {
    static int done = -1;
    if (done < 0) {
        char env[800];
        snprintf(env, sizeof env, "OVS_DIST_CHILD=step OVS_DIST_DIR='%s'", check_tmpdir());
        done = mpirun(env, check_path("step.log"));
    }
    return done == 0 ? check_tmpdir() : NULL;
}

/* float32's own noise on each gradient tensor: the largest difference to the one-process step of
 * (a, stage 1) one process on the same 2B samples with the two halves swapped (the same Gumbel noise
 * and drop-path factors, injected, follow their samples) and (b) the one-process step with the
 * images moved by one ulp. */
static float *noise_floor(int stage, const float *G_ref, size_t N) {
    ovs_config c;
    small_cfg(&c);
    int K = c.groups_out, Pn = (c.img_size / c.patch) * (c.img_size / c.patch), nb = c.depth0 + c.depth1;
    size_t per = (size_t)K * Pn;
    float *gum = malloc(sizeof(float) * BG * per), *drop = malloc(sizeof(float) * nb * BG);
    float *gs = malloc(sizeof(float) * BG * per), *ds = malloc(sizeof(float) * nb * BG);
    ovs_rng rng;
    ovs_rng_seed(&rng, 8, 9); /* the draws of ovs_model_step: Gumbel noise, then drop-path */
    for (size_t i = 0; i < BG * per; i++) gum[i] = ovs_rng_gumbel(&rng);
    for (int i = 0; i < nb; i++) {
        float rate = nb > 1 ? c.drop_path * (float)i / (float)(nb - 1) : 0.0f, keep = 1.0f - rate;
        for (int b = 0; b < BG; b++) drop[i * BG + b] = floorf(keep + ovs_rng_float(&rng)) / keep;
    }
    gbatch *g = calloc(1, sizeof *g), *h = calloc(1, sizeof *h);
    make_batch(g, 0);
    /* halves swapped: sample b of h is sample (b + BL) % BG of g */
    size_t im = 3 * 32 * 32;
    for (int b = 0; b < BG; b++) {
        int from = (b + BL) % BG;
        memcpy(h->img + b * im, g->img + from * im, im * sizeof(float));
        memcpy(h->img2 + b * im, g->img2 + from * im, im * sizeof(float));
        for (int t = 0; t < 6; t++) memcpy(h->ids[t] + b * 10, g->ids[t] + from * 10, 10 * sizeof(int32_t));
        memcpy(h->e_ids + b * 10, g->e_ids + from * 10, 10 * sizeof(int32_t));
        memcpy(h->e_mask + b * 10, g->e_mask + from * 10, 10 * sizeof(int32_t));
        memcpy(gs + b * per, gum + from * per, per * sizeof(float));
        for (int i = 0; i < nb; i++) ds[i * BG + b] = drop[i * BG + from];
    }
    net n;
    ovs_err e = {0};
    float *floor_ = calloc(N, sizeof(float));
    int ok = floor_ != NULL;
    if (ok && stage == 1 && !net_make(&n, 1, BG, NULL, &e)) { /* stage 2's momentum drop-path cannot be injected */
        ovs_model_set_gumbel(n.m, gs, BG * per);
        ovs_model_set_droppath(n.m, ds, (size_t)nb * BG);
        ovs_batch b = slice(h, 0, BG);
        ovs_losses l;
        ok = !n.tr.step(n.tr.ctx, &b, &rng, &l, &e);
        for (size_t i = 0; ok && i < N; i++) floor_[i] = fabsf(n.tr.grads[i] - G_ref[i]);
        net_free(&n);
    }
    /* and the one-process step with every pixel moved by one float32 ulp: the model's forward
     * depends on the batch size at that level by itself (the image path's products have other
     * shapes: 1e-7 relative on the image features, B=3 vs the first half of B=6, one process) */
    for (size_t i = 0; i < sizeof g->img / sizeof(float); i++) {
        g->img[i] = nextafterf(g->img[i], (i * 2654435761u) & 1 ? INFINITY : -INFINITY);
        g->img2[i] = nextafterf(g->img2[i], (i * 2654435761u) & 2 ? INFINITY : -INFINITY);
    }
    if (ok && !net_make(&n, stage, BG, NULL, &e)) {
        ovs_batch b = slice(g, 0, BG);
        ovs_losses l;
        ovs_rng_seed(&rng, 8, 9);
        ok = !n.tr.step(n.tr.ctx, &b, &rng, &l, &e);
        for (size_t i = 0; ok && i < N; i++) floor_[i] = fmaxf(floor_[i], fabsf(n.tr.grads[i] - G_ref[i]));
        net_free(&n);
    }
    if (!ok) free(floor_), floor_ = NULL;
    free(gum), free(drop), free(gs), free(ds), free(g), free(h);
    return floor_;
}

static void check_step(int stage) {
    const char *dir = step_dir();
    CHECK_MSG(dir, "mpirun -np 2 (step) failed");
    if (!dir) return;
    net n;
    ovs_err e = {0};
    CHECK_OK(net_make(&n, stage, BG, NULL, &e), &e);
    gbatch *g = calloc(1, sizeof *g);
    make_batch(g, 0);
    ovs_batch b = slice(g, 0, BG);
    ovs_rng rng;
    ovs_rng_seed(&rng, 8, 9);
    ovs_losses l = {0};
    CHECK_OK(n.tr.step(n.tr.ctx, &b, &rng, &l, &e), &e);
    size_t N = n.tr.numel;
    char path[600];
    float *got[W][3];
    const char *what[3] = {"loss", "grads", "params"};
    for (int r = 0; r < W; r++)
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/s%d-r%d-%s", dir, stage, r, what[k]);
            got[r][k] = read_floats(path, k ? N : 12);
            CHECK_MSG(got[r][k], "%s: missing or wrong size", path);
        }
    if (check_failed_now) goto out;
    /* losses (the mask loss of stage 2 is a sum over samples: the sum over ranks) */
    float want[4] = {l.total, l.contrastive, l.entity, l.mask};
    const char *lname[4] = {"total", "contrastive", "entity", "mask"};
    for (int i = 0; i < 4; i++) {
        double d = fabs((double)got[0][0][i] - want[i]) / (fabs(want[i]) > 1e-12 ? fabs(want[i]) : 1.0);
        CHECK_MSG(d <= 1e-4, "stage %d %s loss: 2 ranks %.9g, 1 process %.9g (rel %.3g)", stage, lname[i], got[0][0][i], want[i], d);
        CHECK_MSG(!memcmp(&got[0][0][i], &got[1][0][i], 4), "stage %d %s loss differs between the ranks", stage, lname[i]);
    }
    CHECK_MSG(stage == 1 || want[3] > 0, "stage 2: no mask loss");
    CHECK_MSG(!memcmp(got[0][0] + 4, rng.s, sizeof rng.s) && !memcmp(got[1][0] + 4, rng.s, sizeof rng.s),
              "stage %d: the rng state after the step differs from one process's", stage);
    CHECK_MSG(!memcmp(got[0][1], got[1][1], N * sizeof(float)), "stage %d: the summed gradients differ between ranks", stage);
    /* every gradient, and the parameters (BatchNorm running statistics moved by the step) */
    int nt;
    const ovs_param *tab = ovs_model_table(n.m, &nt);
    const float *G = ovs_model_grads(n.m), *P = ovs_model_params(n.m);
    /* the whole gradient: max-abs difference over max-abs value <= 1e-4; per tensor, as a guard
     * against a localised bug: <= 1e-3 relative (float32 noise, amplified by cancelling sums such as
     * bias gradients, reaches a few 1e-4 in a handful of small tensors), and a tensor whose
     * gradient is ~0 in exact arithmetic (below 1e-4 of the largest) within 1e-4 of the largest */
    double gmax = 0, dall = 0, worst = 0;
    for (size_t i = 0; i < N; i++) {
        gmax = fabs(G[i]) > gmax ? fabs(G[i]) : gmax;
        dall = fmax(dall, fabs((double)got[0][1][i] - G[i]));
    }
    CHECK_MSG(dall <= 1e-4 * gmax, "stage %d: gradient relative error %.3g", stage, dall / gmax);
    int nzero = 0, ngrad = 0, nabove = 0;
    double ratio = 0; /* of the errors above 1e-4 to float32's noise */
    float *fl = noise_floor(stage, G, N);
    CHECK_MSG(fl, "stage %d: the noise-floor steps failed", stage);
    for (int t = 0; t < nt; t++) {
        const float *a = got[0][1] + tab[t].offset, *w = G + tab[t].offset;
        double r = rel(a, w, tab[t].numel), dmax = 0, wmax = 0;
        for (size_t i = 0; i < tab[t].numel; i++) {
            dmax = fmax(dmax, fabs((double)a[i] - w[i]));
            wmax = fmax(wmax, fabs(w[i]));
        }
        if (wmax == 0 && dmax == 0) continue;
        ngrad++;
        if (getenv("VERBOSE")) printf("  %-70s rel %.3g  max %.3g  absdiff %.3g\n", tab[t].name, r, wmax, dmax);
        if (wmax < 1e-4 * gmax) {
            nzero++;
            CHECK_MSG(dmax <= 1e-4 * gmax, "stage %d grad %s: abs error %.3g (largest grad %.3g)", stage, tab[t].name, dmax, gmax);
            continue;
        }
        worst = fmax(worst, r);
        nabove += r > 1e-4;
        CHECK_MSG(r <= 1e-3, "stage %d grad %s: relative error %.3g", stage, tab[t].name, r);
        if (fl && r > 1e-4) { /* above 1e-4 only within 4x float32's own noise on that tensor */
            double f = 0;
            for (size_t i = 0; i < tab[t].numel; i++) f = fmax(f, fl[tab[t].offset + i]);
            ratio = fmax(ratio, dmax / fmax(f, 1e-30));
            CHECK_MSG(dmax <= 4 * f, "stage %d grad %s: relative error %.3g, abs %.3g; float32 noise %.3g", stage, tab[t].name, r, dmax, f);
            if (getenv("VERBOSE")) printf("  floor %-64s abs %.3g noise %.3g\n", tab[t].name, dmax, f);
        }
        double pr = rel(got[0][2] + tab[t].offset, P + tab[t].offset, tab[t].numel);
        CHECK_MSG(pr <= 1e-4, "stage %d param %s after the step: relative error %.3g", stage, tab[t].name, pr);
    }
    for (int t = 0; t < nt; t++) /* BatchNorm buffers (no gradient) */
        if (!tab[t].trainable && strstr(tab[t].name, "running_")) {
            double pr = rel(got[0][2] + tab[t].offset, P + tab[t].offset, tab[t].numel);
            CHECK_MSG(pr <= 1e-4, "stage %d buffer %s: relative error %.3g", stage, tab[t].name, pr);
        }
    if (getenv("VERBOSE")) {
        const char *acts[] = {"image_x", "assign_hard", "assign_raw", "text_proj", "img_proj", "bridge_out", "mec_answer", "a_proj"};
        for (int i = 0; i < 8; i++) {
            size_t k;
            const float *a = ovs_model_activation(n.m, acts[i], &k);
            snprintf(path, sizeof path, "%s/s%d-r0-act-%s", dir, stage, acts[i]);
            float *x = read_floats(path, k / 2);
            if (x) printf("  act %s: rel %.3g\n", acts[i], rel(x, a, k / 2));
            free(x);
        }
    }
    printf("  stage %d: losses rel <= 1e-4; gradient rel error %.3g; %d tensors: worst %.3g, %d above 1e-4 (at most %.2fx "
           "float32's own noise on them); %d ~0 ones compared absolutely\n", stage, dall / gmax, ngrad, worst, nabove, ratio, nzero);
    free(fl);
out:
    for (int r = 0; r < W; r++)
        for (int k = 0; k < 3; k++) free(got[r][k]);
    free(g);
    net_free(&n);
}

TEST(dist_two_ranks_step_equals_one_process_stage1) {
    if (have_mpi()) check_step(1);
}
TEST(dist_two_ranks_step_equals_one_process_stage2) {
    if (have_mpi()) check_step(2);
}

static char *metrics(const char *run, int cols) { /* the first `cols` columns of metrics.tsv */
    char path[600], *data = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/metrics.tsv", run);
    if (ovs_read_file(path, &data, &n, NULL)) return NULL;
    ovs_buf out = {0};
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        char *p = line;
        for (int c = 0; c < cols && p; c++) p = strchr(p + (c > 0), '\t');
        if (p) *p = 0;
        ovs_buf_printf(&out, "%s\n", line);
    }
    free(data);
    return out.data;
}

static int loop_run(int stage, const char *name, int stop) {
    char env[900];
    snprintf(env, sizeof env, "OVS_DIST_CHILD=loop OVS_DIST_STAGE=%d OVS_DIST_STOP=%d OVS_DIST_DIR='%s'", stage, stop,
             check_path(name));
    char log[600];
    snprintf(log, sizeof log, "%s.log", check_path(name));
    return mpirun(env, log);
}

static void check_loop(int stage) {
    char straight[64], ref[64], part[64];
    snprintf(straight, sizeof straight, "loop%d", stage);
    snprintf(ref, sizeof ref, "ref%d", stage);
    snprintf(part, sizeof part, "part%d", stage);
    CHECK_MSG(loop_run(stage, straight, 0) == 0, "stage %d: 2-rank training loop failed", stage);
    ovs_err e = {0};
    CHECK_OK(train_loop(stage, check_path(ref), 0, 0, NULL, &e), &e);
    char *a = metrics(check_path(straight), 7), *b = metrics(check_path(ref), 7);
    CHECK(a && b);
    if (!a || !b) { free(a), free(b); return; }
    /* row by row: step, epoch, lr equal; total, contrastive, entity, mask within 1e-4 */
    char *sa, *sb, *la = strtok_r(a, "\n", &sa), *lb = strtok_r(b, "\n", &sb);
    int rows = 0;
    for (la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb); la && lb;
         la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb), rows++) {
        double x[7], y[7];
        CHECK(sscanf(la, "%lf %lf %lf %lf %lf %lf %lf", &x[0], &x[1], &x[2], &x[3], &x[4], &x[5], &x[6]) == 7);
        CHECK(sscanf(lb, "%lf %lf %lf %lf %lf %lf %lf", &y[0], &y[1], &y[2], &y[3], &y[4], &y[5], &y[6]) == 7);
        CHECK_MSG(x[0] == y[0] && x[2] == y[2], "stage %d row %d: step/lr differ: '%s' vs '%s'", stage, rows, la, lb);
        for (int i = 3; i < 7; i++)
            CHECK_MSG(fabs(x[i] - y[i]) <= 1e-4 * fmax(fabs(y[i]), 1e-6), "stage %d step %g column %d: 2 ranks %.9g, 1 process %.9g",
                      stage, y[0], i, x[i], y[i]);
    }
    CHECK_MSG(rows == STEPS && !la && !lb, "stage %d: %d rows", stage, rows);
    free(a), free(b);
    /* stopped after 2 steps (with a checkpoint), resumed: byte for byte the straight 2-rank run */
    CHECK_MSG(loop_run(stage, part, 2) == 0, "stage %d: 2-rank run with stop-after failed", stage);
    CHECK_MSG(loop_run(stage, part, -1) == 0, "stage %d: 2-rank resume failed", stage);
    a = metrics(check_path(straight), 7), b = metrics(check_path(part), 7);
    CHECK_MSG(a && b && !strcmp(a, b), "stage %d: resumed metrics differ:\n%s\nvs straight:\n%s", stage, b ? b : "", a ? a : "");
    free(a), free(b);
    char p1[700], p2[700], *d1 = NULL, *d2 = NULL;
    size_t n1 = 0, n2 = 0;
    snprintf(p1, sizeof p1, "%s/ckpt-%08d.safetensors", check_path(straight), STEPS);
    snprintf(p2, sizeof p2, "%s/ckpt-%08d.safetensors", check_path(part), STEPS);
    CHECK(!ovs_read_file(p1, &d1, &n1, NULL) && !ovs_read_file(p2, &d2, &n2, NULL));
    CHECK_MSG(d1 && d2 && n1 == n2 && !memcmp(d1, d2, n1), "stage %d: ckpt-%d differs after the resume", stage, STEPS);
    free(d1), free(d2);
    snprintf(p1, sizeof p1, "%s/state-%08d.safetensors", check_path(straight), 2);
    CHECK(!ovs_read_file(p1, &d1, &n1, NULL));
    CHECK_MSG(d1 && memmem(d1, n1, "k=2 rank=0|k=2 rank=1", 21), "stage %d: state-2 lacks both ranks' cursors", stage);
    free(d1);
}

TEST(dist_two_ranks_training_loop_equals_one_process_and_resumes_stage1) {
    if (have_mpi()) check_loop(1);
}
TEST(dist_two_ranks_training_loop_equals_one_process_and_resumes_stage2) {
    if (have_mpi()) check_loop(2);
}

TEST(dist_a_rank_that_drifted_gets_rank0_state_at_the_checkpoint) {
    if (!have_mpi()) return;
    char env[900], log[700];
    snprintf(env, sizeof env, "OVS_DIST_DRIFT=1 OVS_DIST_CHILD=loop OVS_DIST_STAGE=1 OVS_DIST_STOP=0 OVS_DIST_DIR='%s'",
             check_path("drifted"));
    snprintf(log, sizeof log, "%s.log", check_path("drifted"));
    CHECK_MSG(mpirun(env, log) == 0, "the drifted run failed");
    char *out = NULL;
    size_t n = 0;
    CHECK(!ovs_read_file(log, &out, &n, NULL));
    const char *w = out ? strstr(out, "step 2: rank 1's parameters differ from rank 0's") : NULL;
    CHECK_MSG(w, "no warning at the step-2 checkpoint: %s", out ? out : "");
    CHECK_MSG(w && !strstr(w + 60, "parameters differ"), "the ranks still differ at step 4 (rank 0's state was not broadcast)");
    free(out);
}

int main(void) {
    if (getenv("OVS_DIST_CHILD")) return child_main();
    RUN(dist_two_ranks_step_equals_one_process_stage1);
    RUN(dist_two_ranks_step_equals_one_process_stage2);
    RUN(dist_two_ranks_training_loop_equals_one_process_and_resumes_stage1);
    RUN(dist_two_ranks_training_loop_equals_one_process_and_resumes_stage2);
    RUN(dist_a_rank_that_drifted_gets_rank0_state_at_the_checkpoint);
    return check_done();
}
