/* test_ingest.c — the TSV line checks, UTF-8 validation, the line reader's edge cases (over-long
 * lines, no final newline, empty file) and the ingest library on real SQLite files, in the bulk and
 * the incremental way: hash collisions, duplicates across batches and files, the accounting of
 * every line, an interrupted bulk ingest, databases from before the url_hash index had a name. */
#include "db/db.h"
#include "ingest/ingest.h"
#include "ingest/tsv.h"
#include "tests/check.h"
#include "util/rng.h"

static int check(const char *line, int caption_first) {
    ovs_tsv_fields f;
    return ovs_tsv_check(line, strlen(line), caption_first, &f);
}

static void write_text(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(text, 1, n, f);
    fclose(f);
}

TEST(tsv_check_accepts_and_splits_on_first_tab) {
    ovs_tsv_fields f;
    const char *l = "https://x.org/a.jpg\ta \"quoted\"\tcaption\r";
    CHECK_EQ_INT(ovs_tsv_check(l, strlen(l), 0, &f), OVS_REJ_NONE);
    CHECK_EQ_INT(f.url_len, 19);
    CHECK(f.caption_len == strlen("a \"quoted\"\tcaption") && !memcmp(f.caption, "a \"quoted\"\tcaption", f.caption_len));
    const char *c = "a caption\thttp://x.org/b.jpg";
    CHECK_EQ_INT(ovs_tsv_check(c, strlen(c), 1, &f), OVS_REJ_NONE);
    CHECK(f.url_len == 18 && !memcmp(f.url, "http://x.org/b.jpg", 18));
    CHECK(f.caption_len == 9 && !memcmp(f.caption, "a caption", 9));
}

TEST(tsv_check_names_each_bad_kind) {
    CHECK_EQ_INT(check("no tab", 0), OVS_REJ_MISSING_TAB);
    CHECK_EQ_INT(check("", 0), OVS_REJ_MISSING_TAB);
    CHECK_EQ_INT(check("\tcap", 0), OVS_REJ_EMPTY_URL);
    CHECK_EQ_INT(check("cap\t", 1), OVS_REJ_EMPTY_URL);
    CHECK_EQ_INT(check("ftp://x/y\tcap", 0), OVS_REJ_BAD_SCHEME);
    CHECK_EQ_INT(check("httpx://x/y\tcap", 0), OVS_REJ_BAD_SCHEME);
    CHECK_EQ_INT(check("https://\tcap", 0), OVS_REJ_BAD_URL);
    CHECK_EQ_INT(check("http:///path\tcap", 0), OVS_REJ_BAD_URL);
    CHECK_EQ_INT(check("cap\thttp://x/a\tb", 1), OVS_REJ_BAD_URL); /* a tab inside the URL */
    CHECK_EQ_INT(check("http://x/y\t", 0), OVS_REJ_EMPTY_CAPTION);
    CHECK_EQ_INT(check("http://x/y\t \t ", 0), OVS_REJ_EMPTY_CAPTION);
    CHECK_EQ_INT(check("http://x/y\tcaf\xe9", 0), OVS_REJ_BAD_UTF8);
    char nul[] = "http://x/y\tn\0l";
    ovs_tsv_fields f;
    CHECK_EQ_INT(ovs_tsv_check(nul, sizeof nul - 1, 0, &f), OVS_REJ_NUL);
    static char big[OVS_TSV_MAX_LINE + 10];
    memset(big, 'a', sizeof big);
    memcpy(big, "http://x/", 9);
    big[9 + OVS_TSV_MAX_URL] = '\t';
    CHECK_EQ_INT(ovs_tsv_check(big, 9 + OVS_TSV_MAX_URL + 5, 0, &f), OVS_REJ_URL_TOO_LONG);
    CHECK_EQ_INT(ovs_tsv_check(big, 9 + OVS_TSV_MAX_URL - 10, 0, &f), OVS_REJ_MISSING_TAB);
    big[20] = '\t';
    CHECK_EQ_INT(ovs_tsv_check(big, 21 + OVS_TSV_MAX_CAPTION, 0, &f), OVS_REJ_NONE);
    CHECK_EQ_INT(ovs_tsv_check(big, 22 + OVS_TSV_MAX_CAPTION, 0, &f), OVS_REJ_CAPTION_TOO_LONG);
    CHECK_EQ_INT(ovs_tsv_check(big, OVS_TSV_MAX_LINE + 1, 0, &f), OVS_REJ_LINE_TOO_LONG);
    CHECK_STR(ovs_reject_name(OVS_REJ_NUL), "nul_byte");
    CHECK_STR(ovs_reject_name(OVS_REJ_HASH_COLLISION), "hash_collision");
}

