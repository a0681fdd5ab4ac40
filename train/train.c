/* train.c — the training loop, its recipe (presets and key=value overrides), metrics.tsv, and the
 * checkpoint/resume protocol. See train.h. */
#include "train/train.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/adamw.h"
#include "train/dist.h"
#include "train/safetensors.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"

/* ── the recipe ──────────────────────────────────────────────────────────────────────────────── */

void ovs_train_defaults(ovs_train_cfg *c, const char *config_name, int stage) {
    memset(c, 0, sizeof *c);
    c->stage = stage == 2 ? 2 : 1;
    c->weight_decay = 0.05, c->clip = 5.0, c->seed = 0;
    c->warmup_steps = -1, c->keep = 3, c->ckpt_every = 1000;
    if (config_name && !strcmp(config_name, "paper")) {
        /* configs/ovsegmentor/ stage 1 and 2 yml files: 8 GPUs × 256 (stage 1) or × 128 (stage 2) */
        c->lr_scaling = 1;
        if (c->stage == 1) c->batch = 2048, c->epochs = 30, c->warmup_epochs = 2, c->lr = 6.4e-4, c->warmup_lr = 1.6e-5, c->min_lr = 1.6e-4;
        else c->batch = 1024, c->epochs = 10, c->warmup_epochs = 0, c->lr = 1e-5, c->warmup_lr = 4e-6, c->min_lr = 1e-6;
    } else {
        /* small CPU runs: learning rates as given, a short warmup */
        c->lr_scaling = 0, c->batch = 32, c->epochs = 10, c->warmup_epochs = 1;
        if (c->stage == 1) c->lr = 1e-3, c->warmup_lr = 1e-5, c->min_lr = 1e-5;
        else c->lr = 1e-4, c->warmup_lr = 1e-5, c->min_lr = 1e-6, c->warmup_epochs = 0;
    }
}

typedef enum { K_INT, K_I64, K_U64, K_DBL } ktype;
#define KEY(n, t) {#n, t, offsetof(ovs_train_cfg, n)}
static const struct { const char *name; ktype type; size_t off; } KEYS[] = {
    KEY(stage, K_INT), KEY(batch, K_INT), KEY(steps, K_I64), KEY(epochs, K_DBL), KEY(lr, K_DBL),
    KEY(warmup_lr, K_DBL), KEY(min_lr, K_DBL), KEY(lr_scaling, K_INT), KEY(warmup_steps, K_I64),
    KEY(warmup_epochs, K_DBL), KEY(weight_decay, K_DBL), KEY(clip, K_DBL), KEY(seed, K_U64),
    KEY(ckpt_every, K_I64), KEY(keep, K_INT),
};
#undef KEY
enum { NKEYS = sizeof KEYS / sizeof KEYS[0] };

int ovs_train_set(ovs_train_cfg *c, const char *kv, ovs_err *e) {
    const char *eq = strchr(kv, '=');
    if (!eq) return -1;
    int i = 0;
    while (i < NKEYS && (strlen(KEYS[i].name) != (size_t)(eq - kv) || strncmp(KEYS[i].name, kv, (size_t)(eq - kv)))) i++;
    if (i == NKEYS) return -1;
    const char *v = eq + 1;
    char *end = NULL;
    ovs_train_cfg t = *c; /* c changes only when the value is good */
    char *p = (char *)&t + KEYS[i].off;
    errno = 0;
    switch (KEYS[i].type) {
    case K_INT: { long x = strtol(v, &end, 10); *(int *)p = (int)x; break; }
    case K_I64: *(int64_t *)p = strtoll(v, &end, 10); break;
    case K_U64: *(uint64_t *)p = strtoull(v, &end, 10); break;
    case K_DBL: *(double *)p = strtod(v, &end); break;
    }
    if (!*v || *end || errno) return ovs_errf(e, OVS_EUSER, "%s: bad value '%s'", KEYS[i].name, v);
    if (t.stage != 1 && t.stage != 2) return ovs_errf(e, OVS_EUSER, "stage: must be 1 or 2, not %d", t.stage);
    if (t.batch < 1) return ovs_errf(e, OVS_EUSER, "batch: must be at least 1");
    if (t.keep < 1) return ovs_errf(e, OVS_EUSER, "keep: must be at least 1");
    *c = t;
    return 0;
}

