/* bench_train_step.c — `make bench-train`, the ovseg side: images/s of one stage-1 training step
 * (ovs_model_step + gradient clipping + AdamW) for a config, the per-part time breakdown of the
 * step (ovs_model_profile), every matrix product the step computes (shape, multiplicity, seconds;
 * layers_set_mm_hook) written to a file for bench_sgemm, peak RSS and the analytic memory.
 *
 *   bench_train_step CONFIG BATCH WARMUP STEPS SHAPES_OUT [key=value ...]
 *
 * The batch is deterministic and the same formula as tests/bench/bench_train_torch.py uses, so
 * both sides train on identical data. Prints `key value` result lines (RESULT ...) and tables. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "train/adamw.h"
#include "train/layers.h"
#include "train/model.h"

char *openblas_get_corename(void);

/* ── identical data on both sides ─────────────────────────────────────────────────────────── */

/* img[i] = sin(0.001 i) ; sample b's token count: 3 + (7b + salt) % (L - 2); id j of sample b:
 * 1 + (131 b + 17 j + salt) % (vocab - 1). */
static void fill_text(int32_t *ids, int32_t *mask, int B, int L, int vocab, int salt) {
    for (int b = 0; b < B; b++) {
        int n = 3 + (7 * b + salt) % (L - 2);
        for (int j = 0; j < L; j++) {
            ids[b * L + j] = j < n ? 1 + (131 * b + 17 * j + salt) % (vocab - 1) : 0;
            mask[b * L + j] = j < n;
        }
    }
}

typedef struct { ovs_batch b; float *img; int32_t *t; } data;

static int make_batch(data *d, const ovs_config *c, int B) {
    int S = c->img_size, L = c->text_len;
    size_t ni = (size_t)B * 3 * S * S, nt = (size_t)B * L;
    d->img = malloc(ni * sizeof(float));
    d->t = malloc(6 * nt * sizeof(int32_t));
    if (!d->img || !d->t) return -1;
    for (size_t i = 0; i < ni; i++) d->img[i] = sinf(0.001f * (float)i);
    memset(&d->b, 0, sizeof d->b);
    d->b.B = B; d->b.S = S; d->b.L = L; d->b.img = d->img;
    d->b.ids = d->t; d->b.mask = d->t + nt;
    d->b.q_ids = d->t + 2 * nt; d->b.q_mask = d->t + 3 * nt;
    d->b.a_ids = d->t + 4 * nt; d->b.a_mask = d->t + 5 * nt;
    fill_text(d->b.ids, d->b.mask, B, L, c->vocab, 0);
    fill_text(d->b.q_ids, d->b.q_mask, B, L, c->vocab, 1);
    fill_text(d->b.a_ids, d->b.a_mask, B, L, c->vocab, 2);
    return 0;
}

/* ── matmul shapes of one step ────────────────────────────────────────────────────────────── */

typedef struct { int ta, tb, M, N, K; long count; double sec; } shape;
typedef struct { shape s[1024]; int n; } shapes;

