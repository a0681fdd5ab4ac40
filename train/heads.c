/* heads.c — the heads and losses: ProjectMLP (1x1 conv, BatchNorm1d, ReLU, 1x1 conv) followed by
 * L2 normalisation, the symmetric contrastive loss with the clamped logit scale, and the masked
 * entity completion decoder (MultimodalGroupingBlock: LN, post-norm cross-attention to the
 * groups, a self-attention block with a residual, LN; the [CLS] row is the answer). */
#include <math.h>
#include <string.h>

#include "train/model_internal.h"

#define W_(o) (P + (o))
#define G_(o) (G + (o))

/* ── ProjectMLP ────────────────────────────────────────────────────────────────────────── */

void proj_layout(a_proj *a, arena *ar, const ovs_config *c, int N, int Cin) {
    int Hd = c->proj_hidden, D = c->proj_out;
    a->N = N;
    a->Cin = Cin;
    a->sync = NULL;
    a->hid = take(ar, (size_t)N * Hd); a->bn = take(ar, (size_t)N * Hd);
    a->bm = take(ar, Hd); a->br = take(ar, Hd);
    a->out = take(ar, (size_t)N * D); a->nrm = take(ar, (size_t)N * D); a->norm = take(ar, N);
    a->dout = take(ar, (size_t)N * D); a->dbn = take(ar, (size_t)N * Hd);
}

void proj_forward(const ovs_config *c, const p_proj *pp, float *P, a_proj *a, const float *in,
                  int train, int update) {
    int N = a->N, C = a->Cin, Hd = c->proj_hidden, D = c->proj_out;
    a->in = in;
    linear_forward(a->hid, Hd, in, C, W_(pp->hid.w), W_(pp->hid.b), N, C, Hd);
    if (train && a->sync) {
        syncbn_forward(a->sync, a->bn, a->bm, a->br, a->hid, W_(pp->bn.w), W_(pp->bn.b), N, Hd,
                       update ? P + pp->rmean : NULL, update ? P + pp->rvar : NULL, BN_MOMENTUM, BN_EPS);
        if (update) P[pp->nbt] += 1.0f;
    } else if (train) {
        batchnorm_train_forward(a->bn, a->bm, a->br, a->hid, W_(pp->bn.w), W_(pp->bn.b), N, Hd,
                                update ? P + pp->rmean : NULL, update ? P + pp->rvar : NULL, BN_MOMENTUM, BN_EPS);
        if (update) P[pp->nbt] += 1.0f;
    } else {
        batchnorm_eval_forward(a->bn, a->hid, W_(pp->bn.w), W_(pp->bn.b), W_(pp->rmean), W_(pp->rvar), N, Hd, BN_EPS);
    }
    relu_forward(a->bn, (size_t)N * Hd);
    linear_forward(a->out, D, a->bn, Hd, W_(pp->out.w), W_(pp->out.b), N, Hd, D);
    l2norm_forward(a->nrm, a->norm, a->out, N, D);
}

void proj_backward(const ovs_config *c, const p_proj *pp, const float *P, float *G, a_proj *a,
                   float *dnrm, float *din, scratch *s) {
    (void)s;
    int N = a->N, C = a->Cin, Hd = c->proj_hidden, D = c->proj_out;
    memset(a->dout, 0, sizeof(float) * (size_t)N * D);
    l2norm_backward(a->dout, dnrm, a->nrm, a->norm, N, D);
    linear_backward(a->dbn, Hd, 0, G_(pp->out.w), G_(pp->out.b), a->dout, D, a->bn, Hd, W_(pp->out.w), N, Hd, D);
    relu_backward(a->dbn, a->bn, (size_t)N * Hd);
    if (a->sync) syncbn_backward(a->sync, a->dbn, G_(pp->bn.w), G_(pp->bn.b), a->dbn, a->hid, W_(pp->bn.w), a->bm, a->br, N, Hd);
    else batchnorm_backward(a->dbn, G_(pp->bn.w), G_(pp->bn.b), a->dbn, a->hid, W_(pp->bn.w), a->bm, a->br, N, Hd);
    linear_backward(din, C, 1, G_(pp->hid.w), G_(pp->hid.b), a->dbn, Hd, a->in, C, W_(pp->hid.w), N, C, Hd);
}

