/* adamw.c — AdamW, gradient clipping and the cosine schedule. Element-wise arithmetic follows
 * torch's single-tensor AdamW in float32, with the scalar factors computed in double as Python does,
 * so ovseg and torch agree to rounding (tests/test_adamw.c compares them). */
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __SSE__
#include <xmmintrin.h>
#endif

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

/* Elements [lo, hi) of one tensor: torch's _single_tensor_adam with decoupled weight decay.
 * On x86-64 four lanes at a time with SSE (the compiler will not vectorise sqrtf while it may set
 * errno): the same operations in the same order, each correctly rounded, so the same bits. */
static void update(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t lo, size_t hi,
                   float decay_mul, float w1, float b2, float one_minus_b2, float bc2_sqrt, float eps, float neg_step) {
#ifdef __SSE__
    const __m128 kd = _mm_set1_ps(decay_mul), kw1 = _mm_set1_ps(w1), kb2 = _mm_set1_ps(b2),
                 komb2 = _mm_set1_ps(one_minus_b2), kbc = _mm_set1_ps(bc2_sqrt), keps = _mm_set1_ps(eps),
                 kstep = _mm_set1_ps(neg_step);
    for (; lo + 4 <= hi; lo += 4) {
        __m128 gi = _mm_loadu_ps(g + lo), mo = _mm_loadu_ps(m + lo), vo = _mm_loadu_ps(v + lo);
        __m128 pi = _mm_mul_ps(_mm_loadu_ps(p + lo), kd);
        __m128 mi = _mm_add_ps(mo, _mm_mul_ps(kw1, _mm_sub_ps(gi, mo)));
        __m128 vi = _mm_add_ps(_mm_mul_ps(vo, kb2), _mm_mul_ps(_mm_mul_ps(komb2, gi), gi));
        __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), kbc), keps);
        _mm_storeu_ps(p + lo, _mm_add_ps(pi, _mm_mul_ps(kstep, _mm_div_ps(mi, denom))));
        _mm_storeu_ps(m + lo, mi);
        _mm_storeu_ps(v + lo, vi);
    }
#endif
    for (size_t i = lo; i < hi; i++) {
        float pi = p[i] * decay_mul;                    /* param.mul_(1 - lr * wd) */
        float mi = m[i] + w1 * (g[i] - m[i]);           /* exp_avg.lerp_(grad, 1 - beta1) */
        float vi = v[i] * b2 + one_minus_b2 * g[i] * g[i]; /* exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2) */
        float denom = sqrtf(vi) / bc2_sqrt + eps;      /* (exp_avg_sq.sqrt() / bc2_sqrt).add_(eps) */
        p[i] = pi + neg_step * (mi / denom);            /* param.addcdiv_(exp_avg, denom, -step_size) */
        m[i] = mi, v[i] = vi;
    }
}

static size_t trainable_numel(const ovs_param *table, int n) {
    size_t w = 0;
    for (int k = 0; k < n; k++)
        if (table[k].trainable) w += table[k].numel;
    return w;
}

/* Calls fn(k, lo, hi) for the pieces of the trainable elements [from, to) (counted over the trainable
 * tensors in table order), piece by piece within tensor k. */
#define FOR_PIECES(table, n, from, to, BODY)                                                         \
    do {                                                                                             \
        size_t at_ = 0;                                                                              \
        for (int k = 0; k < (n) && at_ < (to); k++) {                                                \
            if (!(table)[k].trainable) continue;                                                     \
            size_t a_ = at_, b_ = at_ + (table)[k].numel;                                            \
            at_ = b_;                                                                                \
            if (b_ <= (from)) continue;                                                              \
            size_t lo = (from) > a_ ? (from) - a_ : 0, hi = ((to) < b_ ? (to) : b_) - a_;            \
            BODY                                                                                     \
        }                                                                                            \
    } while (0)

/* One parallel region for the whole block (a region per tensor would pay a barrier per tensor,
 * which costs much on a loaded machine); each thread takes an equal share of the elements. */
