/* model_internal.h — what the model's files share: parameter offsets per module, activation
 * layouts, and the forward/backward of each part (image.c, text.c, heads.c; model.c drives them).
 * Parameters are offsets into the one parameter block (the same offsets index the gradients). */
#ifndef OVS_MODEL_INTERNAL_H
#define OVS_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "train/layers.h"
#include "train/model.h"

/* ── parameters (offsets) ──────────────────────────────────────────────────────────────── */
typedef struct { size_t w, b; } p_lin;            /* Linear / Conv weight [out,in(,1..)], bias [out] */
typedef struct { size_t w, b; } p_ln;             /* LayerNorm weight, bias */
typedef struct { p_ln norm1; p_lin qkv, proj; p_ln norm2; p_lin fc1, fc2; } p_block;       /* AttnBlock */
typedef struct { p_ln norm_post; p_lin q, k, v, proj; p_ln norm2; p_lin fc1, fc2; } p_xblock; /* CrossAttnBlock */
typedef struct { p_lin q, k, v, proj; } p_assign;
typedef struct {
    p_ln norm_tokens; p_lin inter1, inter2; p_ln norm_post_tokens, norm_x;
    p_xblock pre; p_assign assign; p_ln norm_new_x; p_lin ch1, ch2;
} p_group;
typedef struct { p_lin q, k, v, o; p_ln ln1; p_lin inter, out; p_ln ln2; } p_blayer;
typedef struct { p_lin hid; p_ln bn; size_t rmean, rvar, nbt; p_lin out; } p_proj;
typedef struct { p_ln norm_tokens, norm_x; p_xblock pre; p_block post; p_assign assign; p_ln norm_new_x; } p_mec;

typedef struct {
    size_t logit_scale, pos_embed, patch_w, patch_b, group_token, norm_w, norm_b;
    p_block *blocks0, *blocks1;
    p_group group;
    size_t word, pos, type; p_ln emb_ln; p_blayer *layers; p_lin pooler;
    p_proj img_proj, text_proj, bridge;
    p_lin align_img, align_text;   /* present when width > text_width / text_width > width */
    p_mec mec;
} p_model;

/* ── activation arena: a counting pass sizes it, an assigning pass lays it out ─────────── */
typedef struct { float *base; size_t used, cap; } arena;
float *take(arena *a, size_t n);   /* NULL in the counting pass (base == NULL) */

/* ── step timing (bench only; off = one NULL test per part) ──────────────────────────────── */
typedef struct { double *sec; double last; } prof;
/* Adds the time since the previous mark to part (no clock read when p or p->sec is NULL). */
void prof_mark(prof *p, int part);

