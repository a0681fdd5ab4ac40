/* train.h — the training loop: batches from a source, a model step (forward, losses, backward),
 * gradient clipping, AdamW at the scheduled learning rate, metrics, checkpoints, exact resume.
 *
 * The loop sees the model and the data only through the two small interfaces below, so it is the
 * same for stage 1 and stage 2 and for the test models of tests/test_train.c; cmd_train.c binds
 * them to the real model (model.h) and the streaming loader (shards/loader.h).
 *
 * Bit-exact resume: everything a step depends on is saved in the checkpoint pair (ckpt.h): the
 * parameter block (buffers included), AdamW moments and step, the training step and epoch, the
 * model's RNG stream (Gumbel noise, drop-path), the loader cursor (with its own RNG states) and the
 * training config. metrics.tsv is cut back to the checkpoint's step on resume, so a resumed run
 * writes the same rows as one that never stopped (loss columns printed with %.9g). */
#ifndef OVS_TRAIN_H
#define OVS_TRAIN_H

#include <stdint.h>

#include "shards/batch.h"
#include "train/ckpt.h"
#include "train/model.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/rng.h"

/* The training recipe (not the model's shape: that is ovs_config). Learning rates are in the
 * paper's config units: when lr_scaling is on they are multiplied by batch × world / 4096. */
typedef struct ovs_train_cfg {
    int stage;                      /* 1 or 2 */
    int batch;                      /* samples per step: the global batch (all ranks together) */
    int64_t steps;                  /* total optimiser steps; 0 = epochs × steps per epoch */
    double epochs;
    double lr, warmup_lr, min_lr;
    int lr_scaling;                 /* 1: × batch/4096 as the paper's code; 0: as given */
    int64_t warmup_steps;           /* -1 = warmup_epochs × steps per epoch */
    double warmup_epochs;
    double weight_decay, clip;      /* 0.05, 5.0 */
    uint64_t seed;
    int64_t ckpt_every;             /* steps between checkpoints (the last step always saves) */
    int keep;                       /* complete checkpoints kept */
} ovs_train_cfg;

/* The recipe of the paper for stage 1 or 2 (config "paper"), or the small-CPU recipe (any other). */
void ovs_train_defaults(ovs_train_cfg *c, const char *config_name, int stage);
/* Applies "key=value" for a recipe key (stage, batch, steps, epochs, lr, warmup_lr, min_lr,
 * lr_scaling, warmup_steps, warmup_epochs, weight_decay, clip, seed, ckpt_every, keep).
 * Returns 0, OVS_EUSER for a bad value, or -1 when key is not a recipe key. */
int ovs_train_set(ovs_train_cfg *c, const char *kv, ovs_err *e);
/* All keys as "key=value" lines (round-trips through ovs_train_set). */
void ovs_train_to_text(const ovs_train_cfg *c, ovs_buf *out);

/* What the loop needs of a model. */
typedef struct ovs_trainee {
    void *ctx;
    float *params, *grads;
    size_t numel;
    const ovs_param *table;
    int n;
    const ovs_config *cfg;          /* saved in the checkpoint's metadata */
    /* Forward, losses, backward into grads (zeroed by the step). */
    int (*step)(void *ctx, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e);
    /* Optional, after each optimiser update (stage 2: the EMA encoder). */
    int (*after_update)(void *ctx, ovs_err *e);
    /* Optional further tensors saved with the model (stage 2: "ema." weights). */
    ovs_ckpt_part extra[2];
    int nextra;
} ovs_trainee;

/* What the loop needs of the data. */
typedef struct ovs_source {
    void *ctx;
    int64_t samples_per_epoch;      /* for --epochs; 0 when unknown */
    /* The next batch of exactly `batch` samples (valid until the next call); *epoch (0-based) is the
     * epoch it belongs to. */
    int (*next)(void *ctx, const ovs_batch **b, int64_t *epoch, ovs_err *e);
    /* The position of the stream (including its RNG states) as text, and back. */
    int (*save)(void *ctx, ovs_buf *cursor, ovs_err *e);
    int (*restore)(void *ctx, const char *cursor, ovs_err *e);
} ovs_source;

typedef struct ovs_train_opts {
    const char *rundir;
    int resume;                     /* continue from the newest complete checkpoint of rundir */
    int64_t stop_after;             /* > 0: stop after this many steps of this process (as if killed
                                     * after a checkpoint; for tests and time-boxed runs) */
    int quiet;                      /* no progress line */
    struct ovs_dist *dist;          /* data-parallel (train/dist.h; NULL: one process): the batches
                                     * of the source are this rank's part of cfg->batch; gradients
                                     * are summed over ranks before clipping; rank 0 writes metrics
                                     * and checkpoints, with every rank's source cursor joined by
                                     * '|'; on resume every rank reads the (shared) run folder */
} ovs_train_opts;

/* Loads the state of a resume (call before ovs_train_run when opts->resume): the recipe saved in
 * the newest checkpoint of rundir replaces *cfg. Errors when rundir has no complete checkpoint. */
int ovs_train_resume_cfg(const char *rundir, ovs_train_cfg *cfg, ovs_config *model_cfg, ovs_err *e);

/* Trains until the configured number of steps (or stop_after). A loss that is not finite stops with
 * OVS_EUSER naming the step and the loss term; nothing is saved for that step. */
int ovs_train_run(const ovs_train_cfg *cfg, ovs_trainee *m, ovs_source *src, const ovs_train_opts *opts, ovs_err *e);

/* Total steps and warmup steps of cfg for a source (errors when neither steps nor a known epoch
 * size are given). */
int ovs_train_plan(const ovs_train_cfg *cfg, const ovs_source *src, int64_t *total, int64_t *warmup, ovs_err *e);

#endif
