/* randaug.c — RandAugment (see randaug.h): the 15 ops on 8-bit RGB, written after PIL's definitions
 * (lookup tables for the pixel ops, Image.blend with float truncation for the enhancers, an affine
 * bilinear resampler for the geometric ops), and timm's magnitude-to-argument rules. */
#include "shards/randaug.h"

#include <math.h>
#include <string.h>

static const uint8_t FILL[3] = {124, 116, 104}; /* round(255 * ImageNet mean) */

static void apply_lut(uint8_t *img, size_t n, const uint8_t lut[3][256]) {
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) img[3 * i + c] = lut[c][img[3 * i + c]];
}

static void histograms(const uint8_t *img, size_t n, long h[3][256]) {
    memset(h, 0, sizeof(long) * 3 * 256);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) h[c][img[3 * i + c]]++;
}

/* ImageOps.autocontrast(cutoff=0): each channel stretched from its [min, max] to [0, 255]. */
static void autocontrast(uint8_t *img, size_t n) {
    long h[3][256];
    uint8_t lut[3][256];
    histograms(img, n, h);
    for (int c = 0; c < 3; c++) {
        int lo = 0, hi = 255;
        while (lo < 255 && !h[c][lo]) lo++;
        while (hi > 0 && !h[c][hi]) hi--;
        for (int i = 0; i < 256; i++) lut[c][i] = (uint8_t)i;
        if (hi <= lo) continue;
        double scale = 255.0 / (hi - lo), offset = -lo * scale;
        for (int i = 0; i < 256; i++) {
            int v = (int)(i * scale + offset);
            lut[c][i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    apply_lut(img, n, lut);
}

/* ImageOps.equalize: each channel through its cumulative histogram. */
static void equalize(uint8_t *img, size_t n) {
    long h[3][256];
    uint8_t lut[3][256];
    histograms(img, n, h);
    for (int c = 0; c < 3; c++) {
        long total = 0, last = 0, nz = 0;
        for (int i = 0; i < 256; i++)
            if (h[c][i]) total += h[c][i], last = h[c][i], nz++;
        long step = nz > 1 ? (total - last) / 255 : 0;
        long acc = step / 2;
        for (int i = 0; i < 256; i++) {
            lut[c][i] = step ? (uint8_t)(acc / step > 255 ? 255 : acc / step) : (uint8_t)i;
            acc += h[c][i];
        }
    }
    apply_lut(img, n, lut);
}

static void pixel_lut(uint8_t *img, size_t n, int op, int arg) {
    uint8_t lut[3][256];
    for (int i = 0; i < 256; i++) {
        int v = i;
        if (op == OVS_RA_INVERT) v = 255 - i;
        else if (op == OVS_RA_POSTERIZE) v = arg >= 8 ? i : i & ~((1 << (8 - arg)) - 1) & 0xff;
        else if (op == OVS_RA_SOLARIZE) v = i < arg ? i : 255 - i;
        else if (op == OVS_RA_SOLARIZE_ADD) v = i < 128 ? (i + arg > 255 ? 255 : i + arg) : i;
        lut[0][i] = lut[1][i] = lut[2][i] = (uint8_t)v;
    }
    apply_lut(img, n, lut);
}

/* Image.blend(degenerate, img, factor) as PIL computes it: float, truncated, clipped. */
static void blend(uint8_t *img, const uint8_t *deg, size_t nbytes, float f) {
    for (size_t i = 0; i < nbytes; i++) {
        float t = (float)deg[i] + f * (float)((int)img[i] - (int)deg[i]);
        img[i] = t <= 0.0f ? 0 : t >= 255.0f ? 255 : (uint8_t)t;
    }
}

static int luma(const uint8_t *p) { return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16; }

static void enhance(int op, float f, uint8_t *img, int w, int h, uint8_t *deg) {
    size_t n = (size_t)w * h;
    if (op == OVS_RA_COLOR) {
        for (size_t i = 0; i < n; i++) deg[3 * i] = deg[3 * i + 1] = deg[3 * i + 2] = (uint8_t)luma(img + 3 * i);
    } else if (op == OVS_RA_CONTRAST) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += luma(img + 3 * i);
        memset(deg, (int)(sum / n + 0.5), 3 * n);
    } else if (op == OVS_RA_BRIGHTNESS) {
        memset(deg, 0, 3 * n);
    } else { /* sharpness: ImageFilter.SMOOTH (3x3, centre 5, sum 13); the border stays */
        memcpy(deg, img, 3 * n);
        for (int y = 1; y < h - 1; y++)
            for (int x = 1; x < w - 1; x++)
                for (int c = 0; c < 3; c++) {
                    int s = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) s += img[((size_t)(y + dy) * w + x + dx) * 3 + c] * (dx || dy ? 1 : 5);
                    int v = (int)(s / 13.0f + 0.5f);
                    deg[((size_t)y * w + x) * 3 + c] = (uint8_t)(v > 255 ? 255 : v);
                }
    }
    blend(img, deg, 3 * n, f);
}

/* Image.transform(AFFINE, (a,b,c,d,e,f), BILINEAR, fillcolor): output pixel centre (x+.5, y+.5) maps
 * to input (a*x'+b*y'+c, d*x'+e*y'+f); outside the image -> the fill colour. */
static void affine(const double m[6], uint8_t *img, int w, int h, uint8_t *out) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double xo = x + 0.5, yo = y + 0.5;
            double xi = m[0] * xo + m[1] * yo + m[2], yi = m[3] * xo + m[4] * yo + m[5];
            uint8_t *o = out + ((size_t)y * w + x) * 3;
            if (xi < 0 || yi < 0 || xi >= w || yi >= h) { memcpy(o, FILL, 3); continue; }
            double fx = xi - 0.5, fy = yi - 0.5;
            int x0 = (int)floor(fx), y0 = (int)floor(fy);
            double tx = fx - x0, ty = fy - y0;
            int xa = x0 < 0 ? 0 : x0, xb = x0 + 1 > w - 1 ? w - 1 : x0 + 1;
            int ya = y0 < 0 ? 0 : y0, yb = y0 + 1 > h - 1 ? h - 1 : y0 + 1;
            for (int c = 0; c < 3; c++) {
                double p00 = img[((size_t)ya * w + xa) * 3 + c], p01 = img[((size_t)ya * w + xb) * 3 + c];
                double p10 = img[((size_t)yb * w + xa) * 3 + c], p11 = img[((size_t)yb * w + xb) * 3 + c];
                double v = (p00 + tx * (p01 - p00)) * (1 - ty) + (p10 + tx * (p11 - p10)) * ty;
                int iv = (int)v;
                o[c] = (uint8_t)(iv < 0 ? 0 : iv > 255 ? 255 : iv);
            }
        }
    memcpy(img, out, (size_t)w * h * 3);
}

