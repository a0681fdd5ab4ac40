/* maskloss.c — stage-2 cross-image mask consistency loss: upsample, Hungarian matching,
 * thresholded sigmoid targets, min–max normalised predictions, dice; and its backward. */
#include "train/maskloss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/hungarian.h"

int ovs_maskloss_init(ovs_maskloss *ml, int B, int G, int h, int w, int S, float threshold, ovs_err *e) {
    memset(ml, 0, sizeof *ml);
    ml->B = B, ml->G = G, ml->h = h, ml->w = w, ml->S = S, ml->threshold = threshold;
    size_t n = (size_t)B * G * S * S;
    ml->up1 = malloc(n * sizeof(float));
    ml->up2 = malloc(n * sizeof(float));
    ml->grad_up = malloc((size_t)G * S * S * sizeof(float));
    ml->perm = malloc((size_t)B * G * sizeof(int));
    if (G > 64 || !ml->up1 || !ml->up2 || !ml->grad_up || !ml->perm) {
        ovs_maskloss_free(ml);
        return ovs_errf(e, OVS_EINTERNAL, "mask loss: cannot allocate %zu floats", n * 2);
    }
    return 0;
}

void ovs_maskloss_free(ovs_maskloss *ml) {
    free(ml->up1);
    free(ml->up2);
    free(ml->grad_up);
    free(ml->perm);
    memset(ml, 0, sizeof *ml);
}

/* Source coordinate of output index o for align_corners=True, in float as PyTorch computes it. */
static void ac_coord(int o, int in, int out, int *i0, int *i1, float *f) {
    float scale = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.f;
    float src = scale * (float)o;
    int a = (int)src;
    if (a > in - 1) a = in - 1;
    *i0 = a;
    *i1 = a + 1 < in ? a + 1 : in - 1;
    *f = src - (float)a;
}

void ovs_upsample_bilinear_ac(float *out, const float *in, int C, int h, int w, int H, int W) {
#pragma omp parallel for
    for (int c = 0; c < C; c++) {
        const float *src = in + (size_t)c * h * w;
        float *dst = out + (size_t)c * H * W;
        for (int y = 0; y < H; y++) {
            int y0, y1, x0, x1;
            float fy, fx;
            ac_coord(y, h, H, &y0, &y1, &fy);
            for (int x = 0; x < W; x++) {
                ac_coord(x, w, W, &x0, &x1, &fx);
                float top = (1 - fx) * src[y0 * w + x0] + fx * src[y0 * w + x1];
                float bot = (1 - fx) * src[y1 * w + x0] + fx * src[y1 * w + x1];
                dst[(size_t)y * W + x] = (1 - fy) * top + fy * bot;
            }
        }
    }
}

void ovs_upsample_bilinear_ac_backward(float *din, const float *dout, int C, int h, int w, int H, int W) {
#pragma omp parallel for
    for (int c = 0; c < C; c++) {
        float *d = din + (size_t)c * h * w;
        const float *g = dout + (size_t)c * H * W;
        for (int y = 0; y < H; y++) {
            int y0, y1, x0, x1;
            float fy, fx;
            ac_coord(y, h, H, &y0, &y1, &fy);
            for (int x = 0; x < W; x++) {
                ac_coord(x, w, W, &x0, &x1, &fx);
                float v = g[(size_t)y * W + x];
                d[y0 * w + x0] += (1 - fy) * (1 - fx) * v;
                d[y0 * w + x1] += (1 - fy) * fx * v;
                d[y1 * w + x0] += fy * (1 - fx) * v;
                d[y1 * w + x1] += fy * fx * v;
            }
        }
    }
}

static double l2norm(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    s = sqrt(s);
    return s > 1e-12 ? s : 1e-12;
}

/* Hungarian matching of sample b's A masks (u1) to its B masks (u2) on cdist of normalised maps. */
static void match(const float *u1, const float *u2, int G, int n, int *perm) {
    double cost[64 * 64], n1[64], n2[64];
    for (int g = 0; g < G; g++) n1[g] = l2norm(u1 + (size_t)g * n, n), n2[g] = l2norm(u2 + (size_t)g * n, n);
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            const float *a = u1 + (size_t)i * n, *b = u2 + (size_t)j * n;
            double s = 0;
            for (int k = 0; k < n; k++) {
                double d = a[k] / n1[i] - b[k] / n2[j];
                s += d * d;
            }
            cost[i * G + j] = sqrt(s);
        }
    ovs_hungarian(cost, G, perm);
}

