/* text.c — the BERT text encoder (Hugging Face BertModel semantics): word + position + token-type
 * (type 0) embeddings, LN (eps 1e-12), post-LN layers with a padding key mask, GELU (erf).
 * The text feature is the last layer's [CLS] row. Dropout is not modelled (see docs/model.md). */
#include <math.h>
#include <string.h>

#include "train/model_internal.h"

#define W_(o) (P + (o))
#define G_(o) (G + (o))

void text_layout(a_text *a, arena *ar, const ovs_config *c, int B, int L) {
    int C = c->text_width, F = c->text_ff, H = c->text_heads;
    size_t N = (size_t)B * L;
    a->B = B; a->L = L;
    a->emb = take(ar, N * C); a->x0 = take(ar, N * C); a->m0 = take(ar, N); a->r0 = take(ar, N);
    for (int i = 0; i < c->text_layers; i++) {
        a_blayer *l = &a->layers[i];
        l->q = take(ar, N * C); l->k = take(ar, N * C); l->v = take(ar, N * C);
        l->probs = take(ar, (size_t)B * H * L * L); l->ctx = take(ar, N * C); l->a = take(ar, N * C);
        l->h1 = take(ar, N * C); l->m1 = take(ar, N); l->r1 = take(ar, N);
        l->ih = take(ar, N * F); l->ig = take(ar, N * F); l->o = take(ar, N * C);
        l->h2 = take(ar, N * C); l->m2 = take(ar, N); l->r2 = take(ar, N);
    }
    a->cls = take(ar, (size_t)B * C);
}

float *text_last(const ovs_config *c, a_text *a) {
    return c->text_layers ? a->layers[c->text_layers - 1].h2 : a->x0;
}

static attn_shape bert_shape(const ovs_config *c, const a_text *a) {
    int C = c->text_width, H = c->text_heads, L = a->L;
    attn_shape s = {a->B, H, L, L, C / H, C, C, C, C, (size_t)L * C, (size_t)L * C, (size_t)L * C,
                    (size_t)L * C, 1.0f / sqrtf((float)(C / H)), a->mask, NULL};
    return s;
}

void text_forward(const ovs_config *c, const p_model *pm, const float *P, a_text *a,
                  const int32_t *ids, const int32_t *mask) {
    int C = c->text_width, F = c->text_ff, L = a->L, N = a->B * a->L;
    a->ids = ids; a->mask = mask;
    const float *word = W_(pm->word), *pos = W_(pm->pos), *type = W_(pm->type);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= 32768)
    for (int n = 0; n < N; n++) {
        const float *w = word + (size_t)ids[n] * C, *p = pos + (size_t)(n % L) * C;
        float *e = a->emb + (size_t)n * C;
        for (int i = 0; i < C; i++) e[i] = w[i] + p[i] + type[i];
    }
    layernorm_forward(a->x0, C, a->m0, a->r0, a->emb, C, W_(pm->emb_ln.w), W_(pm->emb_ln.b), N, C, BERT_EPS);
    attn_shape s = bert_shape(c, a);
    const float *x = a->x0;
    for (int i = 0; i < c->text_layers; i++) {
        const p_blayer *p = &pm->layers[i];
        a_blayer *l = &a->layers[i];
        linear_forward(l->q, C, x, C, W_(p->q.w), W_(p->q.b), N, C, C);
        linear_forward(l->k, C, x, C, W_(p->k.w), W_(p->k.b), N, C, C);
        linear_forward(l->v, C, x, C, W_(p->v.w), W_(p->v.b), N, C, C);
        attention_forward(l->ctx, l->probs, l->q, l->k, l->v, &s);
        linear_forward(l->a, C, l->ctx, C, W_(p->o.w), W_(p->o.b), N, C, C);
        residual_forward(l->a, x, l->a, NULL, 1, (size_t)N * C);
        layernorm_forward(l->h1, C, l->m1, l->r1, l->a, C, W_(p->ln1.w), W_(p->ln1.b), N, C, BERT_EPS);
        linear_forward(l->ih, F, l->h1, C, W_(p->inter.w), NULL, N, C, F);
        bias_gelu_forward(l->ig, l->ih, W_(p->inter.b), (size_t)N, F);
        linear_forward(l->o, C, l->ig, F, W_(p->out.w), W_(p->out.b), N, F, C);
        residual_forward(l->o, l->h1, l->o, NULL, 1, (size_t)N * C);
        layernorm_forward(l->h2, C, l->m2, l->r2, l->o, C, W_(p->ln2.w), W_(p->ln2.b), N, C, BERT_EPS);
        x = l->h2;
    }
    for (int b = 0; b < a->B; b++) memcpy(a->cls + (size_t)b * C, x + (size_t)b * L * C, sizeof(float) * (size_t)C);
}