void ovs_train_to_text(const ovs_train_cfg *c, ovs_buf *out) {
    for (int i = 0; i < NKEYS; i++) {
        const char *p = (const char *)c + KEYS[i].off;
        switch (KEYS[i].type) {
        case K_INT: ovs_buf_printf(out, "%s=%d\n", KEYS[i].name, *(const int *)p); break;
        case K_I64: ovs_buf_printf(out, "%s=%" PRId64 "\n", KEYS[i].name, *(const int64_t *)p); break;
        case K_U64: ovs_buf_printf(out, "%s=%" PRIu64 "\n", KEYS[i].name, *(const uint64_t *)p); break;
        case K_DBL: ovs_buf_printf(out, "%s=%.17g\n", KEYS[i].name, *(const double *)p); break;
        }
    }
}

static int train_from_text(ovs_train_cfg *c, const char *text, ovs_err *e) {
    ovs_train_defaults(c, NULL, 1);
    char line[256];
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        snprintf(line, sizeof line, "%.*s", (int)len, s);
        int rc = ovs_train_set(c, line, e);
        if (rc < 0) return ovs_errf(e, OVS_EUSER, "saved train config: unknown line '%s'", line);
        if (rc) return rc;
        s += len + (nl ? 1 : 0);
    }
    return 0;
}

int ovs_train_plan(const ovs_train_cfg *cfg, const ovs_source *src, int64_t *total, int64_t *warmup, ovs_err *e) {
    int64_t per_epoch = src && src->samples_per_epoch > 0 ? src->samples_per_epoch / cfg->batch : 0;
    *total = cfg->steps;
    if (*total <= 0) {
        if (per_epoch <= 0)
            return ovs_errf(e, OVS_EUSER, "--epochs needs the number of samples per epoch (or give --steps)");
        *total = (int64_t)llround(cfg->epochs * (double)per_epoch);
    }
    if (*total <= 0) return ovs_errf(e, OVS_EUSER, "nothing to train: 0 steps");
    *warmup = cfg->warmup_steps;
    if (*warmup < 0) *warmup = per_epoch > 0 ? (int64_t)llround(cfg->warmup_epochs * (double)per_epoch)
                                             : (int64_t)llround((double)*total * cfg->warmup_epochs / (cfg->epochs > 0 ? cfg->epochs : 1));
    return 0;
}

/* ── metrics.tsv ─────────────────────────────────────────────────────────────────────────────── */

static const char METRICS_HEADER[] = "step\tepoch\tlr\ttotal\tcontrastive\tentity\tmask\timages_per_s\twall_s\n";

/* Fresh run: header only. Resume: keep the header and the complete rows with step <= upto. */
static int metrics_prepare(const char *path, int64_t upto, ovs_err *e) {
    ovs_buf out = {0};
    ovs_buf_puts(&out, METRICS_HEADER);
    char *data = NULL;
    size_t len = 0;
    if (upto > 0 && ovs_read_file(path, &data, &len, NULL) == 0) {
        const char *s = data, *end = data + len;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        s = nl ? nl + 1 : end; /* the old header */
        while (s < end) {
            nl = memchr(s, '\n', (size_t)(end - s));
            if (!nl) break; /* a row cut by a kill */
            char *after;
            long long step = strtoll(s, &after, 10);
            if (after != s && step >= 1 && step <= upto) ovs_buf_append(&out, s, (size_t)(nl + 1 - s));
            s = nl + 1;
        }
    }
    free(data);
    int rc = ovs_write_atomic(path, out.data, out.len, e);
    ovs_buf_free(&out);
    return rc;
}

/* ── checkpoints ─────────────────────────────────────────────────────────────────────────────── */

typedef struct loop {
    const ovs_train_cfg *cfg;
    ovs_trainee *m;
    ovs_source *src;
    const char *rundir;
    ovs_adamw opt;
    ovs_rng rng;                /* the model's stream: Gumbel noise, drop-path */
    int64_t step, epoch;
    double wall0;               /* wall seconds of earlier processes of this run */
    ovs_dist *dist;             /* NULL: one process */
    int rank, world;
} loop;

