/* segment.c — the zero-shot segmentation protocol of OVSegmentor over an abstract window encoder,
 * with the random / oracle / ceiling baselines computed from the same encoder calls (segment.h). */
#include "eval/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/miou.h"
#include "util/rng.h"

const char *const ovs_seg_mode_names[OVS_SEG_NMODES] = {"model", "random", "group_oracle", "patch_ceiling"};

static const float MEAN[3] = {123.675f, 116.28f, 103.53f}, STD[3] = {58.395f, 57.12f, 57.375f};

void ovs_seg_opts_default(ovs_seg_opts *o) {
    *o = (ovs_seg_opts){.short_side = 448, .long_max = 2048, .window = 448, .stride = 224,
                        .whole = 0, .with_bg = 1, .bg_thresh = 0.95f, .topk = 5};
}

void ovs_seg_rescale_size(int w, int h, int short_side, int long_max, int *nw, int *nh) {
    int lo = w < h ? w : h, hi = w < h ? h : w;
    double sc = (double)long_max / hi;
    if ((double)short_side / lo < sc) sc = (double)short_side / lo;
    *nw = (int)(w * sc + 0.5);
    *nh = (int)(h * sc + 0.5);
    if (*nw < 1) *nw = 1;
    if (*nh < 1) *nh = 1;
}

int ovs_seg_windows(int size, int crop, int stride, int *starts) {
    int d = size - crop + stride - 1;
    int n = (d > 0 ? d : 0) / stride + 1;
    for (int i = 0; starts && i < n; i++) {
        int a = i * stride, b = a + crop < size ? a + crop : size;
        starts[i] = b - crop > 0 ? b - crop : 0;
    }
    return n;
}

/* Source indices and weights of one output coordinate (PyTorch's align_corners=False rule). */
typedef struct { int i0, i1; float l0, l1; } lin_t;

static void lin_coords(int in, int out, lin_t *t) {
    float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float r = (float)((double)scale * ((double)o + 0.5) - 0.5); /* as PyTorch computes it */
        if (r < 0) r = 0;
        int i = (int)r;
        t[o].i0 = i;
        t[o].i1 = i + (i < in - 1 ? 1 : 0);
        t[o].l1 = r - (float)i;
        t[o].l0 = 1.0f - t[o].l1;
    }
}

static float lerp2(const float *p, int w, const lin_t *y, const lin_t *x) {
    return y->l0 * (x->l0 * p[y->i0 * w + x->i0] + x->l1 * p[y->i0 * w + x->i1]) +
           y->l1 * (x->l0 * p[y->i1 * w + x->i0] + x->l1 * p[y->i1 * w + x->i1]);
}

void ovs_resize_bilinear(const float *src, int c, int h, int w, float *dst, int oh, int ow) {
    lin_t *ty = malloc(sizeof *ty * (size_t)oh), *tx = malloc(sizeof *tx * (size_t)ow);
    if (!ty || !tx) { free(ty); free(tx); return; }
    lin_coords(h, oh, ty);
    lin_coords(w, ow, tx);
    for (int k = 0; k < c; k++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++)
                dst[((size_t)k * oh + y) * ow + x] = lerp2(src + (size_t)k * h * w, w, &ty[y], &tx[x]);
    free(ty);
    free(tx);
}

static void softmax_inplace(float *v, int n) {
    float mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) if (v[i] > mx) mx = v[i];
    for (int i = 0; i < n; i++) { v[i] = v[i] == -INFINITY ? 0.0f : expf(v[i] - mx); sum += v[i]; }
    for (int i = 0; i < n; i++) v[i] /= sum;
}

int ovs_seg_affinity(const ovs_seg_enc *enc, const float *text, int nfg, float ls, int topk, float *ag, ovs_err *e) {
    int G = enc->groups, D = enc->dim;
    float *img = malloc(sizeof(float) * (size_t)nfg), *pre = malloc(sizeof(float) * (size_t)nfg);
    char *keep = calloc((size_t)nfg, 1);
    if (!img || !pre || !keep) { free(img); free(pre); free(keep); return ovs_errf(e, OVS_EINTERNAL, "segment: out of memory"); }
    for (int c = 0; c < nfg; c++) {
        float d = 0;
        for (int k = 0; k < D; k++) d += enc->image_feat[k] * text[(size_t)c * D + k];
        img[c] = d * ls;
    }
    softmax_inplace(img, nfg);
    if (topk > nfg) topk = nfg;
    for (int t = 0; t < topk; t++) { /* first index wins ties, like torch.topk on CPU in practice */
        int best = -1;
        for (int c = 0; c < nfg; c++)
            if (!keep[c] && (best < 0 || img[c] > img[best])) best = c;
        keep[best] = 1;
    }
    for (int g = 0; g < G; g++) {
        float *row = ag + (size_t)g * nfg;
        for (int c = 0; c < nfg; c++) {
            float d = 0;
            for (int k = 0; k < D; k++) d += enc->group_feat[(size_t)g * D + k] * text[(size_t)c * D + k];
            row[c] = d * ls;
        }
        memcpy(pre, row, sizeof(float) * (size_t)nfg);
        softmax_inplace(pre, nfg);
        for (int c = 0; c < nfg; c++) if (!keep[c]) row[c] = -INFINITY;
        softmax_inplace(row, nfg);
        for (int c = 0; c < nfg; c++) row[c] *= pre[c];
    }
    free(img);
    free(pre);
    free(keep);
    return 0;
}

