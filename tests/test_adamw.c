/* test_adamw.c — train/adamw.c against PyTorch (tests/tools/adamw_ref.py): clip_grad_norm_,
 * torch.optim.AdamW with and without weight decay, and timm's cosine schedule with warmup. */
#include <omp.h>

#include "tests/check.h"
#include "train/adamw.h"
#include "train/safetensors.h"

static const struct { const char *name; int rows, cols, decay; } SPECS[] = {
    {"a.weight", 16, 8, 1}, {"a.bias", 16, 1, 0}, {"norm.weight", 8, 1, 0}, {"b.weight", 4, 16, 1}};
enum { NSPEC = 4, STEPS = 6 };

/* max |a-b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
        if (fabs(b[i]) > m) m = fabs(b[i]);
    }
    return m > 0 ? d / m : d;
}

static int fixture(ovs_st_file *f, ovs_err *e) {
    static int made;
    const char *p = check_path("adamw.safetensors");
    if (!made) {
        char cmd[1024];
        const char *py = getenv("OVSEG_PYTHON");
        snprintf(cmd, sizeof cmd, "%s tests/tools/adamw_ref.py '%s'", py && *py ? py : ".venv/bin/python", p);
        if (system(cmd)) return ovs_errf(e, 1, "adamw_ref.py failed");
        made = 1;
    }
    return ovs_st_open(f, p, e);
}

TEST(adamw_and_clipping_match_torch) {
    ovs_st_file f;
    ovs_err e = {0};
    CHECK_OK(fixture(&f, &e), &e);
    if (e.code) return;
    ovs_param table[NSPEC + 1];
    memset(table, 0, sizeof table);
    size_t off = 0;
    for (int k = 0; k < NSPEC; k++) {
        snprintf(table[k].name, sizeof table[k].name, "%s", SPECS[k].name);
        table[k].offset = off;
        table[k].numel = (size_t)SPECS[k].rows * (size_t)SPECS[k].cols;
        table[k].decay = SPECS[k].decay, table[k].trainable = 1;
        off += table[k].numel;
    }
    /* a buffer: never clipped, never updated */
    snprintf(table[NSPEC].name, sizeof table[NSPEC].name, "bn.running_mean");
    table[NSPEC].offset = off, table[NSPEC].numel = 4;
    off += 4;
    float *p = calloc(off, 4), *g = calloc(off, 4), *want = calloc(off, 4);
    for (int i = 0; i < 4; i++) p[off - 4 + i] = 1.5f, g[off - 4 + i] = 1e6f;
    char name[128];
    for (int k = 0; k < NSPEC; k++) {
        snprintf(name, sizeof name, "p0.%s", SPECS[k].name);
        CHECK_OK(ovs_st_read_f32(&f, name, p + table[k].offset, table[k].numel, &e), &e);
    }
    ovs_adamw o;
    CHECK_OK(ovs_adamw_init(&o, off, &e), &e);
    double worst = 0;
    for (int s = 1; s <= STEPS; s++) {
        for (int k = 0; k < NSPEC; k++) {
            snprintf(name, sizeof name, "g%d.%s", s, SPECS[k].name);
            CHECK_OK(ovs_st_read_f32(&f, name, g + table[k].offset, table[k].numel, &e), &e);
        }
        snprintf(name, sizeof name, "norm%d", s);
        double norm = ovs_clip_grad_norm(g, table, NSPEC + 1, 5.0);
        CHECK_NEAR(norm, atof(ovs_st_meta(&f, name)), 1e-5 * norm);
        snprintf(name, sizeof name, "lr%d", s);
        ovs_adamw_step(&o, p, g, table, NSPEC + 1, atof(ovs_st_meta(&f, name)));
        for (int k = 0; k < NSPEC; k++) {
            snprintf(name, sizeof name, "p%d.%s", s, SPECS[k].name);
            CHECK_OK(ovs_st_read_f32(&f, name, want + table[k].offset, table[k].numel, &e), &e);
            double r = rel_err(p + table[k].offset, want + table[k].offset, table[k].numel);
            if (r > worst) worst = r;
            CHECK_MSG(r < 1e-6, "step %d %s: rel err %g", s, SPECS[k].name, r);
        }
    }
    printf("  adamw: worst relative error vs torch over %d steps: %.3g\n", STEPS, worst);
    CHECK(p[off - 1] == 1.5f && g[off - 1] == 1e6f);
    CHECK_EQ_INT(o.step, STEPS);
    ovs_adamw_free(&o);
    free(p), free(g), free(want);
    ovs_st_close(&f);
}

