/* test_model.c — the C model against its PyTorch twin (tests/reference/twin.py), tensor by tensor:
 * the twin writes fixtures (weights, a batch, fixed Gumbel noise, outputs, losses, gradients,
 * BatchNorm buffers after the step, eval-mode encodings) for `tiny` and the reduced `paper`; the C
 * model loads the weights, runs one step and one eval pass, and every tensor must agree within
 * 1e-4 relative error (max-abs difference over max-abs value). Also: the parameter table, configs.
 * OVSEG_FIXTURES=DIR reuses fixtures already written there (development). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model_fixture.h"
#include "train/adamw.h"
#include "train/model.h"

#define TOL 1e-4

static const char *fixdir;

static const char *fixtures(void) {
    if (fixdir) return fixdir;
    const char *env = getenv("OVSEG_FIXTURES");
    if (env && *env) return fixdir = env;
    static char cmd[1024];
    snprintf(cmd, sizeof cmd, ".venv/bin/python tests/reference/make_fixtures.py '%s'", check_tmpdir());
    if (system(cmd) != 0) { fprintf(stderr, "make_fixtures failed: %s\n", cmd); return NULL; }
    return fixdir = check_tmpdir();
}

typedef struct { ovs_model *m; fx_file f; int B, L, ok; ovs_losses loss; ovs_batch batch; } run;

/* Loads the fixture, its config and weights; runs one training step with the twin's noise. */
static void run_step(run *r, const char *key) {
    memset(r, 0, sizeof *r);
    const char *dir = fixtures();
    CHECK(dir != NULL);
    if (!dir) return;
    char path[600];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, key);
    CHECK_MSG(fx_open(&r->f, path) == 0, "cannot read %s", path);
    snprintf(path, sizeof path, "%s/%s.txt", dir, key);
    ovs_config cfg;
    ovs_err e = {0};
    CHECK_OK(ovs_config_load(&cfg, path, &e), &e);
    const fx_tensor *img = fx_find(&r->f, "in.img"), *ids = fx_find(&r->f, "in.ids");
    CHECK(img && ids);
    if (!img || !ids || check_failed_now) return;
    r->B = (int)img->shape[0];
    r->L = (int)ids->shape[1];
    CHECK_OK(ovs_model_create(&r->m, &cfg, r->B, 7, &e), &e);
    if (!r->m) return;
    int n;
    const ovs_param *tab = ovs_model_table(r->m, &n);
    float *P = ovs_model_params(r->m);
    for (int i = 0; i < n; i++) {
        char name[200];
        snprintf(name, sizeof name, "param.%s", tab[i].name);
        size_t k;
        const float *src = fx_f32(&r->f, name, &k);
        CHECK_MSG(src && k == tab[i].numel, "%s: missing or %zu floats (want %zu)", name, k, tab[i].numel);
        if (src && k == tab[i].numel) memcpy(P + tab[i].offset, src, k * sizeof(float));
    }
    size_t gn;
    const float *g = fx_f32(&r->f, "in.gumbel", &gn);
    CHECK(g != NULL);
    ovs_model_set_gumbel(r->m, g, gn);
    size_t dn;
    const float *drop = fx_f32(&r->f, "in.drop", &dn);
    CHECK(drop != NULL);
    ovs_model_set_droppath(r->m, drop, dn);
    ovs_batch b;
    memset(&b, 0, sizeof b);
    b.B = r->B; b.S = (int)img->shape[2]; b.L = r->L;
    b.img = (float *)fx_f32(&r->f, "in.img", NULL);
    b.ids = (int32_t *)fx_i32(&r->f, "in.ids", NULL);
    b.mask = (int32_t *)fx_i32(&r->f, "in.mask", NULL);
    b.q_ids = (int32_t *)fx_i32(&r->f, "in.q_ids", NULL);
    b.q_mask = (int32_t *)fx_i32(&r->f, "in.q_mask", NULL);
    b.a_ids = (int32_t *)fx_i32(&r->f, "in.a_ids", NULL);
    b.a_mask = (int32_t *)fx_i32(&r->f, "in.a_mask", NULL);
    r->batch = b;
    ovs_rng rng;
    ovs_rng_seed(&rng, 1, 2);
    CHECK_OK(ovs_model_step(r->m, &b, &rng, &r->loss, &e), &e);
    r->ok = !check_failed_now;
}

