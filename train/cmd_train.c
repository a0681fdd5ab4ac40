/* cmd_train.c — `ovseg train`: binds the training loop (train.h) to the model (model.h) and the
 * streaming loader (shards/loader.h), with the recipe from presets, --set and flags. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <unistd.h>

#include "shards/loader.h"
#include "shards/wordpiece.h"
#include "train/dist.h"
#include "train/import.h"
#include "train/stage2.h"
#include "train/train.h"
#include "util/args.h"
#include "util/cli.h"
#include "util/fsutil.h"
#include "util/log.h"

enum { MAX_SETS = 64 };

typedef struct flags {
    const char *config, *shards, *run, *vocab, *init, *init_vit, *init_text;
    int64_t stage, steps, batch, warmup_steps, seed, threads, ckpt_every, keep, stop_after;
    double epochs, lr;
    int resume;
    const char *set_help;   /* only for --help; the values are collected before parsing */
    const char *sets[MAX_SETS];
    int nsets;
} flags;

static const char USAGE_TEXT[] =
    "Train OVSegmentor on training shards. Checkpoints, state and metrics.tsv go to RUNDIR.\n"
    "Learning rates are in the paper's config units; with the paper recipe they are scaled by\n"
    "batch/4096 as its code does (--set lr_scaling=0 to use them as given). Recipe keys for --set:\n"
    "stage batch steps epochs lr warmup_lr min_lr lr_scaling warmup_steps warmup_epochs weight_decay\n"
    "clip seed ckpt_every keep; any other key is a model config key (width, depth0, ...).";

/* Pulls every --set VALUE / --set=VALUE out of argv (the flag parser keeps only the last). */
static int take_sets(int *argc, char **argv, flags *f, ovs_err *e) {
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= *argc) return ovs_errf(e, OVS_EUSER, "--set needs a value (key=value)");
            v = argv[++i];
        } else if (!strncmp(argv[i], "--set=", 6)) {
            v = argv[i] + 6;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (f->nsets == MAX_SETS) return ovs_errf(e, OVS_EUSER, "--set: at most %d", MAX_SETS);
        if (!strchr(v, '=')) return ovs_errf(e, OVS_EUSER, "--set %s: expected key=value", v);
        f->sets[f->nsets++] = v;
    }
    *argc = out;
    return 0;
}

/* The shard folder of --shards: a glob of tar files in DIR, DIR itself, or DIR/manifest.json. */
static void shard_dir(const char *arg, char *out, size_t cap) {
    snprintf(out, cap, "%s", arg);
    if (strchr(out, '*') || strstr(out, ".json")) {
        char *slash = strrchr(out, '/');
        if (slash) *slash = 0;
        else snprintf(out, cap, ".");
    }
}

/* ── the recipe from preset, saved state, --set and flags ───────────────────────────────────── */

static int apply_sets(const flags *f, ovs_train_cfg *t, ovs_config *m, ovs_err *e) {
    for (int i = 0; i < f->nsets; i++) {
        int rc = ovs_train_set(t, f->sets[i], e);
        if (rc < 0) rc = ovs_config_set(m, f->sets[i], e);
        if (rc) return ovs_errctx(e, "--set %s", f->sets[i]);
    }
    return 0;
}

static int apply_flags(const flags *f, ovs_train_cfg *t, ovs_err *e) {
    if (f->steps >= 0) t->steps = f->steps;
    if (!isnan(f->epochs)) {
        if (f->steps >= 0) return ovs_errf(e, OVS_EUSER, "--steps and --epochs exclude each other");
        t->epochs = f->epochs, t->steps = 0;
    }
    if (f->batch >= 0) {
        if (f->batch < 1) return ovs_errf(e, OVS_EUSER, "--batch: must be at least 1");
        t->batch = (int)f->batch;
    }
    if (!isnan(f->lr)) t->lr = f->lr;
    if (f->warmup_steps >= 0) t->warmup_steps = f->warmup_steps;
    if (f->seed >= 0) t->seed = (uint64_t)f->seed;
    if (f->ckpt_every >= 0) t->ckpt_every = f->ckpt_every;
    if (f->keep >= 0) {
        if (f->keep < 1) return ovs_errf(e, OVS_EUSER, "--keep: must be at least 1");
        t->keep = (int)f->keep;
    }
    return 0;
}