void ovs_adamw_step(ovs_adamw *o, float *params, const float *grads, const ovs_param *table, int n, double lr) {
    o->step++;
    double bc1 = 1 - pow(o->beta1, (double)o->step), bc2 = 1 - pow(o->beta2, (double)o->step);
    float neg_step = (float)(-(lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
    float w1 = (float)(1 - o->beta1), b2 = (float)o->beta2, omb2 = (float)(1 - o->beta2), eps = (float)o->eps;
    float decayed = o->weight_decay != 0 ? (float)(1 - lr * o->weight_decay) : 1.0f;
    size_t total = trainable_numel(table, n);
    #pragma omp parallel if (total > 65536)
    {
        int nt = 1, id = 0;
#ifdef _OPENMP
        nt = omp_get_num_threads(), id = omp_get_thread_num();
#endif
        size_t from = total / (size_t)nt * (size_t)id + (total % (size_t)nt < (size_t)id ? total % (size_t)nt : (size_t)id);
        size_t to = from + total / (size_t)nt + ((size_t)id < total % (size_t)nt);
        FOR_PIECES(table, n, from, to, {
            size_t off = table[k].offset;
            update(params + off, grads + off, o->m + off, o->v + off, lo, hi, table[k].decay ? decayed : 1.0f, w1, b2,
                   omb2, bc2_sqrt, eps, neg_step);
        });
    }
}

/* Sum of squares in double over fixed chunks of the trainable elements, added in a fixed order: the
 * same bits whatever the thread count (an OpenMP reduction combines partial sums in varying order). */
enum { CHUNK = 1 << 16 };

/* sum of g[i]^2 over [lo, hi) in double: four interleaved partial sums (four independent add
 * chains instead of one), combined in a fixed order */
static double sumsq(const float *g, size_t lo, size_t hi) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = lo;
    for (; i + 4 <= hi; i += 4) {
        s0 += (double)g[i] * g[i];
        s1 += (double)g[i + 1] * g[i + 1];
        s2 += (double)g[i + 2] * g[i + 2];
        s3 += (double)g[i + 3] * g[i + 3];
    }
    for (; i < hi; i++) s0 += (double)g[i] * g[i];
    return (s0 + s1) + (s2 + s3);
}

static void scale_range(float *g, size_t lo, size_t hi, float c) {
#pragma omp simd
    for (size_t i = lo; i < hi; i++) g[i] *= c;
}

double ovs_clip_grad_norm(float *grads, const ovs_param *table, int n, double max_norm) {
    size_t total = trainable_numel(table, n), nchunks = (total + CHUNK - 1) / CHUNK;
    double stack[256], *part = nchunks <= 256 ? stack : malloc(nchunks * sizeof *part);
    double sq = 0;
    if (!part) return NAN;
    #pragma omp parallel for schedule(static) if (nchunks > 1)
    for (size_t c = 0; c < nchunks; c++) {
        size_t from = c * CHUNK, to = from + CHUNK < total ? from + CHUNK : total;
        double s = 0;
        FOR_PIECES(table, n, from, to, {
            s += sumsq(grads + table[k].offset, lo, hi);
        });
        part[c] = s;
    }
    for (size_t c = 0; c < nchunks; c++) sq += part[c];
    if (part != stack) free(part);
    double norm = sqrt(sq);
    if (max_norm > 0 && isfinite(norm) && max_norm / (norm + 1e-6) < 1) {
        float c = (float)(max_norm / (norm + 1e-6));
        #pragma omp parallel for schedule(static) if (nchunks > 1)
        for (size_t ch = 0; ch < nchunks; ch++) {
            size_t from = ch * CHUNK, to = from + CHUNK < total ? from + CHUNK : total;
            FOR_PIECES(table, n, from, to, {
                float *g = grads + table[k].offset;
                scale_range(g, lo, hi, c);
            });
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
