/* adamw.c — AdamW, gradient clipping and the cosine schedule. Element-wise arithmetic follows
 * torch's single-tensor AdamW in float32, with the scalar factors computed in double as Python does,
 * so ovseg and torch agree to rounding (tests/test_adamw.c compares them). */
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ovs_adamw_init(ovs_adamw *o, size_t numel, ovs_err *e) {
    memset(o, 0, sizeof *o);
    o->beta1 = 0.9, o->beta2 = 0.999, o->eps = 1e-8, o->weight_decay = 0.05;
    o->numel = numel;
    o->m = calloc(numel ? numel : 1, sizeof(float));
    o->v = calloc(numel ? numel : 1, sizeof(float));
    if (!o->m || !o->v) {
        ovs_adamw_free(o);
        return ovs_errf(e, OVS_EINTERNAL, "adamw: out of memory for %zu moments", numel);
    }
    return 0;
}

void ovs_adamw_free(ovs_adamw *o) {
    free(o->m), free(o->v);
    o->m = o->v = NULL;
}

/* One parameter tensor: torch's _single_tensor_adam with decoupled weight decay. */
static void update(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                   float decay_mul, float w1, float b2, float one_minus_b2, float bc2_sqrt, float eps, float neg_step) {
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * decay_mul;                    /* param.mul_(1 - lr * wd) */
        float mi = m[i] + w1 * (g[i] - m[i]);           /* exp_avg.lerp_(grad, 1 - beta1) */
        float vi = v[i] * b2 + one_minus_b2 * g[i] * g[i]; /* exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2) */
        float denom = sqrtf(vi) / bc2_sqrt + eps;      /* (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps) */
        p[i] = pi + neg_step * (mi / denom);            /* param.addcdiv_(exp_avg, denom, -step_size) */
        m[i] = mi, v[i] = vi;
    }
}

void ovs_adamw_step(ovs_adamw *o, float *params, const float *grads, const ovs_param *table, int n, double lr) {
    o->step++;
    double bc1 = 1 - pow(o->beta1, (double)o->step), bc2 = 1 - pow(o->beta2, (double)o->step);
    float neg_step = (float)(-(lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
    float w1 = (float)(1 - o->beta1), b2 = (float)o->beta2, omb2 = (float)(1 - o->beta2), eps = (float)o->eps;
    for (int k = 0; k < n; k++) {
        const ovs_param *t = &table[k];
        if (!t->trainable) continue;
        float decay_mul = t->decay && o->weight_decay != 0 ? (float)(1 - lr * o->weight_decay) : 1.0f;
        size_t off = t->offset;
        update(params + off, grads + off, o->m + off, o->v + off, t->numel, decay_mul, w1, b2, omb2, bc2_sqrt, eps, neg_step);
    }
}

/* Sum of squares in double over fixed chunks, added in a fixed order: the same bits whatever the
 * thread count (an OpenMP reduction would combine partial sums in a varying order). */
static double sum_sq(const float *g, size_t n) {
    enum { CHUNKS = 64 };
    double part[CHUNKS];
    size_t per = (n + CHUNKS - 1) / CHUNKS;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int c = 0; c < CHUNKS; c++) {
        size_t lo = (size_t)c * per, hi = lo + per < n ? lo + per : n;
        double s = 0;
        for (size_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double s = 0;
    for (int c = 0; c < CHUNKS; c++) s += part[c];
    return s;
}

double ovs_clip_grad_norm(float *grads, const ovs_param *table, int n, double max_norm) {
    double sq = 0;
    for (int k = 0; k < n; k++)
        if (table[k].trainable) sq += sum_sq(grads + table[k].offset, table[k].numel);
    double norm = sqrt(sq);
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1) {
            float c = (float)coef;
            for (int k = 0; k < n; k++) {
                if (!table[k].trainable) continue;
                float *g = grads + table[k].offset;
                #pragma omp parallel for schedule(static) if (table[k].numel > 65536)
                for (size_t i = 0; i < table[k].numel; i++) g[i] *= c;
            }
        }
    }
    return norm;
}

double ovs_sched_lr(const ovs_sched *s, int64_t t) {
    if (t < s->warmup_steps) return s->warmup_lr + (double)t * (s->base_lr - s->warmup_lr) / (double)s->warmup_steps;
    if (s->total_steps <= 0 || t >= s->total_steps) return s->min_lr;
    return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1 + cos(M_PI * (double)t / (double)s->total_steps));
}

double ovs_lr_scale(int batch, int world) { return (double)batch * (double)world / 4096.0; }