/* ── activations ───────────────────────────────────────────────────────────────────────── */
typedef struct {                   /* pre-LN AttnBlock over N = B*T rows */
    float *in;                     /* the block input (points at the previous output) */
    float *ln1, *m1, *r1, *qkv, *probs, *att, *x1, *ln2, *m2, *r2, *h, *g, *out;
    const int *rowmask;            /* local_patches: [T,T] visible keys per token, else NULL */
} a_block;
typedef struct {                   /* post-norm CrossAttnBlock: queries [B,Nq,C], keys [B,Nk,C] */
    float *q, *k, *v, *probs, *att, *x1, *ln2, *m2, *r2, *h, *g, *x2, *out, *mo, *ro;
} a_xblock;
typedef struct {
    float *gn, *gm, *gr, *xn, *xm, *xr, *ih, *ig, *p0, *p, *pm, *pr;
    a_xblock pre;
    float *aq, *ak, *av, *raw, *soft, *hard, *assign, *ao, *nw, *nn, *nm, *nr, *h, *g, *out;
    /* gradients */
    float *dnw, *dp2, *dxn, *dp, *dp0, *dig, *dgn;
    const float *daq_extra;        /* stage 2: added to the grad of aq [B,K,C] in backward (or NULL) */
} a_group;
typedef struct {
    int B, Hs, Ws, gh, gw, P, T;  /* batch, image height/width, patch grid, patches, tokens */
    float *cols, *posbuf, *x0;     /* im2col [B*P, 3*p*p], resized position embedding [P,C], [B,T,C] */
    const float *pos;              /* the position embedding used (set by the caller) */
    a_block *b0, *b1;
    float *xs, *dxs;               /* patch rows of the last stage-0 block, contiguous [B,P,C] */
    float *gs, *dgs;               /* group rows, contiguous [B,G,C] */
    float *d0, *d1;                /* residual-stream gradients [B,T,C], [B,K,C] */
    a_group grp;
    float *feat, *fm, *fr, *image_x; /* final LN [B,K,C], mean over groups [B,C] */
    float *drop;                   /* per block, per sample drop-path factors [(d0+d1), B] */
    int use_drop;                  /* 1 when drop holds this step's factors (training only) */
    prof *prof;                    /* step timing (bench), NULL when off */
} a_image;
typedef struct {
    float *q, *k, *v, *probs, *ctx, *a, *h1, *m1, *r1, *ih, *ig, *o, *h2, *m2, *r2;
} a_blayer;
typedef struct {
    int B, L;
    const int32_t *ids, *mask;
    float *emb, *x0, *m0, *r0;
    a_blayer *layers;
    float *cls;                    /* [B,C] */
} a_text;
/* The model's link to the other ranks during a step (train/collective.c); NULL when alone. */
typedef struct ovs_sync {
    ovs_collective c;
    int rc;                        /* the first failed collective of the step (later ones skip) */
    ovs_err err;
    double *buf;                   /* scratch: 4 x proj_hidden doubles */
} ovs_sync;
/* In-place sum over ranks; after a failure returns it without communicating. */
int sync_sum(ovs_sync *s, double *buf, size_t n);
int sync_gather(ovs_sync *s, const float *send, float *recv, size_t n);
/* Draws for the global batch, n per rank, come in rank order: before = 1 skips the draws of the
 * ranks before this one (rank x n), before = 0 those of the ranks after it. One u64 per draw. */
void sync_skip(const ovs_sync *s, ovs_rng *rng, size_t n_per_rank, int before);
/* BatchNorm over the global batch (N rows here, N x world in all): forward, and backward whose
 * input gradient uses the global sums; dw, db get this rank's part (the gradient sum adds the rest). */
void syncbn_forward(ovs_sync *s, float *out, float *mean, float *rstd, const float *inp, const float *w,
                    const float *b, int N, int C, float *rmean, float *rvar, float momentum, float eps);
void syncbn_backward(ovs_sync *s, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, const float *mean, const float *rstd, int N, int C);

typedef struct {                   /* ProjectMLP over N rows, then L2 normalisation */
    int N, Cin;
    ovs_sync *sync;                /* train-mode BatchNorm over all ranks' rows (NULL: these rows) */
    const float *in;
    float *hid, *bn, *bm, *br, *out, *nrm, *norm;
    float *dout, *dbn;             /* gradients [N,D], [N,hidden] */
} a_proj;
typedef struct {                   /* symmetric contrastive loss of two normalised [B,D] sides */
    const float *a, *b;
    float *sim, *dl1, *dl2;        /* a b^T, and the CE gradients of both directions [B,B] */
    int *labels;
    float loss;
} a_con;
typedef struct {
    float *tn, *tm, *tr, *vn, *vm, *vr;
    a_xblock pre;
    a_block post;
    float *sum, *out, *om, *orr, *answer;
    float *dfull, *dsum, *dtn, *dvn;  /* gradients */
} a_mec;

/* scratch for backward, sized for the largest use */
typedef struct { float *d0, *d1, *d2, *d3, *d4, *dp; } scratch;

/* ── parts (image.c, text.c, heads.c) ──────────────────────────────────────────────────── */
void block_layout(a_block *a, arena *ar, int B, int T, int C, int H, int hidden);
void block_forward(const float *P, const p_block *p, a_block *a, const float *in, int B, int T,
                   int C, int H, int hidden, const float *drop);
/* dres: grad of the block output [B,T,C]; becomes (in place) the grad of its input. */
void block_backward(const float *P, float *G, const p_block *p, a_block *a, float *dres,
                    scratch *s, int B, int T, int C, int H, int hidden, const float *drop);
void xblock_layout(a_xblock *a, arena *ar, int B, int Nq, int Nk, int C, int H);
void xblock_forward(const float *P, const p_xblock *p, a_xblock *a, const float *qin,
                    const float *kin, int B, int Nq, int Nk, int C, int H);
