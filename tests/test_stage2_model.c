/* test_stage2_model.c — the stage-2 step in C (train/stage2.c on the model) against its PyTorch twin
 * (tests/reference/twin_stage2.py): with the twin's weights, momentum weights, batch (partner image,
 * entity prompt) and fixed Gumbel noise, one step must give the same losses (mask included), the
 * same assignment maps m1/m2, detached groups and Hungarian matches, every gradient (none for the
 * frozen text encoder), the BatchNorm buffers after the step, and the same EMA update, each within
 * 1e-4 relative error (max-abs difference over max-abs value; gradients: or within 4x PyTorch's own
 * float32 error where that is larger). OVSEG_FIXTURES=DIR reuses a fixture already written there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_fixture.h"
#include "train/stage2.h"

#define TOL 1e-4

typedef struct { ovs_model *m; ovs_stage2 *s; fx_file f; int B, L, ok; ovs_losses loss; } run;
static run R;

static const char *fixtures(void) {
    const char *env = getenv("OVSEG_FIXTURES");
    if (env && *env) return env;
    static char cmd[1024];
    snprintf(cmd, sizeof cmd, ".venv/bin/python tests/reference/twin_stage2.py '%s'", check_tmpdir());
    if (system(cmd) != 0) { fprintf(stderr, "twin_stage2 failed: %s\n", cmd); return NULL; }
    return check_tmpdir();
}

static void load(float *dst, const char *pre, const ovs_param *tab, int n, const char *strip) {
    for (int i = 0; i < n; i++) {
        const char *nm = tab[i].name;
        if (strip) {
            if (strncmp(nm, strip, strlen(strip))) continue;
            nm += strlen(strip);
        }
        char name[200];
        snprintf(name, sizeof name, "%s%s", pre, nm);
        size_t k;
        const float *src = fx_f32(&R.f, name, &k);
        CHECK_MSG(src && k == tab[i].numel, "%s: missing or %zu floats (want %zu)", name, k, tab[i].numel);
        if (src && k == tab[i].numel) memcpy(dst + tab[i].offset, src, k * sizeof(float));
    }
}

static run *get(void) {
    if (R.m || R.f.t) return &R;
    const char *dir = fixtures();
    CHECK(dir != NULL);
    if (!dir) return &R;
    char path[600];
    snprintf(path, sizeof path, "%s/stage2.safetensors", dir);
    CHECK_MSG(fx_open(&R.f, path) == 0, "cannot read %s", path);
    snprintf(path, sizeof path, "%s/stage2.txt", dir);
    ovs_config cfg;
    ovs_err e = {0};
    CHECK_OK(ovs_config_load(&cfg, path, &e), &e);
    const fx_tensor *img = fx_find(&R.f, "in.img"), *ids = fx_find(&R.f, "in.ids");
    CHECK(img && ids);
    if (!img || !ids || check_failed_now) return &R;
    R.B = (int)img->shape[0], R.L = (int)ids->shape[1];
    CHECK_OK(ovs_model_create(&R.m, &cfg, R.B, 7, &e), &e);
    if (!R.m) return &R;
    int n;
    const ovs_param *tab = ovs_model_table(R.m, &n);
    load(ovs_model_params(R.m), "param.", tab, n, NULL);
    CHECK_OK(ovs_stage2_create(&R.s, R.m, &e), &e);
    if (!R.s) return &R;
    load(ovs_stage2_momentum(R.s), "mom.", tab, n, "img_encoder.");
    size_t gn;
    const float *g = fx_f32(&R.f, "in.gumbel", &gn);
    CHECK(g != NULL);
    ovs_model_set_gumbel(R.m, g, gn);
    ovs_batch b;
    memset(&b, 0, sizeof b);
    b.B = R.B, b.S = (int)img->shape[2], b.L = R.L;
    b.img = (float *)fx_f32(&R.f, "in.img", NULL);
    b.img2 = (float *)fx_f32(&R.f, "in.img2", NULL);
    b.ids = (int32_t *)fx_i32(&R.f, "in.ids", NULL), b.mask = (int32_t *)fx_i32(&R.f, "in.mask", NULL);
    b.q_ids = (int32_t *)fx_i32(&R.f, "in.q_ids", NULL), b.q_mask = (int32_t *)fx_i32(&R.f, "in.q_mask", NULL);
    b.a_ids = (int32_t *)fx_i32(&R.f, "in.a_ids", NULL), b.a_mask = (int32_t *)fx_i32(&R.f, "in.a_mask", NULL);
    b.e_ids = (int32_t *)fx_i32(&R.f, "in.e_ids", NULL), b.e_mask = (int32_t *)fx_i32(&R.f, "in.e_mask", NULL);
    CHECK(b.img2 && b.e_ids && b.e_mask);
    ovs_rng rng;
    ovs_rng_seed(&rng, 1, 2);
    CHECK_OK(ovs_stage2_step(R.s, &b, &rng, &R.loss, &e), &e);
    R.ok = !check_failed_now;
    return &R;
}

static double rel_to(const float *a, size_t na, const char *name, double *bmax_out) {
    size_t nb;
    const float *b = fx_f32(&R.f, name, &nb);
    CHECK_MSG(a && b && na == nb, "%s: missing or size %zu vs %zu", name, na, nb);
    if (!a || !b || na != nb) return 1e9;
    double bmax = 0;
    for (size_t i = 0; i < nb; i++) if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    if (bmax_out) *bmax_out = bmax;
    return fx_rel(a, b, na);
}

static void compare(const float *a, size_t na, const char *name) {
    double rel = rel_to(a, na, name, NULL);
    CHECK_MSG(rel <= TOL, "%s: relative error %.3g", name, rel);
    if (getenv("VERBOSE")) printf("  %-70s %.3g\n", name, rel);
}

TEST(stage2_losses_maps_detach_and_matching_match_twin) {
    run *r = get();
    if (!r->ok) { CHECK_MSG(0, "the step failed"); return; }
    compare(&r->loss.contrastive, 1, "out.loss_contrastive");
    compare(&r->loss.entity, 1, "out.loss_entity");
    compare(&r->loss.mask, 1, "out.loss_mask");
    compare(&r->loss.total, 1, "out.loss_total");
    CHECK(r->loss.mask > 0.0f);
    static const char *maps[] = {"m1", "m2", "score"};
    for (int i = 0; i < 3; i++) {
        size_t n;
        const float *v = ovs_stage2_value(r->s, maps[i], &n);
        char name[32];
        snprintf(name, sizeof name, "out.%s", maps[i]);
        compare(v, n, name);
    }
    size_t nd, np;
    const int32_t *det = fx_i32(&r->f, "out.detach", &nd), *perm = fx_i32(&r->f, "out.perm", &np);
    CHECK(det && perm && nd == np);
    const unsigned char *cd = ovs_stage2_detach(r->s);
    const int *cp = ovs_stage2_perm(r->s);
    int bad_d = 0, bad_p = 0;
    for (size_t i = 0; det && perm && i < nd; i++) bad_d += cd[i] != det[i], bad_p += cp[i] != perm[i];
    CHECK_MSG(bad_d == 0, "%d detach flags differ", bad_d);
    CHECK_MSG(bad_p == 0, "%d Hungarian matches differ", bad_p);
}

TEST(stage2_gradients_frozen_text_and_bn_buffers_match_twin) {
    run *r = get();
    if (!r->ok) { CHECK_MSG(0, "the step failed"); return; }
    int n, ngrad = 0, nfloor = 0;
    const ovs_param *tab = ovs_model_table(r->m, &n);
    const float *G = ovs_model_grads(r->m), *P = ovs_model_params(r->m);
    double gmax = 0;   /* the largest gradient of all (the scale of "zero in exact arithmetic") */
    for (int i = 0; i < r->f.n; i++)
        if (!strncmp(r->f.t[i].name, "grad.", 5)) {
            size_t k;
            const float *g = fx_f32(&r->f, r->f.t[i].name, &k);
            for (size_t j = 0; j < k; j++) if (fabs(g[j]) > gmax) gmax = fabs(g[j]);
        }
    for (int i = 0; i < n; i++) {
        char name[200], nname[200];
        snprintf(name, sizeof name, "grad.%s", tab[i].name);
        snprintf(nname, sizeof nname, "noise.%s", tab[i].name);
        if (!strncmp(tab[i].name, "text_encoder.", 13)) {
            CHECK_MSG(!tab[i].trainable && !fx_find(&r->f, name), "%s: the text encoder is not frozen", tab[i].name);
            double mx = 0;
            for (size_t j = 0; j < tab[i].numel; j++) if (fabs(G[tab[i].offset + j]) > mx) mx = fabs(G[tab[i].offset + j]);
            CHECK_MSG(mx == 0, "%s: frozen but has a gradient %.3g", tab[i].name, mx);
            continue;
        }
        if (fx_find(&r->f, name)) {
            CHECK_MSG(tab[i].trainable, "%s has a gradient in the twin but is not trainable", tab[i].name);
            const float *nz = fx_f32(&r->f, nname, NULL);
            double bmax = 0, rel = rel_to(G + tab[i].offset, tab[i].numel, name, &bmax), tol = TOL;
            if (nz && 4 * nz[0] > tol) { tol = 4 * nz[0]; if (rel > TOL) nfloor++; }
            if (bmax < 1e-9 * gmax) { /* zero in exact arithmetic: small next to the largest gradient */
                rel = 0;
                for (size_t j = 0; j < tab[i].numel; j++) if (fabs(G[tab[i].offset + j]) > rel) rel = fabs(G[tab[i].offset + j]);
                rel /= gmax;
                tol = TOL;
            }
            CHECK_MSG(rel <= tol, "%s: relative error %.3g (tolerance %.3g)", name, rel, tol);
            if (getenv("VERBOSE")) printf("  %-70s %.3g (tol %.3g)\n", name, rel, tol);
            ngrad++;
        } else {
            CHECK_MSG(!tab[i].trainable, "%s: trainable but the twin has no gradient", tab[i].name);
            snprintf(name, sizeof name, "after.%s", tab[i].name);
            if (fx_find(&r->f, name)) compare(P + tab[i].offset, tab[i].numel, name);
        }
    }
    CHECK(ngrad > 50);
    if (nfloor) printf("  note: %d of %d gradients above %g, each within 4x PyTorch's own float32 error\n", nfloor, ngrad, TOL);
}

