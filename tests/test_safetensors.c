/* test_safetensors.c — train/safetensors.c: round trips, strict header checks with errors naming
 * the file and tensor, dtype conversion, and interchange with the real Python `safetensors`
 * library (tests/tools/st_interop.py) in both directions. */
#include <stdint.h>

#include "tests/check.h"
#include "train/safetensors.h"

/* Writes [u64 len][header][nbytes of data] to path. */
static void raw_file(const char *path, const char *header, size_t nbytes) {
    FILE *f = fopen(path, "wb");
    uint64_t n = strlen(header);
    fwrite(&n, 8, 1, f);
    fwrite(header, 1, n, f);
    for (size_t i = 0; i < nbytes; i++) fputc(0, f);
    fclose(f);
}

/* Opens a raw file that must fail; the message must contain want. */
static int open_fails_with(const char *header, size_t nbytes, const char *want) {
    const char *p = check_path("bad.safetensors");
    raw_file(p, header, nbytes);
    ovs_st_file f;
    ovs_err e = {0};
    int rc = ovs_st_open(&f, p, &e);
    if (rc == 0) { ovs_st_close(&f); printf("  opened: %s\n", header); return 0; }
    if (!strstr(e.msg, want) || !strstr(e.msg, p)) { printf("  message: %s\n  wanted: %s\n", e.msg, want); return 0; }
    return rc == OVS_EUSER;
}

TEST(safetensors_round_trip_with_metadata) {
    float w[6] = {1, 2, 3, 4, 5, 6}, b[2] = {-1, 0.5f};
    int64_t ids[3] = {7, -8, 1LL << 40};
    ovs_st_writer wr;
    ovs_st_writer_init(&wr);
    ovs_err e = {0};
    CHECK_OK(ovs_st_add(&wr, "layer.weight", OVS_ST_F32, 2, (int64_t[]){2, 3}, w, &e), &e);
    CHECK_OK(ovs_st_add(&wr, "layer.bias", OVS_ST_F32, 1, (int64_t[]){2}, b, &e), &e);
    CHECK_OK(ovs_st_add(&wr, "ids", OVS_ST_I64, 1, (int64_t[]){3}, ids, &e), &e);
    CHECK_OK(ovs_st_add_meta(&wr, "step", "41", &e), &e);
    CHECK_OK(ovs_st_add_meta(&wr, "text", "a \"quoted\"\nline", &e), &e);
    CHECK(ovs_st_add(&wr, "ids", OVS_ST_I64, 1, (int64_t[]){3}, ids, &e) != 0);
    const char *p = check_path("rt.safetensors");
    CHECK_OK(ovs_st_write(&wr, p, &e), &e);
    ovs_st_writer_free(&wr);
    ovs_st_file f;
    CHECK_OK(ovs_st_open(&f, p, &e), &e);
    CHECK_EQ_INT(f.n, 3);
    CHECK_STR(ovs_st_meta(&f, "step"), "41");
    CHECK_STR(ovs_st_meta(&f, "text"), "a \"quoted\"\nline");
    CHECK(ovs_st_meta(&f, "nope") == NULL);
    float r[6] = {0};
    CHECK_OK(ovs_st_read_shaped(&f, "layer.weight", 2, (int64_t[]){2, 3}, r, &e), &e);
    CHECK(!memcmp(r, w, sizeof w));
    CHECK(ovs_st_read_shaped(&f, "layer.weight", 2, (int64_t[]){3, 2}, r, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "'layer.weight' has shape [2, 3], expected [3, 2]"), "%s", e.msg);
    CHECK(ovs_st_read_f32(&f, "missing.weight", r, 2, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "'missing.weight' is missing"), "%s", e.msg);
    CHECK_OK(ovs_st_read_f32(&f, "ids", r, 3, &e), &e);
    CHECK(r[0] == 7 && r[1] == -8 && r[2] == (float)(1LL << 40));
    const ovs_st_tensor *t = ovs_st_find(&f, "ids");
    CHECK(t && t->dtype == OVS_ST_I64 && ((const int64_t *)t->data)[2] == 1LL << 40);
    CHECK(((uintptr_t)ovs_st_find(&f, "layer.weight")->data) % 8 == 0);
    ovs_st_close(&f);
}

