/* layers.c — forward/backward pairs of the model's layers over flat float buffers (see layers.h).
 * Matrix products: cblas_sgemm. Element-wise and per-row work: OpenMP. No allocation. */
#include "train/layers.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Loops over fewer than PAR_MIN floats run on one thread: waking the team costs more than
 * the work (and much more when the machine is oversubscribed). */
#define PAR_MIN 32768
/* column tile of the column reductions (bias and LayerNorm parameter gradients) */
#define COLS 32

/* glibc (2.35+) ships vector variants of erff and expf in libmvec (x86-64: _ZGVbN4v_erff, ...;
 * Debian's libm.so links libmvec as needed). Declaring them `omp declare simd` lets the GELU and
 * softmax loops below call 4 lanes at once (about 10x faster than the scalar erff), at the same
 * accuracy (a few ulp). Elsewhere the scalar functions are used. */
#if defined(__GLIBC__) && defined(__x86_64__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#pragma omp declare simd notinbranch
float erff(float);
#pragma omp declare simd notinbranch
float expf(float);
#endif

/* ── matmul ─────────────────────────────────────────────────────────────────────────────── */

/* Threads: all parallelism is OpenMP's. OpenBLAS runs single-threaded (layers_init) and a large
 * product is split into one block of rows (or columns) per OpenMP thread, so that OpenBLAS's own
 * threads never compete with spinning OpenMP threads for the cores. */
void layers_init(void) {
    static int done;
    if (!done) { openblas_set_num_threads(1); done = 1; }
}