static int model_parts(const loop *L, ovs_ckpt_part *parts) {
    parts[0] = (ovs_ckpt_part){.prefix = "", .table = L->m->table, .n = L->m->n, .data = L->m->params};
    for (int i = 0; i < L->m->nextra; i++) parts[1 + i] = L->m->extra[i];
    return 1 + L->m->nextra;
}

static void state_parts(const loop *L, ovs_ckpt_part *parts) {
    parts[0] = (ovs_ckpt_part){.prefix = "exp_avg.", .table = L->m->table, .n = L->m->n, .data = L->opt.m, .trainable_only = 1};
    parts[1] = (ovs_ckpt_part){.prefix = "exp_avg_sq.", .table = L->m->table, .n = L->m->n, .data = L->opt.v, .trainable_only = 1};
}

enum { RANK_REC = 512 };   /* per rank at a checkpoint: model rng (64 hex), state hash (16 hex), cursor */

/* What the ranks must agree on bit for bit: parameters (buffers included), AdamW moments, extra
 * model tensors (stage 2's EMA weights). */
static uint64_t state_hash(const loop *L) {
    size_t n = L->m->numel;
    uint64_t h = ovs_hash64(L->m->params, n * sizeof(float));
    h ^= ovs_hash64(L->opt.m, n * sizeof(float)) * 3 + ovs_hash64(L->opt.v, n * sizeof(float)) * 5;
    for (int i = 0; i < L->m->nextra; i++)
        for (int j = 0; j < L->m->extra[i].n; j++) {
            const ovs_param *p = &L->m->extra[i].table[j];
            h = h * 31 + ovs_hash64(L->m->extra[i].data + p->offset, p->numel * sizeof(float));
        }
    return h;
}

/* Rank 0's state to every rank. */
static int bcast_state(loop *L, ovs_err *e) {
    size_t n = L->m->numel;
    int rc = ovs_dist_bcast_floats(L->dist, L->m->params, n, e);
    if (!rc) rc = ovs_dist_bcast_floats(L->dist, L->opt.m, n, e);
    if (!rc) rc = ovs_dist_bcast_floats(L->dist, L->opt.v, n, e);
    for (int i = 0; i < L->m->nextra && !rc; i++)
        for (int j = 0; j < L->m->extra[i].n && !rc; j++) {
            const ovs_param *p = &L->m->extra[i].table[j];
            rc = ovs_dist_bcast_floats(L->dist, L->m->extra[i].data + p->offset, p->numel, e);
        }
    return rc;
}

/* A collective call at every checkpoint: every rank's source cursor, joined by '|' in rank order
 * into *all; the model rng must be the same everywhere (it is drawn for the global batch), and so
 * must the state: where a rank's differs (MPI summed the gradients into other bits on some rank),
 * rank 0's is broadcast, with a warning. */
static int gather_cursors(loop *L, const char *hex, ovs_buf *all, ovs_err *e) {
    ovs_buf mine = {0};
    int rc = L->src->save(L->src->ctx, &mine, e);
    if (!rc && (!mine.data || mine.len + 82 > RANK_REC))
        rc = ovs_errf(e, OVS_EINTERNAL, "rank %d: loader cursor missing or too long", L->rank);
    char *rec = calloc(1, RANK_REC), *recs = calloc((size_t)L->world, RANK_REC);
    if (!rc && (!rec || !recs)) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!rc) {
        snprintf(rec, RANK_REC, "%s %016" PRIx64 " %s", hex, state_hash(L), mine.data);
        rc = ovs_dist_allgather_bytes(L->dist, rec, recs, RANK_REC, e);
    }
    int differ = 0;
    for (int r = 0; r < L->world && !rc; r++) {
        const char *x = recs + (size_t)r * RANK_REC;
        if (strncmp(x, hex, 64)) {
            rc = ovs_errf(e, OVS_EINTERNAL, "rank %d's model rng differs from rank %d's: the ranks drifted apart", r, L->rank);
            break;
        }
        if (strncmp(x + 65, recs + 65, 16) && !differ++ && L->rank == 0)
            ovs_warn("step %" PRId64 ": rank %d's parameters differ from rank 0's (the gradient sum gave the ranks other "
                     "bits); rank 0's state goes to every rank", L->step, r);
        if (ovs_buf_printf(all, "%s%s", r ? "|" : "", x + 82)) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    if (!rc && differ) rc = bcast_state(L, e);
    free(rec), free(recs), ovs_buf_free(&mine);
    return rc;
}