static void done(run *r) { ovs_model_free(r->m); fx_close(&r->f); memset(r, 0, sizeof *r); }

/* one step per fixture, shared by its forward, backward and eval checks */
static run runs[2];
static run *get(const char *key) {
    run *r = &runs[strcmp(key, "tiny") ? 1 : 0];
    if (!r->m && !r->f.t) run_step(r, key);
    else if (!r->ok) CHECK_MSG(0, "%s: the step failed earlier", key);
    return r;
}

static int n_floor; /* gradients whose tolerance was PyTorch's own float32 error */

/* rel error within TOL, or (gradients) within 4x the error PyTorch float32 makes on the same
 * tensor ("noise." in the fixture) when that is larger; a gradient that is zero in exact
 * arithmetic (float64 max-abs below 1e-9 of the largest gradient: key biases before a softmax,
 * biases before a normalisation) must be below TOL of the largest gradient, absolutely. */
static void compare_tol(const float *a, size_t na, const fx_file *f, const char *name, double noise, double gmax) {
    size_t nb;
    const float *b = fx_f32(f, name, &nb);
    CHECK_MSG(b && a && na == nb, "%s: missing or size %zu vs %zu", name, na, nb);
    if (!b || !a || na != nb) return;
    double rel, tol = TOL, bmax = 0;
    for (size_t i = 0; i < nb; i++) if (fabs(b[i]) > bmax) bmax = fabs(b[i]);
    if (gmax > 0 && bmax < 1e-9 * gmax) {
        rel = 0;
        for (size_t i = 0; i < na; i++) if (fabs(a[i]) > rel) rel = fabs(a[i]);
        rel /= gmax;
        tol = TOL;
    } else {
        rel = fx_rel(a, b, na);
        if (4 * noise > tol) { tol = 4 * noise; if (rel > TOL) n_floor++; }
    }
    CHECK_MSG(rel <= tol, "%s: relative error %.3g (tolerance %.3g)", name, rel, tol);
    if (getenv("VERBOSE")) printf("  %-80s %.3g (tol %.3g)\n", name, rel, tol);
}

static void compare(const float *a, size_t na, const fx_file *f, const char *name) {
    compare_tol(a, na, f, name, 0.0, -1.0 /* not a gradient */);
}

static void check_forward(const char *key) {
    run *rp = get(key), r = *rp;
    if (r.ok) {
        static const char *outs[] = {"text_cls", "text_proj", "image_x", "feat", "img_proj", "assign_raw",
                                     "assign_hard", "q_all", "a_cls", "a_proj", "mec_answer", "bridge_out"};
        for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
            size_t n;
            const float *a = ovs_model_activation(r.m, outs[i], &n);
            char name[64];
            snprintf(name, sizeof name, "out.%s", outs[i]);
            compare(a, n, &r.f, name);
        }
        compare(&r.loss.contrastive, 1, &r.f, "out.loss_contrastive");
        compare(&r.loss.entity, 1, &r.f, "out.loss_entity");
        compare(&r.loss.total, 1, &r.f, "out.loss_total");
    }
}

static void check_backward(const char *key) {
    run *rp = get(key), r = *rp;
    if (r.ok) {
        int n, ngrad = 0;
        const ovs_param *tab = ovs_model_table(r.m, &n);
        const float *G = ovs_model_grads(r.m), *P = ovs_model_params(r.m);
        double gmax = 0;
        for (int i = 0; i < r.f.n; i++)
            if (!strncmp(r.f.t[i].name, "grad.", 5)) {
                size_t k;
                const float *g = fx_f32(&r.f, r.f.t[i].name, &k);
                for (size_t j = 0; j < k; j++) if (fabs(g[j]) > gmax) gmax = fabs(g[j]);
            }
        n_floor = 0;
        for (int i = 0; i < n; i++) {
            char name[200], nname[200];
            snprintf(name, sizeof name, "grad.%s", tab[i].name);
            snprintf(nname, sizeof nname, "noise.%s", tab[i].name);
            if (fx_find(&r.f, name)) {
                CHECK_MSG(tab[i].trainable, "%s has a gradient in the twin but is not trainable", tab[i].name);
                const float *nz = fx_f32(&r.f, nname, NULL);
                compare_tol(G + tab[i].offset, tab[i].numel, &r.f, name, nz ? nz[0] : 0.0, gmax);
                ngrad++;
            } else {
                CHECK_MSG(!tab[i].trainable, "%s: trainable but the twin has no gradient", tab[i].name);
                snprintf(name, sizeof name, "after.%s", tab[i].name);
                if (fx_find(&r.f, name)) compare(P + tab[i].offset, tab[i].numel, &r.f, name);
            }
        }
        CHECK(ngrad > 50);
        if (n_floor) printf("  note: %d of %d gradients above %g, each within 4x PyTorch's own float32 error\n", n_floor, ngrad, TOL);
    }
}

