/* image.c — the GroupViT image encoder: pre-LN transformer blocks, the post-norm cross-attention
 * block, the grouping block (token MLP, cross-attention, Gumbel-hard assignment) and the whole
 * encoder (patch embedding, stage 0 on [patches; group tokens], grouping, stage 1, final LN). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/model_internal.h"

#define W_(o) (P + (o))
#define G_(o) (G + (o))

/* ── pre-LN AttnBlock (fused qkv) over [B,T,C] ─────────────────────────────────────────── */

void block_layout(a_block *a, arena *ar, int B, int T, int C, int H, int hidden) {
    size_t N = (size_t)B * T;
    a->ln1 = take(ar, N * C); a->m1 = take(ar, N); a->r1 = take(ar, N);
    a->qkv = take(ar, N * 3 * C); a->probs = take(ar, (size_t)B * H * T * T);
    a->att = take(ar, N * C); a->x1 = take(ar, N * C);
    a->ln2 = take(ar, N * C); a->m2 = take(ar, N); a->r2 = take(ar, N);
    a->h = take(ar, N * hidden); a->g = take(ar, N * hidden); a->out = take(ar, N * C);
}

static attn_shape self_shape(int B, int T, int C, int H) {
    attn_shape s = {B, H, T, T, C / H, 3 * C, 3 * C, 3 * C, C, (size_t)T * 3 * C, (size_t)T * 3 * C,
                    (size_t)T * 3 * C, (size_t)T * C, 1.0f / sqrtf((float)(C / H)), NULL, NULL};
    return s;
}

void block_forward(const float *P, const p_block *p, a_block *a, const float *in, int B, int T,
                   int C, int H, int hidden, const float *drop) {
    int N = B * T;
    size_t per = (size_t)T * C, n = (size_t)N * C;
    a->in = (float *)in;
    layernorm_forward(a->ln1, C, a->m1, a->r1, in, C, W_(p->norm1.w), W_(p->norm1.b), N, C, LN_EPS);
    linear_forward(a->qkv, 3 * C, a->ln1, C, W_(p->qkv.w), W_(p->qkv.b), N, C, 3 * C);
    attn_shape s = self_shape(B, T, C, H);
    s.rowmask = a->rowmask;
    attention_forward(a->att, a->probs, a->qkv, a->qkv + C, a->qkv + 2 * C, &s);
    linear_forward(a->x1, C, a->att, C, W_(p->proj.w), W_(p->proj.b), N, C, C);
    residual_forward(a->x1, in, a->x1, drop, per, n);
    layernorm_forward(a->ln2, C, a->m2, a->r2, a->x1, C, W_(p->norm2.w), W_(p->norm2.b), N, C, LN_EPS);
    linear_forward(a->h, hidden, a->ln2, C, W_(p->fc1.w), NULL, N, C, hidden);
    bias_gelu_forward(a->g, a->h, W_(p->fc1.b), (size_t)N, hidden);
    linear_forward(a->out, C, a->g, hidden, W_(p->fc2.w), W_(p->fc2.b), N, hidden, C);
    residual_forward(a->out, a->x1, a->out, drop, per, n);
}

/* the residual branch's gradient: dres scaled by the drop-path factor (or dres itself) */
static const float *branch_grad(float *tmp, const float *dres, const float *drop, size_t per, size_t n) {
    if (!drop) return dres;
    for (size_t i = 0; i < n; i++) tmp[i] = dres[i] * drop[i / per];
    return tmp;
}