static int save(loop *L, double wall, ovs_err *e) {
    ovs_kv mm = {0}, sm = {0};
    ovs_buf cursor = {0}, tcfg = {0};
    char mcfg[4096], hex[65];
    int rc = L->m->cfg ? ovs_config_to_text(L->m->cfg, mcfg, sizeof mcfg) : (mcfg[0] = 0, 0);
    ovs_train_to_text(L->cfg, &tcfg);
    ovs_rng_to_hex(&L->rng, hex);
    if (!rc) rc = L->world > 1 ? gather_cursors(L, hex, &cursor, e) : L->src->save(L->src->ctx, &cursor, e);
    if (rc || L->rank != 0) { /* rank 0 writes */
        ovs_buf_free(&cursor), ovs_buf_free(&tcfg);
        return rc;
    }
    if (!rc) rc = ovs_kv_set(&mm, "format", "ovseg-ckpt-1", e);
    if (!rc) rc = ovs_kv_set(&mm, "model_config", mcfg, e);
    if (!rc) rc = ovs_kv_setf(&mm, e, "step", "%" PRId64, L->step);
    if (!rc) rc = ovs_kv_setf(&mm, e, "stage", "%d", L->cfg->stage);
    if (!rc) rc = ovs_kv_set(&sm, "format", "ovseg-state-1", e);
    if (!rc) rc = ovs_kv_setf(&sm, e, "step", "%" PRId64, L->step);
    if (!rc) rc = ovs_kv_setf(&sm, e, "epoch", "%" PRId64, L->epoch);
    if (!rc) rc = ovs_kv_setf(&sm, e, "adamw_step", "%" PRId64, L->opt.step);
    if (!rc) rc = ovs_kv_set(&sm, "rng_model", hex, e);
    if (!rc) rc = ovs_kv_set(&sm, "cursor", cursor.data ? cursor.data : "", e);
    if (!rc) rc = ovs_kv_set(&sm, "train_config", tcfg.data ? tcfg.data : "", e);
    if (!rc) rc = ovs_kv_set(&sm, "model_config", mcfg, e);
    if (!rc) rc = ovs_kv_setf(&sm, e, "wall_s", "%.3f", wall);
    if (!rc) rc = ovs_kv_setf(&sm, e, "world", "%d", L->world);
    ovs_ckpt_part mp[3], sp[2];
    int nm = model_parts(L, mp);
    state_parts(L, sp);
    if (!rc) rc = ovs_ckpt_save(L->rundir, L->step, mp, nm, &mm, sp, 2, &sm, L->cfg->keep, e);
    ovs_kv_free(&mm), ovs_kv_free(&sm);
    ovs_buf_free(&cursor), ovs_buf_free(&tcfg);
    return rc;
}

static int parse_i64(const ovs_kv *kv, const char *key, const char *path, int64_t *out, ovs_err *e) {
    const char *v = ovs_kv_get(kv, key);
    char *end;
    if (!v || !*v || (*out = strtoll(v, &end, 10), *end))
        return ovs_errf(e, OVS_EUSER, "%s: metadata '%s' is missing or not an integer", path, key);
    return 0;
}