static int recipe(const flags *f, ovs_train_cfg *t, ovs_config *m, ovs_err *e) {
    if (f->resume) {
        int rc = ovs_train_resume_cfg(f->run, t, m, e);
        if (rc) return rc;
        if (f->config || f->nsets || f->batch >= 0 || !isnan(f->lr) || f->warmup_steps >= 0 || f->seed >= 0 || f->stage > 0)
            ovs_warn("--resume: the model config and recipe come from the checkpoint; --config, --set, --stage, "
                     "--batch, --lr, --warmup-steps and --seed are ignored");
        flags only = {.steps = f->steps, .epochs = f->epochs, .batch = -1, .lr = NAN, .warmup_steps = -1, .seed = -1,
                      .ckpt_every = f->ckpt_every, .keep = f->keep};
        return apply_flags(&only, t, e);
    }
    int rc;
    if (!f->config && f->init) {
        /* the model config of the --init checkpoint (stage 2 continues stage 1's model) */
        char path[4200];
        ovs_kv meta = {0};
        if ((rc = ovs_ckpt_resolve(f->init, path, sizeof path, e))) return rc;
        if (!(rc = ovs_ckpt_read(path, NULL, 0, 0, &meta, e))) {
            const char *mc = ovs_kv_get(&meta, "model_config");
            rc = mc ? ovs_config_from_text(m, mc, e) : ovs_errf(e, OVS_EUSER, "%s: metadata 'model_config' is missing", path);
        }
        ovs_kv_free(&meta);
        if (rc) return ovs_errctx(e, "--init");
    } else if (!f->config) {
        return ovs_errf(e, OVS_EUSER, "--config is required (tiny, paper or a file) unless --init gives the model");
    } else if ((rc = ovs_config_load(m, f->config, e))) {
        return rc;
    }
    ovs_train_defaults(t, f->config ? f->config : m->name, f->stage > 0 ? (int)f->stage : 1);
    if ((rc = apply_sets(f, t, m, e))) return rc;
    if (f->stage > 0) t->stage = (int)f->stage;
    return apply_flags(f, t, e);
}

/* The vocab must have exactly the model's vocab size; a copy goes to RUNDIR for embed/eval. */
static int check_vocab(const char *vocab, const ovs_config *m, const char *run, int copy, ovs_err *e) {
    ovs_wordpiece *wp;
    int rc = ovs_wp_load(&wp, vocab, e);
    if (rc) return rc;
    int n = ovs_wp_vocab_size(wp);
    ovs_wp_free(wp);
    if (n != m->vocab)
        return ovs_errf(e, OVS_EUSER, "%s: %d tokens, but the model config's vocab is %d (use a matching vocab, "
                        "or --set vocab=%d for a new run)", vocab, n, m->vocab, n);
    char dst[4200], *data;
    size_t len;
    snprintf(dst, sizeof dst, "%s/vocab.txt", run);
    if (!copy || !strcmp(vocab, dst)) return 0; /* data-parallel: rank 0 copies */
    if ((rc = ovs_read_file(vocab, &data, &len, e))) return rc;
    rc = ovs_write_atomic(dst, data, len, e);
    free(data);
    return rc;
}

/* ── the model and loader behind the loop's interfaces ─────────────────────────────────────── */

typedef struct data {
    ovs_loader_cfg cfg;
    ovs_loader *l;
} data;

