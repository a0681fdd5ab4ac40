/* ckpt.h — training checkpoints in safetensors.
 *
 * A checkpoint of step S in RUNDIR is two files:
 *   ckpt-S.safetensors   the model's tensors under the parameter table's names (the paper's code's
 *                        state_dict names, buffers included) and the model config in __metadata__;
 *                        this file alone is what `embed`, `eval` and the twin load.
 *   state-S.safetensors  everything else needed to continue bit-exactly: AdamW moments as
 *                        "exp_avg.NAME" / "exp_avg_sq.NAME" tensors, and in __metadata__ the step,
 *                        epoch, optimiser step, train config, loader cursor and every RNG state.
 * Each file is written to a .tmp, fsynced, renamed, and the folder fsynced; state-S is written first
 * and ckpt-S last, and a checkpoint counts only when both are in place. Older complete checkpoints
 * beyond the newest K are removed (K = --keep).
 *
 * Loading is strict: every tensor of the table must be present with exactly its shape, and (when
 * asked) no other tensors may be present; errors name the file and the tensor and are raised before
 * anything is copied, so a failed load leaves the destination untouched. */
#ifndef OVS_CKPT_H
#define OVS_CKPT_H

#include <stdint.h>

#include "train/model.h"
#include "util/err.h"
#include "util/rng.h"

/* A list of metadata strings (keys and values are owned copies). */
typedef struct ovs_kv {
    char **key, **val;
    int n, cap;
} ovs_kv;

int ovs_kv_set(ovs_kv *kv, const char *key, const char *val, ovs_err *e);
int ovs_kv_setf(ovs_kv *kv, ovs_err *e, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
const char *ovs_kv_get(const ovs_kv *kv, const char *key);
void ovs_kv_free(ovs_kv *kv);

/* One group of tensors of a checkpoint file: the entries of table over the block data, each saved
 * as PREFIX + name. trainable_only skips buffers (for optimiser moments). */
typedef struct ovs_ckpt_part {
    const char *prefix;
    const ovs_param *table;
    int n;
    float *data;
    int trainable_only;
} ovs_ckpt_part;

/* Writes parts and meta to path durably. */
int ovs_ckpt_write(const char *path, const ovs_ckpt_part *parts, int nparts, const ovs_kv *meta, ovs_err *e);
/* Reads parts from path strictly (see above); strict_extra: tensors not in any part are an error.
 * meta (may be NULL) receives the file's metadata. */
int ovs_ckpt_read(const char *path, const ovs_ckpt_part *parts, int nparts, int strict_extra, ovs_kv *meta,
                  ovs_err *e);

/* RUNDIR/ckpt-STEP.safetensors and RUNDIR/state-STEP.safetensors. */
void ovs_ckpt_path(char *out, size_t cap, const char *rundir, const char *kind, int64_t step);
/* Writes state-STEP then ckpt-STEP, then keeps only the newest keep (> 0) complete checkpoints. */
int ovs_ckpt_save(const char *rundir, int64_t step, const ovs_ckpt_part *model, int nmodel, const ovs_kv *model_meta,
                  const ovs_ckpt_part *state, int nstate, const ovs_kv *state_meta, int keep, ovs_err *e);
/* The newest step with both files present, or -1 when there is none. */
int ovs_ckpt_latest(const char *rundir, int64_t *step, ovs_err *e);
/* Resolves a --ckpt/--init argument: a file is used as is; a run folder gives its newest ckpt. */
int ovs_ckpt_resolve(const char *path_or_rundir, char *out, size_t cap, ovs_err *e);

/* Builds the model from a checkpoint file alone (its model_config metadata) and loads every tensor of
 * its table strictly (names, shapes; other tensors such as EMA weights are allowed). ckpt_model.c. */
int ovs_ckpt_load_model(const char *path, int max_batch, ovs_model **m, ovs_err *e);

/* The model config as text ("key=value" lines, every field) and back. The text round-trips exactly. */
int ovs_config_to_text(const ovs_config *c, char *out, size_t cap);
int ovs_config_from_text(ovs_config *c, const char *text, ovs_err *e);

/* An RNG state as 64 hex digits and back. */
void ovs_rng_to_hex(const ovs_rng *r, char out[65]);
int ovs_rng_from_hex(ovs_rng *r, const char *hex, ovs_err *e);

#endif