int ovs_train_resume_cfg(const char *rundir, ovs_train_cfg *cfg, ovs_config *model_cfg, ovs_err *e) {
    int64_t step;
    int rc = ovs_ckpt_latest(rundir, &step, e);
    if (rc) return rc;
    if (step < 0) return ovs_errf(e, OVS_EUSER, "%s: no complete checkpoint to resume from", rundir);
    char p[4200];
    ovs_ckpt_path(p, sizeof p, rundir, "state", step);
    ovs_st_file f;
    if ((rc = ovs_st_open(&f, p, e))) return rc;
    const char *t = ovs_st_meta(&f, "train_config"), *mc = ovs_st_meta(&f, "model_config");
    if (!t) rc = ovs_errf(e, OVS_EUSER, "%s: metadata 'train_config' is missing", p);
    if (!rc) rc = train_from_text(cfg, t, e);
    if (!rc && model_cfg) {
        if (!mc) rc = ovs_errf(e, OVS_EUSER, "%s: metadata 'model_config' is missing", p);
        else rc = ovs_config_from_text(model_cfg, mc, e);
    }
    if (rc) ovs_errctx(e, "%s", p);
    ovs_st_close(&f);
    return rc;
}

/* Loads the newest checkpoint pair into the model, optimiser, RNG, step and source. */
static int restore(loop *L, ovs_err *e) {
    int64_t step;
    int rc = ovs_ckpt_latest(L->rundir, &step, e);
    /* every rank resumes from rank 0's newest pair, whatever it sees in the folder itself
     * (-2: rank 0 could not list the folder) */
    if (L->world > 1) {
        int64_t seen = rc ? -2 : step, chosen = seen;
        int brc = ovs_dist_bcast(L->dist, &chosen, sizeof chosen, e);
        if (brc || rc) return brc ? brc : rc;
        if (chosen == -2) return ovs_errf(e, OVS_EUSER, "%s: rank 0 could not list its checkpoints", L->rundir);
        if (chosen != seen)
            ovs_warn("rank %d: resuming from rank 0's step %" PRId64 " (this rank saw %" PRId64 " as the newest)", L->rank, chosen, seen);
        step = chosen;
    }
    if (rc) return rc;
    if (step < 0) return ovs_errf(e, OVS_EUSER, "%s: no complete checkpoint to resume from", L->rundir);
    char p[4200];
    ovs_ckpt_part mp[3], sp[2];
    int nm = model_parts(L, mp);
    state_parts(L, sp);
    ovs_ckpt_path(p, sizeof p, L->rundir, "ckpt", step);
    if ((rc = ovs_ckpt_read(p, mp, nm, 1, NULL, e))) return rc;
    ovs_kv sm = {0};
    ovs_ckpt_path(p, sizeof p, L->rundir, "state", step);
    rc = ovs_ckpt_read(p, sp, 2, 1, &sm, e);
    int64_t s = 0;
    if (!rc) rc = parse_i64(&sm, "step", p, &s, e);
    if (!rc && s != step) rc = ovs_errf(e, OVS_EUSER, "%s: holds step %" PRId64 ", its name says %" PRId64, p, s, step);
    if (!rc) rc = parse_i64(&sm, "epoch", p, &L->epoch, e);
    if (!rc) rc = parse_i64(&sm, "adamw_step", p, &L->opt.step, e);
    int64_t world = 1;
    if (!rc && ovs_kv_get(&sm, "world")) rc = parse_i64(&sm, "world", p, &world, e);
    if (!rc && world != L->world)
        rc = ovs_errf(e, OVS_EUSER, "%s: written by a job of %" PRId64 " rank(s), this one has %d: resume with the same "
                      "number (mpirun -np %" PRId64 ")", p, world, L->world, world);
    if (!rc) rc = ovs_rng_from_hex(&L->rng, ovs_kv_get(&sm, "rng_model"), e);
    if (!rc) {
        const char *c = ovs_kv_get(&sm, "cursor");
        rc = L->src->restore(L->src->ctx, c ? c : "", e);
        if (rc) ovs_errctx(e, "%s: loader cursor", p);
    }
    const char *w = ovs_kv_get(&sm, "wall_s");
    L->wall0 = w ? atof(w) : 0;
    L->step = step;
    ovs_kv_free(&sm);
    return rc;
}

/* ── the loop ────────────────────────────────────────────────────────────────────────────────── */