TEST(stage2_ema_update_matches_twin) {
    run *r = get();
    if (!r->ok) { CHECK_MSG(0, "the step failed"); return; }
    ovs_err e = {0};
    CHECK_OK(ovs_stage2_after_update(r->s, &e), &e);
    int n, cnt = 0;
    const ovs_param *tab = ovs_model_table(r->m, &n);
    const float *M = ovs_stage2_momentum(r->s);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(tab[i].name, "img_encoder.", 12)) continue;
        char name[200];
        snprintf(name, sizeof name, "ema.%s", tab[i].name + 12);
        double rel = rel_to(M + tab[i].offset, tab[i].numel, name, NULL);
        if (rel > worst) worst = rel;
        cnt++;
    }
    CHECK_MSG(worst <= 1e-6, "EMA: relative error %.3g", worst);
    CHECK(cnt > 10);
    ovs_ckpt_part p = ovs_stage2_part(r->s);
    CHECK_EQ_INT(p.n, cnt);
    CHECK_STR(p.prefix, "img_encoder_momentum.");
}

int main(void) {
    RUN(stage2_losses_maps_detach_and_matching_match_twin);
    RUN(stage2_gradients_frozen_text_and_bn_buffers_match_twin);
    RUN(stage2_ema_update_matches_twin);
    ovs_stage2_free(R.s);
    ovs_model_free(R.m);
    fx_close(&R.f);
    return check_done();
}
