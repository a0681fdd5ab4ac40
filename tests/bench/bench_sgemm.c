/* bench_sgemm.c — `make bench-train`, the baseline: the sgemm rate on the training step's own
 * matrix products (the shape list bench_train_step writes: ta tb M N K count seconds-in-step),
 * and the machine's plain sgemm peak (square 2048³ and 4096³ products).
 *
 * Every shape is timed both ways, and the faster one is its baseline:
 *   - "blas": OpenBLAS's own threads (THREADS of them) on each whole product, one after another;
 *   - "omp":  single-threaded OpenBLAS under OpenMP threads: a product that occurs alone is split
 *     into one block of rows (or columns) per thread (as train/layers.c mm() does), a batched one
 *     (attention, count > 1) runs its count products split over the threads.
 * Each is the best of several repetitions. The step-shape rate is the step's FLOPs over the sum
 * of the shapes' best times.
 *
 *   bench_sgemm SHAPES [THREADS] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *openblas_get_corename(void);
void openblas_set_num_threads(int);

typedef struct { int ta, tb, M, N, K; long count; double step_sec, best; int omp_won; } shape;

static void one(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}

static void whole(const shape *s, const float *A, const float *B, float *C) {
    one(s->ta, s->tb, s->M, s->N, s->K, A, s->ta ? s->M : s->K, B, s->tb ? s->K : s->N, C, s->N);
}

/* one product split into a block of rows (or of columns when there are too few rows) per thread */
static void split(const shape *s, const float *A, const float *B, float *C, int threads) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    int by_rows = s->M >= s->N, n = by_rows ? s->M : s->N;
#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int i0 = (int)((long)n * t / T), i1 = (int)((long)n * (t + 1) / T);
        if (i0 < i1) {
            if (by_rows)
                one(s->ta, s->tb, i1 - i0, s->N, s->K, s->ta ? A + i0 : A + (size_t)i0 * lda, lda, B, ldb,
                    C + (size_t)i0 * s->N, s->N);
            else
                one(s->ta, s->tb, s->M, i1 - i0, s->K, A, lda, s->tb ? B + (size_t)i0 * ldb : B + i0, ldb,
                    C + i0, s->N);
        }
    }
}

/* seconds for all `count` products of s, one way or the other */
static double run(const shape *s, const float *A, const float *B, float *C, int threads, int use_omp) {
    size_t ca = (size_t)s->M * s->N;
    double t0 = omp_get_wtime();
    if (!use_omp) {
        openblas_set_num_threads(threads);
        for (long i = 0; i < s->count; i++) whole(s, A, B, C + (size_t)(i % 64) * ca);
    } else {
        openblas_set_num_threads(1);
        if (s->count == 1) split(s, A, B, C, threads);
        else {
#pragma omp parallel for schedule(static) num_threads(threads)
            for (long i = 0; i < s->count; i++) whole(s, A, B, C + (size_t)(i % 64) * ca);
        }
    }
    return omp_get_wtime() - t0;
}

/* best of at least 3 repetitions (more while they take under 50 ms in all) */
static double best_of(const shape *s, const float *A, const float *B, float *C, int threads, int use_omp) {
    run(s, A, B, C, threads, use_omp); /* warm */
    double best = 1e30, spent = 0;
    for (int r = 0; r < 50 && (r < 3 || spent < 0.05); r++) {
        double t = run(s, A, B, C, threads, use_omp);
        spent += t;
        if (t < best) best = t;
    }
    return best;
}