static const char *bad_term(const ovs_losses *l, float *v) {
    if (!isfinite(l->contrastive)) return *v = l->contrastive, "contrastive";
    if (!isfinite(l->entity)) return *v = l->entity, "entity";
    if (!isfinite(l->mask)) return *v = l->mask, "mask";
    if (!isfinite(l->total)) return *v = l->total, "total";
    return NULL;
}

static int stop_nonfinite(const loop *L, int64_t step, const char *what, const char *note, double v, ovs_err *e) {
    int64_t last;
    ovs_err ignore = {0};
    if (ovs_ckpt_latest(L->rundir, &last, &ignore)) last = -1;
    char kept[128];
    if (last >= 0) snprintf(kept, sizeof kept, "the newest checkpoint (step %" PRId64 ") is intact", last);
    else snprintf(kept, sizeof kept, "no checkpoint was written yet");
    return ovs_errf(e, OVS_EUSER, "step %" PRId64 ": the %s is %s%s; training stopped, nothing saved for this step; %s",
                    step, what, isnan(v) ? "NaN" : "infinite", note, kept);
}

static int run(loop *L, const ovs_train_opts *o, FILE *mf, int64_t total, int64_t warmup, ovs_err *e) {
    const ovs_train_cfg *c = L->cfg;
    double scale = c->lr_scaling ? ovs_lr_scale(c->batch, 1) : 1.0;
    ovs_sched sched = {c->lr * scale, c->warmup_lr * scale, c->min_lr * scale, warmup, total};
    L->opt.weight_decay = c->weight_decay;
    ovs_progress prog;
    int64_t first = L->step; /* the progress line's rate and ETA count this process's steps */
    ovs_progress_start(&prog, "train", total - first);
    if (o->quiet || L->rank != 0) prog.enabled = 0;
    double t0 = ovs_now();
    int64_t done_here = 0, saves = 0;
    double t_data = 0, t_model = 0, t_sync = 0, t_opt = 0, t_save = 0; /* seconds, for the closing summary */
    int rc = 0;
    while (L->step < total && !rc) {
        double ts = ovs_now();
        double lr = ovs_sched_lr(&sched, L->step);
        const ovs_batch *b = NULL;
        int64_t epoch = 0;
        if ((rc = L->src->next(L->src->ctx, &b, &epoch, e))) break;
        ovs_losses loss = {0};
        double t1 = ovs_now();
        /* data-parallel: the model starts summing gradient ranges over ranks as its backward
         * finishes them; the rest is summed (and everything waited for) after the step */
        if (L->world > 1) ovs_dist_grads_begin(L->dist, L->m->grads, L->m->numel);
        if ((rc = L->m->step(L->m->ctx, b, &L->rng, &loss, e))) { ovs_errctx(e, "step %" PRId64, L->step + 1); break; }
        double tg = ovs_now();
        if (L->world > 1 && (rc = ovs_dist_grads_end(L->dist, e))) {
            ovs_errctx(e, "step %" PRId64 ", rank %d", L->step + 1, L->rank);
            break;
        }
        double t2 = ovs_now();
        t_sync += t2 - tg;
        float bad;
        const char *term = bad_term(&loss, &bad);
        if (term) {
            char what[64];
            snprintf(what, sizeof what, "%s loss", term);
            rc = stop_nonfinite(L, L->step + 1, what, "", bad, e);
            break;
        }
        double norm = ovs_clip_grad_norm(L->m->grads, L->m->table, L->m->n, c->clip);
        if (!isfinite(norm)) { rc = stop_nonfinite(L, L->step + 1, "gradient norm", " (the losses were finite)", norm, e); break; }
        ovs_adamw_step(&L->opt, L->m->params, L->m->grads, L->m->table, L->m->n, lr);
        if (L->m->after_update && (rc = L->m->after_update(L->m->ctx, e))) break;
        double t3 = ovs_now();
        t_data += t1 - ts, t_model += tg - t1, t_opt += t3 - t2;
        L->step++, L->epoch = epoch, done_here++;
        double now = ovs_now(), ips = (double)b->B * L->world / (now - ts > 1e-9 ? now - ts : 1e-9), wall = L->wall0 + (now - t0);
        if (mf) fprintf(mf, "%" PRId64 "\t%" PRId64 "\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%.2f\t%.3f\n", L->step, epoch, lr,
                (double)loss.total, (double)loss.contrastive, (double)loss.entity, (double)loss.mask, ips, wall);
        if (mf && fflush(mf)) { rc = ovs_errno(e, OVS_EUSER, "%s/metrics.tsv", L->rundir); break; }
        char extra[240];
        snprintf(extra, sizeof extra, "step %" PRId64 "/%" PRId64 " loss %.4f (c %.4f e %.4f m %.4f) lr %.3g  %.1f img/s", L->step, total,
                 (double)loss.total, (double)loss.contrastive, (double)loss.entity, (double)loss.mask, lr, ips);
        ovs_progress_update(&prog, L->step - first, extra);
        int stop = o->stop_after > 0 && done_here >= o->stop_after;
        if (L->step % (c->ckpt_every > 0 ? c->ckpt_every : total) == 0 || L->step == total || stop) {
            double t4 = ovs_now();
            rc = save(L, wall, e);
            t_save += ovs_now() - t4, saves++;
        }
        if (stop) break;
    }
    ovs_progress_end(&prog);
    if (done_here) {
        char sum[96] = ""; /* data-parallel: the gradient sum over ranks */
        if (L->world > 1) snprintf(sum, sizeof sum, "; gradient sum over %d ranks %.1f ms/step", L->world, 1e3 * t_sync / (double)done_here);
        ovs_info("%" PRId64 " steps: data %.1f ms/step, model %.1f ms/step, clip+AdamW %.2f ms/step; %" PRId64
                 " checkpoints, %.1f ms each%s", done_here, 1e3 * t_data / (double)done_here, 1e3 * t_model / (double)done_here,
                 1e3 * t_opt / (double)done_here, saves, saves ? 1e3 * t_save / (double)saves : 0.0, sum);
    }
    return rc;
}

