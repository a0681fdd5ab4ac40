/* fetch_image.c — the image stage of `ovseg fetch` for one downloaded body: checks from the header
 * (so decompression bombs, tiny and extreme-aspect images are refused before decoding), decode at
 * the smallest JPEG DCT scale the target allows, resize (keep_ratio | center_crop | border | none)
 * with the area filter, encode. Pure function of its inputs: runs on the worker threads, and the
 * benchmark's floor runs it without network or database. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <webp/encode.h>

#include "ingest/fetch.h"
#include "util/sha256.h"

/* libwebp's method 0 (of 0..6) takes 3.3 ms of CPU per 341x256 photo against 9.3 ms for the
 * default method 4, for about 3% more bytes at the same quality: the crawl is bound by this
 * encoder (decode 1.4 ms, resize 1.6 ms; measured with tests/bench/fetch_floor.c's images). */
enum { WEBP_METHOD = 0 };

void ovs_fetch_defaults(ovs_fetch_opts *o) {
    memset(o, 0, sizeof *o);
    o->workers = 128;
    o->per_host = 8;
    o->shard_size = 10000;
    o->image_size = 256;
    o->resize = OVS_RESIZE_KEEP_RATIO;
    o->format = OVS_IMG_WEBP;
    o->quality = 90;
    o->timeout_s = 10;
    o->retries = 2;
    o->max_bytes = 20LL << 20;
    o->max_pixels = 50000000; /* "50M" as --max-pixels reads it (powers of 1000) */
    o->min_size = 64;
    o->max_aspect = 3;
    o->user_agent = "ovseg/0.1 (+https://github.com/ovseg; image-caption dataset crawler)";
}

static void fail(ovs_fetch_img *r, ovs_reason why, const char *msg) {
    r->reason = why;
    snprintf(r->error, sizeof r->error, "%.199s", msg);
}

static int iround(double x) { return x < 1 ? 1 : (int)lround(x); }

/* Copies the centred square of side min(w,h) out of src. */
static int center_square(const ovs_image *src, ovs_image *dst) {
    int s = src->w < src->h ? src->w : src->h, x0 = (src->w - s) / 2, y0 = (src->h - s) / 2;
    if (ovs_image_alloc(dst, s, s, src->c)) return OVS_EINTERNAL;
    for (int y = 0; y < s; y++)
        memcpy(dst->px + (size_t)y * s * src->c, src->px + ((size_t)(y0 + y) * src->w + x0) * src->c, (size_t)s * src->c);
    return 0;
}

/* Pastes src centred on a black size x size canvas. */
static int pad_square(const ovs_image *src, int size, ovs_image *dst) {
    if (ovs_image_alloc(dst, size, size, src->c)) return OVS_EINTERNAL;
    memset(dst->px, 0, (size_t)size * size * src->c);
    int x0 = (size - src->w) / 2, y0 = (size - src->h) / 2;
    for (int y = 0; y < src->h; y++)
        memcpy(dst->px + ((size_t)(y0 + y) * size + x0) * src->c, src->px + (size_t)y * src->w * src->c, (size_t)src->w * src->c);
    return 0;
}