static void on_mm(void *ctx, int ta, int tb, int M, int N, int K, int count, double sec) {
    shapes *sh = ctx;
    for (int i = 0; i < sh->n; i++) {
        shape *x = &sh->s[i];
        if (x->ta == ta && x->tb == tb && x->M == M && x->N == N && x->K == K) { x->count += count; x->sec += sec; return; }
    }
    if (sh->n < 1024) sh->s[sh->n++] = (shape){ ta, tb, M, N, K, count, sec };
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int train_step(ovs_model *m, const ovs_batch *b, ovs_rng *rng, ovs_adamw *o, ovs_err *e) {
    ovs_losses l;
    if (ovs_model_step(m, b, rng, &l, e)) return -1;
    int n;
    const ovs_param *tab = ovs_model_table(m, &n);
    ovs_clip_grad_norm(ovs_model_grads(m), tab, n, 5.0);
    ovs_adamw_step(o, ovs_model_params(m), ovs_model_grads(m), tab, n, 1e-5);
    if (!isfinite(l.total)) { fprintf(stderr, "bench: loss is %g\n", l.total); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s CONFIG BATCH WARMUP STEPS SHAPES_OUT [key=value ...]\n", argv[0]);
        return 1;
    }
    int B = atoi(argv[2]), warm = atoi(argv[3]), steps = atoi(argv[4]);
    ovs_config cfg;
    ovs_err e = {0};
    if (ovs_config_load(&cfg, argv[1], &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    for (int i = 6; i < argc; i++)
        if (ovs_config_set(&cfg, argv[i], &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    ovs_model *m;
    if (ovs_model_create(&m, &cfg, B, 1, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
    data d;
    ovs_adamw o;
    if (make_batch(&d, &cfg, B) || ovs_adamw_init(&o, ovs_model_numel(m), &e)) { fprintf(stderr, "out of memory\n"); return 2; }
    ovs_rng rng;
    ovs_rng_seed(&rng, 1, 2);
    printf("RESULT openblas_core %s\n", openblas_get_corename());
    printf("RESULT omp_threads %d\n", omp_get_max_threads());
    for (int i = 0; i < warm; i++)
        if (train_step(m, &d.b, &rng, &o, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
    double *t = calloc((size_t)steps, sizeof(double)), *cpu = calloc((size_t)steps, sizeof(double));
    for (int i = 0; i < steps; i++) {
        double t0 = omp_get_wtime(), c0 = cpu_seconds();
        if (train_step(m, &d.b, &rng, &o, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
        t[i] = omp_get_wtime() - t0;
        cpu[i] = cpu_seconds() - c0;
    }
    double rss = peak_rss_mib();
    qsort(t, (size_t)steps, sizeof(double), cmp_double);
    double med = t[steps / 2];
    qsort(cpu, (size_t)steps, sizeof(double), cmp_double);
    /* CPU seconds of the process per step (all threads, spinning included): with one thread, a
     * figure that load on a shared machine disturbs much less than the wall clock */
    printf("RESULT step_cpu_s %.4f\n", cpu[steps / 2]);
    printf("RESULT step_s %.4f\nRESULT step_min_s %.4f\nRESULT step_max_s %.4f\n", med, t[0], t[steps - 1]);
    printf("RESULT images_per_s %.3f\n", B / med);
    printf("RESULT peak_rss_mib %.1f\n", rss);

    /* memory the step needs by construction */
    double mib = 1.0 / (1024.0 * 1024.0);
    size_t np = ovs_model_numel(m), na = ovs_model_activation_floats(m);
    size_t batch_bytes = (size_t)B * 3 * cfg.img_size * cfg.img_size * 4 + (size_t)6 * B * cfg.text_len * 4;
    double an = (double)(4 * np * 4 + na * 4 + batch_bytes) * mib;
    printf("RESULT params %zu\n", np);
    printf("RESULT mem_params_mib %.1f\nRESULT mem_grads_mib %.1f\nRESULT mem_adamw_mib %.1f\n",
           np * 4 * mib, np * 4 * mib, 2 * np * 4 * mib);
    printf("RESULT mem_act_mib %.1f\nRESULT mem_batch_mib %.1f\nRESULT mem_analytic_mib %.1f\n",
           na * 4 * mib, batch_bytes * mib, an);
    printf("RESULT rss_over_analytic %.2f\n", rss / an);

    /* per-part breakdown and matmul shapes: separate, profiled steps */
    double prof[OVS_PROF_N] = {0};
    static shapes sh;
    int np_steps = 2;
    ovs_model_profile(m, prof);
    layers_set_mm_hook(on_mm, &sh);
    double tp = omp_get_wtime();
    for (int i = 0; i < np_steps; i++)
        if (train_step(m, &d.b, &rng, &o, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
    tp = (omp_get_wtime() - tp) / np_steps;
    layers_set_mm_hook(NULL, NULL);
    ovs_model_profile(m, NULL);
    double flops = 0, mmsec = 0, step_sum = 0;
    for (int i = 0; i < sh.n; i++) {
        sh.s[i].count /= np_steps;
        sh.s[i].sec /= np_steps;
        flops += 2.0 * sh.s[i].M * sh.s[i].N * sh.s[i].K * (double)sh.s[i].count;
        mmsec += sh.s[i].sec;
    }
    for (int i = 0; i < OVS_PROF_N; i++) step_sum += prof[i] / np_steps;
    printf("RESULT step_gflop %.2f\n", flops / 1e9);
    printf("RESULT achieved_gflops %.1f\n", flops / med / 1e9);
    printf("RESULT profiled_step_s %.4f\n", tp);
    printf("RESULT matmul_s %.4f\n", mmsec);
    const char *label = strrchr(argv[1], '/') ? strrchr(argv[1], '/') + 1 : argv[1];
    printf("\nper-part time of one step (%s, batch %d; profiled steps, %.3f s each):\n", label, B, tp);
    printf("| part | ms | %% of step |\n|---|---:|---:|\n");
    for (int i = 0; i < OVS_PROF_N; i++)
        printf("| %s | %.1f | %.1f |\n", ovs_model_profile_name(i), 1e3 * prof[i] / np_steps, 100.0 * prof[i] / np_steps / step_sum);
    printf("| optimizer (clip + AdamW) | %.1f | (outside the step) |\n", 1e3 * (tp - step_sum));
    printf("| of which matrix products (incl. attention softmax) | %.1f | %.1f |\n", 1e3 * mmsec, 100.0 * mmsec / step_sum);

    FILE *f = fopen(argv[5], "w");
    if (!f) { perror(argv[5]); return 2; }
    for (int i = 0; i < sh.n; i++)
        fprintf(f, "%d %d %d %d %d %ld %.6f\n", sh.s[i].ta, sh.s[i].tb, sh.s[i].M, sh.s[i].N, sh.s[i].K, sh.s[i].count, sh.s[i].sec);
    fclose(f);
    free(t); free(cpu); free(d.img); free(d.t);
    ovs_adamw_free(&o);
    ovs_model_free(m);
    return 0;
}
