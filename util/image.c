/* image.c — image codecs (JPEG via libjpeg-turbo, PNG via libpng, WebP via libwebp), header-only
 * size reading, EXIF orientation, palette PNGs for masks, and area/bilinear resizing (see image.h). */
#include "util/image.h"

#include <setjmp.h>
#include <stdio.h>
/* stdio.h must come before jpeglib.h */
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/encode.h>

/* ── basics ──────────────────────────────────────────────────────────────────────────────── */

int ovs_image_alloc(ovs_image *img, int w, int h, int c) {
    img->w = w, img->h = h, img->c = c;
    img->px = malloc((size_t)w * h * c + 1);
    return img->px ? 0 : OVS_EINTERNAL;
}

void ovs_image_free(ovs_image *img) {
    free(img->px);
    img->px = NULL;
    img->w = img->h = img->c = 0;
}

ovs_imgfmt ovs_image_sniff(const void *data, size_t n) {
    const unsigned char *p = data;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return OVS_IMG_JPEG;
    if (n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return OVS_IMG_PNG;
    if (n >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) return OVS_IMG_WEBP;
    if (n >= 6 && (!memcmp(p, "GIF87a", 6) || !memcmp(p, "GIF89a", 6))) return OVS_IMG_GIF;
    return OVS_IMG_UNKNOWN;
}

const char *ovs_imgfmt_name(ovs_imgfmt f) {
    switch (f) {
    case OVS_IMG_JPEG: return "jpeg";
    case OVS_IMG_PNG: return "png";
    case OVS_IMG_WEBP: return "webp";
    case OVS_IMG_GIF: return "gif";
    default: return "unknown";
    }
}

/* ── header-only sizes ───────────────────────────────────────────────────────────────────── */

static int jpeg_header_size(const unsigned char *p, size_t n, int *w, int *h) {
    size_t i = 2;
    while (i + 4 <= n) {
        if (p[i] != 0xFF) return -1;
        unsigned char m = p[i + 1];
        if (m == 0xFF) { i++; continue; }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { i += 2; continue; }
        size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
        if (len < 2) return -1;
        int sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) {
            if (i + 9 > n) return -1;
            *h = p[i + 5] << 8 | p[i + 6];
            *w = p[i + 7] << 8 | p[i + 8];
            return 0;
        }
        i += 2 + len;
    }
    return -1;
}

int ovs_image_info(const void *data, size_t n, ovs_imgfmt *fmt, int *w, int *h, ovs_err *e) {
    const unsigned char *p = data;
    ovs_imgfmt f = ovs_image_sniff(data, n);
    int ok = -1;
    *w = *h = 0;
    switch (f) {
    case OVS_IMG_JPEG: ok = jpeg_header_size(p, n, w, h); break;
    case OVS_IMG_PNG:
        if (n >= 24 && !memcmp(p + 12, "IHDR", 4)) {
            *w = (int)((unsigned)p[16] << 24 | p[17] << 16 | p[18] << 8 | p[19]);
            *h = (int)((unsigned)p[20] << 24 | p[21] << 16 | p[22] << 8 | p[23]);
            ok = 0;
        }
        break;
    case OVS_IMG_WEBP: ok = WebPGetInfo(p, n, w, h) ? 0 : -1; break;
    case OVS_IMG_GIF: *w = p[6] | p[7] << 8; *h = p[8] | p[9] << 8; ok = n >= 10 ? 0 : -1; break;
    default: return ovs_errf(e, OVS_EUSER, "not an image (unknown format)");
    }
    if (fmt) *fmt = f;
    if (ok || *w <= 0 || *h <= 0) return ovs_errf(e, OVS_EUSER, "%s header unreadable or truncated", ovs_imgfmt_name(f));
    return 0;
}

/* ── EXIF orientation ────────────────────────────────────────────────────────────────────── */