static void sgemm1(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static layers_mm_hook mm_hook;
static void *mm_hook_ctx;

void layers_set_mm_hook(layers_mm_hook fn, void *ctx) { mm_hook = fn; mm_hook_ctx = ctx; }

static void mm_split(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);

void mm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
        const float *B, int ldb, float beta, float *C, int ldc) {
    if (!mm_hook) { mm_split(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    double t0 = omp_get_wtime();
    mm_split(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (M > 0 && N > 0) mm_hook(mm_hook_ctx, ta, tb, M, N, K, 1, omp_get_wtime() - t0);
}

static void mm_split(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta * C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    double flops = 2.0 * M * N * K;
    if (nt <= 1 || flops < 2e6) { sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    int by_rows = M >= N;
    int n = by_rows ? M : N;
    if (n < 2 * nt) { by_rows = !by_rows; n = by_rows ? M : N; }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int chunk = (n + T - 1) / T;
        if (by_rows) chunk = (chunk + 7) & ~7; else chunk = (chunk + 15) & ~15;
        int i0 = t * chunk, i1 = i0 + chunk > n ? n : i0 + chunk;
        if (i0 < i1) {
            if (by_rows) {
                const float *a = ta ? A + i0 : A + (size_t)i0 * lda;
                sgemm1(ta, tb, i1 - i0, N, K, alpha, a, lda, B, ldb, beta, C + (size_t)i0 * ldc, ldc);
            } else {
                const float *b = tb ? B + (size_t)i0 * ldb : B + i0;
                sgemm1(ta, tb, M, i1 - i0, K, alpha, A, lda, b, ldb, beta, C + i0, ldc);
            }
        }
    }
}

/* Column sums in double (bias gradients are sums that often cancel), read row by row so that
 * memory is walked contiguously; each thread owns a block of columns:
 *   db[c] += sum_i g[i,c];  and when dw: dw[c] += sum_i g[i,c] * (x[i,c] - mean[i]) * rstd[i]. */
static void colsum_add(float *db, float *dw, const float *g, int ldg, const float *x, int ldx,
                       const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int c0 = (int)((long)C * t / T), c1 = (int)((long)C * (t + 1) / T), n = c1 - c0;
        double sb[256], sw[256];
        for (int b0 = c0; b0 < c1; b0 += 256) {
            int m = c1 - b0 < 256 ? c1 - b0 : 256;
            memset(sb, 0, sizeof(double) * (size_t)m);
            memset(sw, 0, sizeof(double) * (size_t)m);
            for (int i = 0; i < N; i++) {
                const float *gr = g + (size_t)i * ldg + b0;
#pragma omp simd
                for (int c = 0; c < m; c++) sb[c] += gr[c];
                if (dw) {
                    const float *xr = x + (size_t)i * ldx + b0;
                    float mu = mean[i], r = rstd[i];
#pragma omp simd
                    for (int c = 0; c < m; c++) sw[c] += gr[c] * ((xr[c] - mu) * r);
                }
            }
            for (int c = 0; c < m; c++) db[b0 + c] += (float)sb[c];
            if (dw) for (int c = 0; c < m; c++) dw[b0 + c] += (float)sw[c];
        }
        (void)n;
    }
}

/* sum[c] += sum_i x[i,c] and sq[c] += sum_i x[i,c]^2 in double, each column added row by row in
 * order (the bits of a plain column loop), walking memory row by row: each thread owns a block of
 * columns. */
void colstats_add(double *sum, double *sq, const float *x, int N, int C) {
#pragma omp parallel if ((size_t)N * C >= PAR_MIN)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int c0 = (int)((long)C * t / T), c1 = (int)((long)C * (t + 1) / T);
        double s1[256], s2[256];
        for (int b0 = c0; b0 < c1; b0 += 256) {
            int m = c1 - b0 < 256 ? c1 - b0 : 256;
            memset(s1, 0, sizeof(double) * (size_t)m);
            memset(s2, 0, sizeof(double) * (size_t)m);
            for (int i = 0; i < N; i++) {
                const float *xr = x + (size_t)i * C + b0;
#pragma omp simd
                for (int c = 0; c < m; c++) { double v = xr[c]; s1[c] += v; s2[c] += v * v; }
            }
            for (int c = 0; c < m; c++) { sum[b0 + c] += s1[c]; sq[b0 + c] += s2[c]; }
        }
    }
}

/* out[N,Cout] = inp[N,Cin] @ W^T + b */
void linear_forward(float *out, int ldo, const float *inp, int ldi, const float *W, const float *b,
                    int N, int Cin, int Cout) {
    if (b) {
#pragma omp parallel for schedule(static) if ((size_t)N * Cout >= PAR_MIN)
        for (int i = 0; i < N; i++) memcpy(out + (size_t)i * ldo, b, sizeof(float) * (size_t)Cout);
    }
    mm(0, 1, N, Cout, Cin, 1.0f, inp, ldi, W, Cin, b ? 1.0f : 0.0f, out, ldo);
}

/* dinp[N,Cin] += dout[N,Cout] @ W[Cout,Cin]; dW[Cout,Cin] += dout^T @ inp; db[Cout] += sum_rows dout */
void linear_backward(float *dinp, int lddi, int acc, float *dW, float *db, const float *dout, int lddo,
                     const float *inp, int ldi, const float *W, int N, int Cin, int Cout) {
    if (dinp) mm(0, 0, N, Cin, Cout, 1.0f, dout, lddo, W, Cin, acc ? 1.0f : 0.0f, dinp, lddi);
    if (dW) mm(1, 0, Cout, Cin, N, 1.0f, dout, lddo, inp, ldi, 1.0f, dW, Cin);
    if (db) colsum_add(db, NULL, dout, lddo, NULL, 0, NULL, NULL, N, Cout);
}

/* ── layernorm ──────────────────────────────────────────────────────────────────────────── */

void layernorm_forward(float *out, int ldo, float *mean, float *rstd, const float *inp, int ldi,
                       const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * ldi;
        float *o = out + (size_t)i * ldo;
        float m = 0.0f;
#pragma omp simd reduction(+:m)
        for (int c = 0; c < C; c++) m += x[c];
        m /= (float)C;
        float v = 0.0f;
#pragma omp simd reduction(+:v)
        for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
        v /= (float)C;
        float r = 1.0f / sqrtf(v + eps);
#pragma omp simd
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
        mean[i] = m;
        rstd[i] = r;
    }
}

