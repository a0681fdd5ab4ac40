/* test_eval_run.c — the evaluation loop end to end on small dataset fixtures written by the test
 * (VOC layout: JPEG images of coloured objects on textured backgrounds, VOC-palette masks with a
 * 255 border), with a fake colour-based encoder standing in for the model: result files, masks that
 * recompute to the reported mIoU, overlays, the synth layout with baselines, and bad input. */
#include <sys/stat.h>

#include "tests/check.h"
#include "db/db.h"
#include "eval/datasets.h"
#include "eval/run.h"
#include "util/fsutil.h"
#include "util/rng.h"

enum { DIM = 20 };

/* 3 groups per window: red patches, blue patches, the rest. Group features: "aeroplane" (class 1),
 * "bicycle" (class 2), and a vector equally far from every class (so: background). */
typedef struct fake { float soft[3 * 64 * 64], gf[3 * DIM], im[DIM]; } fake;

static int fake_encode(void *ctx, const float *img, int h, int w, ovs_seg_enc *out, ovs_err *e) {
    fake *f = ctx;
    int gh = h / 16, gw = w / 16, ng = gh * gw;
    if (ng > 64 * 64) return ovs_errf(e, OVS_EINTERNAL, "fake: window too big");
    size_t np = (size_t)h * w;
    for (int gy = 0; gy < gh; gy++)
        for (int gx = 0; gx < gw; gx++) {
            double r = 0, b = 0, g = 0;
            for (int y = gy * 16; y < gy * 16 + 16; y++)
                for (int x = gx * 16; x < gx * 16 + 16; x++) {
                    size_t p = (size_t)y * w + x;
                    r += img[p]; g += img[np + p]; b += img[2 * np + p];
                }
            int k = r > g + 256 && r > b + 256 ? 0 : b > g + 256 && b > r + 256 ? 1 : 2;
            for (int j = 0; j < 3; j++) f->soft[j * ng + gy * gw + gx] = j == k ? 0.9f : 0.05f;
        }
    memset(f->gf, 0, sizeof f->gf);
    f->gf[0] = 1;
    f->gf[DIM + 1] = 1;
    for (int k = 0; k < DIM; k++) f->gf[2 * DIM + k] = 1 / sqrtf(DIM);
    memset(f->im, 0, sizeof f->im);
    f->im[0] = f->im[1] = sqrtf(0.5f);
    *out = (ovs_seg_enc){.groups = 3, .gh = gh, .gw = gw, .dim = DIM, .soft = f->soft, .group_feat = f->gf, .image_feat = f->im};
    return 0;
}

static float TEXT[DIM * DIM]; /* one-hot class embeddings */

static void write_file(const char *path, const ovs_buf *b) {
    ovs_err e = {0};
    CHECK_OK(ovs_write_atomic(path, b->data, b->len, &e), &e);
}

/* Image id with a red disc (class 1) and a blue box (class 2) on a noisy grey-green background;
 * the mask has a 2-pixel 255 band around each object, as VOC's. */