static void check_eval(const char *key) {
    run *rp = get(key), r = *rp;
    if (r.ok) {
        const ovs_config *c = ovs_model_config(r.m);
        ovs_err e = {0};
        for (int big = 0; big < 2; big++) {
            char name[64];
            snprintf(name, sizeof name, "eval.%simg", big ? "big." : "");
            const fx_tensor *t = fx_find(&r.f, name);
            CHECK(t != NULL);
            if (!t) continue;
            int B = (int)t->shape[0], H = (int)t->shape[2], W = (int)t->shape[3];
            int hw = (H / c->patch) * (W / c->patch), K = c->groups_out, D = c->proj_out;
            float *ix = malloc(sizeof(float) * (size_t)B * D), *gr = malloc(sizeof(float) * (size_t)B * K * D);
            float *hard = malloc(sizeof(float) * (size_t)B * K * hw), *raw = malloc(sizeof(float) * (size_t)B * K * hw);
            CHECK_OK(ovs_model_encode_image(r.m, fx_f32(&r.f, name, NULL), B, H, W, ix, gr, hard, raw, &e), &e);
            const char *pre = big ? "eval.big." : "eval.";
            snprintf(name, sizeof name, "%simage_x", pre); compare(ix, (size_t)B * D, &r.f, name);
            snprintf(name, sizeof name, "%sgroups", pre); compare(gr, (size_t)B * K * D, &r.f, name);
            snprintf(name, sizeof name, "%shard", pre); compare(hard, (size_t)B * K * hw, &r.f, name);
            snprintf(name, sizeof name, "%sraw", pre); compare(raw, (size_t)B * K * hw, &r.f, name);
            free(ix); free(gr); free(hard); free(raw);
        }
        float *tx = malloc(sizeof(float) * (size_t)r.B * c->proj_out);
        CHECK_OK(ovs_model_encode_text(r.m, fx_i32(&r.f, "in.ids", NULL), fx_i32(&r.f, "in.mask", NULL), r.B, r.L, tx, &e), &e);
        compare(tx, (size_t)r.B * c->proj_out, &r.f, "eval.text");
        free(tx);
    }
    done(rp);
}

/* 10 AdamW steps (clip 5.0, lr 1e-4) on the fixture's batch and noise: each step's loss within
 * 1e-3 relative of the twin's float32 run (adamw.loss) */
static void check_adamw_track(const char *key) {
    run r;
    run_step(&r, key);                  /* step 1's forward and backward */
    if (!r.ok) { done(&r); return; }
    size_t n10;
    const float *want = fx_f32(&r.f, "adamw.loss", &n10);
    CHECK(want && n10 == 10);
    int n;
    const ovs_param *tab = ovs_model_table(r.m, &n);
    ovs_adamw opt;
    ovs_err e = {0};
    CHECK_OK(ovs_adamw_init(&opt, ovs_model_numel(r.m), &e), &e);
    double worst = 0;
    for (int i = 0; want && n10 == 10 && i < 10 && !check_failed_now; i++) {
        if (i) {
            ovs_batch b = r.batch;
            ovs_rng rng;
            ovs_rng_seed(&rng, 1, 2);
            CHECK_OK(ovs_model_step(r.m, &b, &rng, &r.loss, &e), &e);
        }
        double rel = fabs((double)r.loss.total - want[i]) / fabs((double)want[i]);
        if (rel > worst) worst = rel;
        if (getenv("VERBOSE")) printf("  %s step %d: loss %.7g twin %.7g\n", key, i + 1, (double)r.loss.total, (double)want[i]);
        CHECK_MSG(rel <= 1e-3, "%s step %d: loss %.7g, twin %.7g (relative %.3g)", key, i + 1, (double)r.loss.total, (double)want[i], rel);
        ovs_clip_grad_norm(ovs_model_grads(r.m), tab, n, 5.0);
        ovs_adamw_step(&opt, ovs_model_params(r.m), ovs_model_grads(r.m), tab, n, 1e-4);
    }
    if (getenv("VERBOSE")) printf("  %s: 10 AdamW steps, worst loss relative error %.3g\n", key, worst);
    ovs_adamw_free(&opt);
    done(&r);
}

