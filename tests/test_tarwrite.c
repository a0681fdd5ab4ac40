/* test_tarwrite.c — atomic tar shards: members readable by tar(1), header offsets point at the
 * members, sha256 matches the file, abort leaves nothing, an unwritable folder is a clear error. */
#include "shards/tarwrite.h"
#include "tests/check.h"
#include "util/fsutil.h"
#include "util/sha256.h"

TEST(tarwrite_commit_is_atomic_and_listable) {
    ovs_err e = {0};
    ovs_tarw *w;
    const char *p = check_path("000000.tar");
    CHECK_OK(ovs_tarw_open(&w, p, &e), &e);
    CHECK(access(check_path("000000.tar.tmp"), F_OK) == 0);
    CHECK(access(p, F_OK) != 0);
    int64_t off[3];
    CHECK_OK(ovs_tarw_add(w, "000000001.txt", "a dog", 5, &off[0], &e), &e);
    char big[1500];
    memset(big, 'x', sizeof big);
    CHECK_OK(ovs_tarw_add(w, "000000001.webp", big, sizeof big, &off[1], &e), &e);
    CHECK_OK(ovs_tarw_add(w, "000000002.txt", "two cats", 8, &off[2], &e), &e);
    CHECK_EQ_INT(off[0], 0);
    CHECK_EQ_INT(off[1], 1024);        /* 512 header + 5 bytes padded to 512 */
    CHECK_EQ_INT(off[2], 1024 + 512 + 1536);
    int64_t bytes;
    char hex[65];
    CHECK_OK(ovs_tarw_commit(w, &bytes, hex, &e), &e);
    CHECK(access(check_path("000000.tar.tmp"), F_OK) != 0);
    char *data;
    size_t n;
    CHECK_OK(ovs_read_file(p, &data, &n, &e), &e);
    CHECK_EQ_INT((int64_t)n, bytes);
    char hex2[65];
    ovs_sha256_hex(data, n, hex2);
    CHECK_STR(hex, hex2);
    CHECK(!memcmp(data + off[2], "000000002.txt", 13)); /* offset points at the member's header */
    CHECK(!memcmp(data + off[2] + 512, "two cats", 8));
    free(data);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tar tf '%s' > '%s'", p, check_path("list"));
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_OK(ovs_read_file(check_path("list"), &data, &n, &e), &e);
    CHECK_STR(data, "000000001.txt\n000000001.webp\n000000002.txt\n");
    free(data);
}

TEST(tarwrite_abort_removes_tmp) {
    ovs_err e = {0};
    ovs_tarw *w;
    CHECK_OK(ovs_tarw_open(&w, check_path("000001.tar"), &e), &e);
    ovs_tarw_add(w, "x.txt", "x", 1, NULL, &e);
    ovs_tarw_abort(w);
    CHECK(access(check_path("000001.tar.tmp"), F_OK) != 0);
    CHECK(access(check_path("000001.tar"), F_OK) != 0);
}

TEST(tarwrite_unwritable_folder_names_path) {
    ovs_err e = {0};
    ovs_tarw *w;
    CHECK_EQ_INT(ovs_tarw_open(&w, check_path("missing/000000.tar"), &e), OVS_EUSER);
    CHECK(strstr(e.msg, "missing/000000.tar.tmp") != NULL);
}

int main(void) {
    RUN(tarwrite_commit_is_atomic_and_listable);
    RUN(tarwrite_abort_removes_tmp);
    RUN(tarwrite_unwritable_folder_names_path);
    return check_done();
}
