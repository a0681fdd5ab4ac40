/* test_tarread.c — the tar reader on tar files built byte by byte here and by tarwrite: grouping by
 * key, pax long names, refused names (.., absolute), truncation and bad checksums reported with the
 * shard:member, reading a member by its header offset. */
#include "shards/tarread.h"
#include "shards/tarwrite.h"
#include "tests/check.h"

/* Appends one ustar header (+ data, padded) for name/size/type to f. */
static void put_member(FILE *f, const char *name, const char *data, size_t n, char type) {
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
    fwrite(data, 1, n, f);
    char pad[512] = {0};
    fwrite(pad, 1, (512 - n % 512) % 512, f);
}

static void put_end(FILE *f) {
    char z[1024] = {0};
    fwrite(z, 1, sizeof z, f);
}

static int count_samples(const char *path, char keys[][64], int *nmem, ovs_err *e) {
    ovs_tarr r;
    if (ovs_tarr_open(&r, path, e)) return -1;
    ovs_tar_sample s;
    int n = 0, rc;
    while ((rc = ovs_tarr_next_sample(&r, &s, e)) == OVS_TAR_GOT) {
        snprintf(keys[n], 64, "%.63s", s.key);
        nmem[n++] = s.n;
    }
    ovs_tarr_close(&r);
    return rc ? -1 : n;
}

TEST(tarread_groups_members_by_key) {
    const char *p = check_path("g.tar");
    FILE *f = fopen(p, "wb");
    put_member(f, "d/000001.jpg", "abc", 3, '0');
    put_member(f, "d/000001.txt", "cap", 3, '0');
    put_member(f, "d/000001.pair0.webp", "xy", 2, '0');
    put_member(f, "d/", "", 0, '5');
    put_member(f, "d/000002.jpg", "a", 1, '0');
    put_end(f);
    fclose(f);
    char keys[8][64];
    int nm[8];
    ovs_err e = {0};
    int n = count_samples(p, keys, nm, &e);
    CHECK_EQ_INT(n, 2);
    CHECK_STR(keys[0], "d/000001");
    CHECK_EQ_INT(nm[0], 3);
    CHECK_STR(keys[1], "d/000002");
    char key[64];
    CHECK_STR(ovs_tar_split_name("d/000001.pair0.webp", key, sizeof key), "pair0.webp");
    CHECK_STR(key, "d/000001");
}

TEST(tarread_reads_pax_long_names) {
    const char *p = check_path("pax.tar");
    char longname[200], rec[300];
    memset(longname, 'k', 150);
    strcpy(longname + 150, ".txt");
    int len = (int)strlen(longname) + 7; /* " path=" + "\n" */
    int total = len + (len + 3 >= 100 ? 3 : 2);
    snprintf(rec, sizeof rec, "%d path=%s\n", total, longname);
    FILE *f = fopen(p, "wb");
    put_member(f, "PaxHeader/x", rec, strlen(rec), 'x');
    put_member(f, "short.txt", "hello", 5, '0');
    put_end(f);
    fclose(f);
    ovs_tarr r;
    ovs_err e = {0};
    CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
    ovs_tar_member m;
    CHECK_EQ_INT(ovs_tarr_next(&r, &m, &e), OVS_TAR_GOT);
    CHECK_STR(m.name, longname);
    CHECK_EQ_INT(m.size, 5);
    CHECK_EQ_INT(ovs_tarr_next(&r, &m, &e), 0);
    ovs_tarr_close(&r);
}

TEST(tarread_refuses_dotdot_and_absolute_names) {
    const char *names[] = {"../evil.txt", "/etc/passwd", "a/../../b.txt"};
    for (int i = 0; i < 3; i++) {
        const char *p = check_path("evil.tar");
        FILE *f = fopen(p, "wb");
        put_member(f, names[i], "x", 1, '0');
        put_end(f);
        fclose(f);
        ovs_tarr r;
        ovs_err e = {0};
        CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
        ovs_tar_member m;
        CHECK_EQ_INT(ovs_tarr_next(&r, &m, &e), OVS_EUSER);
        CHECK_MSG(strstr(e.msg, "refused") && strstr(e.msg, names[i]), "%s", e.msg);
        ovs_tarr_close(&r);
    }
}

TEST(tarread_reports_truncation_and_bad_checksum_with_the_place) {
    const char *p = check_path("t.tar");
    char big[2000];
    memset(big, 'z', sizeof big);
    FILE *f = fopen(p, "wb");
    put_member(f, "000001.txt", "ok", 2, '0');
    put_member(f, "000002.jpg", big, sizeof big, '0');
    fclose(f);
    CHECK(truncate(p, 1024 + 512 + 1000) == 0);
    ovs_tarr r;
    ovs_err e = {0};
    CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
    ovs_tar_sample s;
    CHECK_EQ_INT(ovs_tarr_next_sample(&r, &s, &e), OVS_TAR_GOT);
    CHECK_EQ_INT(ovs_tarr_next_sample(&r, &s, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "t.tar:000002.jpg: truncated member"), "%s", e.msg);
    CHECK_EQ_INT(ovs_tarr_next_sample(&r, &s, &e), 0);
    ovs_tarr_close(&r);
    f = fopen(p, "wb");
    put_member(f, "000001.txt", "ok", 2, '0');
    fclose(f);
    f = fopen(p, "r+b");
    fseek(f, 10, SEEK_SET);
    fputc('Q', f);
    fclose(f);
    CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
    ovs_tar_member m;
    CHECK_EQ_INT(ovs_tarr_next(&r, &m, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "checksum"), "%s", e.msg);
    ovs_tarr_close(&r);
}

TEST(tarread_reads_a_member_by_tarwrite_offset) {
    const char *p = check_path("w.tar");
    ovs_tarw *w;
    ovs_err e = {0};
    int64_t off[3];
    CHECK_OK(ovs_tarw_open(&w, p, &e), &e);
    CHECK_OK(ovs_tarw_add(w, "000001.jpg", "one", 3, &off[0], &e), &e);
    CHECK_OK(ovs_tarw_add(w, "000002.jpg", "second", 6, &off[1], &e), &e);
    CHECK_OK(ovs_tarw_add(w, "000003.jpg", "3", 1, &off[2], &e), &e);
    CHECK_OK(ovs_tarw_commit(w, NULL, NULL, &e), &e);
    ovs_tarr r;
    CHECK_OK(ovs_tarr_open(&r, p, &e), &e);
    ovs_tar_member m;
    ovs_buf b = {0};
    CHECK_OK(ovs_tar_read_member_at(r.fd, p, off[1], r.file_size, &m, &b, &e), &e);
    CHECK_STR(m.name, "000002.jpg");
    CHECK_STR(b.data, "second");
    CHECK_EQ_INT(ovs_tar_read_member_at(r.fd, p, off[1] + 7, r.file_size, &m, &b, &e), OVS_EUSER);
    ovs_buf_free(&b);
    ovs_tarr_close(&r);
}

int main(void) {
    RUN(tarread_groups_members_by_key);
    RUN(tarread_reads_pax_long_names);
    RUN(tarread_refuses_dotdot_and_absolute_names);
    RUN(tarread_reports_truncation_and_bad_checksum_with_the_place);
    RUN(tarread_reads_a_member_by_tarwrite_offset);
    return check_done();
}
