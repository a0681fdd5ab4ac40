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

/* One parity case: its inputs (written for the twin) and the C side's scores. */
typedef struct pcase {
    const char *name;
    int w, h, whole;
    uint64_t seed;
    float *scores;
    uint8_t *pred;
    int windows;
} pcase;

static pcase CASES[] = {
    {"slide", 500, 375, 0, 6, NULL, NULL, 0},  /* -> 597x448: 2 windows */
    {"tall", 300, 520, 0, 2, NULL, NULL, 0},   /* -> 448x776: 3 windows */
    {"whole", 333, 250, 1, 3, NULL, NULL, 0},  /* one window over 597x448 */
};
enum { NCASES = sizeof CASES / sizeof CASES[0] };

static void make_params(lin *L, float *text, uint64_t seed) {
    ovs_rng r;
    ovs_rng_seed(&r, seed, 9);
    for (int i = 0; i < G * 3; i++) L->A[i] = (float)ovs_rng_normal(&r) * 3;
    for (int i = 0; i < G; i++) L->b[i] = (float)ovs_rng_normal(&r) * 0.3f;
    for (int i = 0; i < D * 3; i++) L->Cm[i] = (float)ovs_rng_normal(&r);
    for (int i = 0; i < D; i++) L->cb[i] = (float)ovs_rng_normal(&r) * 0.3f;
    for (int i = 0; i < N * D; i++) text[i] = (float)ovs_rng_normal(&r);
    for (int c = 0; c < N; c++) normalise(text + c * D, D);
}

static const float SCALE = 20.0f, BG = 0.3f;

/* Writes DIR/image.png, DIR/params.bin (and DIR/whole) for the twin; runs the C side. */
static int prepare_case(pcase *pc, ovs_err *e) {
    static lin L;
    float text[N * D];
    make_params(&L, text, pc->seed);
    ovs_image img;
    scene(&img, pc->w, pc->h, pc->seed);
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s", check_path(pc->name));
    int rc = ovs_mkdir_p(dir, e);
    ovs_buf b = {0};
    if (!rc) rc = ovs_image_encode(&img, OVS_IMG_PNG, 0, &b, e);
    snprintf(path, sizeof path, "%s/image.png", dir);
    if (!rc) rc = ovs_write_atomic(path, b.data, b.len, e);
    ovs_buf_reset(&b);
    int32_t hdr[3] = {G, D, N};
    float sc[2] = {SCALE, BG};
    ovs_buf_append(&b, hdr, sizeof hdr);
    ovs_buf_append(&b, sc, sizeof sc);
    ovs_buf_append(&b, L.A, sizeof L.A);
    ovs_buf_append(&b, L.b, sizeof L.b);
    ovs_buf_append(&b, L.Cm, sizeof L.Cm);
    ovs_buf_append(&b, L.cb, sizeof L.cb);
    ovs_buf_append(&b, text, sizeof text);
    snprintf(path, sizeof path, "%s/params.bin", dir);
    if (!rc) rc = ovs_write_atomic(path, b.data, b.len, e);
    snprintf(path, sizeof path, "%s/whole", dir);
    if (!rc && pc->whole) rc = ovs_write_atomic(path, "1", 1, e);
    ovs_buf_free(&b);
    ovs_segmenter s = {.ctx = &L, .encode = lin_encode, .logit_scale = SCALE};
    ovs_seg_opts o;
    ovs_seg_opts_default(&o);
    o.whole = pc->whole;
    o.bg_thresh = BG;
    size_t n = (size_t)pc->w * pc->h, C = N + 1;
    pc->pred = malloc(n);
    pc->scores = malloc(sizeof(float) * C * n);
    ovs_seg_out out = {.pred = {pc->pred}, .scores = pc->scores};
    if (!rc) rc = ovs_seg_image(&s, &o, text, N, &img, NULL, 1, 0, &out, e);
    pc->windows = out.windows;
    ovs_image_free(&img);
    return rc;
}

/* Runs the twin once over every case folder. */
static int run_twin(const char *extra) {
    const char *py = getenv("OVSEG_PYTHON") ? getenv("OVSEG_PYTHON") : ".venv/bin/python";
    char cmd[4096];
    int k = snprintf(cmd, sizeof cmd, "%s tests/reference/eval_twin.py %s --linear", py, extra);
    for (int i = 0; i < NCASES; i++) k += snprintf(cmd + k, sizeof cmd - (size_t)k, " %s", check_path(CASES[i].name));
    return system(cmd);
}

static int g_prep_rc, g_twin_rc;
static char g_prep_msg[1024];