void block_backward(const float *P, float *G, const p_block *p, a_block *a, float *dres,
                    scratch *s, int B, int T, int C, int H, int hidden, const float *drop) {
    int N = B * T;
    size_t per = (size_t)T * C, n = (size_t)N * C;
    /* MLP branch */
    const float *db = branch_grad(s->d0, dres, drop, per, n);
    linear_backward(s->d3, hidden, 0, G_(p->fc2.w), G_(p->fc2.b), db, C, a->g, hidden, W_(p->fc2.w), N, hidden, C);
    gelu_backward(s->d3, s->d3, a->h, (size_t)N * hidden);
    linear_backward(s->d4, C, 0, G_(p->fc1.w), G_(p->fc1.b), s->d3, hidden, a->ln2, C, W_(p->fc1.w), N, C, hidden);
    layernorm_backward(dres, C, G_(p->norm2.w), G_(p->norm2.b), s->d4, C, a->x1, C, W_(p->norm2.w), a->m2, a->r2, N, C);
    /* attention branch */
    db = branch_grad(s->d0, dres, drop, per, n);
    linear_backward(s->d2, C, 0, G_(p->proj.w), G_(p->proj.b), db, C, a->att, C, W_(p->proj.w), N, C, C);
    memset(s->d1, 0, sizeof(float) * n * 3);
    attn_shape sh = self_shape(B, T, C, H);
    attention_backward(s->d1, s->d1 + C, s->d1 + 2 * C, s->dp, s->d2, a->probs, a->qkv, a->qkv + C, a->qkv + 2 * C, &sh);
    linear_backward(s->d4, C, 0, G_(p->qkv.w), G_(p->qkv.b), s->d1, 3 * C, a->ln1, C, W_(p->qkv.w), N, C, 3 * C);
    layernorm_backward(dres, C, G_(p->norm1.w), G_(p->norm1.b), s->d4, C, a->in, C, W_(p->norm1.w), a->m1, a->r1, N, C);
}

/* ── post-norm CrossAttnBlock ──────────────────────────────────────────────────────────── */

void xblock_layout(a_xblock *a, arena *ar, int B, int Nq, int Nk, int C, int H) {
    size_t q = (size_t)B * Nq, k = (size_t)B * Nk;
    a->q = take(ar, q * C); a->k = take(ar, k * C); a->v = take(ar, k * C);
    a->probs = take(ar, (size_t)B * H * Nq * Nk); a->att = take(ar, q * C); a->x1 = take(ar, q * C);
    a->ln2 = take(ar, q * C); a->m2 = take(ar, q); a->r2 = take(ar, q);
    a->h = take(ar, q * 4 * C); a->g = take(ar, q * 4 * C); a->x2 = take(ar, q * C);
    a->out = take(ar, q * C); a->mo = take(ar, q); a->ro = take(ar, q);
}

static attn_shape cross_shape(int B, int Nq, int Nk, int C, int H) {
    attn_shape s = {B, H, Nq, Nk, C / H, C, C, C, C, (size_t)Nq * C, (size_t)Nk * C, (size_t)Nk * C,
                    (size_t)Nq * C, 1.0f / sqrtf((float)(C / H)), NULL, NULL};
    return s;
}

void xblock_forward(const float *P, const p_xblock *p, a_xblock *a, const float *qin,
                    const float *kin, int B, int Nq, int Nk, int C, int H) {
    int q = B * Nq, k = B * Nk;
    size_t n = (size_t)q * C;
    linear_forward(a->q, C, qin, C, W_(p->q.w), W_(p->q.b), q, C, C);
    linear_forward(a->k, C, kin, C, W_(p->k.w), W_(p->k.b), k, C, C);
    linear_forward(a->v, C, kin, C, W_(p->v.w), W_(p->v.b), k, C, C);
    attn_shape s = cross_shape(B, Nq, Nk, C, H);
    attention_forward(a->att, a->probs, a->q, a->k, a->v, &s);
    linear_forward(a->x1, C, a->att, C, W_(p->proj.w), W_(p->proj.b), q, C, C);
    residual_forward(a->x1, qin, a->x1, NULL, 1, n);
    layernorm_forward(a->ln2, C, a->m2, a->r2, a->x1, C, W_(p->norm2.w), W_(p->norm2.b), q, C, LN_EPS);
    linear_forward(a->h, 4 * C, a->ln2, C, W_(p->fc1.w), NULL, q, C, 4 * C);
    bias_gelu_forward(a->g, a->h, W_(p->fc1.b), (size_t)q, 4 * C);
    linear_forward(a->x2, C, a->g, 4 * C, W_(p->fc2.w), W_(p->fc2.b), q, 4 * C, C);
    residual_forward(a->x2, a->x1, a->x2, NULL, 1, n);
    layernorm_forward(a->out, C, a->mo, a->ro, a->x2, C, W_(p->norm_post.w), W_(p->norm_post.b), q, C, LN_EPS);
}

