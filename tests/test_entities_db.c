/* test_entities_db.c — `ovseg entities` storage: a second run does nothing; new rows are the only
 * work; counts and rows always equal a from-scratch run (also after a rules change, which rewrites
 * only the samples whose entities changed); the export lists every processed sample. */
#include "db/db.h"
#include "entities/store.h"
#include "tests/check.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/rng.h"

static ovs_lex lex;
static ovs_ent_rules *rules;
static char **caps, **urls;
static int ncaps;

static void load_captions(void) {
    char path[600];
    snprintf(path, sizeof path, "%s/data/cc3m-val-captions-odd.tsv", check_shared());
    FILE *f = fopen(path, "r");
    char line[8192];
    caps = calloc(2000, sizeof *caps);
    urls = calloc(2000, sizeof *urls);
    while (f && ncaps < 2000 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        caps[ncaps] = strdup(line);
        urls[ncaps++] = strdup(tab + 1);
    }
    if (f) fclose(f);
}

static void open_db(ovs_db *db, const char *name) {
    ovs_err e = {0};
    CHECK_OK(ovs_db_open(db, check_path(name), OVS_DB_CREATE, &e), &e);
    ovs_db_exec(db, "INSERT OR IGNORE INTO sources(id, path, columns) VALUES(1, 'captions.tsv', 'caption,url')", &e);
}

/* Inserts captions [from, to) as samples. */
static void add_samples(ovs_db *db, int from, int to) {
    ovs_err e = {0};
    sqlite3_stmt *st;
    CHECK_OK(ovs_db_prepare(db, &st, "INSERT INTO samples(url, url_hash, caption, source_id, line) VALUES(?1, ?2, ?3, 1, ?4)", &e), &e);
    ovs_db_begin(db, &e);
    for (int i = from; i < to; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, urls[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)ovs_hash64(urls[i], strlen(urls[i])) ^ i);
        sqlite3_bind_text(st, 3, caps[i], -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, i + 1);
        CHECK(sqlite3_step(st) == SQLITE_DONE);
    }
    ovs_db_commit(db, &e);
    sqlite3_finalize(st);
}

/* The whole entity state as text: counts, and every row by sample line. */
static char *dump(ovs_db *db) {
    ovs_buf b = {0};
    ovs_err e = {0};
    sqlite3_stmt *st;
    const char *qs[] = {
        "SELECT name, occurrences, samples FROM entities WHERE samples > 0 ORDER BY name",
        "SELECT s.line, se.start, se.end, e.name FROM sample_entities se JOIN samples s ON s.id = se.sample_id "
        "JOIN entities e ON e.id = se.entity_id ORDER BY s.line, se.start",
        "SELECT count(*) FROM samples WHERE entities_version IS NULL"};
    for (int q = 0; q < 3; q++) {
        ovs_db_prepare(db, &st, qs[q], &e);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) ovs_buf_printf(&b, "%s|", (const char *)sqlite3_column_text(st, c));
            ovs_buf_puts(&b, "\n");
        }
        sqlite3_finalize(st);
    }
    return b.data;
}

/* Counts in entities agree with the rows in sample_entities. */
static int64_t count_mismatches(ovs_db *db) {
    int64_t n = -1;
    ovs_err e = {0};
    ovs_db_int(db, "SELECT count(*) FROM entities e WHERE e.occurrences <> (SELECT count(*) FROM sample_entities se WHERE se.entity_id = e.id) "
                   "OR e.samples <> (SELECT count(DISTINCT sample_id) FROM sample_entities se WHERE se.entity_id = e.id)", &n, &e);
    return n;
}

static ovs_ent_stats update(ovs_db *db, const ovs_ent_rules *r) {
    ovs_ent_stats st = {0};
    ovs_err e = {0};
    CHECK_OK(ovs_ent_update(db, r, 300, &st, &e), &e);
    return st;
}

TEST(entities_db_incremental_equals_from_scratch) {
    CHECK(ncaps >= 1500);
    ovs_db a, b;
    open_db(&a, "inc.db");
    add_samples(&a, 0, 1000);
    ovs_ent_stats s1 = update(&a, rules);
    CHECK_EQ_INT(s1.processed, 1000);
    CHECK_EQ_INT(s1.changed, 1000);
    CHECK(s1.rows > 2000);
    ovs_ent_stats s2 = update(&a, rules);
    CHECK_EQ_INT(s2.processed, 0);
    add_samples(&a, 1000, 1500);
    ovs_ent_stats s3 = update(&a, rules);
    CHECK_EQ_INT(s3.processed, 500);
    open_db(&b, "scratch.db");
    add_samples(&b, 0, 1500);
    update(&b, rules);
    char *da = dump(&a), *db_ = dump(&b);
    CHECK(strlen(da) > 10000);
    CHECK_MSG(!strcmp(da, db_), "incremental and from-scratch databases differ");
    CHECK_EQ_INT(count_mismatches(&a), 0);
    free(da);
    free(db_);
    ovs_db_close(&a);
    ovs_db_close(&b);
}

