/* test_security.c — security properties of readers of outside data: the tar reader refuses member
 * names with a ".." component or an absolute path also when the name comes from a pax "path" record or
 * a GNU long-name member (not only the ustar name field), both when listing a shard and when reading a
 * member by its header offset (samples.member_offset). (ustar names: test_tarread.c.) */
#include "shards/tarread.h"
#include "tests/check.h"

static void put_header(FILE *f, const char *name, size_t n, char type) {
    unsigned char h[512] = {0};
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)n);
    memcpy(h + 136, "00000000000", 11);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    fwrite(h, 1, 512, f);
}

static void put_data(FILE *f, const char *data, size_t n) {
    fwrite(data, 1, n, f);
    char pad[512] = {0};
    fwrite(pad, 1, (512 - n % 512) % 512, f);
}

/* A shard whose only member's real name comes from a pax record (type 'x') or a GNU long name ('L'). */
static const char *evil_shard(char type, const char *name) {
    const char *p = check_path("evil.tar");
    FILE *f = fopen(p, "wb");
    char rec[512];
    if (type == 'x') { /* "LEN path=NAME\n", LEN counting itself */
        size_t body = strlen(" path=\n") + strlen(name), len = body + 2;
        if (len >= 100) len++;
        snprintf(rec, sizeof rec, "%zu path=%s\n", len, name);
    } else {
        snprintf(rec, sizeof rec, "%s", name);
    }
    put_header(f, type == 'x' ? "PaxHeaders/x" : "././@LongLink", strlen(rec), type);
    put_data(f, rec, strlen(rec));
    put_header(f, "000000001.jpg", 3, '0');
    put_data(f, "abc", 3);
    char z[1024] = {0};
    fwrite(z, 1, sizeof z, f);
    fclose(f);
    return p;
}

static const char *EVIL[] = {"../000000001.jpg", "/etc/000000001.jpg", "a/b/../../../000000001.jpg", ".."};

TEST(security_tar_refuses_pax_and_gnu_long_names_with_dotdot_or_absolute) {
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++) {
            const char *p = evil_shard(t ? 'L' : 'x', EVIL[i]);
            ovs_tarr r;
            ovs_err e = {0};
            CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
            ovs_tar_sample s;
            int rc = ovs_tarr_next_sample(&r, &s, &e);
            CHECK_MSG(rc == OVS_EUSER && strstr(e.msg, "refused") && strstr(e.msg, EVIL[i]), "type %c name %s: rc %d, %s",
                      t ? 'L' : 'x', EVIL[i], rc, e.msg);
            ovs_tarr_close(&r);
        }
}

TEST(security_tar_read_by_offset_refuses_evil_names) {
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 4; i++) {
            const char *p = evil_shard(t ? 'L' : 'x', EVIL[i]);
            ovs_tarr r;
            ovs_err e = {0};
            CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
            ovs_tar_member m;
            ovs_buf b = {0};
            int rc = ovs_tar_read_member_at(r.fd, p, 0, r.file_size, &m, &b, &e);
            CHECK_MSG(rc == OVS_EUSER && strstr(e.msg, "refused"), "type %c name %s: rc %d, %s", t ? 'L' : 'x', EVIL[i], rc,
                      e.msg);
            ovs_buf_free(&b);
            ovs_tarr_close(&r);
        }
}

TEST(security_tar_accepts_the_same_shard_with_a_safe_long_name) {
    const char *p = evil_shard('x', "dir/sub/000000001.jpg");
    ovs_tarr r;
    ovs_err e = {0};
    CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
    ovs_tar_sample s;
    CHECK_EQ_INT(ovs_tarr_next_sample(&r, &s, &e), OVS_TAR_GOT);
    CHECK_STR(s.m[0].name, "dir/sub/000000001.jpg");
    ovs_tarr_close(&r);
}

int main(void) {
    RUN(security_tar_refuses_pax_and_gnu_long_names_with_dotdot_or_absolute);
    RUN(security_tar_read_by_offset_refuses_evil_names);
    RUN(security_tar_accepts_the_same_shard_with_a_safe_long_name);
    return check_done();
}