int ovs_train_run(const ovs_train_cfg *cfg, ovs_trainee *m, ovs_source *src, const ovs_train_opts *o, ovs_err *e) {
    loop L = {.cfg = cfg, .m = m, .src = src, .rundir = o->rundir, .dist = o->dist, .world = 1};
    if (o->dist) L.rank = o->dist->rank, L.world = o->dist->world;
    int64_t total, warmup;
    int rc = ovs_train_plan(cfg, src, &total, &warmup, e);
    if (rc) return rc;
    if ((rc = ovs_mkdir_p(o->rundir, e))) return rc;
    if ((rc = ovs_adamw_init(&L.opt, m->numel, e))) return rc;
    ovs_rng_seed(&L.rng, cfg->seed, ovs_hash64("model", 5));
    char mpath[4200];
    snprintf(mpath, sizeof mpath, "%s/metrics.tsv", o->rundir);
    if (o->resume) {
        rc = restore(&L, e);
    } else {
        int64_t have;
        rc = ovs_ckpt_latest(o->rundir, &have, e);
        if (!rc && have >= 0)
            rc = ovs_errf(e, OVS_EUSER, "%s: already holds checkpoints (newest: step %" PRId64 "); use --resume or a new run folder",
                          o->rundir, have);
    }
    if (!rc && L.rank == 0) rc = metrics_prepare(mpath, L.step, e);
    FILE *mf = NULL;
    if (!rc && L.rank == 0 && !(mf = fopen(mpath, "a"))) rc = ovs_errno(e, OVS_EUSER, "%s", mpath);
    if (!rc) {
        if (L.rank != 0) {
            /* rank 0 reports */
        } else if (L.step >= total) ovs_info("%s: already at step %" PRId64 " of %" PRId64 "; nothing to do", o->rundir, L.step, total);
        else ovs_info("%s: training steps %" PRId64 "..%" PRId64 " (warmup %" PRId64 "), batch %d", o->rundir, L.step + 1,
                      total, warmup, cfg->batch);
        rc = run(&L, o, mf, total, warmup, e);
    }
    if (mf && fclose(mf) && !rc) rc = ovs_errno(e, OVS_EUSER, "%s", mpath);
    ovs_adamw_free(&L.opt);
    return rc;
}