void xblock_backward(const float *P, float *G, const p_xblock *p, a_xblock *a, const float *qin,
                     const float *kin, float *dout, float *dq, float *dk, scratch *s, int B,
                     int Nq, int Nk, int C, int H) {
    int q = B * Nq, k = B * Nk;
    size_t n = (size_t)q * C;
    float *dx = s->d0;
    memset(dx, 0, sizeof(float) * n);
    layernorm_backward(dx, C, G_(p->norm_post.w), G_(p->norm_post.b), dout, C, a->x2, C, W_(p->norm_post.w), a->mo, a->ro, q, C);
    linear_backward(s->d3, 4 * C, 0, G_(p->fc2.w), G_(p->fc2.b), dx, C, a->g, 4 * C, W_(p->fc2.w), q, 4 * C, C);
    gelu_backward(s->d3, s->d3, a->h, (size_t)q * 4 * C);
    linear_backward(s->d4, C, 0, G_(p->fc1.w), G_(p->fc1.b), s->d3, 4 * C, a->ln2, C, W_(p->fc1.w), q, C, 4 * C);
    layernorm_backward(dx, C, G_(p->norm2.w), G_(p->norm2.b), s->d4, C, a->x1, C, W_(p->norm2.w), a->m2, a->r2, q, C);
    residual_backward(dq, NULL, dx, NULL, 1, n);
    linear_backward(s->d2, C, 0, G_(p->proj.w), G_(p->proj.b), dx, C, a->att, C, W_(p->proj.w), q, C, C);
    float *dqq = s->d1, *dkk = dqq + n, *dvv = dkk + (size_t)k * C;
    memset(dqq, 0, sizeof(float) * (n + 2 * (size_t)k * C));
    attn_shape sh = cross_shape(B, Nq, Nk, C, H);
    attention_backward(dqq, dkk, dvv, s->dp, s->d2, a->probs, a->q, a->k, a->v, &sh);
    linear_backward(dq, C, 1, G_(p->q.w), G_(p->q.b), dqq, C, qin, C, W_(p->q.w), q, C, C);
    linear_backward(dk, C, 1, G_(p->k.w), G_(p->k.b), dkk, C, kin, C, W_(p->k.w), k, C, C);
    linear_backward(dk, C, 1, G_(p->v.w), G_(p->v.b), dvv, C, kin, C, W_(p->v.w), k, C, C);
}

/* ── GroupingBlock ─────────────────────────────────────────────────────────────────────── */

void group_layout(a_group *a, arena *ar, const ovs_config *c, int B, int P) {
    int C = c->width, G = c->groups_in, K = c->groups_out, Ch = C / 2;
    size_t bg = (size_t)B * G, bp = (size_t)B * P, bk = (size_t)B * K;
    a->gn = take(ar, bg * C); a->gm = take(ar, bg); a->gr = take(ar, bg);
    a->xn = take(ar, bp * C); a->xm = take(ar, bp); a->xr = take(ar, bp);
    a->ih = take(ar, (size_t)B * Ch * C); a->ig = take(ar, (size_t)B * Ch * C);
    a->p0 = take(ar, bk * C); a->p = take(ar, bk * C); a->pm = take(ar, bk); a->pr = take(ar, bk);
    xblock_layout(&a->pre, ar, B, K, P, C, c->heads);
    a->aq = take(ar, bk * C); a->ak = take(ar, bp * C); a->av = take(ar, bp * C);
    a->raw = take(ar, bk * P); a->soft = take(ar, bk * P); a->hard = take(ar, bk * P);
    a->assign = take(ar, bk * P); a->ao = take(ar, bk * C); a->nw = take(ar, bk * C);
    a->nn = take(ar, bk * C); a->nm = take(ar, bk); a->nr = take(ar, bk);
    a->h = take(ar, bk * 4 * C); a->g = take(ar, bk * 4 * C); a->out = take(ar, bk * C);
    a->dnw = take(ar, bk * C); a->dp2 = take(ar, bk * C); a->dxn = take(ar, bp * C);
    a->dp = take(ar, bk * C); a->dp0 = take(ar, bk * C); a->dig = take(ar, (size_t)B * Ch * C);
    a->dgn = take(ar, bg * C);
}