static void compare_case(const pcase *pc) {
    ovs_err e = {0};
    CHECK_MSG(g_prep_rc == 0, "C side: %s", g_prep_msg);
    CHECK_EQ_INT(g_twin_rc, 0);
    if (g_prep_rc || g_twin_rc) return;
    char path[600], *tw;
    size_t len, n = (size_t)pc->w * pc->h, C = N + 1;
    snprintf(path, sizeof path, "%s/scores_twin.bin", check_path(pc->name));
    CHECK_OK(ovs_read_file(path, &tw, &len, &e), &e);
    if (e.code) return;
    CHECK_EQ_INT(len, sizeof(float) * C * n);
    if (len == sizeof(float) * C * n) {
        const float *t = (const float *)tw;
        double maxd = 0;
        size_t agree = 0, cls_seen[8] = {0};
        for (size_t p = 0; p < n; p++) {
            int bt = 0;
            for (size_t c = 0; c < C; c++) {
                double d = fabs(t[c * n + p] - pc->scores[c * n + p]);
                if (d > maxd) maxd = d;
                if (t[c * n + p] > t[bt * n + p]) bt = (int)c;
            }
            agree += bt == pc->pred[p];
            cls_seen[pc->pred[p]]++;
        }
        int distinct = 0;
        for (int c = 0; c < 8; c++) distinct += cls_seen[c] > 0;
        CHECK_MSG(maxd <= 1e-4, "%s: max |score diff| %g", pc->name, maxd);
        CHECK_MSG(agree >= n - n / 1000, "%s: argmax agrees on %zu of %zu pixels", pc->name, agree, n);
        CHECK_MSG(distinct >= 2, "%s: only %d classes predicted (a weak check)", pc->name, distinct);
        printf("# %s: %dx%d, %d windows, max |diff| %.2e, argmax agreement %.4f%%, %d classes predicted\n", pc->name,
               pc->w, pc->h, pc->windows, maxd, 100.0 * agree / n, distinct);
    }
    free(tw);
}

TEST(eval_protocol_matches_pytorch_twin_sliding_window) { compare_case(&CASES[0]); }
TEST(eval_protocol_matches_pytorch_twin_tall_image) { compare_case(&CASES[1]); }
TEST(eval_protocol_matches_pytorch_twin_whole_image) { compare_case(&CASES[2]); }

/* make bench: images/s of the protocol (linear encoder, so this is the protocol's own cost) in C
 * and in the PyTorch twin, on the same 500x375 image. */
static int bench(int n) {
    ovs_err e = {0};
    pcase *pc = &CASES[0];
    if (prepare_case(pc, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    lin L;
    float text[N * D];
    make_params(&L, text, pc->seed);
    ovs_image img;
    scene(&img, pc->w, pc->h, pc->seed);
    ovs_segmenter s = {.ctx = &L, .encode = lin_encode, .logit_scale = SCALE};
    ovs_seg_opts o;
    ovs_seg_opts_default(&o);
    o.bg_thresh = BG;
    ovs_seg_out out = {.pred = {pc->pred}};
    double t0 = ovs_now();
    for (int i = 0; i < n; i++) ovs_seg_image(&s, &o, text, N, &img, NULL, 1, 0, &out, &e);
    double c = n / (ovs_now() - t0);
    const char *py = getenv("OVSEG_PYTHON") ? getenv("OVSEG_PYTHON") : ".venv/bin/python";
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s tests/reference/eval_twin.py --linear %s --bench %d", py, check_path(pc->name), n);
    FILE *f = popen(cmd, "r");
    double t = 0;
    if (!f || fscanf(f, "%lf", &t) != 1) t = 0;
    if (f) pclose(f);
    printf("| protocol only (linear encoder), 500x375 -> 597x448, 2 windows | %.1f | %.1f |\n", c, t);
    ovs_image_free(&img);
    return 0;
}

int main(void) {
    if (getenv("OVSEG_EVAL_BENCH")) return bench(atoi(getenv("OVSEG_EVAL_BENCH")));
    ovs_err e = {0};
    for (int i = 0; i < NCASES && !g_prep_rc; i++) g_prep_rc = prepare_case(&CASES[i], &e);
    snprintf(g_prep_msg, sizeof g_prep_msg, "%s", e.msg);
    g_twin_rc = g_prep_rc ? -1 : run_twin("");
    RUN(eval_protocol_matches_pytorch_twin_sliding_window);
    RUN(eval_protocol_matches_pytorch_twin_tall_image);
    RUN(eval_protocol_matches_pytorch_twin_whole_image);
    for (int i = 0; i < NCASES; i++) { free(CASES[i].scores); free(CASES[i].pred); }
    return check_done();
}
