/* cmd_ingest.c — `ovseg ingest DB FILE...`: caption TSV files (plain or compressed) into samples.
 * Re-running adds only what is new; the summary accounts for every line read. See docs/ingest.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "ingest/ingest.h"
#include "util/args.h"
#include "util/buf.h"
#include "util/cli.h"
#include "util/log.h"

enum { MAX_FILES = 4096 };

static int parse_opts(ovs_ingest_opts *o, const char *columns, const char *part, int64_t batch_lines,
                      const char *bulk, ovs_err *e) {
    memset(o, 0, sizeof *o);
    if (!strcmp(bulk, "yes")) o->bulk = OVS_BULK_YES;
    else if (!strcmp(bulk, "no")) o->bulk = OVS_BULK_NO;
    else if (strcmp(bulk, "auto"))
        return ovs_errf(e, OVS_EUSER, "--bulk: expected auto, yes or no, got '%s'", bulk);
    if (!strcmp(columns, "caption,url")) o->caption_first = 1;
    else if (strcmp(columns, "url,caption"))
        return ovs_errf(e, OVS_EUSER, "--columns: expected url,caption or caption,url, got '%s'", columns);
    if (part) {
        char tail;
        if (sscanf(part, "%d/%d%c", &o->part_i, &o->part_n, &tail) != 2 || o->part_n < 1 || o->part_i < 0 ||
            o->part_i >= o->part_n)
            return ovs_errf(e, OVS_EUSER, "--part: expected i/N with 0 <= i < N, got '%s'", part);
    }
    if (batch_lines < 1 || batch_lines > 10000000)
        return ovs_errf(e, OVS_EUSER, "--batch: expected 1..10M lines, got %lld", (long long)batch_lines);
    o->batch_lines = (int)batch_lines;
    return 0;
}

static void print_summary(const char *what, const ovs_ingest_counts *c, double secs) {
    printf("%s: %lld lines read", what, (long long)c->lines);
    if (c->skipped_lines) printf(" (after %lld ingested before)", (long long)c->skipped_lines);
    printf(": %lld inserted, %lld duplicates, %lld rejected", (long long)c->inserted, (long long)c->duplicates,
           (long long)c->rejected);
    for (int r = 1, first = 1; r < OVS_REJ_N; r++)
        if (c->by_reason[r]) {
            printf("%s%s %lld", first ? " (" : ", ", ovs_reject_name(r), (long long)c->by_reason[r]);
            first = 0;
        }
    if (c->rejected) printf(")");
    if (c->other_part) printf(", %lld in other parts", (long long)c->other_part);
    printf("; %.2f s, %.0f lines/s\n", secs, secs > 0 ? c->lines / secs : 0.0);
    fflush(stdout);
}

static void counts_json(ovs_buf *b, int files, const ovs_ingest_counts *c) {
    ovs_buf_printf(b, "{\"files\":%d,\"lines\":%lld,\"skipped_lines\":%lld,\"inserted\":%lld,\"duplicates\":%lld,"
                      "\"rejected\":%lld,\"other_part\":%lld,\"rejects\":{",
                   files, (long long)c->lines, (long long)c->skipped_lines, (long long)c->inserted,
                   (long long)c->duplicates, (long long)c->rejected, (long long)c->other_part);
    for (int r = 1, first = 1; r < OVS_REJ_N; r++)
        if (c->by_reason[r]) {
            ovs_buf_printf(b, "%s\"%s\":%lld", first ? "" : ",", ovs_reject_name(r), (long long)c->by_reason[r]);
            first = 0;
        }
    ovs_buf_puts(b, "}}");
}

/* Every file must exist and be a file before anything is ingested. */
static int check_files(char **files, int n, ovs_err *e) {
    for (int i = 0; i < n; i++) {
        ovs_tsv t;
        int rc = ovs_tsv_open(&t, files[i], e);
        if (rc) return rc;
        ovs_tsv_close(&t);
    }
    return 0;
}

