/* test_eval_twin.c — parity of the C segmentation protocol (eval/segment.c) with its PyTorch twin
 * (tests/reference/eval_twin.py) on the same deterministic linear encoder: per-pixel class scores
 * within 1e-4 and argmax maps agreeing on >= 99.9% of pixels, for sliding-window and whole-image
 * inference. Runs .venv/bin/python (or $OVSEG_PYTHON). */
#include "tests/check.h"
#include "eval/segment.h"
#include "util/fsutil.h"
#include "util/progress.h"
#include "util/rng.h"

enum { G = 5, D = 8, N = 7 };

typedef struct lin {
    float A[G * 3], b[G], Cm[D * 3], cb[D];
    float soft[G * 64 * 64], gf[G * D], im[D], f[D * 64 * 64], m[3 * 64 * 64];
} lin;

static void normalise(float *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
    s = sqrt(s);
    for (int i = 0; i < n; i++) v[i] = (float)(v[i] / s);
}

static int lin_encode(void *ctx, const float *img, int h, int w, ovs_seg_enc *out, ovs_err *e) {
    lin *L = ctx;
    int gh = h / 16, gw = w / 16, np = gh * gw;
    if (np > 64 * 64) return ovs_errf(e, OVS_EINTERNAL, "window too big");
    for (int k = 0; k < 3; k++)
        for (int p = 0; p < np; p++) {
            int py = p / gw, px = p % gw;
            float s = 0;
            for (int y = 0; y < 16; y++)
                for (int x = 0; x < 16; x++) s += img[((size_t)k * h + py * 16 + y) * w + px * 16 + x];
            L->m[k * np + p] = s / 256.0f;
        }
    for (int p = 0; p < np; p++) {
        float mx = -INFINITY, z = 0;
        for (int g = 0; g < G; g++) {
            float v = L->b[g];
            for (int k = 0; k < 3; k++) v += L->A[g * 3 + k] * L->m[k * np + p];
            L->soft[g * np + p] = v;
            if (v > mx) mx = v;
        }
        for (int g = 0; g < G; g++) z += L->soft[g * np + p] = expf(L->soft[g * np + p] - mx);
        for (int g = 0; g < G; g++) L->soft[g * np + p] /= z;
        for (int d = 0; d < D; d++) {
            float v = L->cb[d];
            for (int k = 0; k < 3; k++) v += L->Cm[d * 3 + k] * L->m[k * np + p];
            L->f[d * np + p] = v;
        }
    }
    for (int g = 0; g < G; g++) {
        for (int d = 0; d < D; d++) {
            double s = 0;
            for (int p = 0; p < np; p++) s += (double)L->soft[g * np + p] * L->f[d * np + p];
            L->gf[g * D + d] = (float)s;
        }
        normalise(L->gf + g * D, D);
    }
    for (int d = 0; d < D; d++) {
        double s = 0;
        for (int p = 0; p < np; p++) s += L->f[d * np + p];
        L->im[d] = (float)(s / np);
    }
    normalise(L->im, D);
    *out = (ovs_seg_enc){.groups = G, .gh = gh, .gw = gw, .dim = D, .soft = L->soft, .group_feat = L->gf, .image_feat = L->im};
    return 0;
}