TEST(entities_db_rules_change_rewrites_only_changed_samples) {
    ovs_err e = {0};
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/rules2", check_tmpdir());
    ovs_mkdir_p(dir, &e);
    snprintf(path, sizeof path, "%s/rules.txt", dir);
    ovs_write_atomic(path, ovs_ent_rules_txt, strlen(ovs_ent_rules_txt), &e);
    snprintf(path, sizeof path, "%s/synonyms.txt", dir);
    char *syn = malloc(strlen(ovs_ent_synonyms_txt) + 64);
    if (!syn) return;
    sprintf(syn, "%scanine: dog, puppy\n", ovs_ent_synonyms_txt);
    ovs_write_atomic(path, syn, strlen(syn), &e);
    free(syn);
    snprintf(path, sizeof path, "%s/stopnouns.txt", dir);
    char *stop = malloc(strlen(ovs_ent_stopnouns_txt) + 64);
    if (!stop) return;
    sprintf(stop, "%sbeach\n", ovs_ent_stopnouns_txt);
    ovs_write_atomic(path, stop, strlen(stop), &e);
    free(stop);
    ovs_ent_rules *r2;
    CHECK_OK(ovs_ent_rules_load(&r2, dir, &lex, &e), &e);
    if (!r2) return;
    ovs_db a, c, b;
    open_db(&a, "inc.db"); /* from the test above: 1500 samples at the built-in rules */
    ovs_ent_stats s = update(&a, r2);
    CHECK_EQ_INT(s.processed, 1500);
    CHECK(s.changed > 10 && s.changed < 200); /* only captions with beach, dog or puppy */
    CHECK_EQ_INT(s.changed + s.unchanged, 1500);
    open_db(&c, "scratch2.db");
    add_samples(&c, 0, 1500);
    update(&c, r2);
    char *da = dump(&a), *dc = dump(&c);
    CHECK_MSG(!strcmp(da, dc), "after a rules change the counts differ from a from-scratch run");
    CHECK_EQ_INT(count_mismatches(&a), 0);
    free(da);
    free(dc);
    update(&a, rules); /* back to the built-in rules: equal to the first from-scratch db */
    open_db(&b, "scratch.db");
    da = dump(&a);
    char *db_ = dump(&b);
    CHECK_MSG(!strcmp(da, db_), "after switching the rules back the counts differ");
    free(da);
    free(db_);
    ovs_db_close(&a);
    ovs_db_close(&b);
    ovs_db_close(&c);
    ovs_ent_rules_free(r2);
}

TEST(entities_db_export_lists_every_processed_sample) {
    ovs_err e = {0};
    ovs_db a;
    open_db(&a, "scratch.db");
    ovs_db_exec(&a, "INSERT INTO samples(url, url_hash, caption, source_id, line) VALUES('http://x/new', 1, 'a new dog', 1, 99999)", &e);
    ovs_ent_stats st = {0};
    CHECK_OK(ovs_ent_export(&a, check_path("export.tsv"), &st, &e), &e);
    CHECK_EQ_INT(st.exported, 1500); /* not the unprocessed one */
    char *text;
    size_t len;
    CHECK_OK(ovs_read_file(check_path("export.tsv"), &text, &len, &e), &e);
    int lines = 0, bad = 0;
    for (char *l = text, *nl; l && *l; l = nl ? nl + 1 : NULL) {
        nl = strchr(l, '\n');
        if (nl) *nl = 0;
        lines++;
        char *t1 = strchr(l, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2 || strchr(t2 + 1, '\t')) bad++;
        else if (lines == 1) CHECK_MSG(strncmp(t1 + 1, caps[0], strlen(caps[0])) == 0, "first line: %s", l);
        char *prev = NULL;
        for (char *n = t2 ? strtok(t2 + 1, ",") : NULL; n; n = strtok(NULL, ",")) {
            if (prev && strcmp(prev, n) >= 0) bad++; /* sorted, distinct */
            prev = n;
        }
    }
    CHECK_EQ_INT(lines, 1500);
    CHECK_EQ_INT(bad, 0);
    free(text);
    ovs_db_close(&a);
}

int main(void) {
    ovs_err e = {0};
    if (ovs_lex_load(&lex, OVS_WORDNET_DIR, &e) || ovs_ent_rules_load(&rules, NULL, &lex, &e)) {
        printf("FAIL entities_setup: %s\n", e.msg);
        return 1;
    }
    load_captions();
    RUN(entities_db_incremental_equals_from_scratch);
    RUN(entities_db_rules_change_rewrites_only_changed_samples);
    RUN(entities_db_export_lists_every_processed_sample);
    ovs_ent_rules_free(rules);
    ovs_lex_free(&lex);
    return check_done();
}
