/* cmd_fetch.c — `ovseg fetch DB --out DIR [...]`: download the pending samples of DB into
 * WebDataset tar shards in DIR (see ingest/fetch.h and docs/fetch.md). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "ingest/fetch.h"
#include "util/args.h"
#include "util/cli.h"
#include "util/log.h"

/* Ctrl-C / SIGTERM: the first asks the crawl to wrap up (see ovs_fetch_opts.stop); the second,
 * with the default action restored, kills (which is safe too: the next run resumes). */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

static int parse_resize(const char *s, ovs_resize_mode *m, ovs_err *e) {
    static const char *const names[] = {"keep_ratio", "center_crop", "border", "none"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) { *m = (ovs_resize_mode)i; return 0; }
    return ovs_errf(e, OVS_EUSER, "--resize: '%s' is not one of keep_ratio, center_crop, border, none", s);
}

static int check_opts(const ovs_fetch_opts *o, int64_t workers, int64_t per_host, int64_t shard, int64_t size,
                      int64_t quality, int64_t retries, int64_t min_size, int64_t threads, ovs_err *e) {
    if (workers < 1 || workers > 10000) return ovs_errf(e, OVS_EUSER, "--workers: %lld is not in 1..10000", (long long)workers);
    if (per_host < 1) return ovs_errf(e, OVS_EUSER, "--per-host: %lld is not >= 1", (long long)per_host);
    if (shard < 1 || shard > 10000000) return ovs_errf(e, OVS_EUSER, "--shard-size: %lld is not in 1..10000000", (long long)shard);
    if (size < 8 || size > 8192) return ovs_errf(e, OVS_EUSER, "--image-size: %lld is not in 8..8192", (long long)size);
    if (quality < 1 || quality > 100) return ovs_errf(e, OVS_EUSER, "--quality: %lld is not in 1..100", (long long)quality);
    if (retries < 0 || retries > 1000) return ovs_errf(e, OVS_EUSER, "--retries: %lld is not in 0..1000", (long long)retries);
    if (min_size < 0) return ovs_errf(e, OVS_EUSER, "--min-size: %lld is negative", (long long)min_size);
    if (threads < 0 || threads > 64) return ovs_errf(e, OVS_EUSER, "--threads: %lld is not in 0..64", (long long)threads);
    if (!(o->timeout_s > 0 && o->timeout_s <= 3600)) return ovs_errf(e, OVS_EUSER, "--timeout: %g is not in (0, 3600]", o->timeout_s);
    if (o->max_bytes < 1) return ovs_errf(e, OVS_EUSER, "--max-bytes: must be positive");
    if (o->max_pixels < 1) return ovs_errf(e, OVS_EUSER, "--max-pixels: must be positive");
    if (o->limit < 0) return ovs_errf(e, OVS_EUSER, "--limit: must not be negative");
    if (o->ca_file && access(o->ca_file, R_OK)) return ovs_errno(e, OVS_EUSER, "--ca-file %s", o->ca_file);
    return 0;
}

static void summary(const ovs_fetch_stats *st) {
    int64_t ok = st->by_reason[OVS_R_OK];
    double s = st->seconds > 0 ? st->seconds : 1e-9;
    ovs_info("fetch: %lld of %lld samples done, %lld ok (%.1f%%), %lld shards, %.1f s, %.1f img/s, %.2f MB/s downloaded",
             (long long)st->done, (long long)st->total, (long long)ok, st->done ? 100.0 * ok / st->done : 0.0,
             (long long)st->shards, st->seconds, ok / s, st->download_bytes / s / 1e6);
    for (int r = 1; r < OVS_R_COUNT; r++)
        if (st->by_reason[r])
            ovs_info("  %-12s %lld%s", ovs_reason_name(r), (long long)st->by_reason[r],
                     ovs_reason_retriable(r) ? "  (retried by a later run)" : "");
    if (st->removed_tmp || st->removed_orphans)
        ovs_info("  cleaned up after an interrupted run: %lld .tmp, %lld unrecorded shards",
                 (long long)st->removed_tmp, (long long)st->removed_orphans);
}