void ovs_ra_op(int op, double arg, uint8_t *img, int w, int h, uint8_t *tmp) {
    size_t n = (size_t)w * h;
    double m[6] = {1, 0, 0, 0, 1, 0};
    switch (op) {
    case OVS_RA_AUTOCONTRAST: autocontrast(img, n); return;
    case OVS_RA_EQUALIZE: equalize(img, n); return;
    case OVS_RA_INVERT: case OVS_RA_POSTERIZE: case OVS_RA_SOLARIZE: case OVS_RA_SOLARIZE_ADD:
        pixel_lut(img, n, op, (int)arg);
        return;
    case OVS_RA_COLOR: case OVS_RA_CONTRAST: case OVS_RA_BRIGHTNESS: case OVS_RA_SHARPNESS:
        enhance(op, (float)arg, img, w, h, tmp);
        return;
    case OVS_RA_ROTATE: { /* Image.rotate: about the centre, counter-clockwise degrees */
        double a = -arg * M_PI / 180.0, cx = w / 2.0, cy = h / 2.0;
        m[0] = cos(a), m[1] = sin(a), m[3] = -sin(a), m[4] = cos(a);
        m[2] = m[0] * -cx + m[1] * -cy + cx;
        m[5] = m[3] * -cx + m[4] * -cy + cy;
        break;
    }
    case OVS_RA_SHEAR_X: m[1] = arg; break;
    case OVS_RA_SHEAR_Y: m[3] = arg; break;
    case OVS_RA_TRANSLATE_X: m[2] = arg; break;
    case OVS_RA_TRANSLATE_Y: m[5] = arg; break;
    default: return;
    }
    affine(m, img, w, h, tmp);
}

/* timm's level -> argument rules for the "increasing" ops (magnitude in [0, 10]). */
static double op_arg(ovs_rng *r, int op, double mag, int w, int h) {
    double lv = mag / 10.0, sign = (ovs_rng_u64(r) >> 63) ? -1.0 : 1.0; /* _randomly_negate */
    switch (op) {
    case OVS_RA_ROTATE: return sign * lv * 30.0;
    case OVS_RA_POSTERIZE: return 4 - (int)(lv * 4);
    case OVS_RA_SOLARIZE: return 256 - (int)(lv * 256);
    case OVS_RA_SOLARIZE_ADD: return (int)(lv * 110);
    case OVS_RA_COLOR: case OVS_RA_CONTRAST: case OVS_RA_BRIGHTNESS: case OVS_RA_SHARPNESS: return 1.0 + sign * lv * 0.9;
    case OVS_RA_SHEAR_X: case OVS_RA_SHEAR_Y: return sign * lv * 0.3;
    case OVS_RA_TRANSLATE_X: return sign * lv * 0.45 * w;
    case OVS_RA_TRANSLATE_Y: return sign * lv * 0.45 * h;
    default: return 0;
    }
}

void ovs_randaug(ovs_rng *r, int layers, double mag, double mstd, uint8_t *img, int w, int h, uint8_t *tmp) {
    int ops[16];
    if (layers > 16) layers = 16;
    for (int k = 0; k < layers; k++) ops[k] = (int)ovs_rng_below(r, OVS_RA_NOPS); /* with replacement */
    for (int k = 0; k < layers; k++) {
        if (ovs_rng_double(r) > 0.5) continue; /* prob 0.5 */
        double m = mstd > 0 ? mag + mstd * ovs_rng_normal(r) : mag;
        m = m < 0 ? 0 : m > 10 ? 10 : m;
        ovs_ra_op(ops[k], op_arg(r, ops[k], m, w, h), img, w, h, tmp);
    }
}
