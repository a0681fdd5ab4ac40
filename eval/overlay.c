/* overlay.c — the overlay images of `ovseg eval --overlays N`: the image, the prediction and the
 * ground truth side by side (masks in the VOC palette blended over the image, ignore pixels in the
 * palette's 255 colour; images under 256 pixels enlarged up to 4x), with a legend of the classes
 * present below them. */
#include <string.h>

#include "eval/font.h"
#include "eval/run.h"

enum { GAP = 4 };

/* One panel, enlarged z times (nearest) so that small images stay readable. */
static void blend_panel(uint8_t *dst, int W, int x0, int z, const ovs_image *rgb, const uint8_t *mask, const uint8_t *pal) {
    for (int y = 0; y < rgb->h * z; y++)
        for (int x = 0; x < rgb->w * z; x++) {
            size_t i = (size_t)(y / z) * rgb->w + (size_t)(x / z);
            const uint8_t *s = rgb->px + i * 3;
            uint8_t *d = dst + ((size_t)y * W + x0 + x) * 3;
            if (!mask) { memcpy(d, s, 3); continue; }
            const uint8_t *c = pal + 3 * mask[i];
            for (int k = 0; k < 3; k++) d[k] = (uint8_t)((2 * c[k] + s[k]) / 3);
        }
}

/* Legend entries laid out left to right, wrapping; returns the height used (draws when img). */
static int legend(uint8_t *img, int W, int H, int y0, const char *present, char *const *names, int ncls, const uint8_t *pal) {
    static const uint8_t black[3] = {0, 0, 0};
    int sc = W >= 600 ? 2 : 1, SW = 10 * sc, LINE = 14 * sc;
    int x = GAP, y = y0 + GAP;
    for (int c = 0; c < ncls; c++) {
        if (!present[c]) continue;
        int wdt = SW + 4 + 6 * sc * (int)strlen(names[c]) + 10 * sc;
        if (x > GAP && x + wdt > W) { x = GAP; y += LINE; }
        if (img) {
            for (int dy = 0; dy < SW - sc; dy++)
                for (int dx = 0; dx < SW; dx++)
                    if (x + dx < W && y + dy < H) memcpy(img + ((size_t)(y + dy) * W + x + dx) * 3, pal + 3 * c, 3);
            ovs_font_draw(img, W, H, x + SW + 4, y + 2 * sc, names[c], black, sc);
        }
        x += wdt;
    }
    return y + LINE + GAP - y0;
}

int ovs_eval_overlay(const ovs_image *rgb, const uint8_t *pred, const uint8_t *gt, char *const *names, int ncls,
                     ovs_image *out, ovs_err *e) {
    uint8_t pal[256 * 3];
    char present[256] = {0};
    ovs_voc_palette(pal);
    size_t n = (size_t)rgb->w * rgb->h;
    for (size_t i = 0; i < n; i++) {
        if (pred[i] < ncls) present[pred[i]] = 1;
        if (gt[i] < ncls) present[gt[i]] = 1;
    }
    int lo = rgb->w < rgb->h ? rgb->w : rgb->h, z = lo >= 256 ? 1 : (256 + lo - 1) / lo;
    if (z > 4) z = 4;
    int pw = rgb->w * z, ph = rgb->h * z, W = 3 * pw + 2 * GAP;
    int lh = legend(NULL, W, 0, 0, present, names, ncls, pal);
    int H = ph + lh;
    int rc = ovs_image_alloc(out, W, H, 3);
    if (rc) return ovs_errf(e, OVS_EINTERNAL, "overlay: out of memory");
    memset(out->px, 255, (size_t)W * H * 3);
    blend_panel(out->px, W, 0, z, rgb, NULL, pal);
    blend_panel(out->px, W, pw + GAP, z, rgb, pred, pal);
    blend_panel(out->px, W, 2 * (pw + GAP), z, rgb, gt, pal);
    legend(out->px, W, H, ph, present, names, ncls, pal);
    return 0;
}