void layernorm_backward(float *dinp, int lddi, float *dw, float *db, const float *dout, int lddo,
                        const float *inp, int ldi, const float *w, const float *mean,
                        const float *rstd, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * ldi, *g = dout + (size_t)i * lddo;
        float m = mean[i], r = rstd[i];
        double a1 = 0.0, a2 = 0.0;
#pragma omp simd reduction(+:a1, a2)
        for (int c = 0; c < C; c++) {
            float dn = g[c] * w[c];
            a1 += dn;
            a2 += (double)dn * ((x[c] - m) * r);
        }
        float s1 = (float)(a1 / C), s2 = (float)(a2 / C);
        float *dx = dinp + (size_t)i * lddi;
#pragma omp simd
        for (int c = 0; c < C; c++) dx[c] += (g[c] * w[c] - s1 - (x[c] - m) * r * s2) * r;
    }
    colsum_add(db, dw, dout, lddo, inp, ldi, mean, rstd, N, C);
}

/* ── gelu, residual, relu ───────────────────────────────────────────────────────────────── */

__attribute__((optimize("no-math-errno")))
void bias_gelu_forward(float *g, float *h, const float *b, size_t N, int C) {
#pragma omp parallel for schedule(static) if (N * (size_t)C >= PAR_MIN)
    for (size_t i = 0; i < N; i++) {
        float *hr = h + i * (size_t)C, *gr = g + i * (size_t)C;
        if (b) {
#pragma omp simd
            for (int c = 0; c < C; c++) hr[c] += b[c];
        }
#pragma omp simd
        for (int c = 0; c < C; c++) {
            float x = hr[c];
            gr[c] = 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2));
        }
    }
}

__attribute__((optimize("no-math-errno")))
void gelu_backward(float *dh, const float *dg, const float *h, size_t n) {
    const float k = 0.3989422804014327f; /* 1/sqrt(2 pi) */
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = h[i];
        float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2));
        float pdf = k * expf(-0.5f * x * x);
        dh[i] = dg[i] * (cdf + x * pdf);
    }
}

void residual_forward(float *out, const float *a, const float *b, const float *scale, size_t per, size_t n) {
    if (!scale) {
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
        return;
    }
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + scale[i / per] * b[i];
}

void residual_backward(float *da, float *db, const float *dout, const float *scale, size_t per, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += scale ? scale[i / per] * dout[i] : dout[i];
    }
}

void relu_forward(float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(float *d, const float *out, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) d[i] = out[i] > 0.0f ? d[i] : 0.0f;
}

/* ── softmax and attention ──────────────────────────────────────────────────────────────── */

/* x[j] = softmax_j(scale * x[j]) over the keys kmask allows (the others get 0; kmask may be NULL) */
__attribute__((optimize("no-math-errno")))
static void softmax_row(float *x, int M, float scale, const int *kmask) {
    float mx = -FLT_MAX, s = 0.0f;
    if (kmask) {
#pragma omp simd reduction(max:mx)
        for (int j = 0; j < M; j++) {
            float v = kmask[j] ? x[j] * scale : -FLT_MAX;
            x[j] = v;
            mx = v > mx ? v : mx;
        }
#pragma omp simd reduction(+:s)
        for (int j = 0; j < M; j++) {
            float e = kmask[j] ? expf(x[j] - mx) : 0.0f;
            x[j] = e;
            s += e;
        }
    } else {
#pragma omp simd reduction(max:mx)
        for (int j = 0; j < M; j++) {
            float v = x[j] * scale;
            x[j] = v;
            mx = v > mx ? v : mx;
        }
#pragma omp simd reduction(+:s)
        for (int j = 0; j < M; j++) {
            float e = expf(x[j] - mx);
            x[j] = e;
            s += e;
        }
    }
    float r = s > 0.0f ? 1.0f / s : 0.0f;
#pragma omp simd
    for (int j = 0; j < M; j++) x[j] *= r;
}

void softmax_rows(float *x, int N, int M, float scale) {
#pragma omp parallel for schedule(static) if ((size_t)N * M >= PAR_MIN)
    for (int i = 0; i < N; i++) softmax_row(x + (size_t)i * M, M, scale, NULL);
}