static void group_forward(const ovs_config *c, const p_group *pg, const float *P, a_group *a,
                          const float *xs, const float *gs, const float *noise, int B, int Np) {
    int C = c->width, G = c->groups_in, K = c->groups_out, Ch = C / 2;
    int bk = B * K;
    layernorm_forward(a->gn, C, a->gm, a->gr, gs, C, W_(pg->norm_tokens.w), W_(pg->norm_tokens.b), B * G, C, LN_EPS);
    layernorm_forward(a->xn, C, a->xm, a->xr, xs, C, W_(pg->norm_x.w), W_(pg->norm_x.b), B * Np, C, LN_EPS);
    /* token MLP over the group axis, computed transposed: ih_b[Ch,C] = W1[Ch,G] gn_b[G,C] + b1 */
    const float *b1 = W_(pg->inter1.b), *b2 = W_(pg->inter2.b);
    for (int b = 0; b < B; b++) {
        float *ih = a->ih + (size_t)b * Ch * C;
        for (int j = 0; j < Ch; j++)
            for (int i = 0; i < C; i++) ih[(size_t)j * C + i] = b1[j];
        mm(0, 0, Ch, C, G, 1.0f, W_(pg->inter1.w), G, a->gn + (size_t)b * G * C, C, 1.0f, ih, C);
    }
    bias_gelu_forward(a->ig, a->ih, NULL, (size_t)B * Ch, C);
    for (int b = 0; b < B; b++) {
        float *p0 = a->p0 + (size_t)b * K * C;
        for (int k = 0; k < K; k++)
            for (int i = 0; i < C; i++) p0[(size_t)k * C + i] = b2[k];
        mm(0, 0, K, C, Ch, 1.0f, W_(pg->inter2.w), Ch, a->ig + (size_t)b * Ch * C, C, 1.0f, p0, C);
    }
    layernorm_forward(a->p, C, a->pm, a->pr, a->p0, C, W_(pg->norm_post_tokens.w), W_(pg->norm_post_tokens.b), bk, C, LN_EPS);
    xblock_forward(P, &pg->pre, &a->pre, a->p, a->xn, B, K, Np, C, c->heads);
    const float *p2 = a->pre.out;
    /* assignment */
    linear_forward(a->aq, C, p2, C, W_(pg->assign.q.w), W_(pg->assign.q.b), bk, C, C);
    linear_forward(a->ak, C, a->xn, C, W_(pg->assign.k.w), W_(pg->assign.k.b), B * Np, C, C);
    linear_forward(a->av, C, a->xn, C, W_(pg->assign.v.w), W_(pg->assign.v.b), B * Np, C, C);
    float scale = 1.0f / sqrtf((float)C);
    for (int b = 0; b < B; b++)
        mm(0, 1, K, Np, C, scale, a->aq + (size_t)b * K * C, C, a->ak + (size_t)b * Np * C, C, 0.0f,
           a->raw + (size_t)b * K * Np, Np);
    assign_forward(a->assign, a->soft, a->hard, a->raw, noise, B, K, Np);
    for (int b = 0; b < B; b++)
        mm(0, 0, K, C, Np, 1.0f, a->assign + (size_t)b * K * Np, Np, a->av + (size_t)b * Np * C, C, 0.0f,
           a->ao + (size_t)b * K * C, C);
    linear_forward(a->nw, C, a->ao, C, W_(pg->assign.proj.w), W_(pg->assign.proj.b), bk, C, C);
    if (!c->no_group_residual) /* departure when set: a group is built from its patches only */
        residual_forward(a->nw, p2, a->nw, NULL, 1, (size_t)bk * C);
    layernorm_forward(a->nn, C, a->nm, a->nr, a->nw, C, W_(pg->norm_new_x.w), W_(pg->norm_new_x.b), bk, C, LN_EPS);
    linear_forward(a->h, 4 * C, a->nn, C, W_(pg->ch1.w), NULL, bk, C, 4 * C);
    bias_gelu_forward(a->g, a->h, W_(pg->ch1.b), (size_t)bk, 4 * C);
    linear_forward(a->out, C, a->g, 4 * C, W_(pg->ch2.w), W_(pg->ch2.b), bk, 4 * C, C);
    residual_forward(a->out, a->nw, a->out, NULL, 1, (size_t)bk * C);
}

