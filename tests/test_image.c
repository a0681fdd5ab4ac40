/* test_image.c — codecs, header sizes, bombs refused before decoding, truncation, EXIF
 * orientation, palette masks, and resizing. */
#include "tests/check.h"
#include "util/image.h"

static ovs_image gradient(int w, int h) {
    ovs_image im;
    ovs_image_alloc(&im, w, h, 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im.px + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w - 1)), p[1] = (uint8_t)(y * 255 / (h - 1)), p[2] = 128;
        }
    return im;
}

static double mean_abs_diff(const ovs_image *a, const ovs_image *b) {
    double s = 0;
    size_t n = (size_t)a->w * a->h * a->c;
    for (size_t i = 0; i < n; i++) s += abs((int)a->px[i] - (int)b->px[i]);
    return s / n;
}

TEST(image_roundtrip_jpeg_png_webp) {
    ovs_image im = gradient(120, 80);
    ovs_imgfmt fmts[] = {OVS_IMG_JPEG, OVS_IMG_PNG, OVS_IMG_WEBP};
    for (int k = 0; k < 3; k++) {
        ovs_buf b = {0};
        ovs_err e = {0};
        CHECK_OK(ovs_image_encode(&im, fmts[k], 95, &b, &e), &e);
        CHECK_EQ_INT(ovs_image_sniff(b.data, b.len), fmts[k]);
        int w, h;
        ovs_imgfmt f;
        CHECK_OK(ovs_image_info(b.data, b.len, &f, &w, &h, &e), &e);
        CHECK_EQ_INT(w, 120);
        CHECK_EQ_INT(h, 80);
        ovs_image d;
        CHECK_OK(ovs_image_decode(b.data, b.len, 0, 0, &d, &e), &e);
        CHECK_EQ_INT(d.w, 120);
        CHECK_EQ_INT(d.h, 80);
        double diff = mean_abs_diff(&im, &d);
        CHECK_MSG(diff < (fmts[k] == OVS_IMG_PNG ? 0.001 : 4.0), "%s mean abs diff %.2f", ovs_imgfmt_name(fmts[k]), diff);
        ovs_image_free(&d);
        ovs_buf_free(&b);
    }
    ovs_image_free(&im);
}

TEST(image_refuses_too_many_pixels_before_decoding) {
    /* A JPEG header claiming 30000x30000 with no image data. */
    unsigned char hdr[] = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x75, 0x30, 0x75, 0x30, 0x03,
                           0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xFF, 0xD9};
    int w, h;
    ovs_err e = {0};
    CHECK_OK(ovs_image_info(hdr, sizeof hdr, NULL, &w, &h, &e), &e);
    CHECK_EQ_INT(w, 30000);
    ovs_image d;
    CHECK_EQ_INT(ovs_image_decode(hdr, sizeof hdr, 50000000, 0, &d, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "too many pixels") != NULL);
}

TEST(image_truncated_and_garbage_are_user_errors) {
    ovs_image im = gradient(64, 64);
    ovs_imgfmt fmts[] = {OVS_IMG_JPEG, OVS_IMG_PNG, OVS_IMG_WEBP};
    for (int k = 0; k < 3; k++) {
        ovs_buf b = {0};
        ovs_err e = {0};
        ovs_image_encode(&im, fmts[k], 90, &b, &e);
        ovs_image d;
        int rc = ovs_image_decode(b.data, b.len / 2, 0, 0, &d, &e);
        CHECK_MSG(rc == OVS_EUSER, "%s truncated: rc %d", ovs_imgfmt_name(fmts[k]), rc);
        if (!rc) ovs_image_free(&d);
        ovs_buf_free(&b);
    }
    ovs_image d;
    ovs_err e = {0};
    CHECK_EQ_INT(ovs_image_decode("<html>hello</html>", 18, 0, 0, &d, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "not an image") != NULL);
    ovs_image_free(&im);
}

TEST(image_jpeg_dct_scaling_keeps_min_side) {
    ovs_image im = gradient(800, 600);
    ovs_buf b = {0};
    ovs_err e = {0};
    ovs_image_encode(&im, OVS_IMG_JPEG, 90, &b, &e);
    ovs_image d;
    CHECK_OK(ovs_image_decode(b.data, b.len, 0, 256, &d, &e), &e);
    CHECK_EQ_INT(d.w, 400); /* 1/2: 300 >= 256, 1/4 would give 150 */
    CHECK_EQ_INT(d.h, 300);
    ovs_image_free(&d);
    ovs_buf_free(&b);
    ovs_image_free(&im);
}