/* A smooth scene of overlapping colour blobs with noise (so groups and windows disagree a little). */
static void scene(ovs_image *img, int w, int h, uint64_t seed) {
    ovs_rng r;
    ovs_rng_seed(&r, seed, 3);
    ovs_image_alloc(img, w, h, 3);
    float cx[4], cy[4], col[4][3];
    for (int i = 0; i < 4; i++) {
        cx[i] = (float)ovs_rng_double(&r) * w;
        cy[i] = (float)ovs_rng_double(&r) * h;
        for (int k = 0; k < 3; k++) col[i][k] = (float)ovs_rng_double(&r) * 255;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int best = 0;
            float bd = 1e30f;
            for (int i = 0; i < 4; i++) {
                float d = (x - cx[i]) * (x - cx[i]) + (y - cy[i]) * (y - cy[i]);
                if (d < bd) { bd = d; best = i; }
            }
            for (int k = 0; k < 3; k++) {
                float v = col[best][k] + (float)ovs_rng_below(&r, 40) - 20;
                img->px[((size_t)y * w + x) * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
}

static void parity_case(const char *name, int w, int h, int whole, uint64_t seed) {
    ovs_err e = {0};
    ovs_rng r;
    ovs_rng_seed(&r, seed, 9);
    lin L;
    float text[N * D], scale = 20.0f, bg = 0.3f;
    for (int i = 0; i < G * 3; i++) L.A[i] = (float)ovs_rng_normal(&r) * 3;
    for (int i = 0; i < G; i++) L.b[i] = (float)ovs_rng_normal(&r) * 0.3f;
    for (int i = 0; i < D * 3; i++) L.Cm[i] = (float)ovs_rng_normal(&r);
    for (int i = 0; i < D; i++) L.cb[i] = (float)ovs_rng_normal(&r) * 0.3f;
    for (int i = 0; i < N * D; i++) text[i] = (float)ovs_rng_normal(&r);
    for (int c = 0; c < N; c++) normalise(text + c * D, D);
    ovs_image img;
    scene(&img, w, h, seed);
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", check_path(name));
    CHECK_OK(ovs_mkdir_p(dir, &e), &e);
    ovs_buf b = {0};
    CHECK_OK(ovs_image_encode(&img, OVS_IMG_PNG, 0, &b, &e), &e);
    snprintf(path, sizeof path, "%s/image.png", dir);
    CHECK_OK(ovs_write_atomic(path, b.data, b.len, &e), &e);
    ovs_buf_reset(&b);
    int32_t hdr[3] = {G, D, N};
    float sc[2] = {scale, bg};
    ovs_buf_append(&b, hdr, sizeof hdr);
    ovs_buf_append(&b, sc, sizeof sc);
    ovs_buf_append(&b, L.A, sizeof L.A);
    ovs_buf_append(&b, L.b, sizeof L.b);
    ovs_buf_append(&b, L.Cm, sizeof L.Cm);
    ovs_buf_append(&b, L.cb, sizeof L.cb);
    ovs_buf_append(&b, text, sizeof text);
    snprintf(path, sizeof path, "%s/params.bin", dir);
    CHECK_OK(ovs_write_atomic(path, b.data, b.len, &e), &e);
    ovs_buf_free(&b);

    ovs_segmenter s = {.ctx = &L, .encode = lin_encode, .logit_scale = scale};
    ovs_seg_opts o;
    ovs_seg_opts_default(&o);
    o.whole = whole;
    o.bg_thresh = bg;
    size_t n = (size_t)w * h, C = N + 1;
    uint8_t *pred = malloc(n);
    float *scores = malloc(sizeof(float) * C * n);
    ovs_seg_out out = {.pred = {pred}, .scores = scores};
    CHECK_OK(ovs_seg_image(&s, &o, text, N, &img, NULL, 1, 0, &out, &e), &e);

    const char *py = getenv("OVSEG_PYTHON") ? getenv("OVSEG_PYTHON") : ".venv/bin/python";
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s tests/reference/eval_twin.py --linear %s%s", py, dir, whole ? " --whole" : "");
    CHECK_EQ_INT(system(cmd), 0);
    char *tw;
    size_t len;
    snprintf(path, sizeof path, "%s/scores_twin.bin", dir);
    CHECK_OK(ovs_read_file(path, &tw, &len, &e), &e);
    CHECK_EQ_INT(len, sizeof(float) * C * n);
    if (len == sizeof(float) * C * n) {
        const float *t = (const float *)tw;
        double maxd = 0;
        size_t agree = 0, cls_seen[8] = {0};
        for (size_t p = 0; p < n; p++) {
            int bt = 0;
            for (size_t c = 0; c < C; c++) {
                double d = fabs(t[c * n + p] - scores[c * n + p]);
                if (d > maxd) maxd = d;
                if (t[c * n + p] > t[bt * n + p]) bt = (int)c;
            }
            agree += bt == pred[p];
            cls_seen[pred[p]]++;
        }
        int distinct = 0;
        for (int c = 0; c < 8; c++) distinct += cls_seen[c] > 0;
        CHECK_MSG(maxd <= 1e-4, "%s: max |score diff| %g", name, maxd);
        CHECK_MSG(agree >= n - n / 1000, "%s: argmax agrees on %zu of %zu pixels", name, agree, n);
        CHECK_MSG(distinct >= 2, "%s: only %d classes predicted (a weak check)", name, distinct);
        printf("# %s: %dx%d, %d windows, max |diff| %.2e, argmax agreement %.4f%%, %d classes predicted\n", name, w, h,
               out.windows, maxd, 100.0 * agree / n, distinct);
    }
    free(tw);
    free(pred);
    free(scores);
    ovs_image_free(&img);
}

TEST(eval_protocol_matches_pytorch_twin_sliding_window) { parity_case("slide", 500, 375, 0, 6); }
TEST(eval_protocol_matches_pytorch_twin_tall_image) { parity_case("tall", 300, 520, 0, 2); }
TEST(eval_protocol_matches_pytorch_twin_whole_image) { parity_case("whole", 333, 250, 1, 3); }

/* make bench: images/s of the protocol (linear encoder, so this is the protocol's own cost) in C
 * and in the PyTorch twin, on the same 500x375 image. */
static int bench(int n) {
    ovs_err e = {0};
    parity_case("bench", 500, 375, 0, 6); /* writes the inputs the twin reads */
    lin L;
    float text[N * D];
    ovs_rng r;
    ovs_rng_seed(&r, 6, 9);
    for (int i = 0; i < G * 3; i++) L.A[i] = (float)ovs_rng_normal(&r) * 3;
    for (int i = 0; i < G; i++) L.b[i] = (float)ovs_rng_normal(&r) * 0.3f;
    for (int i = 0; i < D * 3; i++) L.Cm[i] = (float)ovs_rng_normal(&r);
    for (int i = 0; i < D; i++) L.cb[i] = (float)ovs_rng_normal(&r) * 0.3f;
    for (int i = 0; i < N * D; i++) text[i] = (float)ovs_rng_normal(&r);
    for (int c = 0; c < N; c++) normalise(text + c * D, D);
    ovs_image img;
    scene(&img, 500, 375, 6);
    ovs_segmenter s = {.ctx = &L, .encode = lin_encode, .logit_scale = 20};
    ovs_seg_opts o;
    ovs_seg_opts_default(&o);
    uint8_t *pred = malloc(500 * 375);
    ovs_seg_out out = {.pred = {pred}};
    double t0 = ovs_now();
    for (int i = 0; i < n; i++) ovs_seg_image(&s, &o, text, N, &img, NULL, 1, 0, &out, &e);
    double c = n / (ovs_now() - t0);
    const char *py = getenv("OVSEG_PYTHON") ? getenv("OVSEG_PYTHON") : ".venv/bin/python";
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s tests/reference/eval_twin.py --linear %s --bench %d", py, check_path("bench"), n);
    FILE *f = popen(cmd, "r");
    double t = 0;
    if (!f || fscanf(f, "%lf", &t) != 1) t = 0;
    if (f) pclose(f);
    printf("| protocol only (linear encoder), 500x375 -> 597x448, 2 windows | %.1f | %.1f |\n", c, t);
    free(pred);
    ovs_image_free(&img);
    return 0;
}

int main(void) {
    if (getenv("OVSEG_EVAL_BENCH")) return bench(atoi(getenv("OVSEG_EVAL_BENCH")));
    RUN(eval_protocol_matches_pytorch_twin_sliding_window);
    RUN(eval_protocol_matches_pytorch_twin_tall_image);
    RUN(eval_protocol_matches_pytorch_twin_whole_image);
    return check_done();
}
