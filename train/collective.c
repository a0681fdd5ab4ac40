/* collective.c — the model's side of data-parallel training (see ovs_collective in model.h):
 * error-latching sums and gathers, rng draws of the global batch, and BatchNorm whose statistics
 * (forward) and gradient sums (backward) cover every rank's rows (SyncBN). Used only when the
 * world has more than one rank; the single-process path never comes here. */
#include <math.h>
#include <string.h>

#include "train/model_internal.h"

int sync_sum(ovs_sync *s, double *buf, size_t n) {
    if (s->rc) return s->rc;
    return s->rc = s->c.sum(s->c.ctx, buf, n, &s->err);
}

int sync_gather(ovs_sync *s, const float *send, float *recv, size_t n) {
    if (s->rc) return s->rc;
    return s->rc = s->c.gather(s->c.ctx, send, recv, n, &s->err);
}

void sync_skip(const ovs_sync *s, ovs_rng *rng, size_t n_per_rank, int before) {
    size_t ranks = before ? (size_t)s->c.rank : (size_t)(s->c.world - 1 - s->c.rank);
    for (size_t i = 0; i < ranks * n_per_rank; i++) (void)ovs_rng_u64(rng);
}

/* Two passes as batchnorm_train_forward (mean, then squared deviations), each summed over ranks. */
void syncbn_forward(ovs_sync *s, float *out, float *mean, float *rstd, const float *inp, const float *w,
                    const float *b, int N, int C, float *rmean, float *rvar, float momentum, float eps) {
    double *sum = s->buf, *sq = s->buf + C;
    double Nt = (double)N * s->c.world;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= 65536)
    for (int c = 0; c < C; c++) {
        double m = 0.0;
        for (int i = 0; i < N; i++) m += inp[(size_t)i * C + c];
        sum[c] = m;
    }
    sync_sum(s, sum, (size_t)C);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= 65536)
    for (int c = 0; c < C; c++) {
        double m = sum[c] / Nt, v = 0.0;
        for (int i = 0; i < N; i++) { double d = inp[(size_t)i * C + c] - m; v += d * d; }
        sq[c] = v;
    }
    sync_sum(s, sq, (size_t)C);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= 65536)
    for (int c = 0; c < C; c++) {
        double m = sum[c] / Nt, var = sq[c] / Nt;
        float r = (float)(1.0 / sqrt(var + eps));
        mean[c] = (float)m;
        rstd[c] = r;
        for (int i = 0; i < N; i++) out[(size_t)i * C + c] = ((inp[(size_t)i * C + c] - (float)m) * r) * w[c] + b[c];
        if (rmean) {
            double unb = Nt > 1 ? sq[c] / (Nt - 1) : var;
            rmean[c] = (1.0f - momentum) * rmean[c] + momentum * (float)m;
            rvar[c] = (1.0f - momentum) * rvar[c] + momentum * (float)unb;
        }
    }
}

void syncbn_backward(ovs_sync *s, float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, const float *mean, const float *rstd, int N, int C) {
    double *sg = s->buf, *sgx = s->buf + C;
    double Nt = (double)N * s->c.world;
#pragma omp parallel for schedule(static) if ((size_t)N * C >= 65536)
    for (int c = 0; c < C; c++) {
        double m = mean[c], r = rstd[c], a = 0.0, ax = 0.0;
        for (int i = 0; i < N; i++) {
            double g = dout[(size_t)i * C + c];
            a += g;
            ax += g * (inp[(size_t)i * C + c] - m) * r;
        }
        dw[c] += (float)ax; /* this rank's part: the gradient sum over ranks adds the others' */
        db[c] += (float)a;
        sg[c] = a, sgx[c] = ax;
    }
    sync_sum(s, sg, 2 * (size_t)C);
#pragma omp parallel for schedule(static) if ((size_t)N * C >= 65536)
    for (int c = 0; c < C; c++) {
        double m = mean[c], r = rstd[c], k = w[c] * r / Nt;
        for (int i = 0; i < N; i++) {
            double xh = (inp[(size_t)i * C + c] - m) * r;
            dinp[(size_t)i * C + c] = (float)(k * (Nt * (double)dout[(size_t)i * C + c] - sg[c] - xh * sgx[c]));
        }
    }
}
