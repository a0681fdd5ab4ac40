/* test_eval_segment.c — the segmentation protocol (window layout, resize, group-to-class affinity,
 * background threshold, baselines) with a fake colour-based encoder standing in for the model. */
#include "tests/check.h"
#include "eval/miou.h"
#include "eval/segment.h"

TEST(seg_windows_follow_mmseg_slide_layout) {
    int s[8];
    CHECK_EQ_INT(ovs_seg_windows(448, 448, 224, s), 1);
    CHECK_EQ_INT(s[0], 0);
    CHECK_EQ_INT(ovs_seg_windows(597, 448, 224, s), 2);
    CHECK_EQ_INT(s[0], 0);
    CHECK_EQ_INT(s[1], 149);
    CHECK_EQ_INT(ovs_seg_windows(1000, 448, 224, s), 4); /* (1000-448+223)//224 + 1 */
    CHECK_EQ_INT(s[1], 224);
    CHECK_EQ_INT(s[2], 448);
    CHECK_EQ_INT(s[3], 552);
    CHECK_EQ_INT(ovs_seg_windows(672, 448, 224, s), 2);
    CHECK_EQ_INT(s[1], 224);
}

TEST(seg_rescale_keeps_aspect_short_side_448_long_at_most_2048) {
    int w, h;
    ovs_seg_rescale_size(500, 375, 448, 2048, &w, &h);
    CHECK_EQ_INT(w, 597);
    CHECK_EQ_INT(h, 448);
    ovs_seg_rescale_size(100, 1000, 448, 2048, &w, &h); /* long side limits: scale 2.048 */
    CHECK_EQ_INT(w, 205);
    CHECK_EQ_INT(h, 2048);
}

TEST(seg_bilinear_matches_half_pixel_rule) {
    /* 1x2 -> 1x4, align_corners=False: src x = (o+0.5)/2-0.5 = -0.25,0.25,0.75,1.25 -> 0,.25,.75,1 */
    float src[2] = {0, 4}, dst[4];
    ovs_resize_bilinear(src, 1, 1, 2, dst, 1, 4);
    CHECK_NEAR(dst[0], 0, 1e-6);
    CHECK_NEAR(dst[1], 1, 1e-6);
    CHECK_NEAR(dst[2], 3, 1e-6);
    CHECK_NEAR(dst[3], 4, 1e-6);
}

TEST(seg_affinity_by_hand) {
    /* G=2, D=2, 3 classes, top-2, scale 1. text: c0=(1,0) c1=(0,1) c2=(-1,0); image=(1,0)
     * image scores (1,0,-1) -> top-2 = {c0,c1}. group0=(1,0): raw (1,0,-1), P=softmax(raw);
     * masked softmax over {c0,c1} = (e/(e+1), 1/(e+1), 0); Ag = that * P. */
    float text[6] = {1, 0, 0, 1, -1, 0}, gf[4] = {1, 0, 0, 1}, im[2] = {1, 0}, soft[2] = {1, 0}, ag[6];
    ovs_seg_enc enc = {.groups = 2, .gh = 1, .gw = 1, .dim = 2, .soft = soft, .group_feat = gf, .image_feat = im};
    ovs_err e = {0};
    CHECK_OK(ovs_seg_affinity(&enc, text, 3, 1.0f, 2, ag, &e), &e);
    double E = exp(1.0), z = E + 1 + exp(-1.0);
    CHECK_NEAR(ag[0], E / (E + 1) * E / z, 1e-6);
    CHECK_NEAR(ag[1], 1 / (E + 1) * 1 / z, 1e-6);
    CHECK_NEAR(ag[2], 0, 1e-9);
    /* group1=(0,1): raw (0,1,0); P = (1,e,1)/(e+2); masked (1,e)/(1+e) */
    double z1 = E + 2;
    CHECK_NEAR(ag[3], 1 / (1 + E) * 1 / z1, 1e-6);
    CHECK_NEAR(ag[4], E / (1 + E) * E / z1, 1e-6);
    CHECK_NEAR(ag[5], 0, 1e-9);
}