static void make_pair(const char *root, const char *id, int w, int h, uint64_t seed, const char *img_ext) {
    ovs_image img, m;
    ovs_err e = {0};
    ovs_rng r;
    ovs_rng_seed(&r, seed, 1);
    ovs_image_alloc(&img, w, h, 3);
    ovs_image_alloc(&m, w, h, 1);
    int cx = w / 4 + (int)ovs_rng_below(&r, (uint64_t)w / 8), cy = h / 2, rad = h / 4;
    int bx0 = w / 2 + w / 10, bx1 = w - w / 10, by0 = h / 5, by1 = h - h / 5;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img.px + ((size_t)y * w + x) * 3;
            int d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
            int in_disc = d2 <= rad * rad, in_box = x >= bx0 && x < bx1 && y >= by0 && y < by1;
            int near_disc = d2 <= (rad + 2) * (rad + 2) && d2 >= (rad - 2) * (rad - 2);
            int near_box = x >= bx0 - 2 && x < bx1 + 2 && y >= by0 - 2 && y < by1 + 2 && !(x >= bx0 + 2 && x < bx1 - 2 && y >= by0 + 2 && y < by1 - 2);
            int nz = (int)ovs_rng_below(&r, 30);
            if (in_disc) { p[0] = (uint8_t)(200 + nz); p[1] = (uint8_t)(30 + nz); p[2] = 30; }
            else if (in_box) { p[0] = 30; p[1] = (uint8_t)(40 + nz); p[2] = (uint8_t)(200 + nz); }
            else { p[0] = (uint8_t)(100 + nz); p[1] = (uint8_t)(120 + nz + (x / 8 % 2) * 10); p[2] = (uint8_t)(90 + nz); }
            m.px[(size_t)y * w + x] = near_disc || near_box ? 255 : in_disc ? 1 : in_box ? 2 : 0;
        }
    char path[4096];
    ovs_buf b = {0};
    uint8_t pal[768];
    ovs_voc_palette(pal);
    CHECK_OK(ovs_image_encode(&img, !strcmp(img_ext, "png") ? OVS_IMG_PNG : OVS_IMG_JPEG, 95, &b, &e), &e);
    snprintf(path, sizeof path, "%s/JPEGImages/%s.%s", root, id, img_ext);
    write_file(path, &b);
    ovs_buf_reset(&b);
    CHECK_OK(ovs_png_encode_palette(&m, pal, 256, &b, &e), &e);
    snprintf(path, sizeof path, "%s/SegmentationClass/%s.png", root, id);
    write_file(path, &b);
    ovs_buf_free(&b);
    ovs_image_free(&img);
    ovs_image_free(&m);
}

static void make_voc(const char *root, const char *ids_txt, int n) {
    char p[4096];
    ovs_err e = {0};
    snprintf(p, sizeof p, "%s/JPEGImages", root); ovs_mkdir_p(p, &e);
    snprintf(p, sizeof p, "%s/SegmentationClass", root); ovs_mkdir_p(p, &e);
    snprintf(p, sizeof p, "%s/ImageSets/Segmentation", root); ovs_mkdir_p(p, &e);
    static const int sz[4][2] = {{500, 375}, {375, 500}, {320, 240}, {480, 360}};
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "2007_%06d", i + 1);
        make_pair(root, id, sz[i % 4][0], sz[i % 4][1], (uint64_t)i + 1, "jpg");
    }
    snprintf(p, sizeof p, "%s/ImageSets/Segmentation/val.txt", root);
    CHECK_OK(ovs_write_atomic(p, ids_txt, strlen(ids_txt), &e), &e);
}

static ovs_oor_mode g_oor = OVS_OOR_ERROR;

static int run_eval(const char *root, const char *kind, const char *out, int skip_bad, int baselines,
                    ovs_evalset *d, ovs_eval_result *r, ovs_err *e) {
    int rc = ovs_evalset_open(d, kind, root, "val", e);
    if (rc) return rc;
    fake f;
    ovs_segmenter s = {.ctx = &f, .encode = fake_encode, .logit_scale = 100};
    ovs_eval_cfg cfg = {.out_dir = out, .ckpt = "fake", .write_masks = 1, .overlays = 2, .skip_bad = skip_bad,
                        .baselines = baselines, .seed = 1, .write_scores = 1, .oor_mode = g_oor};
    ovs_seg_opts_default(&cfg.seg);
    cfg.seg.with_bg = d->with_bg;
    cfg.seg.bg_thresh = d->bg_thresh;
    rc = ovs_eval_run(&cfg, d, &s, TEXT, r, e);
    if (!rc) rc = ovs_eval_write_files(&cfg, d, r, e);
    return rc;
}

