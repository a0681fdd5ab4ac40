/* test_db.c — database open/create/migrate, runs log, and refusals of non-ovseg files. */
#include "db/db.h"
#include "tests/check.h"

TEST(db_init_creates_schema_with_wal) {
    ovs_err e = {0};
    ovs_db db;
    CHECK_OK(ovs_db_open(&db, check_path("a.db"), OVS_DB_CREATE, &e), &e);
    CHECK_EQ_INT(ovs_db_user_version(&db), ovs_db_schema_version());
    int64_t n = 0;
    CHECK_OK(ovs_db_int(&db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='samples'", &n, &e), &e);
    CHECK_EQ_INT(n, 1);
    sqlite3_stmt *st;
    CHECK_OK(ovs_db_prepare(&db, &st, "PRAGMA journal_mode", &e), &e);
    sqlite3_step(st);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    ovs_db_close(&db);
}

TEST(db_init_twice_is_a_noop) {
    ovs_err e = {0};
    ovs_db db;
    CHECK_OK(ovs_db_open(&db, check_path("b.db"), OVS_DB_CREATE, &e), &e);
    ovs_db_exec(&db, "INSERT INTO meta VALUES('x','1')", &e);
    ovs_db_close(&db);
    CHECK_OK(ovs_db_open(&db, check_path("b.db"), OVS_DB_CREATE, &e), &e);
    int64_t n = 0;
    ovs_db_int(&db, "SELECT count(*) FROM meta WHERE key='x'", &n, &e);
    CHECK_EQ_INT(n, 1);
    ovs_db_close(&db);
}

TEST(db_open_refuses_missing_dir_and_foreign_files) {
    ovs_err e = {0};
    ovs_db db;
    CHECK_EQ_INT(ovs_db_open(&db, check_path("nope.db"), 0, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "nope.db") && strstr(e.msg, "ovseg init"));
    CHECK_EQ_INT(ovs_db_open(&db, check_tmpdir(), 0, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "directory") != NULL);
    FILE *f = fopen(check_path("junk.db"), "w");
    fputs("this is not sqlite, just text that is long enough to be a header ......................\n", f);
    fclose(f);
    CHECK_EQ_INT(ovs_db_open(&db, check_path("junk.db"), 0, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "junk.db") != NULL);
    sqlite3 *h;
    sqlite3_open(check_path("other.db"), &h);
    sqlite3_exec(h, "CREATE TABLE t(x)", 0, 0, 0);
    sqlite3_close(h);
    CHECK_EQ_INT(ovs_db_open(&db, check_path("other.db"), 0, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "not an ovseg database") != NULL);
}

TEST(db_refuses_newer_schema) {
    ovs_err e = {0};
    ovs_db db;
    CHECK_OK(ovs_db_open(&db, check_path("c.db"), OVS_DB_CREATE, &e), &e);
    ovs_db_exec(&db, "PRAGMA user_version = 999", &e);
    ovs_db_close(&db);
    CHECK_EQ_INT(ovs_db_open(&db, check_path("c.db"), 0, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "newer") != NULL);
}

TEST(db_runs_log_records_start_and_end) {
    ovs_err e = {0};
    ovs_db db;
    CHECK_OK(ovs_db_open(&db, check_path("d.db"), OVS_DB_CREATE, &e), &e);
    char *argv[] = {"ingest", "x.tsv"};
    CHECK_OK(ovs_db_run_start(&db, "ingest", 2, argv, &e), &e);
    CHECK_OK(ovs_db_run_end(&db, 1, "{\"rows\":3}", &e), &e);
    int64_t n = 0;
    ovs_db_int(&db, "SELECT count(*) FROM runs WHERE status='ok' AND args='ingest x.tsv' AND ended_at IS NOT NULL", &n, &e);
    CHECK_EQ_INT(n, 1);
    ovs_db_close(&db);
}

int main(void) {
    RUN(db_init_creates_schema_with_wal);
    RUN(db_init_twice_is_a_noop);
    RUN(db_open_refuses_missing_dir_and_foreign_files);
    RUN(db_refuses_newer_schema);
    RUN(db_runs_log_records_start_and_end);
    return check_done();
}
