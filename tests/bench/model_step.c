/* model_step.c — times ovseg's training step (forward, losses, backward; no optimizer) on
 * synthetic data: model_step CONFIG BATCH STEPS [key=value...]; prints one line of key=value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h>

#include "train/model.h"

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: model_step CONFIG BATCH STEPS [key=value...]\n"); return 2; }
    ovs_config c;
    ovs_err e = {0};
    if (ovs_config_load(&c, argv[1], &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    for (int i = 4; i < argc; i++)
        if (ovs_config_set(&c, argv[i], &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    int B = atoi(argv[2]), steps = atoi(argv[3]), L = c.text_len, S = c.img_size;
    ovs_model *m;
    if (ovs_model_create(&m, &c, B, 1, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    ovs_rng r;
    ovs_rng_seed(&r, 1, 1);
    float *img = malloc(sizeof(float) * (size_t)B * 3 * S * S);
    for (size_t i = 0; i < (size_t)B * 3 * S * S; i++) img[i] = (float)ovs_rng_normal(&r);
    int32_t *ids = calloc((size_t)B * L, 4), *mask = calloc((size_t)B * L, 4);
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) { ids[b * L + l] = 1000 + (int)ovs_rng_below(&r, 20000); mask[b * L + l] = 1; }
    ovs_batch bt = {.B = B, .S = S, .L = L, .img = img, .ids = ids, .mask = mask,
                    .q_ids = ids, .q_mask = mask, .a_ids = ids, .a_mask = mask};
    ovs_losses l;
    ovs_model_step(m, &bt, &r, &l, &e); /* warm-up */
    double *t = malloc(sizeof(double) * (size_t)steps);
    for (int i = 0; i < steps; i++) {
        double t0 = now();
        if (ovs_model_step(m, &bt, &r, &l, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        t[i] = now() - t0;
    }
    qsort(t, (size_t)steps, sizeof(double), cmp);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("img_s=%.2f step_s=%.4f loss=%.4f params_mib=%.1f rss_mib=%.1f blas=%s\n", B / t[steps / 2], t[steps / 2],
           l.total, ovs_model_numel(m) * 4.0 / 1048576, ru.ru_maxrss / 1024.0, openblas_get_corename());
    ovs_model_free(m);
    return 0;
}