static unsigned rd16(const unsigned char *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }
static unsigned rd32(const unsigned char *p, int le) {
    return le ? (unsigned)p[0] | p[1] << 8 | p[2] << 16 | (unsigned)p[3] << 24
              : (unsigned)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* Orientation (1..8) from an APP1 Exif payload, 1 if absent or malformed. */
static int exif_orientation(const unsigned char *d, size_t n) {
    if (n < 14 || memcmp(d, "Exif\0\0", 6)) return 1;
    const unsigned char *t = d + 6;
    size_t tn = n - 6;
    int le = t[0] == 'I';
    if (!(t[0] == 'I' && t[1] == 'I') && !(t[0] == 'M' && t[1] == 'M')) return 1;
    size_t ifd = rd32(t + 4, le);
    if (ifd + 2 > tn) return 1;
    unsigned cnt = rd16(t + ifd, le);
    for (unsigned k = 0; k < cnt; k++) {
        size_t ent = ifd + 2 + 12 * (size_t)k;
        if (ent + 12 > tn) return 1;
        if (rd16(t + ent, le) == 0x0112) {
            unsigned v = rd16(t + ent + 8, le);
            return v >= 1 && v <= 8 ? (int)v : 1;
        }
    }
    return 1;
}

/* Applies EXIF orientation o to img (RGB), replacing its pixels. */
static int apply_orientation(ovs_image *img, int o) {
    if (o <= 1) return 0;
    int w = img->w, h = img->h, c = img->c, swap = o >= 5;
    ovs_image out;
    if (ovs_image_alloc(&out, swap ? h : w, swap ? w : h, c)) return OVS_EINTERNAL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int nx, ny;
            switch (o) {
            case 2: nx = w - 1 - x, ny = y; break;
            case 3: nx = w - 1 - x, ny = h - 1 - y; break;
            case 4: nx = x, ny = h - 1 - y; break;
            case 5: nx = y, ny = x; break;
            case 6: nx = h - 1 - y, ny = x; break;
            case 7: nx = h - 1 - y, ny = w - 1 - x; break;
            default: nx = y, ny = w - 1 - x; break; /* 8 */
            }
            memcpy(out.px + ((size_t)ny * out.w + nx) * c, img->px + ((size_t)y * w + x) * c, (size_t)c);
        }
    ovs_image_free(img);
    *img = out;
    return 0;
}

/* ── JPEG ────────────────────────────────────────────────────────────────────────────────── */

typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    int truncated;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void jpeg_fail(j_common_ptr ci) {
    jerr *je = (jerr *)ci->err;
    ci->err->format_message(ci, je->msg);
    longjmp(je->jb, 1);
}

static void jpeg_note(j_common_ptr ci, int level) {
    jerr *je = (jerr *)ci->err;
    if (level < 0 && ci->err->msg_code == JWRN_JPEG_EOF) je->truncated = 1;
}

static int decode_jpeg(const unsigned char *data, size_t n, int min_side, ovs_image *out, ovs_err *e) {
    struct jpeg_decompress_struct ci;
    jerr je;
    memset(&je, 0, sizeof je);
    ci.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_fail;
    je.mgr.emit_message = jpeg_note;
    uint8_t *volatile px = NULL;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&ci);
        free(px);
        return ovs_errf(e, OVS_EUSER, "jpeg decode error: %s", je.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, data, (unsigned long)n);
    jpeg_save_markers(&ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&ci, TRUE);
    int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
    ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    if (min_side > 0) {
        int small = ci.image_width < ci.image_height ? (int)ci.image_width : (int)ci.image_height;
        int denom = 8;
        while (denom > 1 && (small + denom - 1) / denom < min_side) denom /= 2;
        ci.scale_num = 1;
        ci.scale_denom = (unsigned)denom;
    }
    int orient = 1;
    for (jpeg_saved_marker_ptr m = ci.marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1) orient = exif_orientation(m->data, m->data_length);
    jpeg_start_decompress(&ci);
    int w = (int)ci.output_width, h = (int)ci.output_height, nc = ci.output_components;
    px = malloc((size_t)w * h * 3 + 1);
    uint8_t *row = malloc((size_t)w * nc);
    if (!px || !row) { free(row); jpeg_destroy_decompress(&ci); free(px); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
    while (ci.output_scanline < ci.output_height) {
        int y = (int)ci.output_scanline;
        JSAMPROW r = nc == 3 ? px + (size_t)y * w * 3 : row;
        jpeg_read_scanlines(&ci, &r, 1);
        if (nc == 3) continue;
        uint8_t *o = px + (size_t)y * w * 3;
        for (int x = 0; x < w; x++) {
            if (nc == 4) { /* Adobe CMYK is stored inverted */
                int k = row[4 * x + 3];
                for (int c = 0; c < 3; c++) o[3 * x + c] = (uint8_t)(row[4 * x + c] * k / 255);
            } else {
                o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[x];
            }
        }
    }
    free(row);
    jpeg_finish_decompress(&ci);
    int truncated = je.truncated;
    jpeg_destroy_decompress(&ci);
    if (truncated) { free(px); return ovs_errf(e, OVS_EUSER, "jpeg decode error: truncated data"); }
    out->w = w, out->h = h, out->c = 3, out->px = px;
    return apply_orientation(out, orient) ? ovs_errf(e, OVS_EINTERNAL, "out of memory") : 0;
}