/* A fake encoder: 2 groups, patch 16. A patch whose mean red exceeds its mean blue goes to group 0.
 * Group 0's feature is class 0's text embedding ("red"), group 1's is class 1's ("blue"). */
typedef struct fake { float soft[2 * 64 * 64], gf[2 * 2], im[2]; int calls; int confident; } fake;

static int fake_encode(void *ctx, const float *img, int h, int w, ovs_seg_enc *out, ovs_err *e) {
    fake *f = ctx;
    int gh = h / 16, gw = w / 16;
    if (gh * gw > 64 * 64) return ovs_errf(e, OVS_EINTERNAL, "fake: window too big");
    size_t np = (size_t)h * w;
    for (int gy = 0; gy < gh; gy++)
        for (int gx = 0; gx < gw; gx++) {
            double r = 0, b = 0;
            for (int y = gy * 16; y < gy * 16 + 16; y++)
                for (int x = gx * 16; x < gx * 16 + 16; x++) { r += img[(size_t)y * w + x]; b += img[2 * np + (size_t)y * w + x]; }
            float p = 1.0f / (1.0f + expf(-(float)(r - b) / 256.0f));
            f->soft[gy * gw + gx] = p;
            f->soft[gh * gw + gy * gw + gx] = 1 - p;
        }
    float a = f->confident ? 1.0f : 0.9f, b = sqrtf(1 - a * a);
    float c = f->confident ? 1.0f : 0.7f, d = sqrtf(1 - c * c);
    f->gf[0] = a; f->gf[1] = b;  /* group 0 near "red" = (1,0) */
    f->gf[2] = d; f->gf[3] = c;  /* group 1 near "blue" = (0,1), less sure when not confident */
    f->im[0] = f->im[1] = sqrtf(0.5f);
    *out = (ovs_seg_enc){.groups = 2, .gh = gh, .gw = gw, .dim = 2, .soft = f->soft, .group_feat = f->gf, .image_feat = f->im};
    f->calls++;
    return 0;
}

/* w x h image: red left of column split, blue right; gt: 1 (red) / 2 (blue) with background 0. */
static void two_colour(ovs_image *img, ovs_image *gt, int w, int h, int split) {
    ovs_err e = {0};
    ovs_image_alloc(img, w, h, 3);
    ovs_image_alloc(gt, w, h, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->px + ((size_t)y * w + x) * 3;
            int red = x < split;
            p[0] = red ? 220 : 20; p[1] = 40; p[2] = red ? 20 : 220;
            gt->px[(size_t)y * w + x] = red ? 1 : 2;
        }
    (void)e;
}

static double miou_of(const uint8_t *gt, const uint8_t *pred, size_t n, int ncls) {
    ovs_miou m;
    ovs_err e = {0};
    double iou[8];
    ovs_miou_init(&m, ncls, &e);
    ovs_miou_add(&m, gt, pred, n, &e);
    double r = ovs_miou_compute(&m, iou, NULL);
    ovs_miou_free(&m);
    return r;
}

TEST(seg_fake_encoder_segments_two_colours_over_sliding_windows) {
    ovs_image img, gt;
    two_colour(&img, &gt, 500, 375, 300); /* -> 597x448: two windows */
    fake f = {.confident = 1};
    ovs_segmenter s = {.ctx = &f, .encode = fake_encode, .logit_scale = 100};
    ovs_seg_opts o;
    ovs_seg_opts_default(&o);
    float text[4] = {1, 0, 0, 1};
    size_t n = 500 * 375;
    uint8_t *pred[4];
    for (int i = 0; i < 4; i++) pred[i] = malloc(n);
    float *scores = malloc(sizeof(float) * 3 * n);
    ovs_seg_out out = {.pred = {pred[0], pred[1], pred[2], pred[3]}, .scores = scores};
    ovs_err e = {0};
    CHECK_OK(ovs_seg_image(&s, &o, text, 2, &img, &gt, 0xF, 7, &out, &e), &e);
    CHECK_EQ_INT(out.windows, 2);
    CHECK_EQ_INT(f.calls, 2);
    double mm = miou_of(gt.px, pred[OVS_SEG_MODEL], n, 3);
    CHECK_MSG(mm > 0.95, "model mIoU %g", mm);
    CHECK(miou_of(gt.px, pred[OVS_SEG_ORACLE], n, 3) > 0.95);
    CHECK(miou_of(gt.px, pred[OVS_SEG_CEILING], n, 3) > 0.95);
    double mr = miou_of(gt.px, pred[OVS_SEG_RANDOM], n, 3);
    CHECK_MSG(mr < 0.7, "random mIoU %g", mr);
    /* a pixel deep in the red part: score of class 1 is near 1, background channel 0 */
    size_t p = 100 * 500 + 50;
    CHECK(scores[1 * n + p] > 0.9f && scores[p] == 0.0f);
    CHECK_EQ_INT(pred[0][p], 1);
    for (int i = 0; i < 4; i++) free(pred[i]);
    free(scores);
    ovs_image_free(&img);
    ovs_image_free(&gt);
}

