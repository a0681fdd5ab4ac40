/* test_layers.c — each layer's backward against central finite differences of its forward:
 * for a loss L = sum(R * out) with a fixed random R, the analytic gradient of every input and
 * parameter must match (L(x+h) - L(x-h)) / 2h. Also the matmul splitting, the Gumbel-hard
 * assignment's straight-through gradient and the bicubic-free helpers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "train/layers.h"
#include "util/rng.h"

static ovs_rng rng;
static void fill(float *x, size_t n, float s) { for (size_t i = 0; i < n; i++) x[i] = s * (float)ovs_rng_normal(&rng); }
static float *vec(size_t n, float s) { float *x = malloc(n * sizeof(float)); fill(x, n, s); return x; }
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }
static double dot(const float *a, const float *b, size_t n) { double s = 0; for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i]; return s; }

/* the forward under test writes out; fd_check perturbs x[i] and compares to g[i] */
typedef void (*fwd_fn)(void *ctx, float *out);
static void fd_check(const char *what, fwd_fn f, void *ctx, float *x, const float *g, size_t n,
                     const float *R, size_t nout, float h) {
    float *out = malloc(nout * sizeof(float));
    double maxg = 0, maxd = 0;
    size_t step = n > 64 ? n / 64 : 1;
    for (size_t i = 0; i < n; i += step) {
        float x0 = x[i];
        x[i] = x0 + h; f(ctx, out); double lp = dot(out, R, nout);
        x[i] = x0 - h; f(ctx, out); double lm = dot(out, R, nout);
        x[i] = x0;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - g[i]) > maxd) maxd = fabs(fd - g[i]);
        if (fabs(fd) > maxg) maxg = fabs(fd);
    }
    free(out);
    CHECK_MSG(maxd <= 2e-2 * (maxg > 1e-3 ? maxg : 1e-3), "%s: finite difference mismatch %.3g (scale %.3g)", what, maxd, maxg);
}

/* ── layernorm ── */
typedef struct { float *x, *w, *b, *mean, *rstd; int N, C; } ln_ctx;
static void ln_fwd(void *p, float *out) {
    ln_ctx *c = p;
    layernorm_forward(out, c->C, c->mean, c->rstd, c->x, c->C, c->w, c->b, c->N, c->C, 1e-5f);
}
TEST(layernorm_backward_matches_finite_differences) {
    int N = 5, C = 24;
    ln_ctx c = {vec(N * C, 1), vec(C, 1), vec(C, 1), zeros(N), zeros(N), N, C};
    float *R = vec(N * C, 1), *out = zeros(N * C), *dx = zeros(N * C), *dw = zeros(C), *db = zeros(C);
    ln_fwd(&c, out);
    layernorm_backward(dx, C, dw, db, R, C, c.x, C, c.w, c.mean, c.rstd, N, C);
    fd_check("dx", ln_fwd, &c, c.x, dx, N * C, R, N * C, 1e-2f);
    fd_check("dw", ln_fwd, &c, c.w, dw, C, R, N * C, 1e-2f);
    fd_check("db", ln_fwd, &c, c.b, db, C, R, N * C, 1e-2f);
    free(c.x); free(c.w); free(c.b); free(c.mean); free(c.rstd); free(R); free(out); free(dx); free(dw); free(db);
}

/* ── linear + bias/gelu ── */
typedef struct { float *x, *W, *b, *h; int N, Ci, Co; } lin_ctx;
static void lin_fwd(void *p, float *out) {
    lin_ctx *c = p;
    linear_forward(c->h, c->Co, c->x, c->Ci, c->W, NULL, c->N, c->Ci, c->Co);
    bias_gelu_forward(out, c->h, c->b, (size_t)c->N, c->Co);
}
TEST(linear_and_gelu_backward_match_finite_differences) {
    int N = 7, Ci = 33, Co = 19;   /* odd sizes: the split products take ragged blocks */
    lin_ctx c = {vec(N * Ci, 1), vec(Co * Ci, 0.3f), vec(Co, 1), zeros(N * Co), N, Ci, Co};
    float *R = vec(N * Co, 1), *out = zeros(N * Co), *dh = zeros(N * Co);
    float *dx = zeros(N * Ci), *dW = zeros(Co * Ci), *db = zeros(Co);
    lin_fwd(&c, out);
    gelu_backward(dh, R, c.h, (size_t)N * Co);
    linear_backward(dx, Ci, 0, dW, db, dh, Co, c.x, Ci, c.W, N, Ci, Co);
    fd_check("dx", lin_fwd, &c, c.x, dx, N * Ci, R, N * Co, 1e-2f);
    fd_check("dW", lin_fwd, &c, c.W, dW, Co * Ci, R, N * Co, 1e-2f);
    fd_check("db", lin_fwd, &c, c.b, db, Co, R, N * Co, 1e-2f);
    free(c.x); free(c.W); free(c.b); free(c.h); free(R); free(out); free(dh); free(dx); free(dW); free(db);
}