TEST(model_tiny_forward_matches_twin) { check_forward("tiny"); }
TEST(model_tiny_gradients_and_bn_buffers_match_twin) { check_backward("tiny"); }
TEST(model_tiny_eval_encoders_match_twin) { check_eval("tiny"); }
TEST(model_paper_reduced_forward_matches_twin) { check_forward("paper"); }
TEST(model_paper_reduced_gradients_and_bn_buffers_match_twin) { check_backward("paper"); }
TEST(model_paper_reduced_eval_encoders_match_twin) { check_eval("paper"); }

TEST(model_tiny_ten_adamw_steps_track_twin) { check_adamw_track("tiny"); }
TEST(model_paper_reduced_ten_adamw_steps_track_twin) { check_adamw_track("paper"); }

TEST(model_param_table_names_shapes_and_flags) {
    ovs_config c;
    ovs_err e = {0};
    CHECK_OK(ovs_config_load(&c, "paper", &e), &e);
    ovs_model *m = NULL;
    CHECK_OK(ovs_model_create(&m, &c, 1, 1, &e), &e);
    if (!m) return;
    int n;
    const ovs_param *t = ovs_model_table(m, &n);
    CHECK_STR(t[0].name, "logit_scale");
    CHECK_EQ_INT(t[0].ndim, 0);
    const ovs_param *p = ovs_model_find(m, "img_encoder.pos_embed");
    CHECK(p && p->ndim == 2 && p->shape[0] == 196 && p->shape[1] == 768 && p->decay);
    p = ovs_model_find(m, "img_encoder.layers.0.downsample.mlp_inter.fc1.weight");
    CHECK(p && p->shape[0] == 384 && p->shape[1] == 64);
    p = ovs_model_find(m, "text_encoder.transformer.encoder.layer.11.output.LayerNorm.bias");
    CHECK(p && !p->decay && p->trainable);
    p = ovs_model_find(m, "text_encoder.transformer.pooler.dense.weight");
    CHECK(p && !p->trainable);
    p = ovs_model_find(m, "img_projector.linear_hidden.0.weight");
    CHECK(p && p->ndim == 3 && p->shape[0] == 4096 && p->shape[1] == 768 && p->shape[2] == 1);
    p = ovs_model_find(m, "text_projector.linear_hidden.1.num_batches_tracked");
    CHECK(p && p->ndim == 0 && !p->trainable);
    p = ovs_model_find(m, "bridge_projector.linear_out.weight");
    CHECK(p && p->shape[0] == 256 && p->shape[1] == 4096);
    CHECK(ovs_model_find(m, "multimodal_groupingblock.blocks.0.post_attn.attn.qkv.weight") != NULL);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        CHECK_EQ_INT(t[i].offset, total);
        total += t[i].numel;
    }
    CHECK_EQ_INT(total, ovs_model_numel(m));
    CHECK_NEAR(ovs_model_logit_scale(m), 1.0 / 0.07, 1e-3);
    ovs_model_free(m);
}

