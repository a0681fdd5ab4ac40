/* test_ckpt.c — train/ckpt.c: checkpoint pairs written and read back exactly, strict loading
 * (missing, wrong-shape, truncated, unexpected tensors named), completeness of a pair, --keep
 * pruning, and the model-config / RNG text forms that the state file carries. */
#include <sys/stat.h>

#include "tests/check.h"
#include "train/ckpt.h"
#include "util/fsutil.h"

static ovs_param T[3];
static float P[2 * 3 + 3 + 1];

static void make_table(void) {
    memset(T, 0, sizeof T);
    snprintf(T[0].name, sizeof T[0].name, "enc.weight");
    T[0].ndim = 2, T[0].shape[0] = 2, T[0].shape[1] = 3, T[0].offset = 0, T[0].numel = 6, T[0].decay = 1, T[0].trainable = 1;
    snprintf(T[1].name, sizeof T[1].name, "bn.running_mean");
    T[1].ndim = 1, T[1].shape[0] = 3, T[1].offset = 6, T[1].numel = 3;
    snprintf(T[2].name, sizeof T[2].name, "logit_scale");
    T[2].ndim = 0, T[2].offset = 9, T[2].numel = 1, T[2].trainable = 1;
    for (int i = 0; i < 10; i++) P[i] = (float)i * 0.25f - 1;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

TEST(ckpt_write_read_exact_with_metadata) {
    make_table();
    ovs_kv meta = {0};
    ovs_err e = {0};
    CHECK_OK(ovs_kv_set(&meta, "step", "7", &e), &e);
    ovs_ckpt_part part = {.prefix = "", .table = T, .n = 3, .data = P};
    const char *p = check_path("m.safetensors");
    CHECK_OK(ovs_ckpt_write(p, &part, 1, &meta, &e), &e);
    float Q[10] = {0};
    ovs_ckpt_part in = {.prefix = "", .table = T, .n = 3, .data = Q};
    ovs_kv got = {0};
    CHECK_OK(ovs_ckpt_read(p, &in, 1, 1, &got, &e), &e);
    CHECK(!memcmp(P, Q, sizeof Q));
    CHECK_STR(ovs_kv_get(&got, "step"), "7");
    /* moments: trainable only, prefixed */
    ovs_ckpt_part mom = {.prefix = "exp_avg.", .table = T, .n = 3, .data = P, .trainable_only = 1};
    CHECK_OK(ovs_ckpt_write(p, &mom, 1, NULL, &e), &e);
    memset(Q, 0, sizeof Q);
    mom.data = Q;
    CHECK_OK(ovs_ckpt_read(p, &mom, 1, 1, NULL, &e), &e);
    CHECK(Q[0] == P[0] && Q[9] == P[9] && Q[6] == 0);
    ovs_kv_free(&meta), ovs_kv_free(&got);
}

TEST(ckpt_strict_load_names_the_tensor) {
    make_table();
    ovs_err e = {0};
    const char *p = check_path("s.safetensors");
    ovs_ckpt_part part = {.prefix = "", .table = T, .n = 3, .data = P};
    CHECK_OK(ovs_ckpt_write(p, &part, 1, NULL, &e), &e);
    /* the model now wants a different shape */
    ovs_param T2[3];
    memcpy(T2, T, sizeof T);
    T2[0].shape[0] = 3, T2[0].shape[1] = 2;
    float Q[10];
    for (int i = 0; i < 10; i++) Q[i] = 42;
    ovs_ckpt_part in = {.prefix = "", .table = T2, .n = 3, .data = Q};
    CHECK(ovs_ckpt_read(p, &in, 1, 1, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "'enc.weight' has shape [2, 3], the model needs [3, 2]"), "%s", e.msg);
    CHECK(Q[9] == 42); /* nothing copied */
    /* a tensor the model needs is not in the file */
    memcpy(T2, T, sizeof T);
    snprintf(T2[2].name, sizeof T2[2].name, "text_projector.0.weight");
    CHECK(ovs_ckpt_read(p, &in, 1, 1, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "'text_projector.0.weight' is missing"), "%s", e.msg);
    /* a tensor in the file that the model does not have */
    ovs_ckpt_part two = {.prefix = "", .table = T, .n = 2, .data = Q};
    CHECK(ovs_ckpt_read(p, &two, 1, 1, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "1 unexpected tensor: 'logit_scale'"), "%s", e.msg);
    CHECK_OK(ovs_ckpt_read(p, &two, 1, 0, NULL, &e), &e);
    /* truncated */
    struct stat st;
    stat(p, &st);
    CHECK(truncate(p, st.st_size - 2) == 0);
    in.table = T;
    CHECK(ovs_ckpt_read(p, &in, 1, 1, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "logit_scale") && strstr(e.msg, "truncated"), "%s", e.msg);
}

TEST(ckpt_pairs_latest_and_keep) {
    make_table();
    ovs_err e = {0};
    char run[600], p[700];
    snprintf(run, sizeof run, "%s", check_path("run"));
    CHECK_OK(ovs_mkdir_p(run, &e), &e);
    ovs_ckpt_part part = {.prefix = "", .table = T, .n = 3, .data = P};
    ovs_ckpt_part st = {.prefix = "exp_avg.", .table = T, .n = 3, .data = P, .trainable_only = 1};
    int64_t latest = 99;
    CHECK_OK(ovs_ckpt_latest(run, &latest, &e), &e);
    CHECK_EQ_INT(latest, -1);
    for (int s = 5; s <= 25; s += 5) CHECK_OK(ovs_ckpt_save(run, s, &part, 1, NULL, &st, 1, NULL, 3, &e), &e);
    CHECK_OK(ovs_ckpt_latest(run, &latest, &e), &e);
    CHECK_EQ_INT(latest, 25);
    ovs_ckpt_path(p, sizeof p, run, "ckpt", 10);
    CHECK(!exists(p));
    ovs_ckpt_path(p, sizeof p, run, "state", 10);
    CHECK(!exists(p));
    ovs_ckpt_path(p, sizeof p, run, "ckpt", 15);
    CHECK(exists(p));
    /* a state file without its ckpt (killed between the two renames) does not count */
    ovs_ckpt_path(p, sizeof p, run, "state", 30);
    CHECK_OK(ovs_ckpt_write(p, &st, 1, NULL, &e), &e);
    CHECK_OK(ovs_ckpt_latest(run, &latest, &e), &e);
    CHECK_EQ_INT(latest, 25);
    char got[800];
    CHECK_OK(ovs_ckpt_resolve(run, got, sizeof got, &e), &e);
    ovs_ckpt_path(p, sizeof p, run, "ckpt", 25);
    CHECK_STR(got, p);
    CHECK(ovs_ckpt_resolve(check_path("nope"), got, sizeof got, &e) == OVS_EUSER);
}

TEST(ckpt_config_and_rng_text_round_trip) {
    ovs_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "tiny");
    c.img_size = 64, c.patch = 8, c.width = 192, c.heads = 3, c.depth0 = 3, c.depth1 = 3, c.groups_in = 16;
    c.groups_out = 8, c.mlp_ratio = 4, c.drop_path = 0.1f, c.vocab = 30522, c.text_len = 32, c.proj_out = 256;
    char text[2048];
    CHECK_EQ_INT(ovs_config_to_text(&c, text, sizeof text), 0);
    ovs_config d;
    ovs_err e = {0};
    CHECK_OK(ovs_config_from_text(&d, text, &e), &e);
    CHECK(!memcmp(&c, &d, sizeof c));
    CHECK(ovs_config_from_text(&d, "width=3\n", &e) == OVS_EUSER);
    /* every field of the struct is in the text: fill all bytes, round-trip, compare */
    memset(&c, 0x11, sizeof c);
    snprintf(c.name, sizeof c.name, "pattern");
    memset(c.name + 8, 0, sizeof c.name - 8);
    CHECK_EQ_INT(ovs_config_to_text(&c, text, sizeof text), 0);
    CHECK_OK(ovs_config_from_text(&d, text, &e), &e);
    CHECK_MSG(!memcmp(&c, &d, sizeof c), "ovs_config has fields that ckpt.c's CFG_FIELDS lacks");
    CHECK(ovs_config_from_text(&d, "bogus=3\n", &e) == OVS_EUSER && strstr(e.msg, "bogus"));
    ovs_rng r, q;
    ovs_rng_seed(&r, 42, 7);
    ovs_rng_u64(&r);
    char hex[65];
    ovs_rng_to_hex(&r, hex);
    CHECK_OK(ovs_rng_from_hex(&q, hex, &e), &e);
    CHECK(!memcmp(&r, &q, sizeof r));
    CHECK(ovs_rng_from_hex(&q, "12", &e) == OVS_EUSER);
}

int main(void) {
    RUN(ckpt_write_read_exact_with_metadata);
    RUN(ckpt_strict_load_names_the_tensor);
    RUN(ckpt_pairs_latest_and_keep);
    RUN(ckpt_config_and_rng_text_round_trip);
    return check_done();
}