/* the plain square sgemm rate at n³ with OpenBLAS's own threads (best of 3) */
static double square_gflops(int n, int threads) {
    size_t sz = (size_t)n * n;
    float *A = malloc(sz * 4), *B = malloc(sz * 4), *C = malloc(sz * 4);
    if (!A || !B || !C) { free(A); free(B); free(C); return 0; }
    for (size_t i = 0; i < sz; i++) { A[i] = (float)(i % 13) * 0.01f; B[i] = (float)(i % 7) * 0.01f; C[i] = 0; }
    shape s = { 0, 0, n, n, n, 1, 0, 0, 0 };
    double best = 1e30;
    for (int use_omp = 0; use_omp < 2; use_omp++) {
        double t = best_of(&s, A, B, C, threads, use_omp);
        if (t < best) best = t;
    }
    free(A); free(B); free(C);
    return 2.0 * n * (double)n * n / best / 1e9;
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
    double flops = 0, sec = 0, sec_blas = 0, sec_omp = 0, step_sec = 0;
    int omp_wins = 0;
    for (int i = 0; i < n; i++) {
        shape *s = &sh[i];
        double fl = 2.0 * s->M * s->N * s->K * (double)s->count;
        double tb = best_of(s, A, B, C, threads, 0), to = best_of(s, A, B, C, threads, 1);
        s->omp_won = to < tb;
        s->best = s->omp_won ? to : tb;
        omp_wins += s->omp_won;
        flops += fl;
        sec += s->best;
        sec_blas += tb;
        sec_omp += to;
        step_sec += s->step_sec;
    }
    free(A); free(B); free(C);
    double p2048 = square_gflops(2048, threads), p4096 = square_gflops(4096, threads);
    printf("RESULT sgemm_core %s\n", openblas_get_corename());
    printf("RESULT sgemm_shapes %d\n", n);
    printf("RESULT sgemm_gflops %.1f\n", flops / sec / 1e9);
    printf("RESULT sgemm_blas_gflops %.1f\n", flops / sec_blas / 1e9);
    printf("RESULT sgemm_omp_gflops %.1f\n", flops / sec_omp / 1e9);
    printf("RESULT sgemm_omp_wins %d\n", omp_wins);
    printf("RESULT sgemm_s %.4f\n", sec);
    printf("RESULT sgemm_peak_2048 %.1f\n", p2048);
    printf("RESULT sgemm_peak_4096 %.1f\n", p4096);
    printf("RESULT sgemm_peak %.1f\n", p2048 > p4096 ? p2048 : p4096);
    printf("RESULT step_matmul_gflops %.1f\n", step_sec > 0 ? flops / step_sec / 1e9 : 0.0);
    printf("\nsgemm baseline: step shapes %.1f GFLOP/s (best way per shape; OpenBLAS threads alone %.1f, "
           "OpenMP split %.1f; the split won %d of %d shapes); plain square sgemm %.1f (2048³), %.1f (4096³)\n",
           flops / sec / 1e9, flops / sec_blas / 1e9, flops / sec_omp / 1e9, omp_wins, n, p2048, p4096);
    /* the ten largest shapes: rate in the step vs here */
    printf("\nlargest products of the step (GFLOP/s in the step's profiled run vs this sgemm run):\n");
    printf("| op | M | N | K | count | GFLOP | in step | sgemm | faster way |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (int k = 0; k < 10 && k < n; k++) {
        int bi = -1;
        double bf = -1;
        for (int i = 0; i < n; i++) {
            double fl = 2.0 * sh[i].M * sh[i].N * sh[i].K * (double)sh[i].count;
            if (sh[i].best >= 0 && fl > bf) { bf = fl; bi = i; }
        }
        shape *s = &sh[bi];
        printf("| %c%c | %d | %d | %d | %ld | %.2f | %s%.0f | %.0f | %s |\n", s->ta ? 'T' : 'N', s->tb ? 'T' : 'N',
               s->M, s->N, s->K, s->count, bf / 1e9, s->step_sec > 0 ? "" : "(with 1st) ",
               s->step_sec > 0 ? bf / s->step_sec / 1e9 : 0.0, bf / s->best / 1e9, s->omp_won ? "OpenMP split" : "OpenBLAS threads");
        s->best = -1;
    }
    return 0;
}