/* init_std sets the spread of the normal-initialised weights (linears and embeddings), and only theirs */
static double weight_sd(const char *preset, const char *kv, const char *name, double *conv_sd) {
    ovs_config c;
    ovs_err e = {0};
    ovs_config_load(&c, preset, &e);
    if (kv) ovs_config_set(&c, kv, &e);
    ovs_model *m = NULL;
    if (ovs_model_create(&m, &c, 1, 1, &e)) return -1;
    double sd[2];
    const char *names[2] = {name, "img_encoder.patch_embed.proj.weight"};
    for (int k = 0; k < 2; k++) {
        const ovs_param *p = ovs_model_find(m, names[k]);
        double s2 = 0;
        for (size_t j = 0; p && j < p->numel; j++) {
            double v = ovs_model_params(m)[p->offset + j];
            s2 += v * v;
        }
        sd[k] = p ? sqrt(s2 / (double)p->numel) : -1;
    }
    ovs_model_free(m);
    *conv_sd = sd[1];
    return sd[0];
}

TEST(model_init_std_sets_the_spread_of_normal_initialised_weights) {
    const char *w = "text_encoder.transformer.encoder.layer.0.intermediate.dense.weight";
    double conv_b, conv_c;
    CHECK_NEAR(weight_sd("tiny", NULL, w, &conv_b), 0.02, 0.001);         /* the paper's code */
    CHECK_NEAR(weight_sd("tiny", "init_std=0.08", w, &conv_c), 0.08, 0.003);
    CHECK_NEAR(conv_b, conv_c, 1e-9);                                       /* PyTorch-default inits unchanged */
    ovs_config c;
    ovs_err e = {0};
    CHECK_OK(ovs_config_load(&c, "paper", &e), &e);
    CHECK_NEAR(c.init_std, 0.02, 1e-9);                                    /* the paper's code */
    CHECK(ovs_config_set(&c, "init_std=-1", &e) == OVS_EUSER && strstr(e.msg, "init_std"));
}

TEST(model_config_files_and_overrides) {
    ovs_config c;
    ovs_err e = {0};
    CHECK_OK(ovs_config_load(&c, "tiny", &e), &e);
    CHECK_OK(ovs_config_set(&c, "depth1=2", &e), &e);
    CHECK_EQ_INT(c.depth1, 2);
    CHECK(ovs_config_set(&c, "heads=5", &e) == OVS_EUSER);           /* 128 % 5 */
    CHECK(strstr(e.msg, "heads") != NULL);
    ovs_config_load(&c, "tiny", &e);
    CHECK(ovs_config_set(&c, "nonsense=1", &e) == OVS_EUSER);
    CHECK(strstr(e.msg, "nonsense") != NULL);
    const char *path = check_path("cfg.txt");
    FILE *f = fopen(path, "w");
    fprintf(f, "# a config\npreset = paper\ndepth0 = 2\n\nwidth=bad\n");
    fclose(f);
    CHECK(ovs_config_load(&c, path, &e) == OVS_EUSER);
    CHECK(strstr(e.msg, "cfg.txt:5") != NULL);
    f = fopen(path, "w");
    fprintf(f, "preset = paper\ndepth0 = 2\n");
    fclose(f);
    CHECK_OK(ovs_config_load(&c, path, &e), &e);
    CHECK_EQ_INT(c.depth0, 2);
    CHECK_EQ_INT(c.width, 768);
    CHECK(ovs_config_load(&c, "/nonexistent/x.cfg", &e) == OVS_EUSER);
}

TEST(model_step_rejects_bad_batches) {
    ovs_config c;
    ovs_err e = {0};
    ovs_config_load(&c, "tiny", &e);
    ovs_model *m = NULL;
    CHECK_OK(ovs_model_create(&m, &c, 2, 1, &e), &e);
    if (!m) return;
    int L = c.text_len;
    float *img = calloc((size_t)2 * 3 * c.img_size * c.img_size, sizeof(float));
    int32_t *ids = calloc((size_t)2 * L, sizeof(int32_t)), *mask = calloc((size_t)2 * L, sizeof(int32_t));
    ids[0] = ids[L] = 101; mask[0] = mask[L] = 1;
    ovs_batch b = {.B = 2, .S = c.img_size, .L = L, .img = img, .ids = ids, .mask = mask,
                   .q_ids = ids, .q_mask = mask, .a_ids = ids, .a_mask = mask};
    ovs_rng r;
    ovs_rng_seed(&r, 1, 1);
    ovs_losses l;
    CHECK_OK(ovs_model_step(m, &b, &r, &l, &e), &e);
    CHECK(isfinite(l.total) && l.total > 0);
    b.B = 3;
    CHECK(ovs_model_step(m, &b, &r, &l, &e) == OVS_EUSER);
    b.B = 2; b.S = 32;
    CHECK(ovs_model_step(m, &b, &r, &l, &e) == OVS_EUSER);
    b.S = c.img_size;
    ids[3] = c.vocab;
    CHECK(ovs_model_step(m, &b, &r, &l, &e) == OVS_EUSER);
    CHECK(strstr(e.msg, "vocabulary") != NULL);
    free(img); free(ids); free(mask);
    ovs_model_free(m);
}