TEST(split_matmul_equals_reference_product) {
    int M = 301, N = 77, K = 129;  /* big enough to be split across threads, ragged */
    float *A = vec((size_t)M * K, 1), *B = vec((size_t)K * N, 1), *C = zeros((size_t)M * N), *Ct = zeros((size_t)N * M);
    mm(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    mm(1, 1, N, M, K, 1.0f, B, N, A, K, 0.0f, Ct, M); /* (AB)^T = B^T A^T */
    double err = 0;
    for (int i = 0; i < M; i += 7)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)A[(size_t)i * K + k] * B[(size_t)k * N + j];
            err = fmax(err, fabs(s - C[(size_t)i * N + j]));
            err = fmax(err, fabs(s - Ct[(size_t)j * M + i]));
        }
    CHECK_MSG(err < 1e-3, "max error %g", err);
    free(A); free(B); free(C); free(Ct);
}

/* ── attention with a key mask ── */
typedef struct { float *q, *k, *v, *probs; attn_shape s; } at_ctx;
static void at_fwd(void *p, float *out) { at_ctx *c = p; attention_forward(out, c->probs, c->q, c->k, c->v, &c->s); }
TEST(attention_backward_matches_finite_differences) {
    int B = 2, H = 3, Nq = 4, Nk = 5, hd = 6, C = H * hd;
    static int mask[10] = {1, 1, 1, 0, 1, 1, 1, 1, 1, 0};
    at_ctx c = {vec(B * Nq * C, 1), vec(B * Nk * C, 1), vec(B * Nk * C, 1), zeros(B * H * Nq * Nk),
                {B, H, Nq, Nk, hd, C, C, C, C, (size_t)Nq * C, (size_t)Nk * C, (size_t)Nk * C, (size_t)Nq * C, 0.4f, mask}};
    float *R = vec(B * Nq * C, 1), *out = zeros(B * Nq * C), *dp = zeros(B * H * Nq * Nk);
    float *dq = zeros(B * Nq * C), *dk = zeros(B * Nk * C), *dv = zeros(B * Nk * C);
    at_fwd(&c, out);
    CHECK(c.probs[3] == 0.0f);     /* masked key */
    attention_backward(dq, dk, dv, dp, R, c.probs, c.q, c.k, c.v, &c.s);
    fd_check("dq", at_fwd, &c, c.q, dq, B * Nq * C, R, B * Nq * C, 1e-2f);
    fd_check("dk", at_fwd, &c, c.k, dk, B * Nk * C, R, B * Nq * C, 1e-2f);
    fd_check("dv", at_fwd, &c, c.v, dv, B * Nk * C, R, B * Nq * C, 1e-2f);
    free(c.q); free(c.k); free(c.v); free(c.probs); free(R); free(out); free(dp); free(dq); free(dk); free(dv);
}

/* ── batchnorm (train) + relu ── */
typedef struct { float *x, *w, *b, *m, *r; int N, C; } bn_ctx;
static void bn_fwd(void *p, float *out) {
    bn_ctx *c = p;
    batchnorm_train_forward(out, c->m, c->r, c->x, c->w, c->b, c->N, c->C, NULL, NULL, 0.1f, 1e-5f);
}
TEST(batchnorm_backward_and_running_statistics) {
    int N = 6, C = 10;
    bn_ctx c = {vec(N * C, 2), vec(C, 1), vec(C, 1), zeros(C), zeros(C), N, C};
    float *R = vec(N * C, 1), *out = zeros(N * C), *dx = zeros(N * C), *dw = zeros(C), *db = zeros(C);
    bn_fwd(&c, out);
    batchnorm_backward(dx, dw, db, R, c.x, c.w, c.m, c.r, N, C);
    fd_check("dx", bn_fwd, &c, c.x, dx, N * C, R, N * C, 1e-2f);
    fd_check("dw", bn_fwd, &c, c.w, dw, C, R, N * C, 1e-2f);
    fd_check("db", bn_fwd, &c, c.b, db, C, R, N * C, 1e-2f);
    /* running statistics: momentum 0.1, unbiased variance */
    float rm[10] = {0}, rv[10];
    for (int j = 0; j < C; j++) rv[j] = 1.0f;
    batchnorm_train_forward(out, c.m, c.r, c.x, c.w, c.b, N, C, rm, rv, 0.1f, 1e-5f);
    double m = 0, v = 0;
    for (int i = 0; i < N; i++) m += c.x[i * C];
    m /= N;
    for (int i = 0; i < N; i++) v += (c.x[i * C] - m) * (c.x[i * C] - m);
    CHECK_NEAR(rm[0], 0.1 * m, 1e-5);
    CHECK_NEAR(rv[0], 0.9 + 0.1 * v / (N - 1), 1e-4);
    free(c.x); free(c.w); free(c.b); free(c.m); free(c.r); free(R); free(out); free(dx); free(dw); free(db);
}

