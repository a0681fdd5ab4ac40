/* test_departures.c — the two model options that depart from the paper (off by default, reported
 * as their own rows in the demo): local_patches (a patch attends only to its 3x3 neighbourhood)
 * and no_group_residual (a group is built from its assigned patches only). */
#include <stdint.h>

#include "tests/check.h"
#include "train/layers.h"
#include "train/model.h"
#include "util/rng.h"

TEST(attention_rowmask_hides_masked_keys) {
    int B = 1, H = 1, N = 4, hd = 3;
    float q[12], k[12], v[12], o1[12], o2[12], p[16];
    ovs_rng r;
    ovs_rng_seed(&r, 3, 0);
    for (int i = 0; i < 12; i++) q[i] = ovs_rng_float(&r), k[i] = ovs_rng_float(&r), v[i] = ovs_rng_float(&r);
    int mask[16] = {1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1};
    attn_shape s = {B, H, N, N, hd, hd, hd, hd, hd, 12, 12, 12, 12, 0.5f, NULL, NULL};
    s.rowmask = mask;
    attention_forward(o1, p, q, k, v, &s);
    for (int j = 2; j < 4; j++) CHECK(p[j] == 0.0f); /* row 0 sees keys 0,1 only */
    v[3 * hd] += 5.0f;                                /* change key 3's value: row 0 must not move */
    attention_forward(o2, p, q, k, v, &s);
    for (int c = 0; c < hd; c++) CHECK(o1[c] == o2[c]);
    CHECK(o1[3 * hd] != o2[3 * hd]);                   /* row 3 sees key 3 */
}

static float step_loss(const char *sets[], int nsets) {
    ovs_config c;
    ovs_err e = {0};
    ovs_config_load(&c, "tiny", &e);
    for (int i = 0; i < nsets; i++) CHECK_OK(ovs_config_set(&c, sets[i], &e), &e);
    ovs_model *m = NULL;
    CHECK_OK(ovs_model_create(&m, &c, 2, 1, &e), &e);
    if (!m) return NAN;
    int L = c.text_len, S = c.img_size;
    float *img = malloc(sizeof(float) * 2 * 3 * S * S);
    ovs_rng r;
    ovs_rng_seed(&r, 9, 0);
    for (int i = 0; i < 2 * 3 * S * S; i++) img[i] = ovs_rng_float(&r) - 0.5f;
    int32_t *ids = calloc((size_t)2 * L, sizeof(int32_t)), *mask = calloc((size_t)2 * L, sizeof(int32_t));
    for (int b = 0; b < 2; b++) ids[b * L] = 101, ids[b * L + 1] = 2000 + b, ids[b * L + 2] = 102, mask[b * L] = mask[b * L + 1] = mask[b * L + 2] = 1;
    ovs_batch b = {.B = 2, .S = S, .L = L, .img = img, .ids = ids, .mask = mask,
                   .q_ids = ids, .q_mask = mask, .a_ids = ids, .a_mask = mask};
    ovs_losses l = {0};
    CHECK_OK(ovs_model_step(m, &b, &r, &l, &e), &e);
    const float *g = ovs_model_grads(m);
    double gs = 0;
    for (size_t i = 0; i < ovs_model_numel(m); i++) gs += fabs(g[i]);
    CHECK(isfinite(gs) && gs > 0);
    free(img), free(ids), free(mask);
    ovs_model_free(m);
    return l.total;
}

TEST(departure_options_train_with_finite_losses_and_gradients) {
    const char *paper[] = {"drop_path=0"};
    const char *both[] = {"local_patches=1", "no_group_residual=1"};
    float a = step_loss(paper, 1), b = step_loss(both, 2);
    CHECK(isfinite(a) && isfinite(b));
    CHECK(a != b); /* the options change the model */
}

int main(void) {
    RUN(attention_rowmask_hides_masked_keys);
    RUN(departure_options_train_with_finite_losses_and_gradients);
    return check_done();
}