TEST(eval_voc_fixture_end_to_end_with_masks_and_overlays) {
    const char *root = check_path("voc"), *out = check_path("voc_out");
    make_voc(root, "2007_000001\n2007_000002\n2007_000003\n", 3);
    ovs_evalset d;
    ovs_eval_result r;
    ovs_err e = {0};
    CHECK_OK(run_eval(root, "voc", out, 0, 0, &d, &r, &e), &e);
    CHECK_EQ_INT(r.images, 3);
    CHECK_EQ_INT(r.skipped, 0);
    double iou[21], mi = ovs_miou_compute(&r.m[0], iou, NULL);
    CHECK_MSG(mi > 0.85, "mIoU %g", mi);
    CHECK(isnan(iou[5])); /* bottle: neither true nor predicted */
    /* the written masks have the ground truth's size and recompute to the same mIoU */
    ovs_miou again;
    CHECK_OK(ovs_miou_init(&again, 21, &e), &e);
    for (int i = 0; i < d.n; i++) {
        char mp[4096], ip[4096], ap[4096];
        char *data;
        size_t len;
        ovs_image pm, rgb, gt;
        snprintf(mp, sizeof mp, "%s/masks/%s.png", out, d.ids[i]);
        CHECK_OK(ovs_read_file(mp, &data, &len, &e), &e);
        CHECK_OK(ovs_png_decode_indices(data, len, &pm, &e), &e);
        free(data);
        CHECK_OK(ovs_evalset_load(&d, i, &rgb, &gt, &e), &e);
        CHECK(pm.w == gt.w && pm.h == gt.h);
        /* the scores file: float32 [21, H, W] whose argmax is the written mask */
        char sp[4200];
        snprintf(sp, sizeof sp, "%s/scores/%s.f32", out, d.ids[i]);
        CHECK_OK(ovs_read_file(sp, &data, &len, &e), &e);
        size_t np = (size_t)gt.w * gt.h, same = 0;
        CHECK_EQ_INT(len, 21 * np * sizeof(float));
        for (size_t p = 0; len == 21 * np * sizeof(float) && p < np; p++) {
            const float *sc = (const float *)data;
            int best = 0;
            for (int c = 1; c < 21; c++) if (sc[c * np + p] > sc[best * np + p]) best = c;
            same += best == pm.px[p];
        }
        CHECK_EQ_INT(same, np);
        free(data);
        CHECK_OK(ovs_miou_add(&again, gt.px, pm.px, (size_t)gt.w * gt.h, &e), &e);
        ovs_image_free(&pm); ovs_image_free(&rgb); ovs_image_free(&gt);
        snprintf(ip, sizeof ip, "%s/overlays/%s.png", out, d.ids[i]);
        struct stat st;
        CHECK_EQ_INT(stat(ip, &st) == 0, i < 2); /* --overlays 2 */
        (void)ap;
    }
    double iou2[21];
    CHECK_NEAR(ovs_miou_compute(&again, iou2, NULL), mi, 1e-12);
    ovs_miou_free(&again);
    char p[4096], *json;
    size_t len;
    snprintf(p, sizeof p, "%s/results.json", out);
    CHECK_OK(ovs_read_file(p, &json, &len, &e), &e);
    CHECK(strstr(json, "\"dataset\": \"voc\"") && strstr(json, "\"images\": 3") && strstr(json, "\"name\": \"aeroplane\""));
    free(json);
    snprintf(p, sizeof p, "%s/confusion.tsv", out);
    CHECK_OK(ovs_read_file(p, &json, &len, &e), &e);
    CHECK(!strncmp(json, "gt\\pred\tbackground\taeroplane", 28));
    free(json);
    ovs_eval_result_free(&r);
    ovs_evalset_free(&d);
}

TEST(eval_missing_image_is_an_error_or_a_counted_skip) {
    const char *root = check_path("voc_missing");
    make_voc(root, "2007_000001\n2007_000099\n2007_000002\n", 2);
    ovs_evalset d;
    ovs_eval_result r;
    ovs_err e = {0};
    CHECK_EQ_INT(run_eval(root, "voc", check_path("o1"), 0, 0, &d, &r, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "2007_000099") != NULL, "%s", e.msg);
    ovs_eval_result_free(&r);
    ovs_evalset_free(&d);
    CHECK_OK(run_eval(root, "voc", check_path("o2"), 1, 0, &d, &r, &e), &e);
    CHECK_EQ_INT(r.images, 2);
    CHECK_EQ_INT(r.skipped, 1);
    ovs_eval_result_free(&r);
    ovs_evalset_free(&d);
}