TEST(utf8_validation_is_strict) {
    const char *good[] = {"plain", "caf\xc3\xa9", "\xe2\x82\xac euro", "\xf0\x9f\x98\x80 emoji", "\xf4\x8f\xbf\xbf",
                          "0123456789abcdef\xc3\xa9 after the fast path"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        CHECK_MSG(ovs_utf8_valid((const unsigned char *)good[i], strlen(good[i])), "good[%zu] rejected", i);
    const char *bad[] = {"\xc0\xaf",         /* overlong '/' */
                         "\xe0\x80\xaf",     /* overlong */
                         "\xed\xa0\x80",     /* surrogate */
                         "\xf4\x90\x80\x80", /* > U+10FFFF */
                         "\xf5\x80\x80\x80", "\xff", "\x80", "abc\xc3",
                         "0123456789abcdef\xe2\x82"}; /* truncated at the end */
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_MSG(!ovs_utf8_valid((const unsigned char *)bad[i], strlen(bad[i])), "bad[%zu] accepted", i);
}

TEST(tsv_reader_long_lines_last_line_empty_file) {
    ovs_err e = {0};
    /* line 1 ok, line 2 is 3 MB (longer than the read buffer), line 3 has no final newline */
    size_t n = 3000000;
    char *text = malloc(n + 100);
    int k = sprintf(text, "http://x/1\tone\n");
    memset(text + k, 'z', n);
    k += (int)n;
    k += sprintf(text + k, "\nhttp://x/3\tthree");
    write_text(check_path("long.tsv"), text, (size_t)k);
    free(text);
    ovs_tsv t;
    ovs_tsv_line l;
    CHECK_OK(ovs_tsv_open(&t, check_path("long.tsv"), &e), &e);
    CHECK_OK(ovs_tsv_next(&t, &l, &e), &e);
    CHECK(l.ptr && l.len == 14 && !l.too_long && l.number == 1);
    CHECK_OK(ovs_tsv_next(&t, &l, &e), &e);
    CHECK(l.ptr && l.too_long && l.len == OVS_TSV_MAX_LINE && l.number == 2 && l.ptr[0] == 'z');
    CHECK_OK(ovs_tsv_next(&t, &l, &e), &e);
    CHECK(l.ptr && l.len == 16 && !memcmp(l.ptr, "http://x/3\tthree", 16) && l.number == 3);
    CHECK_OK(ovs_tsv_next(&t, &l, &e), &e);
    CHECK(l.ptr == NULL);
    ovs_tsv_close(&t);

    write_text(check_path("empty.tsv"), "", 0);
    CHECK_OK(ovs_tsv_open(&t, check_path("empty.tsv"), &e), &e);
    if (!e.code) {
        CHECK_OK(ovs_tsv_next(&t, &l, &e), &e);
        CHECK(l.ptr == NULL && t.line == 0);
        ovs_tsv_close(&t);
    }

    CHECK_EQ_INT(ovs_tsv_open(&t, check_path("missing.tsv"), &e), OVS_EUSER);
    CHECK(strstr(e.msg, "missing.tsv") != NULL);
    CHECK_EQ_INT(ovs_tsv_open(&t, check_tmpdir(), &e), OVS_EUSER);
    CHECK(strstr(e.msg, "is a directory") != NULL);
}

static int64_t q1(ovs_db *db, const char *sql) {
    int64_t v = -1;
    ovs_err e = {0};
    ovs_db_int(db, sql, &v, &e);
    return v;
}

static const char *MODE_NAME[] = {"auto", "bulk", "incremental"};

/* 300 distinct URLs squeezed into 4-bit hashes: 16 are inserted, the rest are hash collisions
 * (inside a batch and against the database) or duplicates, and every line is accounted for; the
 * same in the bulk and the incremental way. */
TEST(ingest_hash_collisions_are_rejects_not_duplicates) {
    ovs_err e = {0};
    FILE *f = fopen(check_path("coll.tsv"), "w");
    for (int i = 0; i < 300; i++) fprintf(f, "http://c.example/%d.jpg\tcaption %d\n", i, i);
    for (int i = 0; i < 300; i += 3) fprintf(f, "http://c.example/%d.jpg\tagain %d\n", i, i);
    fclose(f);
    for (int mode = OVS_BULK_YES; mode <= OVS_BULK_NO; mode++) {
        char name[64];
        snprintf(name, sizeof name, "coll-%s.db", MODE_NAME[mode]);
        ovs_db db;
        CHECK_OK(ovs_db_open(&db, check_path(name), OVS_DB_CREATE, &e), &e);
        ovs_ingest_opts o = {.batch_lines = 37, .hash_bits = 4, .bulk = mode};
        ovs_ingest_counts c = {0};
        ovs_ingest s;
        CHECK_OK(ovs_ingest_begin(&s, &db, &e), &e);
        CHECK_OK(ovs_ingest_file(&s, check_path("coll.tsv"), &o, &c, NULL, &e), &e);
        CHECK_EQ_INT(s.bulk, mode == OVS_BULK_YES);
        CHECK_OK(ovs_ingest_end(&s, &e), &e);
        CHECK_EQ_INT(c.lines, 400);
        CHECK_EQ_INT(c.inserted, 16);
        CHECK_EQ_INT(c.inserted + c.duplicates + c.rejected, 400);
        CHECK_EQ_INT(c.rejected, c.by_reason[OVS_REJ_HASH_COLLISION]);
        CHECK(c.duplicates > 0 && c.rejected > 200);
        CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM samples"), 16);
        CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM rejects WHERE reason = 'hash_collision'"), c.rejected);
        CHECK_EQ_INT(q1(&db, "SELECT inserted + duplicates + rejected FROM sources"), 400);
        /* for every hash, the earliest line holding it is the one kept */
        int64_t first[16] = {0};
        for (int i = 0; i < 300; i++) {
            char url[64];
            int n = snprintf(url, sizeof url, "http://c.example/%d.jpg", i);
            int64_t h = ovs_url_hash(url, (size_t)n, 4);
            if (!first[h]) first[h] = i + 1;
        }
        for (int h = 0; h < 16; h++) {
            char sql[96];
            snprintf(sql, sizeof sql, "SELECT line FROM samples WHERE url_hash = %d", h);
            CHECK_EQ_INT(q1(&db, sql), first[h]);
        }
        ovs_db_close(&db);
    }
}

static void write_dup_files(void) {
    FILE *a = fopen(check_path("a.tsv"), "w"), *b = fopen(check_path("b.tsv"), "w");
    for (int i = 0; i < 1000; i++) fprintf(a, "http://d.example/%d.jpg\tcaption %d\n", i % 700, i);
    for (int i = 500; i < 1500; i++) fprintf(b, "http://d.example/%d.jpg\tcaption %d\n", i, i);
    fclose(a);
    fclose(b);
}

static int indexes_present(ovs_db *db) {
    return (int)q1(db, "SELECT count(*) FROM sqlite_master WHERE name IN ('samples_url_hash', 'samples_state')");
}

/* The same URLs in two files and across batches: counted as duplicates, inserted once, the first
 * occurrence kept; bulk and incremental agree. */
TEST(ingest_duplicates_across_batches_and_files) {
    ovs_err e = {0};
    write_dup_files();
    for (int mode = OVS_BULK_AUTO; mode <= OVS_BULK_NO; mode++) {
        char name[64];
        snprintf(name, sizeof name, "d-%s.db", MODE_NAME[mode]);
        ovs_db db;
        CHECK_OK(ovs_db_open(&db, check_path(name), OVS_DB_CREATE, &e), &e);
        ovs_ingest s;
        CHECK_OK(ovs_ingest_begin(&s, &db, &e), &e);
        ovs_ingest_opts o = {.batch_lines = 64, .bulk = mode};
        ovs_ingest_counts c = {0};
        CHECK_OK(ovs_ingest_file(&s, check_path("a.tsv"), &o, &c, NULL, &e), &e);
        CHECK_EQ_INT(c.inserted, 700);
        CHECK_EQ_INT(c.duplicates, 300);
        CHECK_EQ_INT(s.bulk, mode != OVS_BULK_NO); /* auto: an empty database takes the bulk way */
        CHECK_OK(ovs_ingest_file(&s, check_path("b.tsv"), &o, &c, NULL, &e), &e);
        CHECK_EQ_INT(c.inserted, 1500);
        CHECK_EQ_INT(c.duplicates, 300 + 200);
        CHECK_EQ_INT(c.lines, 2000);
        CHECK_OK(ovs_ingest_end(&s, &e), &e);
        CHECK_EQ_INT(indexes_present(&db), 2);
        CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM samples"), 1500);
        CHECK_EQ_INT(q1(&db, "SELECT count(DISTINCT url) FROM samples"), 1500);
        /* the first occurrence is kept: line 1 of a.tsv for URL 0, line 1 of b.tsv for URL 700 */
        CHECK_EQ_INT(q1(&db, "SELECT line FROM samples WHERE url = 'http://d.example/0.jpg'"), 1);
        CHECK_EQ_INT(q1(&db, "SELECT line FROM samples WHERE url = 'http://d.example/700.jpg'"), 201);
        CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM samples WHERE caption = 'caption ' || (line - 1 + 500 * (source_id - 1))"), 1500);
        CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM sources WHERE lines_done = 1000"), 2);
        sqlite3_stmt *st;
        CHECK_OK(ovs_db_prepare(&db, &st, "PRAGMA journal_mode", &e), &e);
        sqlite3_step(st);
        CHECK_STR((const char *)sqlite3_column_text(st, 0), "wal");
        sqlite3_finalize(st);
        ovs_db_close(&db);
    }
}

/* A bulk ingest that stops before ovs_ingest_end (as a kill -9 would) leaves its rows committed and
 * the url_hash index missing: the next ingest goes on in bulk mode from what is stored (no URL
 * twice), and any other open builds the index. */
TEST(ingest_interrupted_bulk_resumes_and_open_rebuilds_indexes) {
    ovs_err e = {0};
    write_dup_files();
    ovs_db db;
    CHECK_OK(ovs_db_open(&db, check_path("int.db"), OVS_DB_CREATE, &e), &e);
    ovs_ingest s;
    ovs_ingest_opts o = {.batch_lines = 100, .bulk = OVS_BULK_YES};
    ovs_ingest_counts c = {0};
    CHECK_OK(ovs_ingest_begin(&s, &db, &e), &e);
    CHECK_OK(ovs_ingest_file(&s, check_path("a.tsv"), &o, &c, NULL, &e), &e);
    ovs_hashset_free(&s.urls);
    ovs_db_close(&db); /* no ovs_ingest_end */

    CHECK_OK(ovs_db_open(&db, check_path("int.db"), OVS_DB_KEEP_INDEXES, &e), &e);
    CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM sqlite_master WHERE name = 'samples_url_hash'"), 0);
    CHECK_EQ_INT(ovs_db_indexes_missing(&db), 1);
    o.bulk = OVS_BULK_NO; /* does not apply: the indexes are missing, the run goes on in bulk */
    memset(&c, 0, sizeof c);
    CHECK_OK(ovs_ingest_begin(&s, &db, &e), &e);
    CHECK_EQ_INT(s.bulk, 1);
    CHECK_OK(ovs_ingest_file(&s, check_path("a.tsv"), &o, &c, NULL, &e), &e);
    CHECK_EQ_INT(c.skipped_lines, 1000);
    CHECK_OK(ovs_ingest_file(&s, check_path("b.tsv"), &o, &c, NULL, &e), &e);
    CHECK_EQ_INT(c.inserted, 800);
    CHECK_EQ_INT(c.duplicates, 200);
    ovs_hashset_free(&s.urls);
    ovs_db_close(&db); /* interrupted again */

    CHECK_OK(ovs_db_open(&db, check_path("int.db"), 0, &e), &e); /* any verb */
    CHECK_EQ_INT(indexes_present(&db), 2);
    CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM samples"), 1500);
    CHECK_EQ_INT(q1(&db, "SELECT count(DISTINCT url_hash) FROM samples"), 1500);
    CHECK_EQ_INT(q1(&db, "SELECT max(id) FROM samples"), 1500); /* ids follow on */
    CHECK(ovs_db_exec(&db, "INSERT INTO samples(url, url_hash, caption, source_id, line)"
                           " SELECT url, url_hash, caption, source_id, line FROM samples LIMIT 1", &e) != 0);
    CHECK(strstr(e.msg, "UNIQUE") != NULL);
    CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
    ovs_db_close(&db);
}

/* A database whose url_hash is a UNIQUE column (as ovseg made them before the index had a name):
 * that index cannot be dropped, so every ingest takes the incremental way, and works. */
TEST(ingest_old_unique_column_database_stays_incremental) {
    ovs_err e = {0};
    write_dup_files();
    ovs_db db;
    CHECK_OK(ovs_db_open(&db, check_path("old.db"), OVS_DB_CREATE, &e), &e);
    sqlite3_stmt *st;
    CHECK_OK(ovs_db_prepare(&db, &st, "SELECT replace(sql, 'url_hash     INTEGER NOT NULL,', 'url_hash INTEGER NOT NULL UNIQUE,')"
                                      " FROM sqlite_master WHERE name = 'samples'", &e), &e);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    char *create = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    CHECK(strstr(create, "UNIQUE") != NULL);
    CHECK_OK(ovs_db_exec(&db, "PRAGMA foreign_keys=OFF; DROP TABLE samples", &e), &e);
    CHECK_OK(ovs_db_exec(&db, create, &e), &e);
    CHECK_OK(ovs_db_exec(&db, "CREATE INDEX samples_state ON samples(state)", &e), &e);
    free(create);
    ovs_db_close(&db);
    CHECK_OK(ovs_db_open(&db, check_path("old.db"), 0, &e), &e);
    CHECK_EQ_INT(q1(&db, "SELECT count(*) FROM sqlite_master WHERE name = 'samples_url_hash'"), 0); /* not added */
    ovs_ingest s;
    ovs_ingest_opts o = {.batch_lines = 64, .bulk = OVS_BULK_YES};
    ovs_ingest_counts c = {0};
    CHECK_OK(ovs_ingest_begin(&s, &db, &e), &e);
    CHECK_OK(ovs_ingest_file(&s, check_path("a.tsv"), &o, &c, NULL, &e), &e);
    CHECK_EQ_INT(s.bulk, 0);
    CHECK_OK(ovs_ingest_file(&s, check_path("b.tsv"), &o, &c, NULL, &e), &e);
    CHECK_OK(ovs_ingest_end(&s, &e), &e);
    CHECK_EQ_INT(c.inserted, 1500);
    CHECK_EQ_INT(c.duplicates, 500);
    CHECK_EQ_INT(q1(&db, "SELECT count(DISTINCT url) FROM samples"), 1500);
    ovs_db_close(&db);
}

/* The URL-hash map: keys put in sorted order after a reserve, growth, repeats, negative keys. */
TEST(hashset_finds_what_was_put) {
    ovs_hashset h = {0};
    int64_t *v;
    CHECK_OK(ovs_hashset_reserve(&h, 5000) ? OVS_EINTERNAL : 0, &(ovs_err){0});
    for (int64_t k = -2500; k < 2500; k++) {
        CHECK_EQ_INT(ovs_hashset_put(&h, k * INT64_C(1000003), &v), 1);
        *v = k;
    }
    for (int i = 0; i < 20000; i++) { /* growth while putting */
        int64_t k = (int64_t)ovs_hash64(&i, sizeof i);
        if (ovs_hashset_put(&h, k, &v) == 1) *v = i;
    }
    for (int64_t k = -2500; k < 2500; k++) {
        CHECK_EQ_INT(ovs_hashset_put(&h, k * INT64_C(1000003), &v), 0);
        CHECK_EQ_INT(*v, k);
    }
    CHECK(h.n >= 25000 - 2 && h.n <= h.cap / 4 * 3);
    ovs_hashset_free(&h);
    CHECK(h.slots == NULL && h.n == 0);
}

int main(void) {
    RUN(tsv_check_accepts_and_splits_on_first_tab);
    RUN(tsv_check_names_each_bad_kind);
    RUN(utf8_validation_is_strict);
    RUN(tsv_reader_long_lines_last_line_empty_file);
    RUN(ingest_hash_collisions_are_rejects_not_duplicates);
    RUN(ingest_duplicates_across_batches_and_files);
    RUN(ingest_interrupted_bulk_resumes_and_open_rebuilds_indexes);
    RUN(ingest_old_unique_column_database_stays_incremental);
    RUN(hashset_finds_what_was_put);
    return check_done();
}