TEST(image_jpeg_exif_orientation_rotates) {
    ovs_image im = gradient(40, 20);
    ovs_buf b = {0}, x = {0};
    ovs_err e = {0};
    ovs_image_encode(&im, OVS_IMG_JPEG, 95, &b, &e);
    unsigned char app1[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M', 0x00, 0x2A, 0, 0, 0, 8,
                            0x00, 0x01, 0x01, 0x12, 0x00, 0x03, 0, 0, 0, 1, 0x00, 0x06, 0, 0, 0, 0, 0, 0};
    ovs_buf_append(&x, b.data, 2);
    ovs_buf_append(&x, app1, sizeof app1);
    ovs_buf_append(&x, b.data + 2, b.len - 2);
    ovs_image d;
    CHECK_OK(ovs_image_decode(x.data, x.len, 0, 0, &d, &e), &e);
    CHECK_EQ_INT(d.w, 20); /* orientation 6: rotate 90 clockwise */
    CHECK_EQ_INT(d.h, 40);
    /* source top-left (x=0,y=0: red 0, green 0) lands at the top-right */
    if (d.w == 20) {
        CHECK(d.px[(19) * 3] < 20 && d.px[19 * 3 + 1] < 20);
    }
    ovs_image_free(&d);
    ovs_buf_free(&b);
    ovs_buf_free(&x);
    ovs_image_free(&im);
}

TEST(image_palette_png_keeps_indices) {
    ovs_image idx;
    ovs_image_alloc(&idx, 33, 17, 1);
    for (int i = 0; i < 33 * 17; i++) idx.px[i] = (uint8_t)(i % 7 == 0 ? 255 : i % 21);
    uint8_t pal[768];
    ovs_voc_palette(pal);
    CHECK_EQ_INT(pal[3], 128); /* class 1 = (128,0,0) */
    CHECK_EQ_INT(pal[3 * 15 + 0], 192);
    ovs_buf b = {0};
    ovs_err e = {0};
    CHECK_OK(ovs_png_encode_palette(&idx, pal, 256, &b, &e), &e);
    ovs_image back;
    CHECK_OK(ovs_png_decode_indices(b.data, b.len, &back, &e), &e);
    CHECK_EQ_INT(back.w, 33);
    CHECK(back.c == 1 && !memcmp(back.px, idx.px, 33 * 17));
    ovs_image_free(&back);
    ovs_buf_free(&b);
    ovs_image_free(&idx);
}

TEST(image_resize_area_averages_when_shrinking) {
    ovs_image im;
    ovs_image_alloc(&im, 4, 4, 1);
    for (int i = 0; i < 16; i++) im.px[i] = (uint8_t)(((i % 4) + (i / 4)) % 2 ? 200 : 0); /* checker */
    ovs_image d;
    ovs_err e = {0};
    CHECK_OK(ovs_image_resize(&im, 2, 2, &d, &e), &e);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(d.px[i], 100);
    ovs_image_free(&d);
    CHECK_OK(ovs_image_resize(&im, 3, 3, &d, &e), &e); /* non-integer ratio stays in range */
    for (int i = 0; i < 9; i++) CHECK(d.px[i] > 40 && d.px[i] < 160);
    ovs_image_free(&d);
    ovs_image_free(&im);
    ovs_image g = gradient(50, 30), up;
    CHECK_OK(ovs_image_resize(&g, 100, 60, &up, &e), &e);
    CHECK_EQ_INT(up.w, 100);
    CHECK(up.px[0] < 5 && up.px[(99) * 3] > 250);
    ovs_image_free(&up);
    ovs_image_free(&g);
}

int main(void) {
    RUN(image_roundtrip_jpeg_png_webp);
    RUN(image_refuses_too_many_pixels_before_decoding);
    RUN(image_truncated_and_garbage_are_user_errors);
    RUN(image_jpeg_dct_scaling_keeps_min_side);
    RUN(image_jpeg_exif_orientation_rotates);
    RUN(image_palette_png_keeps_indices);
    RUN(image_resize_area_averages_when_shrinking);
    return check_done();
}