static int encode_jpeg(const ovs_image *img, int quality, ovs_buf *out, ovs_err *e) {
    struct jpeg_compress_struct ci;
    jerr je;
    memset(&je, 0, sizeof je);
    ci.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_fail;
    unsigned char *volatile mem = NULL;
    unsigned long size = 0;
    if (setjmp(je.jb)) {
        jpeg_destroy_compress(&ci);
        free(mem);
        return ovs_errf(e, OVS_EINTERNAL, "jpeg encode error: %s", je.msg);
    }
    jpeg_create_compress(&ci);
    unsigned char *m = NULL;
    jpeg_mem_dest(&ci, &m, &size);
    ci.image_width = (JDIMENSION)img->w;
    ci.image_height = (JDIMENSION)img->h;
    ci.input_components = img->c;
    ci.in_color_space = img->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, quality, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW r = img->px + (size_t)ci.next_scanline * img->w * img->c;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    mem = m;
    int rc = ovs_buf_append(out, mem, size);
    jpeg_destroy_compress(&ci);
    free(mem);
    return rc ? ovs_errf(e, OVS_EINTERNAL, "out of memory") : 0;
}

/* ── PNG ─────────────────────────────────────────────────────────────────────────────────── */

static int decode_png(const unsigned char *data, size_t n, ovs_image *out, ovs_err *e) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&pi, data, n))
        return ovs_errf(e, OVS_EUSER, "png decode error: %s", pi.message);
    pi.format = PNG_FORMAT_RGB;
    if (ovs_image_alloc(out, (int)pi.width, (int)pi.height, 3)) {
        png_image_free(&pi);
        return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    if (!png_image_finish_read(&pi, NULL, out->px, 0, NULL)) {
        ovs_image_free(out);
        return ovs_errf(e, OVS_EUSER, "png decode error: %s", pi.message);
    }
    return 0;
}

static int encode_png_fmt(const ovs_image *img, png_uint_32 format, const uint8_t *cmap, int ncolors,
                          ovs_buf *out, ovs_err *e) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img->w;
    pi.height = (png_uint_32)img->h;
    pi.format = format;
    pi.colormap_entries = (png_uint_32)ncolors;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&pi, NULL, &size, 0, img->px, 0, cmap))
        return ovs_errf(e, OVS_EINTERNAL, "png encode error: %s", pi.message);
    if (ovs_buf_reserve(out, size)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!png_image_write_to_memory(&pi, out->data + out->len, &size, 0, img->px, 0, cmap))
        return ovs_errf(e, OVS_EINTERNAL, "png encode error: %s", pi.message);
    out->len += size;
    out->data[out->len] = 0;
    return 0;
}

int ovs_png_encode_palette(const ovs_image *idx, const uint8_t *palette, int ncolors, ovs_buf *out, ovs_err *e) {
    if (idx->c != 1 || ncolors < 1 || ncolors > 256) return ovs_errf(e, OVS_EINTERNAL, "palette png: bad arguments");
    return encode_png_fmt(idx, PNG_FORMAT_RGB_COLORMAP, palette, ncolors, out, e);
}

typedef struct png_mem { const unsigned char *p; size_t n, off; } png_mem;

static void png_read_mem(png_structp ps, png_bytep dst, png_size_t len) {
    png_mem *m = png_get_io_ptr(ps);
    if (m->off + len > m->n) png_error(ps, "truncated png");
    memcpy(dst, m->p + m->off, len);
    m->off += len;
}