/* Replaces *img by its resized version per the mode. */
static int shape(const ovs_fetch_opts *o, ovs_image *img, ovs_err *e) {
    int S = o->image_size, w = img->w, h = img->h, small = w < h ? w : h, big = w < h ? h : w;
    ovs_image tmp = {0}, out = {0};
    int rc = 0;
    switch (o->resize) {
    case OVS_RESIZE_NONE: return 0;
    case OVS_RESIZE_KEEP_RATIO: {
        double s = (double)S / small;
        int tw = iround(w * s), th = iround(h * s);
        if (tw == w && th == h) return 0;
        rc = ovs_image_resize(img, tw, th, &out, e);
        break;
    }
    case OVS_RESIZE_CENTER_CROP:
        if (w != h) {
            if (center_square(img, &tmp)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
            ovs_image_free(img);
            *img = tmp;
        }
        if (img->w == S) return 0;
        rc = ovs_image_resize(img, S, S, &out, e);
        break;
    case OVS_RESIZE_BORDER: {
        double s = (double)S / big;
        int tw = iround(w * s), th = iround(h * s);
        if (tw > S) tw = S;
        if (th > S) th = S;
        if (tw != w || th != h) {
            if ((rc = ovs_image_resize(img, tw, th, &tmp, e))) return rc;
            ovs_image_free(img);
            *img = tmp;
        }
        if (img->w == S && img->h == S) return 0;
        if (pad_square(img, S, &out)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        break;
    }
    }
    if (rc) return rc;
    ovs_image_free(img);
    *img = out;
    return 0;
}

static int encode_webp(const ovs_image *img, int quality, ovs_buf *out, ovs_err *e) {
    WebPConfig cfg;
    WebPPicture pic;
    WebPMemoryWriter wr;
    if (!WebPConfigInit(&cfg) || !WebPPictureInit(&pic)) return ovs_errf(e, OVS_EINTERNAL, "libwebp version mismatch");
    cfg.quality = (float)quality;
    cfg.method = WEBP_METHOD;
    pic.width = img->w, pic.height = img->h;
    WebPMemoryWriterInit(&wr);
    pic.writer = WebPMemoryWrite;
    pic.custom_ptr = &wr;
    int ok = WebPPictureImportRGB(&pic, img->px, img->w * 3) && WebPEncode(&cfg, &pic);
    int rc = ok ? ovs_buf_append(out, wr.mem, wr.size) : 0;
    WebPPictureFree(&pic);
    WebPMemoryWriterClear(&wr);
    if (!ok) return ovs_errf(e, OVS_EINTERNAL, "webp encode error %d (%dx%d)", pic.error_code, img->w, img->h);
    return rc ? ovs_errf(e, OVS_EINTERNAL, "out of memory") : 0;
}

static int encode(const ovs_fetch_opts *o, const ovs_image *img, ovs_buf *out, ovs_err *e) {
    if (o->format == OVS_IMG_WEBP && img->c == 3) return encode_webp(img, o->quality, out, e);
    return ovs_image_encode(img, o->format, o->quality, out, e);
}

void ovs_fetch_image(const ovs_fetch_opts *o, const void *data, size_t n, ovs_fetch_img *r) {
    memset(r, 0, sizeof *r);
    unsigned char dig[SHA256_DIGEST_LENGTH]; /* OpenSSL's SHA-256 (SHA-NI/AVX2): 6% of the crawl's CPU with util/sha256 */
    SHA256(data, n, dig);
    ovs_hex(dig, sizeof dig, r->sha256);
    ovs_err e = {0};
    ovs_imgfmt fmt;
    int w, h;
    if (ovs_image_sniff(data, n) == OVS_IMG_UNKNOWN) return fail(r, OVS_R_NOT_IMAGE, "body is not an image");
    if (ovs_image_info(data, n, &fmt, &w, &h, &e)) return fail(r, OVS_R_DECODE_ERROR, e.msg);
    if (fmt == OVS_IMG_GIF) return fail(r, OVS_R_DECODE_ERROR, "gif is not supported");
    r->orig_width = w, r->orig_height = h;
    char msg[160];
    if (o->max_pixels > 0 && (int64_t)w * h > o->max_pixels) {
        snprintf(msg, sizeof msg, "image is %dx%d, over --max-pixels %lld", w, h, (long long)o->max_pixels);
        return fail(r, OVS_R_TOO_LARGE, msg);
    }
    int small = w < h ? w : h, big = w < h ? h : w;
    if (small < o->min_size) {
        snprintf(msg, sizeof msg, "image is %dx%d, smaller side under --min-size %d", w, h, o->min_size);
        return fail(r, OVS_R_TOO_SMALL, msg);
    }
    if (o->max_aspect > 0 && (double)big / small > o->max_aspect) {
        snprintf(msg, sizeof msg, "image is %dx%d, aspect over --max-aspect %g", w, h, o->max_aspect);
        return fail(r, OVS_R_BAD_ASPECT, msg);
    }
    int min_side = 0; /* the smaller side the decoder must keep for the target */
    if (o->resize == OVS_RESIZE_KEEP_RATIO || o->resize == OVS_RESIZE_CENTER_CROP) min_side = o->image_size;
    else if (o->resize == OVS_RESIZE_BORDER) min_side = (int)ceil((double)o->image_size * small / big);
    ovs_image img = {0};
    int rc = ovs_image_decode(data, n, o->max_pixels, min_side, &img, &e);
    if (rc) return fail(r, OVS_R_DECODE_ERROR, e.msg);
    if ((img.w > img.h) != (w > h) && w != h) r->orig_width = h, r->orig_height = w; /* EXIF rotation */
    if (shape(o, &img, &e) || encode(o, &img, &r->encoded, &e)) {
        ovs_image_free(&img);
        ovs_buf_free(&r->encoded);
        return fail(r, OVS_R_DECODE_ERROR, e.msg);
    }
    r->width = img.w, r->height = img.h;
    ovs_image_free(&img);
    r->reason = OVS_R_OK;
}