void attention_forward(float *o, float *probs, const float *q, const float *k, const float *v,
                       const attn_shape *s) {
    int B = s->B, H = s->H, Nq = s->Nq, Nk = s->Nk, hd = s->hd;
    size_t pblk = (size_t)Nq * Nk;
    double t0 = mm_hook ? omp_get_wtime() : 0.0;
#pragma omp parallel for schedule(static) if ((size_t)B * H * Nq * Nk * hd / 16 >= PAR_MIN)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        float *P = probs + (size_t)bh * pblk;
        sgemm1(0, 1, Nq, Nk, hd, 1.0f, q + b * s->sq + h * hd, s->ldq, k + b * s->sk + h * hd, s->ldk, 0.0f, P, Nk);
        for (int r = 0; r < Nq; r++)
            softmax_row(P + (size_t)r * Nk, Nk, s->scale,
                        s->rowmask ? s->rowmask + (size_t)r * Nk : s->kmask ? s->kmask + (size_t)b * Nk : NULL);
        sgemm1(0, 0, Nq, hd, Nk, 1.0f, P, Nk, v + b * s->sv + h * hd, s->ldv, 0.0f, o + b * s->so + h * hd, s->ldo);
    }
    if (mm_hook) {
        mm_hook(mm_hook_ctx, 0, 1, Nq, Nk, hd, B * H, omp_get_wtime() - t0);
        mm_hook(mm_hook_ctx, 0, 0, Nq, hd, Nk, B * H, 0.0);
    }
}

void attention_backward(float *dq, float *dk, float *dv, float *dprobs, const float *dout,
                        const float *probs, const float *q, const float *k, const float *v,
                        const attn_shape *s) {
    int B = s->B, H = s->H, Nq = s->Nq, Nk = s->Nk, hd = s->hd;
    size_t pblk = (size_t)Nq * Nk;
    double t0 = mm_hook ? omp_get_wtime() : 0.0;
    /* (b, h) blocks write disjoint columns of dq/dk/dv, so they run in parallel */
#pragma omp parallel for schedule(static) if ((size_t)B * H * Nq * Nk * hd / 16 >= PAR_MIN)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        const float *P = probs + (size_t)bh * pblk;
        const float *dO = dout + b * s->so + h * hd;
        float *dP = dprobs + (size_t)bh * pblk;
        sgemm1(1, 0, Nk, hd, Nq, 1.0f, P, Nk, dO, s->ldo, 1.0f, dv + b * s->sv + h * hd, s->ldv);
        sgemm1(0, 1, Nq, Nk, hd, 1.0f, dO, s->ldo, v + b * s->sv + h * hd, s->ldv, 0.0f, dP, Nk);
        for (int r = 0; r < Nq; r++) {
            const float *pr = P + (size_t)r * Nk;
            float *dr = dP + (size_t)r * Nk;
            float dot = 0.0f;
#pragma omp simd reduction(+:dot)
            for (int j = 0; j < Nk; j++) dot += pr[j] * dr[j];
#pragma omp simd
            for (int j = 0; j < Nk; j++) dr[j] = pr[j] * (dr[j] - dot);
        }
        sgemm1(0, 0, Nq, hd, Nk, s->scale, dP, Nk, k + b * s->sk + h * hd, s->ldk, 1.0f, dq + b * s->sq + h * hd, s->ldq);
        sgemm1(1, 0, Nk, hd, Nq, s->scale, dP, Nk, q + b * s->sq + h * hd, s->ldq, 1.0f, dk + b * s->sk + h * hd, s->ldk);
    }
    if (mm_hook) {
        mm_hook(mm_hook_ctx, 1, 0, Nk, hd, Nq, B * H, omp_get_wtime() - t0);
        mm_hook(mm_hook_ctx, 0, 1, Nq, Nk, hd, B * H, 0.0);
        mm_hook(mm_hook_ctx, 0, 0, Nq, hd, Nk, B * H, 0.0);
        mm_hook(mm_hook_ctx, 1, 0, Nk, hd, Nq, B * H, 0.0);
    }
}

/* ── batchnorm ──────────────────────────────────────────────────────────────────────────── */

void batchnorm_running_update(float *rmean, float *rvar, const double *sum, const double *sumsq,
                              size_t n, int C, float momentum) {
    for (int c = 0; c < C; c++) {
        double m = sum[c] / (double)n;
        double var = sumsq[c] / (double)n - m * m;
        if (var < 0) var = 0;
        double unb = n > 1 ? var * (double)n / (double)(n - 1) : var;
        rmean[c] = (1.0f - momentum) * rmean[c] + momentum * (float)m;
        rvar[c] = (1.0f - momentum) * rvar[c] + momentum * (float)unb;
    }
}