/* Per-image working state. */
typedef struct seg_state {
    const ovs_segmenter *s;
    const ovs_seg_opts *o;
    const float *text;
    int nfg, C, nw, nh;
    float *img;              /* [3, nh, nw] normalised */
    uint8_t *gt;             /* [nh, nw] nearest-resized ground truth, or NULL */
    float *acc[OVS_SEG_NMODES]; /* [C, nh, nw] summed window logits */
    float *count;            /* [nh, nw] */
    float *crop, *ag;
    int *gmap, *cellmap;     /* [window pixels] */
    unsigned modes;
    ovs_rng rng;
} seg_state;

/* Resizes the RGB image to (nw, nh), rounds to 8 bits as the uint8 resize of mmcv does, normalises. */
static void prepare_image(const ovs_image *rgb, int nw, int nh, float *out, float *tmp) {
    size_t n = (size_t)rgb->w * rgb->h;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < n; i++) tmp[k * n + i] = rgb->px[i * 3 + k];
    ovs_resize_bilinear(tmp, 3, rgb->h, rgb->w, out, nh, nw);
    size_t m = (size_t)nw * nh;
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < m; i++) {
            float v = floorf(out[k * m + i] + 0.5f);
            v = v < 0 ? 0 : v > 255 ? 255 : v;
            out[k * m + i] = (v - MEAN[k]) / STD[k];
        }
}

static int majority(const int *hist, int C) {
    int best = -1;
    for (int c = 0; c < C; c++)
        if (hist[c] > 0 && (best < 0 || hist[c] > hist[best])) best = c;
    return best;
}