/* ── l2 normalisation ── */
typedef struct { float *x, *norm; int N, C; } l2_ctx;
static void l2_fwd(void *p, float *out) { l2_ctx *c = p; l2norm_forward(out, c->norm, c->x, c->N, c->C); }
TEST(l2norm_backward_matches_finite_differences) {
    int N = 3, C = 9;
    l2_ctx c = {vec(N * C, 1), zeros(N), N, C};
    float *R = vec(N * C, 1), *out = zeros(N * C), *dx = zeros(N * C);
    l2_fwd(&c, out);
    l2norm_backward(dx, R, out, c.norm, N, C);
    fd_check("dx", l2_fwd, &c, c.x, dx, N * C, R, N * C, 1e-2f);
    free(c.x); free(c.norm); free(R); free(out); free(dx);
}

TEST(cross_entropy_value_and_gradient) {
    float logits[6] = {1, 2, 3, 0.5f, -1, 2};
    int t[2] = {2, 0};
    float d[6];
    float l = cross_entropy_forward_backward(d, logits, 3, t, 2, 3, 1.0f);
    double l0 = log(exp(1) + exp(2) + exp(3)) - 3, l1 = log(exp(0.5) + exp(-1) + exp(2)) - 0.5;
    CHECK_NEAR(l, (l0 + l1) / 2, 1e-5);
    CHECK_NEAR(d[2], (exp(3) / (exp(1) + exp(2) + exp(3)) - 1) / 2, 1e-6);
    CHECK_NEAR(d[0] + d[1] + d[2], 0, 1e-6);
}

/* ── Gumbel-hard assignment: forward values and the straight-through gradient, which is the
 * derivative of a = y / (sum_p y + 1) with y = hard + soft(raw) - soft(raw0) at raw0 ── */
typedef struct { float *raw, *noise, *hard0, *soft0; int B, K, P; } as_ctx;
static void as_surrogate(void *p, float *out) {
    as_ctx *c = p;
    int n = c->B * c->K * c->P;
    float *soft = zeros(n), *a = zeros(n);
    assign_forward(a, soft, NULL, c->raw, c->noise, c->B, c->K, c->P);
    for (int bk = 0; bk < c->B * c->K; bk++) {
        double s = 0;
        for (int q = 0; q < c->P; q++) { int i = bk * c->P + q; s += c->hard0[i] + soft[i] - c->soft0[i]; }
        for (int q = 0; q < c->P; q++) { int i = bk * c->P + q; out[i] = (float)((c->hard0[i] + soft[i] - c->soft0[i]) / (s + 1)); }
    }
    free(soft); free(a);
}
TEST(gumbel_hard_assignment_forward_and_straight_through_backward) {
    int B = 2, K = 3, P = 5, n = B * K * P;
    as_ctx c = {vec(n, 1), vec(n, 1), zeros(n), zeros(n), B, K, P};
    float *a = zeros(n), *R = vec(n, 1), *draw = zeros(n);
    assign_forward(a, c.soft0, c.hard0, c.raw, c.noise, B, K, P);
    for (int b = 0; b < B; b++)
        for (int q = 0; q < P; q++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += c.hard0[(b * K + k) * P + q];
            CHECK_NEAR(s, 1.0, 0);  /* one group per patch */
        }
    for (int bk = 0; bk < B * K; bk++) {
        double s = 0;
        for (int q = 0; q < P; q++) s += c.hard0[bk * P + q];
        for (int q = 0; q < P; q++) CHECK_NEAR(a[bk * P + q], c.hard0[bk * P + q] / (s + 1), 1e-7);
    }
    assign_backward(draw, R, c.hard0, c.soft0, B, K, P);
    fd_check("draw", as_surrogate, &c, c.raw, draw, n, R, n, 1e-3f);
    free(c.raw); free(c.noise); free(c.hard0); free(c.soft0); free(a); free(R); free(draw);
}

TEST(embedding_backward_skips_padding) {
    float table[12] = {0}, dout[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, out[9];
    int ids[3] = {1, 0, 1};
    for (int i = 0; i < 12; i++) table[i] = (float)i;
    embedding_forward(out, ids, table, 3, 3);
    CHECK(out[0] == 3 && out[3] == 0 && out[8] == 5);
    float d[12] = {0};
    embedding_backward(d, ids, dout, 3, 3, 0);
    CHECK(d[0] == 0 && d[3] == 8 && d[4] == 10 && d[5] == 12);
}

int main(void) {
    ovs_rng_seed(&rng, 42, 7);
    RUN(layernorm_backward_matches_finite_differences);
    RUN(linear_and_gelu_backward_match_finite_differences);
    RUN(split_matmul_equals_reference_product);
    RUN(attention_backward_matches_finite_differences);
    RUN(batchnorm_backward_and_running_statistics);
    RUN(l2norm_backward_matches_finite_differences);
    RUN(cross_entropy_value_and_gradient);
    RUN(gumbel_hard_assignment_forward_and_straight_through_backward);
    RUN(embedding_backward_skips_padding);
    return check_done();
}