/* the gradients are those of the loss the step reports: plain SGD on one batch lowers it, and a
 * step with the same rng state is bit-for-bit repeatable */
TEST(model_sgd_on_one_batch_lowers_the_loss_deterministically) {
    ovs_config c;
    ovs_err e = {0};
    ovs_config_load(&c, "tiny", &e);
    ovs_config_set(&c, "drop_path=0.1", &e);
    ovs_config_set(&c, "text_len=16", &e);
    ovs_model *m = NULL;
    int B = 6, L = c.text_len, S = c.img_size;
    CHECK_OK(ovs_model_create(&m, &c, B, 3, &e), &e);
    if (!m) return;
    ovs_rng r;
    ovs_rng_seed(&r, 5, 5);
    float *img = malloc(sizeof(float) * (size_t)B * 3 * S * S);
    for (int i = 0; i < B * 3 * S * S; i++) img[i] = (float)ovs_rng_normal(&r);
    int32_t *ids = calloc((size_t)B * L, sizeof(int32_t)), *mask = calloc((size_t)B * L, sizeof(int32_t));
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L - 2 - b; l++) { ids[b * L + l] = 100 + (int)ovs_rng_below(&r, 1000); mask[b * L + l] = 1; }
    ovs_batch bt = {.B = B, .S = S, .L = L, .img = img, .ids = ids, .mask = mask,
                    .q_ids = ids, .q_mask = mask, .a_ids = ids, .a_mask = mask};
    int n;
    const ovs_param *t = ovs_model_table(m, &n);
    float *P = ovs_model_params(m), *G = ovs_model_grads(m);
    ovs_losses l0, l1, la, lb;
    ovs_rng keep = r;
    CHECK_OK(ovs_model_step(m, &bt, &r, &l0, &e), &e);
    for (int it = 0; it < 15; it++) {
        for (int i = 0; i < n; i++)
            if (t[i].trainable)
                for (size_t j = 0; j < t[i].numel; j++) P[t[i].offset + j] -= 0.02f * G[t[i].offset + j];
        ovs_rng rr = keep;   /* same Gumbel and drop-path draws every step */
        CHECK_OK(ovs_model_step(m, &bt, &rr, &l1, &e), &e);
    }
    CHECK_MSG(l1.total < 0.8f * l0.total, "loss %g -> %g", l0.total, l1.total);
    ovs_rng r1 = keep, r2 = keep;
    ovs_model_step(m, &bt, &r1, &la, &e);
    ovs_model_step(m, &bt, &r2, &lb, &e);
    CHECK(memcmp(&la, &lb, sizeof la) == 0);
    free(img); free(ids); free(mask);
    ovs_model_free(m);
}

int main(void) {
    RUN(model_param_table_names_shapes_and_flags);
    RUN(model_init_std_sets_the_spread_of_normal_initialised_weights);
    RUN(model_config_files_and_overrides);
    RUN(model_step_rejects_bad_batches);
    RUN(model_sgd_on_one_batch_lowers_the_loss_deterministically);
    RUN(model_tiny_forward_matches_twin);
    RUN(model_tiny_gradients_and_bn_buffers_match_twin);
    RUN(model_tiny_eval_encoders_match_twin);
    RUN(model_paper_reduced_forward_matches_twin);
    RUN(model_paper_reduced_gradients_and_bn_buffers_match_twin);
    RUN(model_paper_reduced_eval_encoders_match_twin);
    RUN(model_tiny_ten_adamw_steps_track_twin);
    RUN(model_paper_reduced_ten_adamw_steps_track_twin);
    return check_done();
}
