/* test_diskfull.c — a full disk is the environment's fault, not ovseg's: every writer returns
 * OVS_EUSER (exit 1) with a message naming the file and "No space left on device", and leaves no
 * .tmp behind. The full disk is /dev/full, reached through a symlink at the writer's PATH.tmp (no
 * tmpfs or root needed; tests/chaos/chaos_diskfull.py does the same on a real full tmpfs). The
 * database's own full case (SQLITE_FULL) comes from PRAGMA max_page_count. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"
#include "shards/tarwrite.h"
#include "tests/check.h"
#include "train/safetensors.h"
#include "util/fsutil.h"

/* Points path.tmp at /dev/full; returns path. */
static const char *full_at(const char *name) {
    const char *path = check_path(name);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    if (symlink("/dev/full", tmp)) { perror("symlink"); exit(2); }
    return path;
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

static void check_enospc(int rc, const ovs_err *e, const char *path) {
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK_EQ_INT(rc, OVS_EUSER);
    CHECK_MSG(strstr(e->msg, tmp) && strstr(e->msg, "No space left on device"), "message: %s", e->msg);
    CHECK_MSG(!exists(tmp) && !exists(path), "%s or %s left behind", tmp, path);
}

TEST(diskfull_tar_shard_write_is_a_user_error_naming_the_file) {
    static char big[300000]; /* more than libarchive hands over at once: the write itself fails */
    const char *path = full_at("train-000000.tar");
    ovs_err e = {0};
    ovs_tarw *w;
    CHECK_OK(ovs_tarw_open(&w, path, &e), &e);
    int rc = ovs_tarw_add(w, "000000001.jpg", big, sizeof big, NULL, &e);
    if (!rc) rc = ovs_tarw_commit(w, NULL, NULL, &e);
    else ovs_tarw_abort(w);
    check_enospc(rc, &e, path);
    CHECK_MSG(strstr(e.msg, "000000001.jpg") || strstr(e.msg, "finishing tar"), "message: %s", e.msg);
}

TEST(diskfull_safetensors_checkpoint_write_is_a_user_error_naming_the_file) {
    const char *path = full_at("ckpt-00000001.safetensors");
    static float x[4096];
    int64_t shape[1] = {4096};
    ovs_st_writer w;
    ovs_st_writer_init(&w);
    ovs_err e = {0};
    CHECK_OK(ovs_st_add(&w, "w", OVS_ST_F32, 1, shape, x, &e), &e);
    check_enospc(ovs_st_write(&w, path, &e), &e, path);
    ovs_st_writer_free(&w);
}

TEST(diskfull_atomic_file_write_is_a_user_error_naming_the_file) {
    const char *path = full_at("manifest.json");
    ovs_err e = {0};
    check_enospc(ovs_write_atomic(path, "{}", 2, &e), &e, path);
}

TEST(diskfull_database_is_a_user_error_naming_the_database) {
    const char *path = check_path("full.db");
    ovs_db db;
    ovs_err e = {0};
    CHECK_OK(ovs_db_open(&db, path, OVS_DB_CREATE, &e), &e);
    int64_t pages = 0;
    CHECK_OK(ovs_db_int(&db, "PRAGMA page_count", &pages, &e), &e);
    char sql[100];
    snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages + 2);
    CHECK_OK(ovs_db_exec(&db, sql, &e), &e);
    int rc = ovs_db_exec(&db, "CREATE TABLE filler(x); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                              "WHERE i < 100000) INSERT INTO filler SELECT randomblob(100) FROM n", &e);
    CHECK_EQ_INT(rc, OVS_EUSER);
    CHECK_MSG(strstr(e.msg, path) && strstr(e.msg, "full"), "message: %s", e.msg);
    /* a bug (bad SQL) stays internal */
    CHECK_EQ_INT(ovs_db_exec(&db, "SELEC 1", &e), OVS_EINTERNAL);
    int64_t n = -1;
    CHECK_OK(ovs_db_int(&db, "PRAGMA integrity_check = 1", &n, &e), &e);
    ovs_db_close(&db);
}

int main(void) {
    RUN(diskfull_tar_shard_write_is_a_user_error_naming_the_file);
    RUN(diskfull_safetensors_checkpoint_write_is_a_user_error_naming_the_file);
    RUN(diskfull_atomic_file_write_is_a_user_error_naming_the_file);
    RUN(diskfull_database_is_a_user_error_naming_the_database);
    return check_done();
}