TEST(safetensors_rejects_bad_json) {
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]", 4, "bad safetensors header"));
    CHECK(open_fails_with("[1,2]", 0, "bad safetensors header"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "integer"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': unknown dtype 'F33'"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a': header entry lacks"));
    CHECK(open_fails_with("{\"__metadata__\":{\"k\":3}}", 0, "value of 'k' is not a string"));
    CHECK(open_fails_with("{} x", 0, "trailing bytes"));
}

TEST(safetensors_rejects_bad_layout) {
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                          "tensor 'a': 4 bytes but shape x F32 needs 8"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                          "tensor 'a': data_offsets [0, 8] run past the end of the file"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlap"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor 'a' appears twice"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor 'a': hole"));
    CHECK(open_fails_with("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "8 bytes after the last tensor"));
    /* a header length longer than the file */
    const char *p = check_path("short.safetensors");
    FILE *f = fopen(p, "wb");
    uint64_t n = 1000;
    fwrite(&n, 8, 1, f);
    fputs("{}", f);
    fclose(f);
    ovs_st_file sf;
    ovs_err e = {0};
    CHECK(ovs_st_open(&sf, p, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "header length 1000"), "%s", e.msg);
}

TEST(safetensors_truncated_file_names_tensor) {
    float w[256] = {0};
    ovs_st_writer wr;
    ovs_st_writer_init(&wr);
    ovs_err e = {0};
    ovs_st_add(&wr, "first", OVS_ST_F32, 1, (int64_t[]){256}, w, &e);
    ovs_st_add(&wr, "second", OVS_ST_F32, 2, (int64_t[]){16, 16}, w, &e);
    const char *p = check_path("trunc.safetensors");
    CHECK_OK(ovs_st_write(&wr, p, &e), &e);
    ovs_st_writer_free(&wr);
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(p, size - 100) == 0);
    ovs_st_file sf;
    CHECK(ovs_st_open(&sf, p, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "tensor 'second'") && strstr(e.msg, "truncated"), "%s", e.msg);
}

static const char *py(void) {
    static char buf[600];
    const char *r = getenv("OVSEG_PYTHON");
    snprintf(buf, sizeof buf, "%s", r && *r ? r : ".venv/bin/python");
    return buf;
}

TEST(safetensors_reads_files_of_python_library) {
    const char *p = check_path("py.safetensors");
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s tests/tools/st_interop.py write '%s'", py(), p);
    CHECK_EQ_INT(system(cmd), 0);
    ovs_st_file f;
    ovs_err e = {0};
    CHECK_OK(ovs_st_open(&f, p, &e), &e);
    if (e.code) return;
    CHECK_STR(ovs_st_meta(&f, "step"), "12");
    CHECK_STR(ovs_st_meta(&f, "note"), "caf\xc3\xa9 \"quoted\"\n");
    float a[15], h[15], bf[15], ids[6], f64[2], sc[1];
    CHECK_OK(ovs_st_read_shaped(&f, "a.weight", 2, (int64_t[]){3, 5}, a, &e), &e);
    CHECK_OK(ovs_st_read_f32(&f, "half", h, 15, &e), &e);
    CHECK_OK(ovs_st_read_f32(&f, "bf", bf, 15, &e), &e);
    for (int i = 0; i < 15; i++) {
        CHECK_NEAR(h[i], 3 * a[i], 3e-3 * fabs(3 * a[i]) + 1e-4);
        CHECK_NEAR(bf[i], 3 * a[i], 1e-2 * fabs(3 * a[i]) + 1e-4);
    }
    CHECK_OK(ovs_st_read_f32(&f, "ids", ids, 6, &e), &e);
    CHECK(ids[1] == -2 && ids[3] == 4e10f);
    CHECK_OK(ovs_st_read_f32(&f, "f64", f64, 2, &e), &e);
    CHECK(f64[0] == 1.5f && f64[1] == -2.25f);
    CHECK_OK(ovs_st_read_shaped(&f, "scalar", 0, NULL, sc, &e), &e);
    CHECK(sc[0] == 4.0f);
    const ovs_st_tensor *t = ovs_st_find(&f, "empty");
    CHECK(t && t->numel == 0 && t->ndim == 2 && t->shape[1] == 4);
    ovs_st_close(&f);
}

TEST(safetensors_python_library_reads_our_files) {
    float w[24], b[7], sc = -2;
    int64_t i64[2] = {-1, 1LL << 40};
    for (int i = 0; i < 24; i++) w[i] = i * 0.5f - 3;
    for (int i = 0; i < 7; i++) b[i] = (float)i;
    ovs_st_writer wr;
    ovs_st_writer_init(&wr);
    ovs_err e = {0};
    ovs_st_add(&wr, "m.w", OVS_ST_F32, 3, (int64_t[]){2, 3, 4}, w, &e);
    ovs_st_add(&wr, "m.b", OVS_ST_F32, 1, (int64_t[]){7}, b, &e);
    ovs_st_add(&wr, "n.i64", OVS_ST_I64, 1, (int64_t[]){2}, i64, &e);
    ovs_st_add(&wr, "scalar", OVS_ST_F32, 0, NULL, &sc, &e);
    ovs_st_add_meta(&wr, "format", "ovseg-test", &e);
    ovs_st_add_meta(&wr, "text", "tab\there \"q\" \xc3\xbc", &e);
    const char *p = check_path("c.safetensors");
    CHECK_OK(ovs_st_write(&wr, p, &e), &e);
    ovs_st_writer_free(&wr);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s tests/tools/st_interop.py check '%s'", py(), p);
    CHECK_EQ_INT(system(cmd), 0);
}

int main(void) {
    RUN(safetensors_round_trip_with_metadata);
    RUN(safetensors_rejects_bad_json);
    RUN(safetensors_rejects_bad_layout);
    RUN(safetensors_truncated_file_names_tensor);
    RUN(safetensors_reads_files_of_python_library);
    RUN(safetensors_python_library_reads_our_files);
    return check_done();
}
