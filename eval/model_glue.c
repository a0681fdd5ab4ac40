/* model_glue.c — checkpoint + tokenizer + eval-mode encoders behind the protocol (model_glue.h).
 * (the model of train/, the checkpoint reader of train/ckpt.h, the tokenizer of shards/wordpiece.h). */
#include "eval/model_glue.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/wordpiece.h"
#include "train/ckpt.h"
#include "train/model.h"

struct ovs_eval_model {
    ovs_model *m;
    ovs_wordpiece *wp;
    ovs_config cfg;
    char path[4096];
    float *img, *ximg, *groups, *logits, *soft; /* window workspace */
    size_t cap_img, cap_soft;
    ovs_wp_toks toks;
};

int ovs_eval_model_open(ovs_eval_model **out, const char *ckpt, const char *vocab, ovs_err *e) {
    ovs_eval_model *g = calloc(1, sizeof *g);
    if (!g) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    ovs_kv meta = {0};
    int rc = ovs_ckpt_resolve(ckpt, g->path, sizeof g->path, e);
    if (!rc) rc = ovs_ckpt_read(g->path, NULL, 0, 0, &meta, e);
    const char *mc = rc ? NULL : ovs_kv_get(&meta, "model_config");
    if (!rc && !mc) rc = ovs_errf(e, OVS_EUSER, "%s: metadata 'model_config' is missing", g->path);
    if (!rc) rc = ovs_config_from_text(&g->cfg, mc, e);
    ovs_kv_free(&meta);
    if (!rc) rc = ovs_model_create(&g->m, &g->cfg, 1, 0, e);
    if (!rc) {
        int n;
        const ovs_param *t = ovs_model_table(g->m, &n);
        ovs_ckpt_part part = {.prefix = "", .table = t, .n = n, .data = ovs_model_params(g->m)};
        rc = ovs_ckpt_read(g->path, &part, 1, 0, NULL, e);
    }
    if (!rc) rc = ovs_wp_load(&g->wp, vocab, e);
    if (!rc && ovs_wp_vocab_size(g->wp) > g->cfg.vocab)
        rc = ovs_errf(e, OVS_EUSER, "%s: %d tokens, but the model's vocabulary has %d", vocab, ovs_wp_vocab_size(g->wp), g->cfg.vocab);
    if (!rc) {
        int D = g->cfg.proj_out, K = g->cfg.groups_out;
        g->ximg = malloc(sizeof(float) * (size_t)D);
        g->groups = malloc(sizeof(float) * (size_t)K * D);
        if (!g->ximg || !g->groups) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    if (rc) { ovs_eval_model_free(g); return rc; }
    *out = g;
    return 0;
}

void ovs_eval_model_free(ovs_eval_model *g) {
    if (!g) return;
    if (g->m) ovs_model_free(g->m);
    if (g->wp) ovs_wp_free(g->wp);
    free(g->img); free(g->ximg); free(g->groups); free(g->logits); free(g->soft);
    free(g->toks.t);
    free(g);
}

const char *ovs_eval_model_path(const ovs_eval_model *g) { return g->path; }
int ovs_eval_model_dim(const ovs_eval_model *g) { return g->cfg.proj_out; }

static int grow(float **p, size_t *cap, size_t n) {
    if (n <= *cap) return 0;
    float *q = realloc(*p, sizeof(float) * n);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

static int encode_window(void *ctx, const float *img, int h, int w, ovs_seg_enc *out, ovs_err *e) {
    ovs_eval_model *g = ctx;
    int P = g->cfg.patch, K = g->cfg.groups_out, gh = h / P, gw = w / P;
    if (gh < 1 || gw < 1) return ovs_errf(e, OVS_EUSER, "window %dx%d smaller than the patch size %d", w, h, P);
    int H = gh * P, W = gw * P;
    size_t np = (size_t)gh * gw;
    if (grow(&g->img, &g->cap_img, (size_t)3 * H * W) || grow(&g->soft, &g->cap_soft, (size_t)K * np))
        return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    float *lg = realloc(g->logits, sizeof(float) * (size_t)K * np);
    if (!lg) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    g->logits = lg;
    for (int k = 0; k < 3; k++) /* top-left H x W: what a stride-P convolution sees */
        for (int y = 0; y < H; y++)
            memcpy(g->img + ((size_t)k * H + y) * W, img + ((size_t)k * h + y) * w, sizeof(float) * (size_t)W);
    int rc = ovs_model_encode_image(g->m, g->img, 1, H, W, g->ximg, g->groups, NULL, g->logits, e);
    if (rc) return rc;
    for (size_t p = 0; p < np; p++) { /* softmax over groups: the 'soft' assignment map */
        float mx = -INFINITY, s = 0;
        for (int k = 0; k < K; k++) if (lg[(size_t)k * np + p] > mx) mx = lg[(size_t)k * np + p];
        for (int k = 0; k < K; k++) s += g->soft[(size_t)k * np + p] = expf(lg[(size_t)k * np + p] - mx);
        for (int k = 0; k < K; k++) g->soft[(size_t)k * np + p] /= s;
    }
    *out = (ovs_seg_enc){.groups = K, .gh = gh, .gw = gw, .dim = g->cfg.proj_out,
                         .soft = g->soft, .group_feat = g->groups, .image_feat = g->ximg};
    return 0;
}

void ovs_eval_model_segmenter(ovs_eval_model *g, ovs_segmenter *s) {
    *s = (ovs_segmenter){.ctx = g, .encode = encode_window, .logit_scale = ovs_model_logit_scale(g->m)};
}

int ovs_eval_model_encode_texts(void *ctx, const char *const *texts, int n, float *out, ovs_err *e) {
    ovs_eval_model *g = ctx;
    int L = g->cfg.text_len;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L), *mask = malloc(sizeof(int32_t) * (size_t)L);
    int rc = ids && mask ? 0 : ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int i = 0; i < n && !rc; i++) {
        ovs_wp_encode(g->wp, texts[i], L, ids, mask, &g->toks);
        rc = ovs_model_encode_text(g->m, ids, mask, 1, L, out + (size_t)i * g->cfg.proj_out, e);
    }
    free(ids);
    free(mask);
    return rc;
}