static int data_next(void *ctx, const ovs_batch **b, int64_t *epoch, ovs_err *e) {
    data *d = ctx;
    *epoch = ovs_loader_epoch(d->l);
    ovs_batch *bb;
    int rc = ovs_loader_next(d->l, &bb, e);
    *b = bb;
    return rc;
}

static int data_save(void *ctx, ovs_buf *out, ovs_err *e) {
    data *d = ctx;
    char c[512];
    int n = ovs_loader_cursor(d->l, c, sizeof c);
    if (n < 0 || (size_t)n >= sizeof c) return ovs_errf(e, OVS_EINTERNAL, "loader cursor too long");
    return ovs_buf_puts(out, c) ? ovs_errf(e, OVS_EINTERNAL, "out of memory") : 0;
}

static int data_restore(void *ctx, const char *cursor, ovs_err *e) {
    data *d = ctx;
    ovs_loader_close(d->l);
    d->l = NULL;
    return ovs_loader_open(&d->l, &d->cfg, cursor, e);
}

static int model_step(void *ctx, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e) {
    return ovs_model_step(ctx, b, rng, out, e);
}

/* --init (a checkpoint or run folder), --init-vit, --init-text: starting weights of a fresh run. */
static int init_weights(const flags *f, ovs_model *m, ovs_err *e) {
    int n, rc = 0, copied = 0;
    const ovs_param *table = ovs_model_table(m, &n);
    float *params = ovs_model_params(m);
    if (f->init) {
        char path[4200];
        if ((rc = ovs_ckpt_resolve(f->init, path, sizeof path, e))) return rc;
        ovs_ckpt_part part = {.prefix = "", .table = table, .n = n, .data = params};
        if ((rc = ovs_ckpt_read(path, &part, 1, 0, NULL, e))) return ovs_errctx(e, "--init");
        ovs_info("initialised from %s", path);
    }
    if (f->init_vit) {
        if ((rc = ovs_import(f->init_vit, OVS_IMPORT_VIT, table, n, ovs_model_config(m)->depth0, params, &copied, e)))
            return ovs_errctx(e, "--init-vit");
        ovs_info("image encoder: %d tensors from %s", copied, f->init_vit);
    }
    if (f->init_text) {
        if ((rc = ovs_import(f->init_text, OVS_IMPORT_BERT, table, n, 0, params, &copied, e))) return ovs_errctx(e, "--init-text");
        ovs_info("text encoder: %d tensors from %s", copied, f->init_text);
    }
    return 0;
}

