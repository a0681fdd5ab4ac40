/* fuzz_image.c — fuzz target: image sniffing, header sizes and decoding (JPEG/PNG/WebP) with
 * the pixel cap on, and the palette-mask PNG reader. */
#include <stdint.h>
#include <stdlib.h>

#include "util/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ovs_err e;
    ovs_image img;
    int w, h;
    ovs_imgfmt f;
    ovs_image_sniff(data, size);
    ovs_image_info(data, size, &f, &w, &h, &e);
    if (ovs_image_decode(data, size, 4000000, 0, &img, &e) == 0) ovs_image_free(&img);
    if (ovs_image_decode(data, size, 4000000, 64, &img, &e) == 0) ovs_image_free(&img);
    if (ovs_png_decode_indices(data, size, &img, &e) == 0) ovs_image_free(&img);
    return 0;
}
