/* test_util.c — the shared helpers: sha256 vectors, rng streams, args parsing, json escaping,
 * atomic writes, error messages. */
#include "tests/check.h"
#include "util/args.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fsutil.h"
#include "util/rng.h"
#include "util/sha256.h"

TEST(sha256_known_vectors) {
    char hex[65];
    ovs_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ovs_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    ovs_sha256_hex(s, strlen(s), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_streaming_equals_one_shot) {
    char data[1000], a[65], b[65];
    for (int i = 0; i < 1000; i++) data[i] = (char)(i * 7);
    ovs_sha256_hex(data, sizeof data, a);
    ovs_sha256 c;
    unsigned char out[32];
    ovs_sha256_init(&c);
    for (int i = 0; i < 1000; i += 37) ovs_sha256_update(&c, data + i, i + 37 <= 1000 ? 37 : 1000 - i);
    ovs_sha256_final(&c, out);
    ovs_hex(out, 32, b);
    CHECK_STR(a, b);
}

TEST(rng_streams_are_deterministic_and_serialisable) {
    ovs_rng a, b, c;
    ovs_rng_seed(&a, 42, 1);
    ovs_rng_seed(&b, 42, 1);
    ovs_rng_seed(&c, 42, 2);
    CHECK(ovs_rng_u64(&a) == ovs_rng_u64(&b));
    CHECK(ovs_rng_u64(&a) != ovs_rng_u64(&c));
    ovs_rng saved = a;
    uint64_t x = ovs_rng_u64(&a);
    CHECK(ovs_rng_u64(&saved) == x);
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        float f = ovs_rng_float(&a);
        CHECK(f >= 0 && f < 1);
        sum += f;
    }
    CHECK_NEAR(sum / 10000, 0.5, 0.02);
    for (int i = 0; i < 1000; i++) CHECK(ovs_rng_below(&a, 7) < 7);
}

TEST(args_parse_flags_values_and_errors) {
    int64_t n = 5, sz = 0;
    double x = 0;
    const char *s = NULL;
    int f = 0;
    const ovs_opt opts[] = {{"n", OVS_ARG_INT, &n, ""}, {"max-bytes", OVS_ARG_BYTES, &sz, ""},
                            {"x", OVS_ARG_DOUBLE, &x, ""}, {"name", OVS_ARG_STR, &s, ""},
                            {"flag", OVS_ARG_FLAG, &f, ""}, {0}};
    ovs_cmd_spec spec = {.verb = "t", .usage = "A B", .summary = "", .opts = opts, .min_pos = 1, .max_pos = 2};
    char *argv[] = {"t", "--n", "12", "pos1", "--max-bytes=20M", "--x", "0.5", "--name", "abc", "--flag", "pos2"};
    char *pos[4];
    int np;
    ovs_err e = {0};
    CHECK_OK(ovs_args_parse(&spec, 11, argv, pos, 4, &np, &e), &e);
    CHECK_EQ_INT(n, 12);
    CHECK_EQ_INT(sz, 20 * 1024 * 1024);
    CHECK_NEAR(x, 0.5, 0);
    CHECK_STR(s, "abc");
    CHECK_EQ_INT(f, 1);
    CHECK_EQ_INT(np, 2);
    char *bad[] = {"t", "--nope", "p"};
    CHECK_EQ_INT(ovs_args_parse(&spec, 3, bad, pos, 4, &np, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "--nope") != NULL);
    char *badint[] = {"t", "--n", "abc", "p"};
    CHECK_EQ_INT(ovs_args_parse(&spec, 4, badint, pos, 4, &np, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "--n") && strstr(e.msg, "abc"));
    char *nopos[] = {"t"};
    CHECK_EQ_INT(ovs_args_parse(&spec, 1, nopos, pos, 4, &np, &e), OVS_EUSER);
}

TEST(json_string_escaping) {
    ovs_buf b = {0};
    const char s[] = "a\"b\\c\nd\x01";
    ovs_buf_json_str(&b, s, sizeof s - 1);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
    ovs_buf_free(&b);
}

TEST(atomic_write_then_read_back) {
    ovs_err e = {0};
    const char *p = check_path("sub/dir/file.txt");
    CHECK_OK(ovs_mkdir_p(check_path("sub/dir"), &e), &e);
    CHECK_OK(ovs_write_atomic(p, "hello", 5, &e), &e);
    char *d = NULL;
    size_t n = 0;
    CHECK_OK(ovs_read_file(p, &d, &n, &e), &e);
    CHECK_EQ_INT(n, 5);
    CHECK_STR(d, "hello");
    free(d);
    CHECK(access(check_path("sub/dir/file.txt.tmp"), F_OK) != 0);
    CHECK_EQ_INT(ovs_read_file(check_path("missing"), &d, &n, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "missing") != NULL);
}

TEST(err_context_prefixes_message) {
    ovs_err e = {0};
    ovs_errf(&e, OVS_EUSER, "bad thing");
    ovs_errctx(&e, "file.tsv:%d", 3);
    CHECK_STR(e.msg, "file.tsv:3: bad thing");
    CHECK_EQ_INT(e.code, OVS_EUSER);
}

int main(void) {
    RUN(sha256_known_vectors);
    RUN(sha256_streaming_equals_one_shot);
    RUN(rng_streams_are_deterministic_and_serialisable);
    RUN(args_parse_flags_values_and_errors);
    RUN(json_string_escaping);
    RUN(atomic_write_then_read_back);
    RUN(err_context_prefixes_message);
    return check_done();
}