/* dout [B,K,C] -> dxs [B,P,C], dgs [B,G,C] (both overwritten) */
static void group_backward(const ovs_config *c, const p_group *pg, const float *P, float *G,
                           a_group *a, const float *xs, const float *gs, const float *dout,
                           float *dxs, float *dgs, scratch *s, int B, int Np) {
    int C = c->width, Gt = c->groups_in, K = c->groups_out, Ch = C / 2;
    int bk = B * K;
    size_t nk = (size_t)bk * C;
    /* mlp_channels with its residual */
    memcpy(a->dnw, dout, sizeof(float) * nk);
    linear_backward(s->d3, 4 * C, 0, G_(pg->ch2.w), G_(pg->ch2.b), dout, C, a->g, 4 * C, W_(pg->ch2.w), bk, 4 * C, C);
    gelu_backward(s->d3, s->d3, a->h, (size_t)bk * 4 * C);
    linear_backward(s->d4, C, 0, G_(pg->ch1.w), G_(pg->ch1.b), s->d3, 4 * C, a->nn, C, W_(pg->ch1.w), bk, C, 4 * C);
    layernorm_backward(a->dnw, C, G_(pg->norm_new_x.w), G_(pg->norm_new_x.b), s->d4, C, a->nw, C, W_(pg->norm_new_x.w), a->nm, a->nr, bk, C);
    /* assignment: nw = proj(assign @ av) + p2 */
    if (c->no_group_residual) memset(a->dp2, 0, sizeof(float) * nk);
    else memcpy(a->dp2, a->dnw, sizeof(float) * nk);
    linear_backward(s->d2, C, 0, G_(pg->assign.proj.w), G_(pg->assign.proj.b), a->dnw, C, a->ao, C, W_(pg->assign.proj.w), bk, C, C);
    float *daq = s->d1, *dak = daq + nk, *dav = dak + (size_t)B * Np * C;
    float *da = s->dp;
    for (int b = 0; b < B; b++) {
        const float *dao = s->d2 + (size_t)b * K * C;
        mm(0, 1, K, Np, C, 1.0f, dao, C, a->av + (size_t)b * Np * C, C, 0.0f, da + (size_t)b * K * Np, Np);
        mm(1, 0, Np, C, K, 1.0f, a->assign + (size_t)b * K * Np, Np, dao, C, 0.0f, dav + (size_t)b * Np * C, C);
    }
    assign_backward(da, da, a->hard, a->soft, B, K, Np);
    float scale = 1.0f / sqrtf((float)C);
    for (int b = 0; b < B; b++) {
        const float *dr = da + (size_t)b * K * Np;
        mm(0, 0, K, C, Np, scale, dr, Np, a->ak + (size_t)b * Np * C, C, 0.0f, daq + (size_t)b * K * C, C);
        mm(1, 0, Np, C, K, scale, dr, Np, a->aq + (size_t)b * K * C, C, 0.0f, dak + (size_t)b * Np * C, C);
    }
    if (a->daq_extra)
        for (size_t i = 0; i < nk; i++) daq[i] += a->daq_extra[i];
    const float *p2 = a->pre.out;
    linear_backward(a->dp2, C, 1, G_(pg->assign.q.w), G_(pg->assign.q.b), daq, C, p2, C, W_(pg->assign.q.w), bk, C, C);
    linear_backward(a->dxn, C, 0, G_(pg->assign.k.w), G_(pg->assign.k.b), dak, C, a->xn, C, W_(pg->assign.k.w), B * Np, C, C);
    linear_backward(a->dxn, C, 1, G_(pg->assign.v.w), G_(pg->assign.v.b), dav, C, a->xn, C, W_(pg->assign.v.w), B * Np, C, C);
    /* pre-assign cross-attention */
    memset(a->dp, 0, sizeof(float) * nk);
    xblock_backward(P, G, &pg->pre, &a->pre, a->p, a->xn, a->dp2, a->dp, a->dxn, s, B, K, Np, C, c->heads);
    memset(a->dp0, 0, sizeof(float) * nk);
    layernorm_backward(a->dp0, C, G_(pg->norm_post_tokens.w), G_(pg->norm_post_tokens.b), a->dp, C, a->p0, C, W_(pg->norm_post_tokens.w), a->pm, a->pr, bk, C);
    /* token MLP */
    float *gW2 = G_(pg->inter2.w), *gb2 = G_(pg->inter2.b), *gW1 = G_(pg->inter1.w), *gb1 = G_(pg->inter1.b);
    for (int b = 0; b < B; b++) {
        const float *dp0 = a->dp0 + (size_t)b * K * C;
        mm(0, 1, K, Ch, C, 1.0f, dp0, C, a->ig + (size_t)b * Ch * C, C, 1.0f, gW2, Ch);
        for (int k = 0; k < K; k++) {
            float t = 0.0f;
            for (int i = 0; i < C; i++) t += dp0[(size_t)k * C + i];
            gb2[k] += t;
        }
        mm(1, 0, Ch, C, K, 1.0f, W_(pg->inter2.w), Ch, dp0, C, 0.0f, a->dig + (size_t)b * Ch * C, C);
    }
    gelu_backward(a->dig, a->dig, a->ih, (size_t)B * Ch * C);
    for (int b = 0; b < B; b++) {
        const float *dih = a->dig + (size_t)b * Ch * C;
        mm(0, 1, Ch, Gt, C, 1.0f, dih, C, a->gn + (size_t)b * Gt * C, C, 1.0f, gW1, Gt);
        for (int j = 0; j < Ch; j++) {
            float t = 0.0f;
            for (int i = 0; i < C; i++) t += dih[(size_t)j * C + i];
            gb1[j] += t;
        }
        mm(1, 0, Gt, C, Ch, 1.0f, W_(pg->inter1.w), Gt, dih, C, 0.0f, a->dgn + (size_t)b * Gt * C, C);
    }
    memset(dgs, 0, sizeof(float) * (size_t)B * Gt * C);
    layernorm_backward(dgs, C, G_(pg->norm_tokens.w), G_(pg->norm_tokens.b), a->dgn, C, gs, C, W_(pg->norm_tokens.w), a->gm, a->gr, B * Gt, C);
    memset(dxs, 0, sizeof(float) * (size_t)B * Np * C);
    layernorm_backward(dxs, C, G_(pg->norm_x.w), G_(pg->norm_x.b), a->dxn, C, xs, C, W_(pg->norm_x.w), a->xm, a->xr, B * Np, C);
}