TEST(cosine_schedule_matches_timm) {
    ovs_st_file f;
    ovs_err e = {0};
    CHECK_OK(fixture(&f, &e), &e);
    if (e.code) return;
    ovs_sched s = {.base_lr = 6.4e-4, .warmup_lr = 1.6e-5, .min_lr = 1.6e-4, .warmup_steps = 7, .total_steps = 40};
    const char *v = ovs_st_meta(&f, "sched");
    CHECK(v != NULL);
    char *end;
    for (int t = 0; v && t < 45; t++) {
        double want = strtod(v, &end);
        CHECK_MSG(end != v, "sched: short list at %d", t);
        v = end;
        CHECK_NEAR(ovs_sched_lr(&s, t), want, 1e-15);
    }
    CHECK_NEAR(ovs_lr_scale(256, 8), 0.5, 0);
    ovs_st_close(&f);
}

TEST(clip_leaves_small_gradients_alone) {
    ovs_param t = {.name = "w", .offset = 0, .numel = 3, .trainable = 1};
    float g[3] = {3, 0, 4};
    CHECK_NEAR(ovs_clip_grad_norm(g, &t, 1, 5.0 + 1e-3), 5.0, 1e-12);
    CHECK(g[0] == 3 && g[2] == 4);
    CHECK_NEAR(ovs_clip_grad_norm(g, &t, 1, 1.0), 5.0, 1e-12);
    CHECK_NEAR(g[0], 0.6, 1e-6);
    float nan_g[1] = {NAN};
    t.numel = 1;
    CHECK(isnan(ovs_clip_grad_norm(nan_g, &t, 1, 5.0)));
}

/* Clipping and AdamW give the same bits with 1, 2 and 3 threads (exact resume depends on it). */
TEST(adamw_and_clip_do_not_depend_on_thread_count) {
    enum { N = 3 };
    ovs_param t[N];
    memset(t, 0, sizeof t);
    size_t sizes[N] = {150001, 7, 200003}, off = 0;
    for (int k = 0; k < N; k++) {
        snprintf(t[k].name, sizeof t[k].name, "t%d", k);
        t[k].offset = off, t[k].numel = sizes[k], t[k].trainable = 1, t[k].decay = k != 1;
        off += sizes[k];
    }
    float *p0 = malloc(off * 4), *g0 = malloc(off * 4), *p[3], *g[3];
    ovs_rng r;
    ovs_rng_seed(&r, 5, 5);
    for (size_t i = 0; i < off; i++) p0[i] = (float)ovs_rng_normal(&r), g0[i] = (float)ovs_rng_normal(&r);
    double norm[3];
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        p[th - 1] = malloc(off * 4), g[th - 1] = malloc(off * 4);
        memcpy(p[th - 1], p0, off * 4), memcpy(g[th - 1], g0, off * 4);
        ovs_adamw o;
        ovs_err e = {0};
        CHECK_OK(ovs_adamw_init(&o, off, &e), &e);
        norm[th - 1] = ovs_clip_grad_norm(g[th - 1], t, N, 5.0);
        for (int s = 0; s < 3; s++) ovs_adamw_step(&o, p[th - 1], g[th - 1], t, N, 1e-3);
        ovs_adamw_free(&o);
    }
    omp_set_num_threads(2);
    CHECK(norm[0] == norm[1] && norm[0] == norm[2]);
    CHECK(!memcmp(g[0], g[1], off * 4) && !memcmp(g[0], g[2], off * 4));
    CHECK(!memcmp(p[0], p[1], off * 4) && !memcmp(p[0], p[2], off * 4));
    double want = 0;
    for (size_t i = 0; i < off; i++) want += (double)g0[i] * g0[i];
    CHECK_NEAR(norm[0], sqrt(want), 1e-9 * sqrt(want));
    for (int i = 0; i < 3; i++) free(p[i]), free(g[i]);
    free(p0), free(g0);
}

int main(void) {
    RUN(adamw_and_clipping_match_torch);
    RUN(cosine_schedule_matches_timm);
    RUN(clip_leaves_small_gradients_alone);
    RUN(adamw_and_clip_do_not_depend_on_thread_count);
    return check_done();
}