void proj_running_only(const ovs_config *c, const p_proj *pp, float *P, const float *in, size_t N,
                       int C, float *chunk, size_t chunk_rows, double *acc, ovs_sync *sync) {
    int Hd = c->proj_hidden;
    double *sum = acc, *sq = acc + Hd;
    memset(acc, 0, sizeof(double) * 2 * (size_t)Hd);
    for (size_t r0 = 0; r0 < N; r0 += chunk_rows) {
        int n = (int)(N - r0 < chunk_rows ? N - r0 : chunk_rows);
        linear_forward(chunk, Hd, in + r0 * C, C, W_(pp->hid.w), W_(pp->hid.b), n, C, Hd);
        colstats_add(sum, sq, chunk, n, Hd);
    }
    if (sync) { /* the running statistics of every rank's rows */
        sync_sum(sync, acc, 2 * (size_t)Hd);
        N *= (size_t)sync->c.world;
    }
    batchnorm_running_update(P + pp->rmean, P + pp->rvar, sum, sq, N, Hd, BN_MOMENTUM);
    P[pp->nbt] += 1.0f;
}

/* ── contrastive loss ──────────────────────────────────────────────────────────────────── */

void con_layout(a_con *a, arena *ar, int B) {
    a->sim = take(ar, (size_t)B * B); a->dl1 = take(ar, (size_t)B * B); a->dl2 = take(ar, (size_t)B * B);
    a->labels = (int *)take(ar, (size_t)B);
}

/* L = (CE(s a b^T, i) + CE(s b a^T, i)) / 2 */
float contrastive_forward(a_con *a, const float *na, const float *nb, float s, int B, int D) {
    a->a = na; a->b = nb;
    for (int i = 0; i < B; i++) a->labels[i] = i;
    mm(0, 1, B, B, D, 1.0f, na, D, nb, D, 0.0f, a->sim, B);
    /* dl1: rows = images (a), dl2: rows = texts (b), both as logits then gradients */
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            a->dl1[(size_t)i * B + j] = s * a->sim[(size_t)i * B + j];
            a->dl2[(size_t)j * B + i] = s * a->sim[(size_t)i * B + j];
        }
    float l1 = cross_entropy_forward_backward(a->dl1, a->dl1, B, a->labels, B, B, 0.5f);
    float l2 = cross_entropy_forward_backward(a->dl2, a->dl2, B, a->labels, B, B, 0.5f);
    a->loss = 0.5f * (l1 + l2);
    return a->loss;
}

float contrastive_backward(a_con *a, float s, int B, int D, float *da, float *db) {
    /* dsim[i][j] = s * (dl1[i][j] + dl2[j][i]); reuse dl1 for dsim */
    double ds = 0.0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < B; j++) {
            float g = a->dl1[(size_t)i * B + j] + a->dl2[(size_t)j * B + i];
            ds += (double)g * a->sim[(size_t)i * B + j];
            a->dl1[(size_t)i * B + j] = s * g;
        }
    mm(0, 0, B, D, B, 1.0f, a->dl1, B, a->b, D, 1.0f, da, D);
    mm(1, 0, B, D, B, 1.0f, a->dl1, B, a->a, D, 1.0f, db, D);
    return (float)ds;
}

/* ── masked entity completion decoder ─────────────────────────────────────────────────── */