int ovs_png_decode_indices(const void *data, size_t n, ovs_image *out, ovs_err *e) {
    if (ovs_image_sniff(data, n) != OVS_IMG_PNG) return ovs_errf(e, OVS_EUSER, "not a png");
    png_structp ps = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = ps ? png_create_info_struct(ps) : NULL;
    if (!info) { png_destroy_read_struct(&ps, NULL, NULL); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
    png_mem m = {data, n, 0};
    uint8_t *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(ps))) {
        png_destroy_read_struct(&ps, &info, NULL);
        free(px);
        free(rows);
        return ovs_errf(e, OVS_EUSER, "png decode error (mask)");
    }
    png_set_read_fn(ps, &m, png_read_mem);
    png_read_info(ps, info);
    int ct = png_get_color_type(ps, info), bd = png_get_bit_depth(ps, info);
    int w = (int)png_get_image_width(ps, info), h = (int)png_get_image_height(ps, info);
    if (ct != PNG_COLOR_TYPE_PALETTE && ct != PNG_COLOR_TYPE_GRAY) {
        png_destroy_read_struct(&ps, &info, NULL);
        return ovs_errf(e, OVS_EUSER, "mask png must be palette or 8-bit gray (colour type %d)", ct);
    }
    if (bd < 8) png_set_packing(ps);
    if (bd == 16) png_set_strip_16(ps);
    png_read_update_info(ps, info);
    px = malloc((size_t)w * h + 1);
    rows = malloc(sizeof(png_bytep) * (size_t)h);
    if (!px || !rows) png_error(ps, "out of memory");
    for (int y = 0; y < h; y++) rows[y] = px + (size_t)y * w;
    png_read_image(ps, rows);
    png_read_end(ps, NULL);
    png_destroy_read_struct(&ps, &info, NULL);
    free(rows);
    out->w = w, out->h = h, out->c = 1, out->px = px;
    return 0;
}