/* ── the encoder ───────────────────────────────────────────────────────────────────────── */

/* The local_patches mask over [patches; group tokens]: a patch sees the patches of its 3x3
 * neighbourhood only; a group token sees every token. mask[r*T + j] = 1 where row r sees key j. */
static void local_mask(int *mask, int gh, int gw, int T) {
    int P = gh * gw;
    for (int r = 0; r < T; r++)
        for (int j = 0; j < T; j++) {
            int see = 1;
            if (r < P) see = j < P && abs(j / gw - r / gw) <= 1 && abs(j % gw - r % gw) <= 1;
            mask[(size_t)r * T + j] = see;
        }
}

void image_layout(a_image *a, arena *ar, const ovs_config *c, int B, int Hs, int Ws) {
    int C = c->width, p = c->patch, G = c->groups_in, K = c->groups_out, hid = c->mlp_ratio * C;
    a->B = B; a->Hs = Hs; a->Ws = Ws; a->gh = Hs / p; a->gw = Ws / p; a->P = a->gh * a->gw; a->T = a->P + G;
    size_t bt = (size_t)B * a->T, bp = (size_t)B * a->P, bk = (size_t)B * K;
    a->cols = take(ar, bp * 3 * p * p);
    a->posbuf = take(ar, (size_t)a->P * C);
    a->x0 = take(ar, bt * C);
    for (int i = 0; i < c->depth0; i++) block_layout(&a->b0[i], ar, B, a->T, C, c->heads, hid);
    if (c->local_patches) { /* departure: patches see only their 3x3 neighbourhood (docs/demo.md) */
        int *mask = (int *)take(ar, (size_t)a->T * a->T);
        if (mask) local_mask(mask, a->gh, a->gw, a->T);
        for (int i = 0; i < c->depth0; i++) a->b0[i].rowmask = mask;
    }
    a->xs = take(ar, bp * C); a->dxs = take(ar, bp * C);
    a->gs = take(ar, (size_t)B * G * C); a->dgs = take(ar, (size_t)B * G * C);
    group_layout(&a->grp, ar, c, B, a->P);
    for (int i = 0; i < c->depth1; i++) block_layout(&a->b1[i], ar, B, K, C, c->heads, hid);
    a->feat = take(ar, bk * C); a->fm = take(ar, bk); a->fr = take(ar, bk);
    a->image_x = take(ar, (size_t)B * C);
    a->d0 = take(ar, bt * C); a->d1 = take(ar, bk * C);
    a->drop = take(ar, (size_t)(c->depth0 + c->depth1) * B);
}