static int train(const flags *f, ovs_dist *dist, ovs_err *e) {
    ovs_train_cfg t;
    ovs_config mc;
    int rc = recipe(f, &t, &mc, e);
    if (rc) return rc;
    int W = dist->world, local = t.batch / W; /* --batch is the global batch */
    if (t.batch % W)
        return ovs_errf(e, OVS_EUSER, "--batch %d: the global batch must be a multiple of the %d ranks", t.batch, W);
    if (t.stage == 2 && !f->resume && !f->init && !f->init_vit)
        ovs_warn("--stage 2 without --init: the model starts from random weights (the paper starts from stage 1)");
    if ((rc = ovs_mkdir_p(f->run, e))) return rc;
    char sdir[4096], vocab[4200];
    shard_dir(f->shards, sdir, sizeof sdir);
    if (f->vocab) snprintf(vocab, sizeof vocab, "%s", f->vocab);
    else if (f->resume) snprintf(vocab, sizeof vocab, "%s/vocab.txt", f->run);
    else snprintf(vocab, sizeof vocab, "%s/vocab.txt", sdir);
    if ((rc = check_vocab(vocab, &mc, f->run, dist->rank == 0, e))) return rc;

    data d = {0};
    ovs_loader_defaults(&d.cfg);
    d.cfg.shards = sdir, d.cfg.vocab = vocab, d.cfg.batch = local, d.cfg.size = mc.img_size;
    d.cfg.rank = dist->rank, d.cfg.world = W; /* this rank's shards */
    d.cfg.max_len = mc.text_len, d.cfg.seed = t.seed, d.cfg.partners = t.stage == 2;
    d.cfg.threads = f->threads > 0 ? (int)f->threads : 2;
    if (t.stage == 2) d.cfg.scale_min = 0.4f;
    if ((rc = ovs_loader_open(&d.l, &d.cfg, NULL, e))) return rc;
    int64_t per_epoch = ovs_loader_batches_per_epoch(d.l) * t.batch;
    if (per_epoch <= 0) {
        ovs_loader_close(d.l);
        return ovs_errf(e, OVS_EUSER, "%s: the shards hold no samples (or fewer than one batch of %d)", f->shards, local);
    }
    ovs_source src = {.ctx = &d, .samples_per_epoch = per_epoch, .next = data_next, .save = data_save, .restore = data_restore};

    ovs_model *m;
    if ((rc = ovs_model_create(&m, &mc, local, t.seed, e))) { ovs_loader_close(d.l); return rc; }
    ovs_collective coll;
    ovs_dist_collective(dist, &coll);
    if ((rc = ovs_model_set_collective(m, &coll, e))) { ovs_model_free(m); ovs_loader_close(d.l); return rc; }
    if (!f->resume && (rc = init_weights(f, m, e))) { ovs_model_free(m); ovs_loader_close(d.l); return rc; }
    int n;
    const ovs_param *table = ovs_model_table(m, &n);
    ovs_trainee tr = {.ctx = m, .params = ovs_model_params(m), .grads = ovs_model_grads(m), .numel = ovs_model_numel(m),
                      .table = table, .n = n, .cfg = ovs_model_config(m), .step = model_step};
    ovs_stage2 *s2 = NULL;
    if (t.stage == 2) {
        /* after --init: the momentum encoder starts as a copy of the loaded image encoder */
        if ((rc = ovs_stage2_create(&s2, m, e))) { ovs_model_free(m); ovs_loader_close(d.l); return rc; }
        tr.ctx = s2, tr.step = ovs_stage2_step, tr.after_update = ovs_stage2_after_update;
        tr.extra[0] = ovs_stage2_part(s2), tr.nextra = 1;
    }
    ovs_info("model %s: %zu parameters (%d tensors); %lld samples per epoch", mc.name, ovs_model_numel(m), n,
             (long long)per_epoch);
    ovs_train_opts o = {.rundir = f->run, .resume = f->resume, .stop_after = f->stop_after > 0 ? f->stop_after : 0,
                        .quiet = ovs_log_level() == OVS_LOG_QUIET, .dist = dist};
    rc = ovs_train_run(&t, &tr, &src, &o, e);
    ovs_stage2_free(s2);
    ovs_model_free(m);
    ovs_loader_close(d.l);
    return rc;
}

