/* model.h — the OVSegmentor model in C: configuration, one parameter block with its name table
 * (names and shapes of the paper's code's state_dict), gradients, preallocated activations, and
 * the forward/backward of a training step. The trainer (train/train.c), checkpoints and eval use
 * only this API. */
#ifndef OVS_MODEL_H
#define OVS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "shards/batch.h"
#include "util/err.h"
#include "util/rng.h"

typedef struct ovs_config {
    char name[32];          /* "tiny", "paper", or a file name */
    /* image encoder (GroupViT) */
    int img_size, patch, width, heads;
    int depth0, depth1;     /* ViT blocks before / after the grouping block */
    int groups_in, groups_out; /* learnable group tokens (64) -> output groups (8) */
    int mlp_ratio;          /* 4 */
    float drop_path;        /* max drop-path rate (linspace over all blocks) */
    /* text encoder (BERT) */
    int vocab, text_len, text_width, text_heads, text_layers, text_ff, type_vocab, max_pos;
    /* heads */
    int proj_hidden, proj_out; /* 4096, 256 */
    int mem_layers;         /* masked entity completion decoder layers (1) */
    int mem_heads;          /* its attention heads (8 in the paper's code) */
    /* options that depart from the paper (reported as their own rows, never default) */
    int local_patches;      /* 0 = paper */
    int no_group_residual;  /* 0 = paper */
    /* loss weights (the paper: 1) */
    float entity_weight;    /* masked entity completion; 0 = contrastive only (ablation) */
    float init_std;         /* std of the truncated-normal init of linears and embeddings (.02) */
} ovs_config;

/* Fills cfg from a preset name ("tiny", "paper") or a config file of `key = value` lines. */
int ovs_config_load(ovs_config *cfg, const char *name_or_path, ovs_err *e);
/* Applies one "key=value" override (flags such as --set width=256). */
int ovs_config_set(ovs_config *cfg, const char *kv, ovs_err *e);

/* One entry of the parameter table: drives checkpoint names, weight decay and the twin mapping. */
typedef struct ovs_param {
    char name[96];      /* state_dict name, e.g. "img_encoder.layers.0.blocks.0.attn.qkv.weight" */
    int ndim;
    int shape[4];
    size_t offset;      /* in floats, into params / grads */
    size_t numel;
    int decay;          /* 1 if AdamW weight decay applies (not biases, norms, 1-D params) */
    int trainable;      /* 0 for buffers (BatchNorm running stats) and frozen parts */
} ovs_param;

typedef struct ovs_losses {
    float total, contrastive, entity, mask; /* mask = 0 in stage 1 */
} ovs_losses;

typedef struct ovs_model ovs_model; /* opaque: activations and scratch live inside */

/* Allocates parameters (initialised as the paper's code does, from seed), gradients and the
 * activations for batches of up to max_batch. No allocation happens inside a step afterwards. */
int ovs_model_create(ovs_model **m, const ovs_config *cfg, int max_batch, uint64_t seed, ovs_err *e);
void ovs_model_free(ovs_model *m);

const ovs_config *ovs_model_config(const ovs_model *m);
float *ovs_model_params(ovs_model *m);     /* the one parameter block */
float *ovs_model_grads(ovs_model *m);      /* same layout as params */
size_t ovs_model_numel(const ovs_model *m);
const ovs_param *ovs_model_table(const ovs_model *m, int *n);
const ovs_param *ovs_model_find(const ovs_model *m, const char *name);

/* Training step, stage 1: forward, the losses, backward into grads (grads are zeroed first).
 * Gumbel noise and drop-path draws come from rng (serialisable). */
int ovs_model_step(ovs_model *m, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e);

/* Data-parallel training: the collectives the model calls inside a step so that a rank computes its
 * part of the step on the global batch (world x local batch, ranks' samples concatenated in rank
 * order): image and text features are all-gathered for the contrastive and entity losses (each
 * rank keeps the gradient of the global loss wrt its own rows; the logit-scale gradient is added
 * on rank 0 only), BatchNorm statistics in train mode are summed over ranks (SyncBN, forward and
 * backward), Gumbel noise and drop-path factors are drawn for the global batch from the shared rng
 * (each rank keeps its slice), and the mask loss is summed. After the step, the sum over ranks of
 * every rank's grads is the gradient of the global batch (train/dist.h sums them). With world == 1
 * (the default) nothing changes. train/dist.c binds these to MPI. */