/* dout: grad of the block output [B,Nq,C] (destroyed); dq/dk accumulate. */
void xblock_backward(const float *P, float *G, const p_xblock *p, a_xblock *a, const float *qin,
                     const float *kin, float *dout, float *dq, float *dk, scratch *s, int B,
                     int Nq, int Nk, int C, int H);

void image_layout(a_image *a, arena *ar, const ovs_config *c, int B, int Hs, int Ws);
void image_forward(const ovs_config *c, const p_model *pm, const float *P, a_image *a,
                   const float *img, const float *noise, int train);
/* dfeat: grad of a->feat [B,K,C] (destroyed). */
void image_backward(const ovs_config *c, const p_model *pm, const float *P, float *G, a_image *a,
                    float *dfeat, scratch *s);

void text_layout(a_text *a, arena *ar, const ovs_config *c, int B, int L);
void group_layout(a_group *a, arena *ar, const ovs_config *c, int B, int P);
void text_forward(const ovs_config *c, const p_model *pm, const float *P, a_text *a,
                  const int32_t *ids, const int32_t *mask);
/* dlast: grad of the last hidden state [B,L,C] (destroyed). */
void text_backward(const ovs_config *c, const p_model *pm, const float *P, float *G, a_text *a,
                   float *dlast, scratch *s);
float *text_last(const ovs_config *c, a_text *a);   /* last hidden state [B,L,C] */

void proj_layout(a_proj *a, arena *ar, const ovs_config *c, int N, int Cin);
/* train: batch statistics (running statistics updated when update != 0); else running statistics. */
void proj_forward(const ovs_config *c, const p_proj *pp, float *P, a_proj *a, const float *in,
                  int train, int update);
/* dnrm: grad of the normalised output [N,D] (destroyed); din accumulates [N,C]. */
void proj_backward(const ovs_config *c, const p_proj *pp, const float *P, float *G, a_proj *a,
                   float *dnrm, float *din, scratch *s);
/* Running statistics of the projector's BatchNorm from N rows without gradients (chunked). */
void proj_running_only(const ovs_config *c, const p_proj *pp, float *P, const float *in, size_t N,
                       int Cin, float *chunk, size_t chunk_rows, double *acc, ovs_sync *sync);
/* the entity decoder's width: min(width, text_width) (the paper's align_proj_* map the wider side) */
static inline int ovs_mem_width(const ovs_config *c) { return c->width < c->text_width ? c->width : c->text_width; }
void con_layout(a_con *a, arena *ar, int B);
float contrastive_forward(a_con *a, const float *na, const float *nb, float s, int B, int D);
/* adds to da/db (grads of the normalised features) and returns d loss / d s. */
float contrastive_backward(a_con *a, float s, int B, int D, float *da, float *db);

void mec_layout(a_mec *a, arena *ar, const ovs_config *c, int B, int L);
void mec_forward(const ovs_config *c, const p_model *pm, const float *P, a_mec *a,
                 const float *feat, const float *qall, int B, int L);
/* danswer [B,C] -> dfeat [B,K,C], dqall [B,L,C] accumulate. */
void mec_backward(const ovs_config *c, const p_model *pm, const float *P, float *G, a_mec *a,
                  const float *feat, const float *qall, const float *danswer, float *dfeat,
                  float *dqall, scratch *s, int B, int L);

/* ── stage-2 hooks (train/stage2.c) ───────────────────────────────────────────────────── */
/* Called by ovs_model_step between the forward and the backward: may read the activations, set
 * img.grp.daq_extra, and returns its (unweighted) loss in *loss; the step adds weight × loss. */
typedef int (*ovs_model_hook)(void *ctx, ovs_model *m, const ovs_batch *b, ovs_rng *rng, float *loss, ovs_err *e);
void ovs_model_set_hook(ovs_model *m, ovs_model_hook fn, void *ctx, float weight);
/* Freezes the text encoder (text_encoder.*: trainable = 0, no backward through it). */
void ovs_model_freeze_text(ovs_model *m);
a_image *ovs_model_image_act(ovs_model *m);
const p_model *ovs_model_pm(const ovs_model *m);
int ovs_model_max_batch(const ovs_model *m);
ovs_sync *ovs_model_sync(ovs_model *m);   /* NULL when training alone */

#define LN_EPS 1e-5f
#define BERT_EPS 1e-12f
#define BN_EPS 1e-5f
#define BN_MOMENTUM 0.1f

#endif