void mec_layout(a_mec *a, arena *ar, const ovs_config *c, int B, int L) {
    int C = ovs_mem_width(c), K = c->groups_out;
    size_t n = (size_t)B * L * C, bl = (size_t)B * L, bk = (size_t)B * K;
    a->tn = take(ar, n); a->tm = take(ar, bl); a->tr = take(ar, bl);
    a->vn = take(ar, bk * C); a->vm = take(ar, bk); a->vr = take(ar, bk);
    xblock_layout(&a->pre, ar, B, L, K, C, c->mem_heads);
    block_layout(&a->post, ar, B, L, C, c->mem_heads, 4 * C);
    a->sum = take(ar, n); a->out = take(ar, n); a->om = take(ar, bl); a->orr = take(ar, bl);
    a->answer = take(ar, (size_t)B * C);
    a->dfull = take(ar, n); a->dsum = take(ar, n); a->dtn = take(ar, n); a->dvn = take(ar, bk * C);
}

void mec_forward(const ovs_config *c, const p_model *pm, const float *P, a_mec *a,
                 const float *feat, const float *qall, int B, int L) {
    int C = ovs_mem_width(c), K = c->groups_out, H = c->mem_heads;
    const p_mec *p = &pm->mec;
    layernorm_forward(a->tn, C, a->tm, a->tr, qall, C, W_(p->norm_tokens.w), W_(p->norm_tokens.b), B * L, C, LN_EPS);
    layernorm_forward(a->vn, C, a->vm, a->vr, feat, C, W_(p->norm_x.w), W_(p->norm_x.b), B * K, C, LN_EPS);
    xblock_forward(P, &p->pre, &a->pre, a->tn, a->vn, B, L, K, C, H);
    block_forward(P, &p->post, &a->post, a->pre.out, B, L, C, H, 4 * C, NULL);
    residual_forward(a->sum, a->post.out, a->pre.out, NULL, 1, (size_t)B * L * C);
    layernorm_forward(a->out, C, a->om, a->orr, a->sum, C, W_(p->norm_new_x.w), W_(p->norm_new_x.b), B * L, C, LN_EPS);
    for (int b = 0; b < B; b++) memcpy(a->answer + (size_t)b * C, a->out + (size_t)b * L * C, sizeof(float) * (size_t)C);
}

void mec_backward(const ovs_config *c, const p_model *pm, const float *P, float *G, a_mec *a,
                  const float *feat, const float *qall, const float *danswer, float *dfeat,
                  float *dqall, scratch *s, int B, int L) {
    int C = ovs_mem_width(c), K = c->groups_out, H = c->mem_heads;
    size_t n = (size_t)B * L * C;
    const p_mec *p = &pm->mec;
    memset(a->dfull, 0, sizeof(float) * n);
    for (int b = 0; b < B; b++) memcpy(a->dfull + (size_t)b * L * C, danswer + (size_t)b * C, sizeof(float) * (size_t)C);
    memset(a->dsum, 0, sizeof(float) * n);
    layernorm_backward(a->dsum, C, G_(p->norm_new_x.w), G_(p->norm_new_x.b), a->dfull, C, a->sum, C, W_(p->norm_new_x.w), a->om, a->orr, B * L, C);
    /* sum = post(pr) + pr: dfull becomes d pr */
    memcpy(a->dfull, a->dsum, sizeof(float) * n);
    block_backward(P, G, &p->post, &a->post, a->dsum, s, B, L, C, H, 4 * C, NULL);
    residual_backward(a->dfull, NULL, a->dsum, NULL, 1, n);
    memset(a->dtn, 0, sizeof(float) * n);
    memset(a->dvn, 0, sizeof(float) * (size_t)B * K * C);
    xblock_backward(P, G, &p->pre, &a->pre, a->tn, a->vn, a->dfull, a->dtn, a->dvn, s, B, L, K, C, H);
    layernorm_backward(dqall, C, G_(p->norm_tokens.w), G_(p->norm_tokens.b), a->dtn, C, qall, C, W_(p->norm_tokens.w), a->tm, a->tr, B * L, C);
    layernorm_backward(dfeat, C, G_(p->norm_x.w), G_(p->norm_x.b), a->dvn, C, feat, C, W_(p->norm_x.w), a->vm, a->vr, B * K, C);
}
