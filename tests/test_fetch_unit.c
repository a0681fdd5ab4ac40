/* test_fetch_unit.c — the pieces of fetch that need no network: the image stage (checks, resize
 * modes, formats), reason names and retriability, and merge's relative paths. */
#include "check.h"
#include "ingest/fetch.h"
#include "ingest/merge.h"

/* A w x h RGB test image encoded as fmt. */
static void make(int w, int h, ovs_imgfmt fmt, ovs_buf *out) {
    ovs_image img;
    ovs_image_alloc(&img, w, h, 3);
    for (int i = 0; i < w * h * 3; i++) img.px[i] = (uint8_t)(i * 7 % 251);
    ovs_err e = {0};
    ovs_image_encode(&img, fmt, 90, out, &e);
    ovs_image_free(&img);
}

TEST(fetch_image_keep_ratio_smaller_side_is_size) {
    ovs_fetch_opts o;
    ovs_fetch_defaults(&o);
    ovs_buf b = {0};
    make(800, 600, OVS_IMG_JPEG, &b);
    ovs_fetch_img r;
    ovs_fetch_image(&o, b.data, b.len, &r);
    CHECK_EQ_INT(r.reason, OVS_R_OK);
    CHECK_EQ_INT(r.width, 341);
    CHECK_EQ_INT(r.height, 256);
    CHECK_EQ_INT(r.orig_width, 800);
    CHECK_EQ_INT(ovs_image_sniff(r.encoded.data, r.encoded.len), OVS_IMG_WEBP);
    CHECK_EQ_INT(strlen(r.sha256), 64);
    ovs_buf_free(&r.encoded);
    ovs_buf_free(&b);
}

TEST(fetch_image_modes_and_formats) {
    ovs_fetch_opts o;
    ovs_fetch_defaults(&o);
    o.image_size = 100;
    ovs_buf b = {0};
    make(300, 150, OVS_IMG_PNG, &b);
    ovs_resize_mode modes[] = {OVS_RESIZE_CENTER_CROP, OVS_RESIZE_BORDER, OVS_RESIZE_NONE};
    int want[][2] = {{100, 100}, {100, 100}, {300, 150}};
    for (int m = 0; m < 3; m++) {
        o.resize = modes[m];
        o.format = m == 0 ? OVS_IMG_JPEG : OVS_IMG_WEBP;
        ovs_fetch_img r;
        ovs_fetch_image(&o, b.data, b.len, &r);
        CHECK_EQ_INT(r.reason, OVS_R_OK);
        CHECK_EQ_INT(r.width, want[m][0]);
        CHECK_EQ_INT(r.height, want[m][1]);
        CHECK_EQ_INT(ovs_image_sniff(r.encoded.data, r.encoded.len), o.format);
        ovs_buf_free(&r.encoded);
    }
    ovs_buf_free(&b);
}

TEST(fetch_image_refusals) {
    ovs_fetch_opts o;
    ovs_fetch_defaults(&o);
    ovs_buf small = {0}, wide = {0};
    make(40, 40, OVS_IMG_JPEG, &small);
    make(700, 100, OVS_IMG_WEBP, &wide);
    ovs_fetch_img r;
    ovs_fetch_image(&o, small.data, small.len, &r);
    CHECK_EQ_INT(r.reason, OVS_R_TOO_SMALL);
    ovs_fetch_image(&o, wide.data, wide.len, &r);
    CHECK_EQ_INT(r.reason, OVS_R_BAD_ASPECT);
    o.max_pixels = 1000;
    ovs_fetch_image(&o, small.data, small.len, &r);
    CHECK_EQ_INT(r.reason, OVS_R_TOO_LARGE);
    ovs_fetch_image(&o, "<html>hello</html>", 18, &r);
    CHECK_EQ_INT(r.reason, OVS_R_NOT_IMAGE);
    ovs_buf_free(&small);
    ovs_buf_free(&wide);
}

TEST(fetch_reasons_named_and_retriable) {
    CHECK_STR(ovs_reason_name(OVS_R_HTTP_4XX), "http_4xx");
    CHECK_STR(ovs_reason_name(OVS_R_REDIRECT), "redirect");
    int retriable = 0;
    for (int r = 0; r < OVS_R_COUNT; r++) retriable += ovs_reason_retriable(r);
    CHECK_EQ_INT(retriable, 4);
    CHECK(ovs_reason_retriable(OVS_R_TIMEOUT) && ovs_reason_retriable(OVS_R_HTTP_5XX));
    CHECK(ovs_reason_retriable(OVS_R_DNS) && ovs_reason_retriable(OVS_R_CONNECT));
}

TEST(merge_relpath) {
    char out[256];
    ovs_relpath("/data/m0/shards", "/data", out, sizeof out);
    CHECK_STR(out, "m0/shards");
    ovs_relpath("/data", "/data", out, sizeof out);
    CHECK_STR(out, ".");
    ovs_relpath("/data/a", "/data/b/c", out, sizeof out);
    CHECK_STR(out, "../../a");
    ovs_relpath("/database/x", "/data", out, sizeof out);
    CHECK_STR(out, "../database/x");
    ovs_relpath("/x/y", "/", out, sizeof out);
    CHECK_STR(out, "x/y");
}

int main(void) {
    RUN(fetch_image_keep_ratio_smaller_side_is_size);
    RUN(fetch_image_modes_and_formats);
    RUN(fetch_image_refusals);
    RUN(fetch_reasons_named_and_retriable);
    RUN(merge_relpath);
    return check_done();
}