void batchnorm_train_forward(float *out, float *mean, float *rstd, const float *inp,
                             const float *w, const float *b, int N, int C,
                             float *rmean, float *rvar, float momentum, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        double m = 0.0;
        for (int i = 0; i < N; i++) m += inp[(size_t)i * C + c];
        m /= N;
        double v = 0.0;
        for (int i = 0; i < N; i++) { double d = inp[(size_t)i * C + c] - m; v += d * d; }
        double var = v / N;
        float r = (float)(1.0 / sqrt(var + eps));
        mean[c] = (float)m;
        rstd[c] = r;
        for (int i = 0; i < N; i++)
            out[(size_t)i * C + c] = ((inp[(size_t)i * C + c] - (float)m) * r) * w[c] + b[c];
        if (rmean) {
            double unb = N > 1 ? v / (N - 1) : var;
            rmean[c] = (1.0f - momentum) * rmean[c] + momentum * (float)m;
            rvar[c] = (1.0f - momentum) * rvar[c] + momentum * (float)unb;
        }
    }
}

void batchnorm_eval_forward(float *out, const float *inp, const float *w, const float *b,
                            const float *rmean, const float *rvar, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++)
            out[(size_t)i * C + c] = (inp[(size_t)i * C + c] - rmean[c]) / sqrtf(rvar[c] + eps) * w[c] + b[c];
}

void batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int c = 0; c < C; c++) {
        /* in double: the input gradient sums to zero over the batch, and everything upstream
         * (bias gradients especially) inherits that cancellation */
        double m = mean[c], r = rstd[c], sg = 0.0, sgx = 0.0;
        for (int i = 0; i < N; i++) {
            double g = dout[(size_t)i * C + c];
            sg += g;
            sgx += g * (inp[(size_t)i * C + c] - m) * r;
        }
        dw[c] += (float)sgx;
        db[c] += (float)sg;
        double k = w[c] * r / N;
        for (int i = 0; i < N; i++) {
            double xh = (inp[(size_t)i * C + c] - m) * r;
            dinp[(size_t)i * C + c] = (float)(k * (N * (double)dout[(size_t)i * C + c] - sg - xh * sgx));
        }
    }
}

/* ── l2 normalisation, cross-entropy ────────────────────────────────────────────────────── */

void l2norm_forward(float *out, float *norm, const float *x, int N, int C) {
    for (int i = 0; i < N; i++) {
        double s = 0.0;
        for (int c = 0; c < C; c++) s += (double)x[(size_t)i * C + c] * x[(size_t)i * C + c];
        float n = (float)sqrt(s);
        norm[i] = n;
        float d = n > 1e-12f ? n : 1e-12f;
        for (int c = 0; c < C; c++) out[(size_t)i * C + c] = x[(size_t)i * C + c] / d;
    }
}

void l2norm_backward(float *dx, const float *dout, const float *out, const float *norm, int N, int C) {
    for (int i = 0; i < N; i++) {
        const float *g = dout + (size_t)i * C, *y = out + (size_t)i * C;
        if (norm[i] <= 1e-12f) {
            for (int c = 0; c < C; c++) dx[(size_t)i * C + c] += g[c] / 1e-12f;
            continue;
        }
        double dot = 0.0;
        for (int c = 0; c < C; c++) dot += (double)g[c] * y[c];
        for (int c = 0; c < C; c++) dx[(size_t)i * C + c] += (float)((g[c] - y[c] * dot) / norm[i]);
    }
}

float cross_entropy_forward_backward(float *dlogits, const float *logits, int ld, const int *t,
                                     int N, int M, float scale) {
    double loss = 0.0;
    for (int i = 0; i < N; i++) {
        const float *x = logits + (size_t)i * ld;
        float mx = -FLT_MAX;
        for (int j = 0; j < M; j++) if (x[j] > mx) mx = x[j];
        double s = 0.0;
        for (int j = 0; j < M; j++) s += exp((double)x[j] - mx);
        loss += log(s) + mx - x[t[i]];
        if (dlogits) {
            float *d = dlogits + (size_t)i * ld;
            for (int j = 0; j < M; j++)
                d[j] = scale * (float)(exp((double)x[j] - mx) / s - (j == t[i] ? 1.0 : 0.0)) / (float)N;
        }
    }
    return (float)(loss / N);
}