typedef struct ovs_collective {
    void *ctx;
    int rank, world;
    /* in-place sum over ranks of n doubles */
    int (*sum)(void *ctx, double *buf, size_t n, ovs_err *e);
    /* recv[world * n] = every rank's send[n], in rank order */
    int (*gather)(void *ctx, const float *send, float *recv, size_t n, ovs_err *e);
    /* optional: the gradients [off, off + n) of the parameter block are final for this step, so
     * their sum over ranks may start while the backward goes on (called in the same order on every
     * rank: entity decoder and bridge, image projector, image encoder; the rest is final when the
     * step returns) */
    void (*ready)(void *ctx, size_t off, size_t n);
} ovs_collective;

/* c NULL or world 1: one process (the default). Allocates the global-batch loss buffers. */
int ovs_model_set_collective(ovs_model *m, const ovs_collective *c, ovs_err *e);

/* Tests only: use this Gumbel noise [B, groups_out, patches] (copied at the next step) instead of
 * drawing it from the rng; NULL returns to drawing. Drop-path is off while noise is injected. */
void ovs_model_set_gumbel(ovs_model *m, const float *noise, size_t n);
/* Tests only: use these drop-path factors [depth0+depth1, B] (0 or 1/keep per block and sample)
 * at the next steps instead of drawing them; NULL returns to drawing (or to none while Gumbel
 * noise is injected). */
void ovs_model_set_droppath(ovs_model *m, const float *factors, size_t n);

/* Tests only: a named activation of the last step ("image_x", "feat", "img_proj", "text_cls",
 * "text_proj", "assign_raw", "assign_hard", "q_all", "a_cls", "a_proj", "mec_answer",
 * "bridge_out"), or NULL; *n gets its length in floats. */
const float *ovs_model_activation(const ovs_model *m, const char *name, size_t *n);

/* Bench only: the parts of a training step that ovs_model_profile times. */
enum {
    OVS_PROF_OTHER,        /* argument checks, zeroing gradients, Gumbel draws, copies */
    OVS_PROF_TEXT_FWD,     /* the three BERT passes (caption, question, answer) */
    OVS_PROF_PROJ_FWD,     /* projection heads and their running statistics */
    OVS_PROF_EMBED_FWD,    /* patch embedding, position embedding, group tokens */
    OVS_PROF_VIT0_FWD,     /* ViT blocks before grouping */
    OVS_PROF_GROUP_FWD,    /* grouping block */
    OVS_PROF_VIT1_FWD,     /* ViT blocks after grouping, final LN, mean */
    OVS_PROF_MEC_FWD,      /* masked-entity-completion decoder */
    OVS_PROF_LOSS,         /* both contrastive losses, forward and backward */
    OVS_PROF_PROJ_BWD,
    OVS_PROF_MEC_BWD,
    OVS_PROF_TEXT_BWD,
    OVS_PROF_VIT1_BWD,
    OVS_PROF_GROUP_BWD,
    OVS_PROF_VIT0_BWD,
    OVS_PROF_EMBED_BWD,
    OVS_PROF_N
};
/* Bench only: when sec is not NULL, every later step ADDS the seconds spent in part i to sec[i]
 * (i < OVS_PROF_N); NULL turns timing off (then no clock is read). */
void ovs_model_profile(ovs_model *m, double *sec);
const char *ovs_model_profile_name(int part);

/* Floats in the preallocated activation and scratch arena (parameters and gradients excluded). */
size_t ovs_model_activation_floats(const ovs_model *m);

/* exp(logit_scale) clamped at 100: the temperature the losses and zero-shot scoring use. */
float ovs_model_logit_scale(const ovs_model *m);

/* Eval-mode image encoding (BatchNorm running statistics, hard argmax assignment, no Gumbel).
 * img: [B,3,H,W] normalised, H and W multiples of the patch size; when H, W differ from the
 * training size the position embedding is bicubic-resized (align_corners=False) as the paper's
 * code does at test time. h = H/patch, w = W/patch, K = groups_out, D = proj_out. Outputs (each
 * may be NULL):
 *   image_x [B,D]      projected, L2-normalised pooled image feature
 *   groups  [B,K,D]    projected, L2-normalised group features
 *   hard    [B,K,h*w]  one-hot assignment of each patch to a group
 *   logits  [B,K,h*w]  assignment logits q.k/sqrt(C); softmax over K gives the 'soft' map
 * Allocates its own workspace per call (not for the training loop). Thread-compatible, not
 * thread-safe (uses the model's parameters read-only). */
int ovs_model_encode_image(ovs_model *m, const float *img, int B, int H, int W, float *image_x,
                           float *groups, float *hard, float *logits, ovs_err *e);

/* Eval-mode text encoding: ids/mask [B,L] (L <= max_pos) -> out [B,D] projected, L2-normalised
 * [CLS] features. Allocates its own workspace per call. */
int ovs_model_encode_text(ovs_model *m, const int32_t *ids, const int32_t *mask, int B, int L,
                          float *out, ovs_err *e);

#endif