int cmd_train(int argc, char **argv) {
    ovs_err e = {0};
    flags f = {.stage = -1, .steps = -1, .batch = -1, .warmup_steps = -1, .seed = -1, .threads = -1,
               .ckpt_every = -1, .keep = -1, .stop_after = -1, .epochs = NAN, .lr = NAN};
    const ovs_opt opts[] = {
        {"config", OVS_ARG_STR, &f.config, "model: tiny, paper, or a file of key = value lines"},
        {"shards", OVS_ARG_STR, &f.shards, "training shards: 'DIR/*.tar' or DIR (with manifest.json)"},
        {"run", OVS_ARG_STR, &f.run, "run folder: checkpoints, state, metrics.tsv, vocab.txt"},
        {"stage", OVS_ARG_INT, &f.stage, "1 (default) or 2"},
        {"steps", OVS_ARG_INT, &f.steps, "optimiser steps in all"},
        {"epochs", OVS_ARG_DOUBLE, &f.epochs, "epochs in all (instead of --steps)"},
        {"batch", OVS_ARG_INT, &f.batch, "samples per step"},
        {"lr", OVS_ARG_DOUBLE, &f.lr, "base learning rate (config units, see above)"},
        {"warmup-steps", OVS_ARG_INT, &f.warmup_steps, "linear warmup steps (default: warmup epochs)"},
        {"seed", OVS_ARG_INT, &f.seed, "seed of the model init, noise and data order (default 0)"},
        {"threads", OVS_ARG_INT, &f.threads, "compute threads (OpenMP/OpenBLAS) and decode threads"},
        {"resume", OVS_ARG_FLAG, &f.resume, "continue RUNDIR from its newest checkpoint, bit-exactly"},
        {"vocab", OVS_ARG_STR, &f.vocab, "WordPiece vocab.txt (default: SHARDS/vocab.txt; on --resume RUNDIR/vocab.txt)"},
        {"ckpt-every", OVS_ARG_INT, &f.ckpt_every, "steps between checkpoints (default 1000)"},
        {"keep", OVS_ARG_INT, &f.keep, "complete checkpoints kept (default 3)"},
        {"init", OVS_ARG_STR, &f.init, "start from this checkpoint (file or run folder), e.g. stage 1 for stage 2"},
        {"init-vit", OVS_ARG_STR, &f.init_vit, "image encoder from a DINO/timm ViT .safetensors (public names)"},
        {"init-text", OVS_ARG_STR, &f.init_text, "text encoder from a Hugging Face BERT .safetensors"},
        {"stop-after", OVS_ARG_INT, &f.stop_after, "stop (with a checkpoint) after N steps of this process"},
        {"set", OVS_ARG_STR, &f.set_help, "key=value for a recipe or model key (repeatable)"},
        {0}};
    const ovs_cmd_spec spec = {.verb = "train", .usage = "", .summary = USAGE_TEXT, .opts = opts, .min_pos = 0, .max_pos = 0};
    int rc = take_sets(&argc, argv, &f, &e);
    if (!rc) rc = ovs_args_parse(&spec, argc, argv, NULL, 0, NULL, &e);
    if (rc) return ovs_cli_finish("train", rc, &e);
    if (!f.run) rc = ovs_errf(&e, OVS_EUSER, "--run RUNDIR is required");
    else if (!f.shards) rc = ovs_errf(&e, OVS_EUSER, "--shards is required");
    else if (f.stage == 0 || f.stage > 2) rc = ovs_errf(&e, OVS_EUSER, "--stage: 1 or 2");
    else if (f.resume && (f.init || f.init_vit || f.init_text))
        rc = ovs_errf(&e, OVS_EUSER, "--init, --init-vit and --init-text start a new run; --resume continues one");
    if (!rc && f.threads > 0) {
#ifdef _OPENMP
        omp_set_num_threads((int)f.threads);
#endif
        openblas_set_num_threads((int)f.threads);
    }
    ovs_dist dist = {.world = 1};
    if (!rc) rc = ovs_dist_init(&dist, &e);
    if (!rc && dist.world > 1) {
        /* every rank says where it runs (so a rank can be found); rank 0 alone reports after that */
        char host[256] = "?";
        gethostname(host, sizeof host - 1);
        ovs_info("rank %d of %d: pid %d on %s", dist.rank, dist.world, (int)getpid(), host);
        if (dist.rank != 0) ovs_log_set_level(OVS_LOG_QUIET);
    }
    if (!rc) rc = train(&f, &dist, &e);
    if (rc && dist.world > 1) {
        /* the other ranks may wait in a collective for this one: end the whole job */
        ovs_errctx(&e, "rank %d of %d", dist.rank, dist.world);
        int code = ovs_cli_finish("train", rc, &e);
        fflush(stderr);
        ovs_dist_abort(&dist, code);
    }
    ovs_dist_finalize(&dist);
    return ovs_cli_finish("train", rc, &e);
}