void image_forward(const ovs_config *c, const p_model *pm, const float *P, a_image *a,
                   const float *img, const float *noise, int train) {
    int B = a->B, Hs = a->Hs, Ws = a->Ws, p = c->patch, C = c->width, Np = a->P, T = a->T, gw = a->gw;
    int G = c->groups_in, K = c->groups_out, hid = c->mlp_ratio * C, kk = 3 * p * p;
    prof_mark(a->prof, -1);
    /* im2col: cols[b*P + i*gw + j][ch*p*p + ky*p + kx] */
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B * Np; r++) {
        int b = r / Np, i = (r % Np) / gw, j = r % gw;
        float *col = a->cols + (size_t)r * kk;
        for (int ch = 0; ch < 3; ch++)
            for (int ky = 0; ky < p; ky++)
                memcpy(col + ch * p * p + ky * p,
                       img + (((size_t)b * 3 + ch) * Hs + (size_t)i * p + ky) * Ws + (size_t)j * p,
                       sizeof(float) * (size_t)p);
    }
    for (int b = 0; b < B; b++) {
        float *x = a->x0 + (size_t)b * T * C;
        linear_forward(x, C, a->cols + (size_t)b * Np * kk, kk, W_(pm->patch_w), W_(pm->patch_b), Np, kk, C);
        residual_forward(x, x, a->pos, NULL, 1, (size_t)Np * C);
        memcpy(x + (size_t)Np * C, W_(pm->group_token), sizeof(float) * (size_t)G * C);
    }
    prof_mark(a->prof, OVS_PROF_EMBED_FWD);
    const float *drop = train && a->use_drop ? a->drop : NULL;
    const float *x = a->x0;
    for (int i = 0; i < c->depth0; i++) {
        block_forward(P, &pm->blocks0[i], &a->b0[i], x, B, T, C, c->heads, hid, drop ? drop + (size_t)i * B : NULL);
        x = a->b0[i].out;
    }
    prof_mark(a->prof, OVS_PROF_VIT0_FWD);
    for (int b = 0; b < B; b++) {
        memcpy(a->xs + (size_t)b * Np * C, x + (size_t)b * T * C, sizeof(float) * (size_t)Np * C);
        memcpy(a->gs + (size_t)b * G * C, x + ((size_t)b * T + Np) * C, sizeof(float) * (size_t)G * C);
    }
    group_forward(c, &pm->group, P, &a->grp, a->xs, a->gs, train ? noise : NULL, B, Np);
    prof_mark(a->prof, OVS_PROF_GROUP_FWD);
    x = a->grp.out;
    for (int i = 0; i < c->depth1; i++) {
        const float *dp = drop ? drop + (size_t)(c->depth0 + i) * B : NULL;
        block_forward(P, &pm->blocks1[i], &a->b1[i], x, B, K, C, c->heads, hid, dp);
        x = a->b1[i].out;
    }
    layernorm_forward(a->feat, C, a->fm, a->fr, x, C, W_(pm->norm_w), W_(pm->norm_b), B * K, C, LN_EPS);
    for (int b = 0; b < B; b++)
        for (int i = 0; i < C; i++) {
            float t = 0.0f;
            for (int k = 0; k < K; k++) t += a->feat[((size_t)b * K + k) * C + i];
            a->image_x[(size_t)b * C + i] = t / (float)K;
        }
    prof_mark(a->prof, OVS_PROF_VIT1_FWD);
}