/* One sample: dice over G·n values; writes d loss_b / d u1 into grad (G×n) when grad != NULL. */
static double dice_sample(const float *u1, const float *u2, const int *perm, int G, int n, float thr,
                          const uint8_t *detach, float *grad) {
    double num = 0, sp = 0, st = 0;
    float mn[64], mx[64];
    int imn[64], imx[64];
    for (int g = 0; g < G; g++) {
        const float *a = u1 + (size_t)g * n, *b = u2 + (size_t)perm[g] * n;
        mn[g] = mx[g] = a[0], imn[g] = imx[g] = 0;
        for (int k = 1; k < n; k++) {
            if (a[k] > mx[g]) mx[g] = a[k], imx[g] = k;
            if (a[k] < mn[g]) mn[g] = a[k], imn[g] = k;
        }
        float tmax = 0;
        for (int k = 0; k < n; k++) { float t = 1.f / (1.f + expf(-b[k])); if (t > tmax) tmax = t; }
        float cut = tmax * thr, r = mx[g] - mn[g];
        for (int k = 0; k < n; k++) {
            float p = (a[k] - mn[g]) / r;
            float t = 1.f / (1.f + expf(-b[k])) - cut >= 0 ? 1.f : 0.f;
            num += (double)p * t, sp += p, st += t;
        }
    }
    double den = sp + st + 1, loss = 1 - (2 * num + 1) / den;
    if (!grad) return loss;
    for (int g = 0; g < G; g++) {
        float *dg = grad + (size_t)g * n;
        if (detach && detach[g]) { memset(dg, 0, sizeof(float) * (size_t)n); continue; }
        const float *a = u1 + (size_t)g * n, *b = u2 + (size_t)perm[g] * n;
        float tmax = 0;
        for (int k = 0; k < n; k++) { float t = 1.f / (1.f + expf(-b[k])); if (t > tmax) tmax = t; }
        float cut = tmax * thr, r = mx[g] - mn[g];
        double dmn = 0, dmx = 0;
        for (int k = 0; k < n; k++) {
            float t = 1.f / (1.f + expf(-b[k])) - cut >= 0 ? 1.f : 0.f;
            double dp = -(2.0 * t * den - (2 * num + 1)) / (den * den); /* d loss / d p_k */
            dg[k] = (float)(dp / r);
            dmn += dp * (a[k] - mx[g]) / ((double)r * r);
            dmx += -dp * (a[k] - mn[g]) / ((double)r * r);
        }
        dg[imn[g]] += (float)dmn;
        dg[imx[g]] += (float)dmx;
    }
    return loss;
}

int ovs_maskloss_run(ovs_maskloss *ml, const float *m1, const float *m2, const uint8_t *detach, float *loss, float *dm1) {
    int B = ml->B, G = ml->G, n = ml->S * ml->S;
    ovs_upsample_bilinear_ac(ml->up1, m1, B * G, ml->h, ml->w, ml->S, ml->S);
    ovs_upsample_bilinear_ac(ml->up2, m2, B * G, ml->h, ml->w, ml->S, ml->S);
    double total = 0;
    if (dm1) memset(dm1, 0, sizeof(float) * (size_t)B * G * ml->h * ml->w);
    for (int b = 0; b < B; b++) {
        const float *u1 = ml->up1 + (size_t)b * G * n, *u2 = ml->up2 + (size_t)b * G * n;
        int *perm = ml->perm + b * G;
        match(u1, u2, G, n, perm);
        total += dice_sample(u1, u2, perm, G, n, ml->threshold, detach ? detach + b * G : NULL, dm1 ? ml->grad_up : NULL);
        if (!dm1) continue;
        for (long i = 0; i < (long)G * n; i++) ml->grad_up[i] /= (float)G;
        ovs_upsample_bilinear_ac_backward(dm1 + (size_t)b * G * ml->h * ml->w, ml->grad_up, G, ml->h, ml->w, ml->S, ml->S);
    }
    *loss = (float)(total / G);
    return 0;
}

void ovs_ema_update(float *ema, const float *p, long n, float m) {
#pragma omp parallel for
    for (long i = 0; i < n; i++) ema[i] = ema[i] * m + p[i] * (1.f - m);
}