int cmd_fetch(int argc, char **argv) {
    ovs_fetch_opts o;
    ovs_fetch_defaults(&o);
    int64_t workers = o.workers, per_host = o.per_host, shard = o.shard_size, size = o.image_size;
    int64_t quality = o.quality, retries = o.retries, min_size = o.min_size, threads = 0;
    const char *out = NULL, *resize = "keep_ratio", *format = "webp";
    const ovs_opt opts[] = {
        {"out", OVS_ARG_STR, &out, "output folder of the shards (required)"},
        {"workers", OVS_ARG_INT, &workers, "downloads at once (128)"},
        {"per-host", OVS_ARG_INT, &per_host, "downloads at once to one host (8)"},
        {"shard-size", OVS_ARG_INT, &shard, "samples per shard (10000)"},
        {"image-size", OVS_ARG_INT, &size, "target size in pixels (256)"},
        {"resize", OVS_ARG_STR, &resize, "keep_ratio (smaller side = size; default) | center_crop | border | none"},
        {"format", OVS_ARG_STR, &format, "stored image format: webp | jpg (webp)"},
        {"quality", OVS_ARG_INT, &quality, "encoder quality 1..100 (90)"},
        {"timeout", OVS_ARG_DOUBLE, &o.timeout_s, "seconds per download, redirects included (10)"},
        {"retries", OVS_ARG_INT, &retries, "later runs retry timeouts, 5xx, connect and dns failures this many times (2)"},
        {"max-bytes", OVS_ARG_BYTES, &o.max_bytes, "largest download; bigger ones are aborted (20M)"},
        {"max-pixels", OVS_ARG_COUNT, &o.max_pixels, "largest image, width x height, checked before decoding (50M)"},
        {"min-size", OVS_ARG_INT, &min_size, "smallest allowed smaller side of the original (64)"},
        {"max-aspect", OVS_ARG_DOUBLE, &o.max_aspect, "largest allowed long/short side ratio; 0 = any (3)"},
        {"user-agent", OVS_ARG_STR, &o.user_agent, "User-Agent header"},
        {"ca-file", OVS_ARG_STR, &o.ca_file, "CA certificates (PEM) for https instead of the system's"},
        {"allow-noai", OVS_ARG_FLAG, &o.allow_noai, "ignore X-Robots-Tag noai/noimageai/noindex/noimageindex"},
        {"limit", OVS_ARG_COUNT, &o.limit, "do at most N samples this run (0 = all)"},
        {"threads", OVS_ARG_INT, &threads, "image decode/encode threads (0 = one per core)"},
        {0}};
    const ovs_cmd_spec spec = {
        .verb = "fetch", .usage = "DB --out DIR [flags]",
        .summary = "Download the pending samples of DB, resize and re-encode them, and write WebDataset tar\n"
                   "shards DIR/NNNNNN.tar. Re-runnable: does only what is left (pending samples and retriable\n"
                   "failures); a killed run loses at most the shard in progress.",
        .opts = opts, .min_pos = 1, .max_pos = 1};
    ovs_err e = {0};
    char *pos[1];
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, 1, &np, &e);
    if (rc) return ovs_cli_finish("fetch", rc, &e);
    if (!out) return ovs_cli_finish("fetch", ovs_errf(&e, OVS_EUSER, "--out DIR is required"), &e);
    o.out_dir = out;
    o.workers = (int)workers, o.per_host = (int)per_host, o.shard_size = (int)shard, o.image_size = (int)size;
    o.quality = (int)quality, o.retries = (int)retries, o.min_size = (int)min_size, o.threads = (int)threads;
    if ((rc = check_opts(&o, workers, per_host, shard, size, quality, retries, min_size, threads, &e)) ||
        (rc = parse_resize(resize, &o.resize, &e)))
        return ovs_cli_finish("fetch", rc, &e);
    if (!strcmp(format, "webp")) o.format = OVS_IMG_WEBP;
    else if (!strcmp(format, "jpg") || !strcmp(format, "jpeg")) o.format = OVS_IMG_JPEG;
    else return ovs_cli_finish("fetch", ovs_errf(&e, OVS_EUSER, "--format: '%s' is not webp or jpg", format), &e);

    ovs_db db;
    if ((rc = ovs_db_open(&db, pos[0], 0, &e))) return ovs_cli_finish("fetch", rc, &e);
    if ((rc = ovs_db_run_start(&db, "fetch", argc, argv, &e))) { ovs_db_close(&db); return ovs_cli_finish("fetch", rc, &e); }
    ovs_fetch_stats st;
    o.stop = &interrupted;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = ovs_fetch_run(&db, &o, &st, &e);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (!rc && st.interrupted)
        rc = ovs_errf(&e, OVS_EUSER, "interrupted after %lld samples (%lld ok, in shards); run again to continue",
                      (long long)st.done, (long long)st.by_reason[OVS_R_OK]);
    ovs_buf counts = {0};
    ovs_fetch_stats_json(&st, &counts);
    ovs_err e2 = {0};
    ovs_db_run_end(&db, rc == 0, counts.data, &e2);
    ovs_buf_free(&counts);
    ovs_db_close(&db);
    summary(&st);
    return ovs_cli_finish("fetch", rc, &e);
}
