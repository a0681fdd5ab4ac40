/* image.h — image codecs and resizing shared by synth, fetch, the loader and eval:
 * sniffing, header-only size reading (to refuse decompression bombs before decoding), decoding
 * JPEG (libjpeg-turbo, with DCT scaling), PNG (libpng) and WebP (libwebp) to 8-bit RGB, encoding
 * RGB to JPEG/PNG/WebP, palette PNGs for segmentation masks, and area (antialiased) resizing. */
#ifndef OVS_IMAGE_H
#define OVS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

typedef enum { OVS_IMG_UNKNOWN = 0, OVS_IMG_JPEG, OVS_IMG_PNG, OVS_IMG_WEBP, OVS_IMG_GIF } ovs_imgfmt;

typedef struct ovs_image {
    int w, h, c;      /* c = 3 (RGB) or 1 (gray / palette indices) */
    uint8_t *px;      /* w*h*c bytes, row-major, malloc'd */
} ovs_image;

ovs_imgfmt ovs_image_sniff(const void *data, size_t n);
const char *ovs_imgfmt_name(ovs_imgfmt f); /* "jpeg", "png", "webp", "gif", "unknown" */

/* Reads width and height from the header only. OVS_EUSER if not a known image or truncated. */
int ovs_image_info(const void *data, size_t n, ovs_imgfmt *fmt, int *w, int *h, ovs_err *e);

/* Decodes to RGB (c=3). max_pixels > 0 refuses larger images before decoding (OVS_EUSER,
 * message contains "too many pixels"). min_side > 0 lets JPEG decode at a reduced DCT scale
 * (1/2, 1/4, 1/8) as long as the smaller side stays >= min_side. JPEG EXIF orientation applied. */
int ovs_image_decode(const void *data, size_t n, int64_t max_pixels, int min_side, ovs_image *out, ovs_err *e);

/* Encodes RGB (c=3) or gray (c=1) to fmt (JPEG, PNG or WebP) appended to out. quality 1..100
 * (ignored for PNG). */
int ovs_image_encode(const ovs_image *img, ovs_imgfmt fmt, int quality, ovs_buf *out, ovs_err *e);

/* Palette PNG of class indices (c=1): palette has ncolors RGB triples (<= 256). */
int ovs_png_encode_palette(const ovs_image *idx, const uint8_t *palette, int ncolors, ovs_buf *out, ovs_err *e);
/* Reads a PNG as raw 8-bit indices/gray values (palette PNGs give the index, not the colour). */
int ovs_png_decode_indices(const void *data, size_t n, ovs_image *out, ovs_err *e);
/* The PASCAL VOC colour map (256 entries, RGB). */
void ovs_voc_palette(uint8_t pal[256 * 3]);

/* Area-averaging resize (antialiased when shrinking; bilinear when enlarging). */
int ovs_image_resize(const ovs_image *src, int w, int h, ovs_image *dst, ovs_err *e);

int ovs_image_alloc(ovs_image *img, int w, int h, int c);
void ovs_image_free(ovs_image *img);

#endif