TEST(eval_mask_size_mismatch_and_bad_mask_value_are_named) {
    const char *root = check_path("voc_bad");
    make_voc(root, "2007_000001\n", 1);
    /* mask of another size */
    ovs_image m;
    ovs_buf b = {0};
    ovs_err e = {0};
    uint8_t pal[768];
    char p[4096];
    ovs_voc_palette(pal);
    ovs_image_alloc(&m, 100, 80, 1);
    memset(m.px, 0, 100 * 80);
    CHECK_OK(ovs_png_encode_palette(&m, pal, 256, &b, &e), &e);
    snprintf(p, sizeof p, "%s/SegmentationClass/2007_000001.png", root);
    write_file(p, &b);
    ovs_evalset d;
    ovs_eval_result r;
    CHECK_EQ_INT(run_eval(root, "voc", check_path("o3"), 0, 0, &d, &r, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "mask is 100x80") && strstr(e.msg, "2007_000001.png"), "%s", e.msg);
    ovs_eval_result_free(&r);
    ovs_evalset_free(&d);
    /* right size, value 30 (VOC has 21 classes) */
    ovs_image_free(&m);
    ovs_image_alloc(&m, 500, 375, 1);
    memset(m.px, 0, 500 * 375);
    m.px[375 * 10 + 7] = 30;
    ovs_buf_reset(&b);
    CHECK_OK(ovs_png_encode_palette(&m, pal, 256, &b, &e), &e);
    write_file(p, &b);
    CHECK_EQ_INT(run_eval(root, "voc", check_path("o4"), 0, 0, &d, &r, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "mask value 30") && strstr(e.msg, "2007_000001.png"), "%s", e.msg);
    ovs_eval_result_free(&r);
    ovs_evalset_free(&d);
    /* --out-of-range ignore: the run goes on and reports the pixel */
    g_oor = OVS_OOR_IGNORE;
    CHECK_OK(run_eval(root, "voc", check_path("o5"), 0, 0, &d, &r, &e), &e);
    g_oor = OVS_OOR_ERROR;
    CHECK_EQ_INT(r.m[0].oor, 1);
    char *json;
    size_t len;
    snprintf(p, sizeof p, "%s/results.json", check_path("o5"));
    CHECK_OK(ovs_read_file(p, &json, &len, &e), &e);
    CHECK(strstr(json, "\"out_of_range_pixels\": 1,") != NULL);
    free(json);
    ovs_eval_result_free(&r);
    ovs_evalset_free(&d);
    ovs_image_free(&m);
    ovs_buf_free(&b);
}

