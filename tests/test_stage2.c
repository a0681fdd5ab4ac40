/* test_stage2.c — stage-2 building blocks: Hungarian matching vs brute force over all 8!
 * permutations, align_corners upsampling adjoint, the mask consistency loss and its gradient vs
 * the PyTorch twin (tests/reference/maskloss_twin.py, scipy's linear_sum_assignment), EMA. */
#include <float.h>

#include "tests/check.h"
#include "train/hungarian.h"
#include "train/maskloss.h"
#include "util/fsutil.h"
#include "util/rng.h"

static double brute(const double *c, int n, int *best) {
    int p[8] = {0, 1, 2, 3, 4, 5, 6, 7}, idx[8] = {0};
    double bestv = DBL_MAX;
    /* Heap's algorithm over all n! permutations */
    for (int i = 0;;) {
        double s = 0;
        for (int r = 0; r < n; r++) s += c[r * n + p[r]];
        if (s < bestv) { bestv = s; memcpy(best, p, sizeof(int) * n); }
        while (i < n && idx[i] >= i) idx[i++] = 0;
        if (i >= n) break;
        int j = i % 2 ? idx[i] : 0, t = p[j];
        p[j] = p[i], p[i] = t;
        idx[i]++;
        i = 1;
        if (n < 2) break;
    }
    return bestv;
}

TEST(hungarian_equals_brute_force_over_all_permutations) {
    ovs_rng r;
    ovs_rng_seed(&r, 5, 0);
    for (int trial = 0; trial < 30; trial++) {
        int n = trial < 20 ? 8 : 1 + (int)ovs_rng_below(&r, 8);
        double c[64];
        for (int i = 0; i < n * n; i++) c[i] = ovs_rng_double(&r) * (trial % 3 ? 1 : 1000);
        int perm[8], bp[8];
        double v = ovs_hungarian(c, n, perm), bv = brute(c, n, bp);
        CHECK_NEAR(v, bv, 1e-9);
        int seen[8] = {0};
        for (int i = 0; i < n; i++) seen[perm[i]]++;
        for (int i = 0; i < n; i++) CHECK_EQ_INT(seen[i], 1);
    }
}

TEST(upsample_align_corners_backward_is_adjoint) {
    ovs_rng r;
    ovs_rng_seed(&r, 9, 0);
    int C = 3, h = 5, w = 4, H = 17, W = 13;
    float x[60], y[3 * 17 * 13], g[3 * 17 * 13], dx[60] = {0};
    for (int i = 0; i < C * h * w; i++) x[i] = ovs_rng_float(&r) - 0.5f;
    for (int i = 0; i < C * H * W; i++) g[i] = ovs_rng_float(&r) - 0.5f;
    ovs_upsample_bilinear_ac(y, x, C, h, w, H, W);
    ovs_upsample_bilinear_ac_backward(dx, g, C, h, w, H, W);
    double a = 0, b = 0;
    for (int i = 0; i < C * H * W; i++) a += (double)y[i] * g[i];
    for (int i = 0; i < C * h * w; i++) b += (double)x[i] * dx[i];
    CHECK_NEAR(a, b, 1e-4);
    CHECK_NEAR(y[0], x[0], 1e-6);                   /* corners are kept exactly */
    CHECK_NEAR(y[H * W - 1], x[h * w - 1], 1e-6);
}

static float *load(const char *dir, const char *name, size_t *n) {
    char p[600], *d;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    ovs_err e = {0};
    if (ovs_read_file(p, &d, n, &e)) return NULL;
    return (float *)d;
}

static double rel_err(const float *a, const float *b, size_t n) {
    double md = 0, mv = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md) md = d;
        if (fabs(b[i]) > mv) mv = fabs(b[i]);
    }
    return mv > 0 ? md / mv : md;
}

TEST(maskloss_matches_pytorch_twin) {
    const char *dir = check_path("maskloss");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, ".venv/bin/python tests/reference/maskloss_twin.py '%s' 3 8 7 7 56 1", dir);
    CHECK_EQ_INT(system(cmd), 0);
    size_t n;
    float *m1 = load(dir, "m1.f32", &n), *m2 = load(dir, "m2.f32", &n), *dm1_ref = load(dir, "dm1.f32", &n);
    float *loss_ref = load(dir, "loss.f32", &n);
    int *perm_ref = (int *)load(dir, "perm.i32", &n);
    uint8_t *detach = (uint8_t *)load(dir, "detach.u8", &n);
    CHECK(m1 && m2 && dm1_ref && loss_ref && perm_ref && detach);
    if (!m1 || !m2 || !dm1_ref || !loss_ref || !perm_ref || !detach) return;
    ovs_maskloss ml;
    ovs_err e = {0};
    CHECK_OK(ovs_maskloss_init(&ml, 3, 8, 7, 7, 56, 0.6f, &e), &e);
    float loss, dm1[3 * 8 * 49];
    ovs_maskloss_run(&ml, m1, m2, detach, &loss, dm1);
    CHECK_MSG(fabs(loss - loss_ref[0]) <= 1e-4 * fabs(loss_ref[0]), "loss %.7f vs twin %.7f", loss, loss_ref[0]);
    for (int i = 0; i < 24; i++) CHECK_EQ_INT(ml.perm[i], perm_ref[i]);
    double re = rel_err(dm1, dm1_ref, 3 * 8 * 49);
    CHECK_MSG(re <= 1e-4, "d m1 relative error %.2e", re);
    ovs_maskloss_free(&ml);
    free(m1), free(m2), free(dm1_ref), free(loss_ref), free(perm_ref), free(detach);
}

TEST(ema_update_moves_towards_params) {
    float ema[3] = {1, 1, 1}, p[3] = {0, 2, 1};
    ovs_ema_update(ema, p, 3, 0.99f);
    CHECK_NEAR(ema[0], 0.99, 1e-6);
    CHECK_NEAR(ema[1], 1.01, 1e-6);
    CHECK_NEAR(ema[2], 1.0, 1e-6);
}

int main(void) {
    RUN(hungarian_equals_brute_force_over_all_permutations);
    RUN(upsample_align_corners_backward_is_adjoint);
    RUN(maskloss_matches_pytorch_twin);
    RUN(ema_update_moves_towards_params);
    return check_done();
}
