/* bench_sgemm.c — `make bench-train`, the baseline: the sgemm rate on the training step's own
 * matrix products (the shape list bench_train_step writes: ta tb M N K count seconds-in-step).
 * A product that occurs alone runs as one cblas_sgemm with OpenBLAS's own threads (all cores);
 * a batched one (attention, count > 1) runs its count products split over OpenMP threads with
 * single-threaded OpenBLAS. Each shape is timed best-of a few repetitions; the rate is the step's
 * FLOPs over the sum of the shapes' times.
 *
 *   bench_sgemm SHAPES [THREADS] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *openblas_get_corename(void);
void openblas_set_num_threads(int);

typedef struct { int ta, tb, M, N, K; long count; double step_sec, best; } shape;

static void one(const shape *s, const float *A, const float *B, float *C) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
}

/* seconds for all `count` products of s */
static double run(const shape *s, const float *A, const float *B, float *C, int threads) {
    double t0 = omp_get_wtime();
    if (s->count == 1) {
        openblas_set_num_threads(threads);
        one(s, A, B, C);
    } else {
        openblas_set_num_threads(1);
        size_t ca = (size_t)s->M * s->N;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (long i = 0; i < s->count; i++) one(s, A, B, C + (size_t)(i % 64) * ca);
    }
    return omp_get_wtime() - t0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s SHAPES [THREADS]\n", argv[0]); return 1; }
    int threads = argc > 2 ? atoi(argv[2]) : omp_get_max_threads();
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 1; }
    static shape sh[1024];
    int n = 0;
    size_t maxa = 0, maxb = 0, maxc = 0;
    while (n < 1024 && fscanf(f, "%d %d %d %d %d %ld %lf", &sh[n].ta, &sh[n].tb, &sh[n].M, &sh[n].N,
                              &sh[n].K, &sh[n].count, &sh[n].step_sec) == 7) {
        shape *s = &sh[n++];
        size_t a = (size_t)s->M * s->K, b = (size_t)s->K * s->N, c = (size_t)s->M * s->N * (s->count > 1 ? 64 : 1);
        if (a > maxa) maxa = a;
        if (b > maxb) maxb = b;
        if (c > maxc) maxc = c;
    }
    fclose(f);
    float *A = malloc(maxa * 4 + 64), *B = malloc(maxb * 4 + 64), *C = malloc(maxc * 4 + 64);
    if (!A || !B || !C) { fprintf(stderr, "out of memory\n"); return 2; }
    for (size_t i = 0; i < maxa; i++) A[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < maxb; i++) B[i] = (float)(i % 7) * 0.01f;
    memset(C, 0, maxc * 4);
    double flops = 0, sec = 0, step_sec = 0;
    for (int i = 0; i < n; i++) {
        shape *s = &sh[i];
        double fl = 2.0 * s->M * s->N * s->K * (double)s->count;
        run(s, A, B, C, threads); /* warm */
        s->best = 1e30;
        double spent = 0;
        for (int r = 0; r < 50 && (r < 3 || spent < 0.05); r++) {
            double t = run(s, A, B, C, threads);
            spent += t;
            if (t < s->best) s->best = t;
        }
        flops += fl;
        sec += s->best;
        step_sec += s->step_sec;
    }
    printf("RESULT sgemm_core %s\n", openblas_get_corename());
    printf("RESULT sgemm_shapes %d\n", n);
    printf("RESULT sgemm_gflops %.1f\n", flops / sec / 1e9);
    printf("RESULT sgemm_s %.4f\n", sec);
    printf("RESULT step_matmul_gflops %.1f\n", step_sec > 0 ? flops / step_sec / 1e9 : 0.0);
    /* the ten largest shapes: rate in the step vs here */
    printf("\nlargest products of the step (GFLOP/s in the step's profiled run vs this sgemm run):\n");
    printf("| op | M | N | K | count | GFLOP | in step | sgemm |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int k = 0; k < 10 && k < n; k++) {
        int bi = -1;
        double bf = -1;
        for (int i = 0; i < n; i++) {
            double fl = 2.0 * sh[i].M * sh[i].N * sh[i].K * (double)sh[i].count;
            if (sh[i].best >= 0 && fl > bf) { bf = fl; bi = i; }
        }
        shape *s = &sh[bi];
        printf("| %c%c | %d | %d | %d | %ld | %.2f | %s%.0f | %.0f |\n", s->ta ? 'T' : 'N', s->tb ? 'T' : 'N',
               s->M, s->N, s->K, s->count, bf / 1e9, s->step_sec > 0 ? "" : "(with 1st) ",
               s->step_sec > 0 ? bf / s->step_sec / 1e9 : 0.0, bf / s->best / 1e9);
        s->best = -1;
    }
    free(A); free(B); free(C);
    return 0;
}