TEST(eval_synth_layout_with_classes_txt_reports_baselines) {
    const char *root = check_path("synth");
    char p[4096];
    ovs_err e = {0};
    snprintf(p, sizeof p, "%s/JPEGImages", root); ovs_mkdir_p(p, &e);
    snprintf(p, sizeof p, "%s/SegmentationClass", root); ovs_mkdir_p(p, &e);
    make_pair(root, "s0", 224, 224, 5, "png");
    make_pair(root, "s1", 224, 224, 6, "png");
    /* classes.txt, index<TAB>name; 20 foreground classes as the fake encoder's DIM */
    ovs_buf b = {0};
    ovs_buf_puts(&b, "0\tbackground\n1\tred disc\n2\tblue box\n");
    for (int c = 3; c <= DIM; c++) ovs_buf_printf(&b, "%d\tthing %d\n", c, c);
    snprintf(p, sizeof p, "%s/classes.txt", root);
    write_file(p, &b);
    ovs_buf_free(&b);
    ovs_evalset d;
    ovs_eval_result r;
    CHECK_OK(run_eval(root, "synth", check_path("synth_out"), 0, 1, &d, &r, &e), &e);
    CHECK_EQ_INT(d.n, 2);
    CHECK_STR(d.names[1], "red disc");
    CHECK(d.with_bg);
    double iou[32];
    double model = ovs_miou_compute(&r.m[OVS_EV_MODEL], iou, NULL);
    double bg = ovs_miou_compute(&r.m[OVS_EV_ALLBG], iou, NULL);
    double ceil = ovs_miou_compute(&r.m[OVS_EV_CEILING], iou, NULL);
    double orac = ovs_miou_compute(&r.m[OVS_EV_ORACLE], iou, NULL);
    double rnd = ovs_miou_compute(&r.m[OVS_EV_RANDOM], iou, NULL);
    CHECK_MSG(ceil > 0.85 && orac > 0.85 && model > 0.85, "ceiling %g oracle %g model %g", ceil, orac, model);
    CHECK_MSG(bg < 0.35 && rnd < model, "all-bg %g random %g model %g", bg, rnd, model);
    char *json;
    size_t len;
    snprintf(p, sizeof p, "%s/results.json", check_path("synth_out"));
    CHECK_OK(ovs_read_file(p, &json, &len, &e), &e);
    CHECK(strstr(json, "\"all_background\"") && strstr(json, "\"patch_ceiling\"") && strstr(json, "\"group_oracle\"") &&
          strstr(json, "\"random\""));
    free(json);
    /* one eval_results row per method, tied to the run */
    ovs_db db;
    CHECK_OK(ovs_db_open(&db, check_path("eval.db"), OVS_DB_CREATE, &e), &e);
    CHECK_OK(ovs_db_run_start(&db, "eval", 0, NULL, &e), &e);
    ovs_eval_cfg cfg = {.out_dir = check_path("synth_out"), .ckpt = "fake.safetensors"};
    ovs_seg_opts_default(&cfg.seg);
    CHECK_OK(ovs_eval_store(&db, &cfg, &d, &r, &e), &e);
    int64_t rows = 0, runs = 0;
    CHECK_OK(ovs_db_int(&db, "SELECT count(*) FROM eval_results WHERE dataset='synth' AND images=2 "
                             "AND method IN ('model','random','group_oracle','patch_ceiling','all_background')", &rows, &e), &e);
    CHECK_EQ_INT(rows, 5);
    CHECK_OK(ovs_db_int(&db, "SELECT count(DISTINCT run_id) FROM eval_results", &runs, &e), &e);
    CHECK_EQ_INT(runs, 1);
    CHECK_OK(ovs_db_int(&db, "SELECT count(*) FROM eval_results WHERE method='model' AND "
                             "json_extract(per_class, '$.\"red disc\"') > 0.8 AND json_extract(protocol, '$.window') = 448", &rows, &e), &e);
    CHECK_EQ_INT(rows, 1);
    ovs_db_close(&db);
    ovs_eval_result_free(&r);
    ovs_evalset_free(&d);
}

TEST(eval_classes_txt_accepts_both_formats_and_rejects_bad_index) {
    const char *p = check_path("c1.txt");
    ovs_err e = {0};
    char **names;
    int n;
    CHECK_OK(ovs_write_atomic(p, "background\ncat\r\nhot dog\n", strlen("background\ncat\r\nhot dog\n"), &e), &e);
    CHECK_OK(ovs_read_classes(p, &names, &n, &e), &e);
    CHECK_EQ_INT(n, 3);
    CHECK_STR(names[2], "hot dog");
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    CHECK_OK(ovs_write_atomic(p, "0\tbackground\n2\tcat\n", strlen("0\tbackground\n2\tcat\n"), &e), &e);
    CHECK_EQ_INT(ovs_read_classes(p, &names, &n, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, ":2:") != NULL, "%s", e.msg);
}

TEST(eval_unknown_dataset_and_missing_split_are_user_errors) {
    ovs_evalset d;
    ovs_err e = {0};
    CHECK_EQ_INT(ovs_evalset_open(&d, "ade", check_path(""), "val", &e), OVS_EUSER);
    CHECK_EQ_INT(ovs_evalset_open(&d, "context", check_path(""), "val", &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "SegmentationContext/val.txt") != NULL, "%s", e.msg);
}

int main(void) {
    for (int c = 0; c < DIM; c++) TEXT[c * DIM + c] = 1;
    RUN(eval_voc_fixture_end_to_end_with_masks_and_overlays);
    RUN(eval_missing_image_is_an_error_or_a_counted_skip);
    RUN(eval_mask_size_mismatch_and_bad_mask_value_are_named);
    RUN(eval_synth_layout_with_classes_txt_reports_baselines);
    RUN(eval_classes_txt_accepts_both_formats_and_rejects_bad_index);
    RUN(eval_unknown_dataset_and_missing_split_are_user_errors);
    return check_done();
}