/* ── Gumbel-hard assignment ─────────────────────────────────────────────────────────────── */

void assign_forward(float *a, float *soft, float *hard, const float *raw, const float *noise,
                    int B, int K, int P) {
#pragma omp parallel for schedule(static) if ((size_t)B * K * P >= PAR_MIN)
    for (int bp = 0; bp < B * P; bp++) {
        int b = bp / P, p = bp % P;
        size_t base = (size_t)b * K * P + p;
        float mx = -FLT_MAX;
        for (int k = 0; k < K; k++) {
            float z = raw[base + (size_t)k * P] + (noise ? noise[base + (size_t)k * P] : 0.0f);
            soft[base + (size_t)k * P] = z;
            if (z > mx) mx = z;
        }
        float s = 0.0f;
        for (int k = 0; k < K; k++) {
            float e = expf(soft[base + (size_t)k * P] - mx);
            soft[base + (size_t)k * P] = e;
            s += e;
        }
        int arg = 0;
        float best = -1.0f;
        for (int k = 0; k < K; k++) {
            float y = soft[base + (size_t)k * P] / s;
            soft[base + (size_t)k * P] = y;
            if (y > best) { best = y; arg = k; }
        }
        for (int k = 0; k < K; k++) a[base + (size_t)k * P] = k == arg ? 1.0f : 0.0f;
    }
    /* a = hard / (sum over patches + 1) */
#pragma omp parallel for schedule(static) if ((size_t)B * K * P >= PAR_MIN)
    for (int bk = 0; bk < B * K; bk++) {
        float *r = a + (size_t)bk * P;
        float s = 0.0f;
        for (int p = 0; p < P; p++) s += r[p];
        if (hard) memcpy(hard + (size_t)bk * P, r, sizeof(float) * (size_t)P);
        float d = 1.0f / (s + 1.0f);
        for (int p = 0; p < P; p++) r[p] *= d;
    }
}

void assign_backward(float *draw, const float *da, const float *hard, const float *soft,
                     int B, int K, int P) {
    /* d(hard-like attn)[k,p] = (da[k,p] - sum_p' da[k,p'] a[k,p']) / (s_k + 1), a = hard/(s_k+1) */
#pragma omp parallel for schedule(static) if ((size_t)B * K * P >= PAR_MIN)
    for (int bk = 0; bk < B * K; bk++) {
        const float *h = hard + (size_t)bk * P, *g = da + (size_t)bk * P;
        float s = 0.0f, dot = 0.0f;
        for (int p = 0; p < P; p++) s += h[p];
        float d = 1.0f / (s + 1.0f);
        for (int p = 0; p < P; p++) dot += g[p] * h[p] * d;
        for (int p = 0; p < P; p++) draw[(size_t)bk * P + p] = (g[p] - dot) * d;
    }
    /* straight-through: the gradient of the soft softmax over the group axis */
#pragma omp parallel for schedule(static) if ((size_t)B * K * P >= PAR_MIN)
    for (int bp = 0; bp < B * P; bp++) {
        int b = bp / P, p = bp % P;
        size_t base = (size_t)b * K * P + p;
        float dot = 0.0f;
        for (int k = 0; k < K; k++) dot += soft[base + (size_t)k * P] * draw[base + (size_t)k * P];
        for (int k = 0; k < K; k++)
            draw[base + (size_t)k * P] = soft[base + (size_t)k * P] * (draw[base + (size_t)k * P] - dot);
    }
}

/* ── embeddings ─────────────────────────────────────────────────────────────────────────── */

void embedding_forward(float *out, const int *ids, const float *table, int N, int C) {
#pragma omp parallel for schedule(static) if ((size_t)N * C >= PAR_MIN)
    for (int i = 0; i < N; i++) memcpy(out + (size_t)i * C, table + (size_t)ids[i] * C, sizeof(float) * (size_t)C);
}

void embedding_backward(float *dtable, const int *ids, const float *dout, int N, int C, int skip_id) {
    for (int i = 0; i < N; i++) {
        if (ids[i] == skip_id) continue;
        float *d = dtable + (size_t)ids[i] * C;
        for (int c = 0; c < C; c++) d[c] += dout[(size_t)i * C + c];
    }
}