void ovs_voc_palette(uint8_t pal[256 * 3]) {
    for (int i = 0; i < 256; i++) {
        int r = 0, g = 0, b = 0, c = i;
        for (int j = 0; j < 8; j++) {
            r |= ((c >> 0) & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
            c >>= 3;
        }
        pal[3 * i] = (uint8_t)r, pal[3 * i + 1] = (uint8_t)g, pal[3 * i + 2] = (uint8_t)b;
    }
}

/* ── WebP ────────────────────────────────────────────────────────────────────────────────── */

static int decode_webp(const unsigned char *data, size_t n, ovs_image *out, ovs_err *e) {
    int w, h;
    if (!WebPGetInfo(data, n, &w, &h)) return ovs_errf(e, OVS_EUSER, "webp decode error: bad header");
    if (ovs_image_alloc(out, w, h, 3)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (!WebPDecodeRGBInto(data, n, out->px, (size_t)w * h * 3, w * 3)) {
        ovs_image_free(out);
        return ovs_errf(e, OVS_EUSER, "webp decode error: corrupt or truncated data");
    }
    return 0;
}

static int encode_webp(const ovs_image *img, int quality, ovs_buf *out, ovs_err *e) {
    const ovs_image *src = img;
    ovs_image rgb = {0};
    if (img->c == 1) { /* WebP has no gray mode: expand */
        if (ovs_image_alloc(&rgb, img->w, img->h, 3)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        for (size_t i = 0; i < (size_t)img->w * img->h; i++) rgb.px[3 * i] = rgb.px[3 * i + 1] = rgb.px[3 * i + 2] = img->px[i];
        src = &rgb;
    }
    uint8_t *mem = NULL;
    size_t size = WebPEncodeRGB(src->px, src->w, src->h, src->w * 3, (float)quality, &mem);
    ovs_image_free(&rgb);
    if (!size) return ovs_errf(e, OVS_EINTERNAL, "webp encode error (%dx%d)", img->w, img->h);
    int rc = ovs_buf_append(out, mem, size);
    WebPFree(mem);
    return rc ? ovs_errf(e, OVS_EINTERNAL, "out of memory") : 0;
}

/* ── dispatch ────────────────────────────────────────────────────────────────────────────── */

int ovs_image_decode(const void *data, size_t n, int64_t max_pixels, int min_side, ovs_image *out, ovs_err *e) {
    memset(out, 0, sizeof *out);
    ovs_imgfmt f;
    int w, h, rc = ovs_image_info(data, n, &f, &w, &h, e);
    if (rc) return rc;
    if (max_pixels > 0 && (int64_t)w * h > max_pixels)
        return ovs_errf(e, OVS_EUSER, "too many pixels: %dx%d > %lld", w, h, (long long)max_pixels);
    switch (f) {
    case OVS_IMG_JPEG: return decode_jpeg(data, n, min_side, out, e);
    case OVS_IMG_PNG: return decode_png(data, n, out, e);
    case OVS_IMG_WEBP: return decode_webp(data, n, out, e);
    default: return ovs_errf(e, OVS_EUSER, "unsupported image format %s", ovs_imgfmt_name(f));
    }
}

int ovs_image_encode(const ovs_image *img, ovs_imgfmt fmt, int quality, ovs_buf *out, ovs_err *e) {
    if (img->c != 1 && img->c != 3) return ovs_errf(e, OVS_EINTERNAL, "encode: %d channels unsupported", img->c);
    switch (fmt) {
    case OVS_IMG_JPEG: return encode_jpeg(img, quality, out, e);
    case OVS_IMG_PNG: return encode_png_fmt(img, img->c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB, NULL, 0, out, e);
    case OVS_IMG_WEBP: return encode_webp(img, quality, out, e);
    default: return ovs_errf(e, OVS_EINTERNAL, "encode: unsupported format %s", ovs_imgfmt_name(fmt));
    }
}

/* ── resize ──────────────────────────────────────────────────────────────────────────────── */

/* Per output index: first source index and weights (normalised). Area weights when shrinking,
 * triangle (bilinear, half-pixel centres) when enlarging. */
typedef struct taps { int *first, *count; float *w; int maxtaps; } taps;

static int make_taps(taps *t, int src, int dst) {
    double scale = (double)src / dst;
    int maxt = scale > 1 ? (int)scale + 3 : 2;
    t->first = malloc(sizeof(int) * dst);
    t->count = malloc(sizeof(int) * dst);
    t->w = calloc((size_t)dst * maxt, sizeof(float));
    t->maxtaps = maxt;
    if (!t->first || !t->count || !t->w) return OVS_EINTERNAL;
    for (int o = 0; o < dst; o++) {
        float *w = t->w + (size_t)o * maxt;
        if (scale > 1) {
            double a = o * scale, b = a + scale, sum = 0;
            int i0 = (int)a, i1 = (int)(b - 1e-9);
            if (i1 >= src) i1 = src - 1;
            t->first[o] = i0, t->count[o] = i1 - i0 + 1;
            for (int i = i0; i <= i1; i++) {
                double lo = i > a ? i : a, hi = i + 1 < b ? i + 1 : b;
                w[i - i0] = (float)(hi - lo), sum += hi - lo;
            }
            for (int k = 0; k < t->count[o]; k++) w[k] = (float)(w[k] / sum);
        } else {
            double x = (o + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            int i0 = (int)x;
            if (i0 >= src - 1) { t->first[o] = src - 1, t->count[o] = 1, w[0] = 1; continue; }
            float f = (float)(x - i0);
            t->first[o] = i0, t->count[o] = 2, w[0] = 1 - f, w[1] = f;
        }
    }
    return 0;
}

static void free_taps(taps *t) { free(t->first); free(t->count); free(t->w); }

int ovs_image_resize(const ovs_image *src, int w, int h, ovs_image *dst, ovs_err *e) {
    int c = src->c, rc = 0;
    taps tx = {0}, ty = {0};
    float *tmp = malloc(sizeof(float) * (size_t)src->h * w * c);
    if (!tmp || make_taps(&tx, src->w, w) || make_taps(&ty, src->h, h) || ovs_image_alloc(dst, w, h, c)) {
        rc = ovs_errf(e, OVS_EINTERNAL, "resize: out of memory");
        goto done;
    }
    for (int y = 0; y < src->h; y++) { /* horizontal pass: src rows -> tmp [src->h, w, c] */
        const uint8_t *row = src->px + (size_t)y * src->w * c;
        float *o = tmp + (size_t)y * w * c;
        for (int x = 0; x < w; x++) {
            const float *wt = tx.w + (size_t)x * tx.maxtaps;
            for (int ch = 0; ch < c; ch++) {
                float s = 0;
                for (int k = 0; k < tx.count[x]; k++) s += wt[k] * row[(size_t)(tx.first[x] + k) * c + ch];
                o[(size_t)x * c + ch] = s;
            }
        }
    }
    for (int y = 0; y < h; y++) { /* vertical pass: tmp -> dst */
        const float *wt = ty.w + (size_t)y * ty.maxtaps;
        uint8_t *o = dst->px + (size_t)y * w * c;
        for (int i = 0; i < w * c; i++) {
            float s = 0;
            for (int k = 0; k < ty.count[y]; k++) s += wt[k] * tmp[(size_t)(ty.first[y] + k) * w * c + i];
            int v = (int)(s + 0.5f);
            o[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
done:
    free(tmp);
    free_taps(&tx);
    free_taps(&ty);
    return rc;
}