/* Adds one window's logits for every requested mode into the accumulators. */
static int do_window(seg_state *st, int y0, int x0, int wh, int ww, ovs_err *e) {
    const ovs_seg_opts *o = st->o;
    int C = st->C, off = o->with_bg ? 1 : 0, rc;
    size_t np = (size_t)wh * ww, m = (size_t)st->nw * st->nh;
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < wh; y++)
            memcpy(st->crop + (size_t)k * np + (size_t)y * ww, st->img + k * m + (size_t)(y0 + y) * st->nw + x0,
                   sizeof(float) * (size_t)ww);
    ovs_seg_enc enc = {0};
    if ((rc = st->s->encode(st->s->ctx, st->crop, wh, ww, &enc, e))) return rc;
    int G = enc.groups, gh = enc.gh, gw = enc.gw;
    if (G < 1 || G > 4096 || gh < 1 || gw < 1 || !enc.soft || !enc.group_feat || !enc.image_feat)
        return ovs_errf(e, OVS_EINTERNAL, "segment: encoder returned an empty window output");
    float *ag = realloc(st->ag, sizeof(float) * (size_t)G * (size_t)(st->nfg > 1 ? st->nfg : 1));
    if (!ag) return ovs_errf(e, OVS_EINTERNAL, "segment: out of memory");
    st->ag = ag;
    if ((rc = ovs_seg_affinity(&enc, st->text, st->nfg, st->s->logit_scale, o->topk, ag, e))) return rc;

    /* pixel -> group: argmax over groups of the bilinearly upsampled soft map */
    lin_t *ty = malloc(sizeof *ty * (size_t)wh), *tx = malloc(sizeof *tx * (size_t)ww);
    float *gmax = malloc(sizeof(float) * (size_t)G);
    char *isbg = malloc((size_t)G);
    int *lab = malloc(sizeof(int) * (size_t)(G > gh * gw ? G : gh * gw)), *hist = calloc((size_t)C + 1, sizeof(int));
    if (!ty || !tx || !gmax || !isbg || !lab || !hist) {
        free(ty); free(tx); free(gmax); free(isbg); free(lab); free(hist);
        return ovs_errf(e, OVS_EINTERNAL, "segment: out of memory");
    }
    lin_coords(gh, wh, ty);
    lin_coords(gw, ww, tx);
    for (int y = 0; y < wh; y++)
        for (int x = 0; x < ww; x++) {
            int best = 0;
            float bv = -INFINITY;
            for (int g = 0; g < G; g++) {
                float v = lerp2(enc.soft + (size_t)g * gh * gw, gw, &ty[y], &tx[x]);
                if (v > bv) { bv = v; best = g; }
            }
            st->gmap[(size_t)y * ww + x] = best;
            st->cellmap[(size_t)y * ww + x] = (int)((int64_t)y * gh / wh) * gw + (int)((int64_t)x * gw / ww);
        }
    float amax = -INFINITY;
    for (int g = 0; g < G; g++) {
        gmax[g] = -INFINITY;
        for (int c = 0; c < st->nfg; c++) {
            float v = ag[(size_t)g * st->nfg + c];
            if (v > gmax[g]) gmax[g] = v;
        }
        if (gmax[g] > amax) amax = gmax[g];
    }
    float th = o->bg_thresh < amax ? o->bg_thresh : amax;
    for (int g = 0; g < G; g++) isbg[g] = o->with_bg && gmax[g] < th;

    for (int mode = 0; mode < OVS_SEG_NMODES; mode++) {
        if (!(st->modes & (1u << mode))) continue;
        float *acc = st->acc[mode];
        const int *map = mode == OVS_SEG_CEILING ? st->cellmap : st->gmap;
        int nunits = mode == OVS_SEG_CEILING ? gh * gw : G;
        if (mode == OVS_SEG_RANDOM) { /* a random group per patch cell */
            for (int i = 0; i < gh * gw; i++) lab[i] = (int)ovs_rng_below(&st->rng, (uint64_t)G);
        } else if (mode == OVS_SEG_ORACLE || mode == OVS_SEG_CEILING) { /* majority true class per unit */
            for (int u = 0; u < nunits; u++) {
                memset(hist, 0, sizeof(int) * (size_t)C);
                for (int y = 0; y < wh; y++)
                    for (int x = 0; x < ww; x++) {
                        if (map[(size_t)y * ww + x] != u) continue;
                        uint8_t t = st->gt[(size_t)(y0 + y) * st->nw + x0 + x];
                        if (t < C) hist[t]++;
                    }
                lab[u] = majority(hist, C);
            }
        }
        for (int y = 0; y < wh; y++)
            for (int x = 0; x < ww; x++) {
                size_t p = (size_t)(y0 + y) * st->nw + x0 + x;
                int unit = map[(size_t)y * ww + x];
                if (mode == OVS_SEG_MODEL || mode == OVS_SEG_RANDOM) {
                    int g = mode == OVS_SEG_RANDOM ? lab[st->cellmap[(size_t)y * ww + x]] : unit;
                    const float *row = ag + (size_t)g * st->nfg;
                    for (int c = 0; c < st->nfg; c++) acc[(size_t)(c + off) * m + p] += row[c];
                    if (off && isbg[g]) acc[p] += 1.0f;
                } else if (lab[unit] >= 0) {
                    acc[(size_t)lab[unit] * m + p] += 1.0f;
                }
            }
    }
    for (int y = 0; y < wh; y++)
        for (int x = 0; x < ww; x++) st->count[(size_t)(y0 + y) * st->nw + x0 + x] += 1.0f;
    free(ty); free(tx); free(gmax); free(isbg); free(lab); free(hist);
    return 0;
}

/* Divides by the window count, resizes each mode's logits to (W, H) and takes the argmax. */
static int finish_modes(seg_state *st, int W, int H, ovs_seg_out *out, ovs_err *e) {
    size_t m = (size_t)st->nw * st->nh;
    lin_t *ty = malloc(sizeof *ty * (size_t)H), *tx = malloc(sizeof *tx * (size_t)W);
    if (!ty || !tx) { free(ty); free(tx); return ovs_errf(e, OVS_EINTERNAL, "segment: out of memory"); }
    lin_coords(st->nh, H, ty);
    lin_coords(st->nw, W, tx);
    for (int mode = 0; mode < OVS_SEG_NMODES; mode++) {
        if (!(st->modes & (1u << mode))) continue;
        float *acc = st->acc[mode];
        for (int c = 0; c < st->C; c++)
            for (size_t i = 0; i < m; i++) acc[c * m + i] /= st->count[i];
        float *scores = mode == OVS_SEG_MODEL ? out->scores : NULL;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int best = 0;
                float bv = -INFINITY;
                for (int c = 0; c < st->C; c++) {
                    float v = lerp2(acc + c * m, st->nw, &ty[y], &tx[x]);
                    if (scores) scores[((size_t)c * H + y) * W + x] = v;
                    if (v > bv) { bv = v; best = c; }
                }
                out->pred[mode][(size_t)y * W + x] = (uint8_t)best;
            }
    }
    free(ty);
    free(tx);
    return 0;
}