static int ingest_all(ovs_ingest *s, char **files, int n, const ovs_ingest_opts *o, ovs_ingest_counts *total,
                      int *done, ovs_err *e) {
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        ovs_ingest_counts c = {0};
        ovs_progress p;
        ovs_progress_start(&p, files[i], 0);
        double t0 = ovs_now();
        rc = ovs_ingest_file(s, files[i], o, &c, &p, e);
        ovs_progress_end(&p);
        if (!rc || c.lines) print_summary(files[i], &c, ovs_now() - t0); /* the part that was committed */
        ovs_ingest_counts_add(total, &c);
        *done = i + 1;
    }
    return rc;
}

int cmd_ingest(int argc, char **argv) {
    ovs_err e = {0};
    const char *columns = "url,caption", *part = NULL, *bulk = "auto";
    int64_t batch_lines = OVS_INGEST_BATCH;
    const ovs_cmd_spec spec = {
        .verb = "ingest", .usage = "DB FILE...",
        .summary = "Add the lines of caption TSV files (plain, .gz, .bz2, .xz, .zst; no header) to the samples\n"
                   "of DB. Only lines not ingested before are read; duplicate URLs are counted, not inserted;\n"
                   "bad lines go to the rejects table. Prints a summary per file.",
        .opts = (const ovs_opt[]){
            {"columns", OVS_ARG_STR, &columns, "column order: url,caption (CC12M, default) or caption,url (CC3M)"},
            {"part", OVS_ARG_STR, &part, "i/N: keep only URLs whose hash % N == i (0-based), for N machines"},
            {"batch", OVS_ARG_COUNT, &batch_lines, "input lines per transaction (default 200000)"},
            {"bulk", OVS_ARG_STR, &bulk, "auto (default), yes, no: drop the url_hash index while ingesting, build it"
                                         " at the end (auto: when a file adds >= half the rows there are)"},
            {0}},
        .min_pos = 2, .max_pos = -1};
    char *pos[MAX_FILES + 1];
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, MAX_FILES + 1, &np, &e);
    if (rc) return ovs_cli_finish("ingest", rc, &e);
    ovs_ingest_opts o;
    if (np > MAX_FILES + 1) rc = ovs_errf(&e, OVS_EUSER, "at most %d files at once", MAX_FILES);
    if (!rc) rc = parse_opts(&o, columns, part, batch_lines, bulk, &e);
    if (!rc) rc = check_files(pos + 1, np - 1, &e);
    if (rc) return ovs_cli_finish("ingest", rc, &e);
    ovs_db db;
    if ((rc = ovs_db_open(&db, pos[0], OVS_DB_KEEP_INDEXES | OVS_DB_ONE_THREAD, &e))) return ovs_cli_finish("ingest", rc, &e);
    if ((rc = ovs_db_run_start(&db, "ingest", argc, argv, &e))) {
        ovs_errf(&e, OVS_EUSER, "%s: cannot write to the database: %s", pos[0], sqlite3_errmsg(db.h));
        ovs_db_close(&db);
        return ovs_cli_finish("ingest", OVS_EUSER, &e);
    }
    ovs_ingest_counts total = {0};
    int done = 0;
    double t0 = ovs_now();
    ovs_ingest s;
    rc = ovs_ingest_begin(&s, &db, &e);
    if (!rc) rc = ingest_all(&s, pos + 1, np - 1, &o, &total, &done, &e);
    ovs_err e2 = {0};
    int rc2 = ovs_ingest_end(&s, &e2);
    if (done > 1) print_summary("total", &total, ovs_now() - t0);
    ovs_buf js = {0};
    counts_json(&js, done, &total);
    if (ovs_db_run_end(&db, rc == 0 && rc2 == 0, js.data, &e2) && !rc2) rc2 = e2.code;
    ovs_buf_free(&js);
    ovs_db_close(&db);
    if (!rc && rc2) { rc = rc2; e = e2; }
    return ovs_cli_finish("ingest", rc, &e);
}