void text_backward(const ovs_config *c, const p_model *pm, const float *P, float *G, a_text *a,
                   float *dlast, scratch *s) {
    int C = c->text_width, F = c->text_ff, L = a->L, N = a->B * a->L;
    size_t n = (size_t)N * C;
    attn_shape sh = bert_shape(c, a);
    float *dx = dlast;    /* running gradient of the current layer's output, then input */
    for (int i = c->text_layers - 1; i >= 0; i--) {
        const p_blayer *p = &pm->layers[i];
        a_blayer *l = &a->layers[i];
        const float *x = i ? a->layers[i - 1].h2 : a->x0;
        /* h2 = LN(out(gelu(inter(h1))) + h1) */
        memset(s->d0, 0, sizeof(float) * n);
        layernorm_backward(s->d0, C, G_(p->ln2.w), G_(p->ln2.b), dx, C, l->o, C, W_(p->ln2.w), l->m2, l->r2, N, C);
        linear_backward(s->d3, F, 0, G_(p->out.w), G_(p->out.b), s->d0, C, l->ig, F, W_(p->out.w), N, F, C);
        gelu_backward(s->d3, s->d3, l->ih, (size_t)N * F);
        memcpy(dx, s->d0, sizeof(float) * n);
        linear_backward(dx, C, 1, G_(p->inter.w), G_(p->inter.b), s->d3, F, l->h1, C, W_(p->inter.w), N, C, F);
        /* h1 = LN(o(attention(x)) + x) */
        memset(s->d4, 0, sizeof(float) * n);
        layernorm_backward(s->d4, C, G_(p->ln1.w), G_(p->ln1.b), dx, C, l->a, C, W_(p->ln1.w), l->m1, l->r1, N, C);
        memcpy(dx, s->d4, sizeof(float) * n);
        linear_backward(s->d2, C, 0, G_(p->o.w), G_(p->o.b), s->d4, C, l->ctx, C, W_(p->o.w), N, C, C);
        float *dq = s->d1, *dk = dq + n, *dv = dk + n;
        memset(dq, 0, sizeof(float) * 3 * n);
        attention_backward(dq, dk, dv, s->dp, s->d2, l->probs, l->q, l->k, l->v, &sh);
        linear_backward(dx, C, 1, G_(p->q.w), G_(p->q.b), dq, C, x, C, W_(p->q.w), N, C, C);
        linear_backward(dx, C, 1, G_(p->k.w), G_(p->k.b), dk, C, x, C, W_(p->k.w), N, C, C);
        linear_backward(dx, C, 1, G_(p->v.w), G_(p->v.b), dv, C, x, C, W_(p->v.w), N, C, C);
    }
    memset(s->d0, 0, sizeof(float) * n);
    layernorm_backward(s->d0, C, G_(pm->emb_ln.w), G_(pm->emb_ln.b), dx, C, a->emb, C, W_(pm->emb_ln.w), a->m0, a->r0, N, C);
    embedding_backward(G_(pm->word), a->ids, s->d0, N, C, 0 /* padding_idx */);
    float *gpos = G_(pm->pos), *gtype = G_(pm->type);
    for (int r = 0; r < N; r++) {
        const float *d = s->d0 + (size_t)r * C;
        float *gp = gpos + (size_t)(r % L) * C;
        for (int i = 0; i < C; i++) { gp[i] += d[i]; gtype[i] += d[i]; }
    }
}