static void state_free(seg_state *st) {
    free(st->img); free(st->gt); free(st->count); free(st->crop); free(st->ag);
    free(st->gmap); free(st->cellmap);
    for (int i = 0; i < OVS_SEG_NMODES; i++) free(st->acc[i]);
}

int ovs_seg_image(const ovs_segmenter *s, const ovs_seg_opts *o, const float *text, int nfg,
                  const ovs_image *rgb, const ovs_image *gt, unsigned modes, uint64_t seed,
                  ovs_seg_out *out, ovs_err *e) {
    if (!rgb || rgb->c != 3 || rgb->w < 1 || rgb->h < 1) return ovs_errf(e, OVS_EINTERNAL, "segment: need an RGB image");
    if (nfg < 1 || nfg + o->with_bg > 255) return ovs_errf(e, OVS_EUSER, "segment: %d classes (1..254 allowed)", nfg);
    unsigned need_gt = (1u << OVS_SEG_ORACLE) | (1u << OVS_SEG_CEILING);
    if ((modes & need_gt) && (!gt || gt->c != 1 || gt->w != rgb->w || gt->h != rgb->h))
        return ovs_errf(e, OVS_EINTERNAL, "segment: oracle and ceiling baselines need a ground truth of the image's size");
    for (int i = 0; i < OVS_SEG_NMODES; i++)
        if ((modes & (1u << i)) && !out->pred[i]) return ovs_errf(e, OVS_EINTERNAL, "segment: no output buffer for mode %s", ovs_seg_mode_names[i]);
    seg_state st = {.s = s, .o = o, .text = text, .nfg = nfg, .C = nfg + (o->with_bg ? 1 : 0), .modes = modes};
    ovs_rng_seed(&st.rng, seed, 0x5e9);
    ovs_seg_rescale_size(rgb->w, rgb->h, o->short_side, o->long_max, &st.nw, &st.nh);
    size_t m = (size_t)st.nw * st.nh, n = (size_t)rgb->w * rgb->h;
    int cw = o->whole ? st.nw : (o->window < st.nw ? o->window : st.nw);
    int ch = o->whole ? st.nh : (o->window < st.nh ? o->window : st.nh);
    int rc = 0;
    st.img = malloc(sizeof(float) * 3 * (m > n ? m : n));
    float *tmp = malloc(sizeof(float) * 3 * n);
    st.count = calloc(m, sizeof(float));
    st.crop = malloc(sizeof(float) * 3 * (size_t)cw * ch);
    st.gmap = malloc(sizeof(int) * (size_t)cw * ch);
    st.cellmap = malloc(sizeof(int) * (size_t)cw * ch);
    int bad = !st.img || !tmp || !st.count || !st.crop || !st.gmap || !st.cellmap;
    for (int i = 0; i < OVS_SEG_NMODES && !bad; i++)
        if (modes & (1u << i)) bad = !(st.acc[i] = calloc(m * (size_t)st.C, sizeof(float)));
    if (!bad && (modes & need_gt)) {
        bad = !(st.gt = malloc(m));
        for (int y = 0; !bad && y < st.nh; y++)
            for (int x = 0; x < st.nw; x++) { /* nearest */
                int sy = (int)(((int64_t)y * 2 + 1) * gt->h / (2 * (int64_t)st.nh));
                int sx = (int)(((int64_t)x * 2 + 1) * gt->w / (2 * (int64_t)st.nw));
                st.gt[(size_t)y * st.nw + x] = gt->px[(size_t)sy * gt->w + sx];
            }
    }
    if (bad) { free(tmp); state_free(&st); return ovs_errf(e, OVS_EINTERNAL, "segment: out of memory (%dx%d)", st.nw, st.nh); }
    prepare_image(rgb, st.nw, st.nh, st.img, tmp);
    free(tmp);
    int ny = o->whole ? 1 : ovs_seg_windows(st.nh, ch, o->stride, NULL);
    int nx = o->whole ? 1 : ovs_seg_windows(st.nw, cw, o->stride, NULL);
    int *sy = calloc((size_t)ny, sizeof(int)), *sx = calloc((size_t)nx, sizeof(int));
    if (!sy || !sx) rc = ovs_errf(e, OVS_EINTERNAL, "segment: out of memory");
    if (!rc && !o->whole) {
        ovs_seg_windows(st.nh, ch, o->stride, sy);
        ovs_seg_windows(st.nw, cw, o->stride, sx);
    }
    out->windows = 0;
    for (int i = 0; !rc && i < ny; i++)
        for (int j = 0; !rc && j < nx; j++) {
            rc = do_window(&st, sy[i], sx[j], ch, cw, e);
            out->windows++;
        }
    if (!rc) rc = finish_modes(&st, rgb->w, rgb->h, out, e);
    free(sy);
    free(sx);
    state_free(&st);
    return rc;
}