TEST(seg_background_threshold_marks_unsure_groups) {
    /* weakly matching groups (cos 0.9 and 0.7) with scale 3: Ag max is well below 0.95, so
     * th = Ag.max(): the surer "red" group stays, the "blue" one becomes background */
    ovs_image img, gt;
    two_colour(&img, &gt, 64, 64, 20);
    fake f = {.confident = 0};
    ovs_segmenter s = {.ctx = &f, .encode = fake_encode, .logit_scale = 3};
    ovs_seg_opts o;
    ovs_seg_opts_default(&o);
    float text[4] = {1, 0, 0, 1};
    uint8_t *pred = malloc(64 * 64);
    ovs_seg_out out = {.pred = {pred}};
    ovs_err e = {0};
    CHECK_OK(ovs_seg_image(&s, &o, text, 2, &img, NULL, 1, 0, &out, &e), &e);
    int hist[3] = {0};
    for (int i = 0; i < 64 * 64; i++) hist[pred[i]]++;
    CHECK_MSG(hist[0] > 0 && hist[1] > 0 && hist[2] == 0, "bg %d red %d blue %d", hist[0], hist[1], hist[2]);
    /* without background the same run labels every pixel red or blue */
    o.with_bg = 0;
    CHECK_OK(ovs_seg_image(&s, &o, text, 2, &img, NULL, 1, 0, &out, &e), &e);
    int ok = 1;
    for (int i = 0; i < 64 * 64; i++) ok &= pred[i] <= 1;
    CHECK(ok);
    free(pred);
    ovs_image_free(&img);
    ovs_image_free(&gt);
}

TEST(seg_whole_mode_uses_one_window) {
    ovs_image img, gt;
    two_colour(&img, &gt, 200, 100, 100); /* -> 896x448: 3 sliding windows, 1 whole */
    fake f = {.confident = 1};
    ovs_segmenter s = {.ctx = &f, .encode = fake_encode, .logit_scale = 100};
    ovs_seg_opts o;
    ovs_seg_opts_default(&o);
    float text[4] = {1, 0, 0, 1};
    uint8_t *pred = malloc(200 * 100);
    ovs_seg_out out = {.pred = {pred}};
    ovs_err e = {0};
    CHECK_OK(ovs_seg_image(&s, &o, text, 2, &img, NULL, 1, 0, &out, &e), &e);
    CHECK_EQ_INT(out.windows, 3);
    o.whole = 1;
    CHECK_OK(ovs_seg_image(&s, &o, text, 2, &img, NULL, 1, 0, &out, &e), &e);
    CHECK_EQ_INT(out.windows, 1);
    CHECK(miou_of(gt.px, pred, 200 * 100, 3) > 0.95);
    free(pred);
    ovs_image_free(&img);
    ovs_image_free(&gt);
}

int main(void) {
    RUN(seg_windows_follow_mmseg_slide_layout);
    RUN(seg_rescale_keeps_aspect_short_side_448_long_at_most_2048);
    RUN(seg_bilinear_matches_half_pixel_rule);
    RUN(seg_affinity_by_hand);
    RUN(seg_fake_encoder_segments_two_colours_over_sliding_windows);
    RUN(seg_background_threshold_marks_unsure_groups);
    RUN(seg_whole_mode_uses_one_window);
    return check_done();
}