void image_backward(const ovs_config *c, const p_model *pm, const float *P, float *G, a_image *a,
                    float *dfeat, scratch *s) {
    int B = a->B, p = c->patch, C = c->width, Np = a->P, T = a->T;
    int Gt = c->groups_in, K = c->groups_out, hid = c->mlp_ratio * C, kk = 3 * p * p;
    const float *drop = a->use_drop ? a->drop : NULL;
    const float *last = c->depth1 ? a->b1[c->depth1 - 1].out : a->grp.out;
    prof_mark(a->prof, -1);
    memset(a->d1, 0, sizeof(float) * (size_t)B * K * C);
    layernorm_backward(a->d1, C, G_(pm->norm_w), G_(pm->norm_b), dfeat, C, last, C, W_(pm->norm_w), a->fm, a->fr, B * K, C);
    for (int i = c->depth1 - 1; i >= 0; i--) {
        const float *dp = drop ? drop + (size_t)(c->depth0 + i) * B : NULL;
        block_backward(P, G, &pm->blocks1[i], &a->b1[i], a->d1, s, B, K, C, c->heads, hid, dp);
    }
    prof_mark(a->prof, OVS_PROF_VIT1_BWD);
    group_backward(c, &pm->group, P, G, &a->grp, a->xs, a->gs, a->d1, a->dxs, a->dgs, s, B, Np);
    prof_mark(a->prof, OVS_PROF_GROUP_BWD);
    for (int b = 0; b < B; b++) {
        memcpy(a->d0 + (size_t)b * T * C, a->dxs + (size_t)b * Np * C, sizeof(float) * (size_t)Np * C);
        memcpy(a->d0 + ((size_t)b * T + Np) * C, a->dgs + (size_t)b * Gt * C, sizeof(float) * (size_t)Gt * C);
    }
    for (int i = c->depth0 - 1; i >= 0; i--)
        block_backward(P, G, &pm->blocks0[i], &a->b0[i], a->d0, s, B, T, C, c->heads, hid, drop ? drop + (size_t)i * B : NULL);
    prof_mark(a->prof, OVS_PROF_VIT0_BWD);
    /* patch embedding, position embedding, group tokens */
    float *gpos = G_(pm->pos_embed), *ggt = G_(pm->group_token), *gpb = G_(pm->patch_b);
    for (int b = 0; b < B; b++) {
        const float *dx = a->d0 + (size_t)b * T * C;
        mm(1, 0, C, kk, Np, 1.0f, dx, C, a->cols + (size_t)b * Np * kk, kk, 1.0f, G_(pm->patch_w), kk);
        for (size_t i = 0; i < (size_t)Np * C; i++) gpos[i] += dx[i];
        for (size_t i = 0; i < (size_t)Gt * C; i++) ggt[i] += dx[(size_t)Np * C + i];
        for (int r = 0; r < Np; r++)
            for (int i = 0; i < C; i++) gpb[i] += dx[(size_t)r * C + i];
    }
    prof_mark(a->prof, OVS_PROF_EMBED_BWD);
}
