/* synth.c — one `ovseg synth` run: the crawl (DIR/www/ + DIR/cc12m-synth.tsv + DIR/truth.tsv),
 * the segmentation benchmark (DIR/eval/, PASCAL VOC layout, val + tune splits) and DIR/synth.json.
 *
 * Row i's content is a pure function of (seed, i): its own RNG stream, so rows render in parallel
 * (OpenMP) and the tree is byte-identical for a seed. The failure kind of each row comes from an
 * exact-count, seeded shuffle, so the shares are the targets to the row. Failures are realised by
 * the web server (tests/serve-synth.sh): missing files (404), /gone/ (410), /private/ (403),
 * /moved/ (302 to a missing file); truncated images, undecodable bytes and HTML pages are files. */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/synth.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"

enum { STREAM_KINDS = 1, STREAM_ROW = 0x100000000ull, STREAM_VAL = 0x200000000ull, STREAM_TUNE = 0x300000000ull };

void ovs_synth_defaults(ovs_synth_opts *o) {
    *o = (ovs_synth_opts){.n = 20000, .eval_n = 500, .tune_n = 200, .seed = 1,
                          .base_url = "http://127.0.0.1:8089/", .min_objects = 1, .max_objects = 4,
                          .min_size = .3, .max_size = .7, .absent_rate = .05, .partial_rate = .15,
                          .no_entity_rate = .05, .fail_rate = .33, .min_side = 200, .max_side = 1000,
                          .eval_size = 128, .ignore_width = 1};
}

int ovs_synth_check(const ovs_synth_opts *o, ovs_err *e) {
    if (!o->out || !*o->out) return ovs_errf(e, OVS_EUSER, "--out: an output folder is required");
    if (o->n < 0 || o->eval_n < 0 || o->tune_n < 0) return ovs_errf(e, OVS_EUSER, "--n/--eval-n/--tune-n: must be >= 0");
    if (o->eval_n > 999999 || o->tune_n > 999999) return ovs_errf(e, OVS_EUSER, "--eval-n/--tune-n: at most 999999");
    if (o->min_objects < 1 || o->max_objects < o->min_objects || o->max_objects > OVS_SYNTH_MAX_OBJ)
        return ovs_errf(e, OVS_EUSER, "--min-objects/--max-objects: need 1 <= min <= max <= %d", OVS_SYNTH_MAX_OBJ);
    if (!(o->min_size > 0.02 && o->max_size >= o->min_size && o->max_size <= 1.5))
        return ovs_errf(e, OVS_EUSER, "--min-size/--max-size: need 0.02 < min <= max <= 1.5 (fractions of the short side)");
    const double *rates[] = {&o->absent_rate, &o->partial_rate, &o->no_entity_rate};
    const char *names[] = {"--absent-rate", "--partial-rate", "--no-entity-rate"};
    for (int i = 0; i < 3; i++)
        if (!(*rates[i] >= 0 && *rates[i] <= 1)) return ovs_errf(e, OVS_EUSER, "%s: must be in [0, 1]", names[i]);
    if (!(o->fail_rate >= 0 && o->fail_rate <= .9)) return ovs_errf(e, OVS_EUSER, "--fail-rate: must be in [0, 0.9]");
    if (!(o->colour_swap_rate >= 0 && o->colour_swap_rate <= 1)) return ovs_errf(e, OVS_EUSER, "--colour-swap-rate: must be in [0, 1]");
    if (o->min_side < 32 || o->max_side < o->min_side || o->max_side > 4096)
        return ovs_errf(e, OVS_EUSER, "--min-side/--max-side: need 32 <= min <= max <= 4096");
    if (o->eval_size < 16 || o->eval_size > 2048) return ovs_errf(e, OVS_EUSER, "--eval-size: must be in [16, 2048]");
    if (o->ignore_width < 0 || o->ignore_width > 8) return ovs_errf(e, OVS_EUSER, "--ignore-width: must be in [0, 8]");
    if (!o->base_url || strncmp(o->base_url, "http", 4) || strpbrk(o->base_url, " \t\n"))
        return ovs_errf(e, OVS_EUSER, "--base-url: not an http URL: '%s'", o->base_url ? o->base_url : "");
    return 0;
}

/* ── kinds ───────────────────────────────────────────────────────────────────────────────── */

static const char *KIND_NAMES[OVS_SK_COUNT] = {"ok", "ok_redirect", "http404", "http410", "http403",
                                               "truncated", "corrupt", "html", "redirect404"};
/* Shares at the default fail rate 0.33 (404/410 12%, 403 8%, truncated+undecodable 4%, ...). */
static const double BASE_SHARE[OVS_SK_COUNT] = {.63, .04, .09, .03, .08, .02, .02, .05, .04};

const char *ovs_synth_kind_name(int kind) { return kind >= 0 && kind < OVS_SK_COUNT ? KIND_NAMES[kind] : "?"; }

double ovs_synth_kind_share(int kind, double fail_rate) {
    if (kind < 0 || kind >= OVS_SK_COUNT) return 0;
    if (kind == OVS_SK_OK_REDIRECT) return BASE_SHARE[kind] / .67 * (1 - fail_rate);
    if (kind == OVS_SK_OK) return BASE_SHARE[kind] / .67 * (1 - fail_rate);
    return BASE_SHARE[kind] / .33 * fail_rate;
}


/* Exact counts per kind (rounded shares, the rest ok), shuffled with the seed's kind stream. */
static unsigned char *assign_kinds(const ovs_synth_opts *o, int64_t count[OVS_SK_COUNT]) {
    unsigned char *k = malloc((size_t)o->n + 1);
    if (!k) return NULL;
    int64_t at = 0;
    for (int i = 1; i < OVS_SK_COUNT; i++) {
        count[i] = llround((double)o->n * ovs_synth_kind_share(i, o->fail_rate));
        for (int64_t j = 0; j < count[i] && at < o->n; j++) k[at++] = (unsigned char)i;
    }
    count[OVS_SK_OK] = o->n - at;
    memset(k + at, OVS_SK_OK, (size_t)(o->n - at));
    ovs_rng r;
    ovs_rng_seed(&r, o->seed, STREAM_KINDS);
    ovs_rng_shuffle(&r, k, (uint64_t)o->n, 1);
    return k;
}

/* ── files ───────────────────────────────────────────────────────────────────────────────── */

static int write_file(const char *path, const void *data, size_t len, ovs_err *e) {
    FILE *f = fopen(path, "wb");
    if (!f && errno == ENOENT) { /* create the folder on first use */
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        if (ovs_mkdir_p(dir, e)) return e ? e->code : OVS_EINTERNAL;
        f = fopen(path, "wb");
    }
    if (!f) return ovs_errno(e, OVS_EUSER, "%s", path); /* full disk, read-only folder: the environment's */
    int bad = len && fwrite(data, 1, len, f) != len;
    if (fclose(f) || bad) return ovs_errno(e, OVS_EUSER, "%s: write", path);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* The output folder must be empty, absent, or an earlier synth run (finished or interrupted),
 * whose www/ and eval/ are then removed so no stale file survives. */
static int prepare_out(const char *out, ovs_err *e) {
    char p[4096];
    if (ovs_mkdir_p(out, e)) return e->code;
    snprintf(p, sizeof p, "%s/synth.json", out);
    int ours = access(p, F_OK) == 0;
    snprintf(p, sizeof p, "%s/.synth-in-progress", out);
    ours |= access(p, F_OK) == 0;
    if (!ours) {
        const char *mine[] = {"www", "eval", "cc12m-synth.tsv", "truth.tsv"};
        for (int i = 0; i < 4; i++) {
            snprintf(p, sizeof p, "%s/%s", out, mine[i]);
            if (access(p, F_OK) == 0)
                return ovs_errf(e, OVS_EUSER, "%s: holds %s but is not an ovseg synth folder (no synth.json); "
                                "refusing to overwrite", out, mine[i]);
        }
    }
    snprintf(p, sizeof p, "%s/.synth-in-progress", out);
    if (write_file(p, "", 0, e)) return e->code;
    const char *sub[] = {"www", "eval"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", out, sub[i]);
        if (access(p, F_OK) == 0 && nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
            return ovs_errno(e, OVS_EINTERNAL, "%s: cannot remove the previous run's files", p);
    }
    snprintf(p, sizeof p, "%s/synth.json", out);
    unlink(p);
    snprintf(p, sizeof p, "%s/www", out); /* served even when empty (--n 0) */
    return ovs_mkdir_p(p, e);
}

/* ── one crawl row ───────────────────────────────────────────────────────────────────────── */

typedef struct worker {
    ovs_buf enc, cap;
    uint8_t *objmap;
    size_t objmap_cap;
} worker;

/* PNG and WebP (slow encoders) keep their long side under cap: they are mostly graphics anyway. */
static void random_size(ovs_rng *r, const ovs_synth_opts *o, int cap, int *w, int *h) {
    static const float AR[] = {1.f, 4 / 3.f, 4 / 3.f, 3 / 2.f, 3 / 2.f, 16 / 9.f, 5 / 4.f, 2.f, 3 / 4.f, 2 / 3.f, 9 / 16.f, 4 / 5.f};
    float ar = AR[ovs_rng_below(r, sizeof AR / sizeof AR[0])];
    double hi = cap < o->max_side ? (cap > o->min_side ? cap : o->min_side) : o->max_side;
    double L = exp(log((double)o->min_side) + ovs_rng_double(r) * (log(hi) - log((double)o->min_side)));
    int lng = (int)lround(L), sht = (int)lround(L / (ar >= 1 ? ar : 1 / ar));
    if (sht < 16) sht = 16;
    if (ar >= 1) *w = lng, *h = sht;
    else *w = sht, *h = lng;
}

static const char *ext_of(ovs_imgfmt f) { return f == OVS_IMG_PNG ? "png" : f == OVS_IMG_WEBP ? "webp" : "jpg"; }

static const char *HTML_TITLES[] = {"Page not found", "Access denied", "Please enable JavaScript",
                                    "This image is no longer available", "Log in to see this photo",
                                    "Redirecting...", "Account suspended"};

static int scene_image(ovs_rng *r, const ovs_synth_opts *o, worker *wk, int w, int h, ovs_synth_scene *sc,
                       ovs_image *img, ovs_err *e) {
    ovs_synth_scene_sample(r, o, w, h, sc);
    size_t npx = (size_t)w * h;
    if (npx > wk->objmap_cap) {
        uint8_t *m = realloc(wk->objmap, npx);
        if (!m) return ovs_errf(e, OVS_EINTERNAL, "synth: out of memory");
        wk->objmap = m, wk->objmap_cap = npx;
    }
    return ovs_synth_render(sc, img, wk->objmap, e);
}

/* Writes the row's file (if any) and fills its TSV and truth lines. */
static int make_row(const ovs_synth_opts *o, int64_t i, int kind, worker *wk, char **tsv_line, char **truth_line,
                    int64_t *images, int64_t *bytes, ovs_err *e) {
    ovs_rng r;
    ovs_rng_seed(&r, o->seed, STREAM_ROW + (uint64_t)i);
    char name[32], rel[128], path[4096];
    snprintf(name, sizeof name, "%012llx", (unsigned long long)(ovs_mix64(o->seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1) >> 16));
    const char *status = "200", *first = "200", *fmt_name = "-";
    int w, h;
    double u = ovs_rng_double(&r);
    ovs_imgfmt fmt = u < .89 ? OVS_IMG_JPEG : u < .94 ? OVS_IMG_PNG : OVS_IMG_WEBP;
    random_size(&r, o, fmt == OVS_IMG_JPEG ? o->max_side : 480, &w, &h);
    if (kind == OVS_SK_TRUNCATED && fmt == OVS_IMG_WEBP) fmt = OVS_IMG_JPEG;
    int quality = 70 + (int)ovs_rng_below(&r, 26);
    int variant = (int)ovs_rng_below(&r, 100);
    ovs_synth_scene sc;
    ovs_image img = {0};
    int rc = 0, has_image = kind == OVS_SK_OK || kind == OVS_SK_OK_REDIRECT || kind == OVS_SK_TRUNCATED;
    if (has_image) {
        if ((rc = scene_image(&r, o, wk, w, h, &sc, &img, e))) return rc;
    } else {
        ovs_synth_scene_sample(&r, o, w, h, &sc); /* caption only: every object counts as seen */
        for (int k = 0; k < sc.nobj; k++) sc.obj[k].drawn_px = sc.obj[k].visible_px = w * h;
    }
    ovs_buf_reset(&wk->enc);
    switch (kind) {
    case OVS_SK_OK:
    case OVS_SK_OK_REDIRECT:
    case OVS_SK_TRUNCATED: {
        if ((rc = ovs_image_encode(&img, fmt, quality, &wk->enc, e))) break;
        fmt_name = ovs_imgfmt_name(fmt);
        size_t len = wk->enc.len;
        if (kind == OVS_SK_TRUNCATED) len = (size_t)(len * (.3 + .4 * ovs_rng_double(&r)));
        int noext = kind == OVS_SK_OK && variant < 3;
        snprintf(path, sizeof path, "%s/www/img/%.2s/%s%s%s", o->out, name, name, noext ? "" : ".", noext ? "" : ext_of(fmt));
        rc = write_file(path, wk->enc.data, len, e);
        *bytes += (int64_t)len;
        if (kind == OVS_SK_OK_REDIRECT) {
            snprintf(rel, sizeof rel, "r/%s.%s", name, ext_of(fmt));
            first = "301";
        } else if (noext) {
            snprintf(rel, sizeof rel, "img/%.2s/%s", name, name);
        } else {
            snprintf(rel, sizeof rel, "img/%.2s/%s.%s%s", name, name, ext_of(fmt),
                     kind == OVS_SK_OK && variant >= 95 ? "?w=800&h=600" : "");
        }
        (*images)++;
        break;
    }
    case OVS_SK_CORRUPT: {
        size_t len = 2000 + ovs_rng_below(&r, 20000);
        if (ovs_buf_reserve(&wk->enc, len)) { rc = ovs_errf(e, OVS_EINTERNAL, "synth: out of memory"); break; }
        for (size_t k = 0; k < len; k++) wk->enc.data[k] = (char)(ovs_rng_u64(&r) >> 56);
        if (variant < 50) memcpy(wk->enc.data, "\x89PNG\r\n\x1a\n", 8); /* a PNG signature, then junk */
        else if (wk->enc.data[0] == '\xff') wk->enc.data[0] = 0;     /* never a JPEG marker */
        wk->enc.len = len;
        snprintf(rel, sizeof rel, "img/%.2s/%s.%s", name, name, variant < 50 ? "png" : "jpg");
        snprintf(path, sizeof path, "%s/www/%s", o->out, rel);
        rc = write_file(path, wk->enc.data, len, e);
        *bytes += (int64_t)len;
        break;
    }
    case OVS_SK_HTML: {
        const char *t = HTML_TITLES[ovs_rng_below(&r, sizeof HTML_TITLES / sizeof HTML_TITLES[0])];
        ovs_buf_printf(&wk->enc, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title>"
                       "</head>\n<body><h1>%s</h1><p>Reference #%s</p></body></html>\n", t, t, name);
        /* half served as text/html from /page/, half from img/ where the server calls it image/jpeg */
        if (variant < 50) snprintf(rel, sizeof rel, "page/%s.jpg", name);
        else snprintf(rel, sizeof rel, "img/%.2s/%s.jpg", name, name);
        snprintf(path, sizeof path, "%s/www/%s", o->out, rel);
        rc = write_file(path, wk->enc.data, wk->enc.len, e);
        *bytes += (int64_t)wk->enc.len;
        break;
    }
    case OVS_SK_404: snprintf(rel, sizeof rel, "img/%.2s/%s.jpg", name, name), status = first = "404"; break;
    case OVS_SK_410: snprintf(rel, sizeof rel, "gone/%s.jpg", name), status = first = "410"; break;
    case OVS_SK_403: snprintf(rel, sizeof rel, "private/%s.jpg", name), status = first = "403"; break;
    case OVS_SK_REDIRECT_404: snprintf(rel, sizeof rel, "moved/%s.jpg", name), status = "404", first = "302"; break;
    }
    ovs_image_free(&img);
    if (rc) return rc;
    ovs_buf_reset(&wk->cap);
    if ((rc = ovs_synth_caption(&r, &sc, o, &wk->cap, NULL))) return ovs_errf(e, rc, "synth: out of memory");
    ovs_buf line = {0};
    ovs_buf_printf(&line, "%s%s\t%s\n", o->base_url, rel, wk->cap.data);
    *tsv_line = line.data;
    line = (ovs_buf){0};
    ovs_buf_printf(&line, "%s%s\t%s\t%s\t%s\t%s\n", o->base_url, rel, ovs_synth_kind_name(kind), status, first, fmt_name);
    *truth_line = line.data;
    return *tsv_line && *truth_line ? 0 : ovs_errf(e, OVS_EINTERNAL, "synth: out of memory");
}

/* ── one eval image ──────────────────────────────────────────────────────────────────────── */

static int make_eval(const ovs_synth_opts *o, const char *split, uint64_t stream, int64_t i, worker *wk,
                     const uint8_t *pal, int64_t *images, int64_t *bytes, ovs_err *e) {
    ovs_rng r;
    ovs_rng_seed(&r, o->seed, stream + (uint64_t)i);
    ovs_synth_scene sc;
    ovs_image img = {0}, mask = {0};
    int s = o->eval_size, rc = scene_image(&r, o, wk, s, s, &sc, &img, e);
    if (rc) return rc;
    if (ovs_image_alloc(&mask, s, s, 1)) { ovs_image_free(&img); return ovs_errf(e, OVS_EINTERNAL, "synth: out of memory"); }
    ovs_synth_class_mask(&sc, wk->objmap, o->ignore_width, mask.px);
    char path[4096];
    ovs_buf_reset(&wk->enc);
    rc = ovs_image_encode(&img, OVS_IMG_JPEG, 95, &wk->enc, e);
    if (!rc) {
        snprintf(path, sizeof path, "%s/eval/JPEGImages/%s_%06lld.jpg", o->out, split, (long long)i);
        rc = write_file(path, wk->enc.data, wk->enc.len, e);
        *bytes += (int64_t)wk->enc.len;
    }
    if (!rc) {
        ovs_buf_reset(&wk->enc);
        rc = ovs_png_encode_palette(&mask, pal, 256, &wk->enc, e);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/eval/SegmentationClass/%s_%06lld.png", o->out, split, (long long)i);
        rc = write_file(path, wk->enc.data, wk->enc.len, e);
        *bytes += (int64_t)wk->enc.len;
    }
    ovs_image_free(&img);
    ovs_image_free(&mask);
    if (!rc) (*images)++;
    return rc;
}

/* ── the run ─────────────────────────────────────────────────────────────────────────────── */

typedef struct job { int split; int64_t i; } job; /* split 0 = crawl row, 1 = val, 2 = tune */

static int write_lists(const ovs_synth_opts *o, ovs_err *e) {
    char path[4096];
    ovs_buf b = {0};
    int rc = 0;
    const char *splits[] = {"val", "tune"};
    int64_t counts[] = {o->eval_n, o->tune_n};
    for (int s = 0; s < 2 && !rc; s++) {
        ovs_buf_reset(&b);
        for (int64_t i = 0; i < counts[s]; i++) ovs_buf_printf(&b, "%s_%06lld\n", splits[s], (long long)i);
        snprintf(path, sizeof path, "%s/eval/ImageSets/Segmentation/%s.txt", o->out, splits[s]);
        rc = write_file(path, b.data ? b.data : "", b.len, e);
    }
    if (!rc) {
        ovs_buf_reset(&b);
        ovs_buf_puts(&b, "0\tbackground\n");
        for (int c = 0; c < ovs_synth_nclasses(); c++) ovs_buf_printf(&b, "%d\t%s\n", c + 1, ovs_synth_class_name(c));
        snprintf(path, sizeof path, "%s/eval/classes.txt", o->out);
        rc = write_file(path, b.data, b.len, e);
    }
    ovs_buf_free(&b);
    return rc;
}

static int write_manifest(const ovs_synth_opts *o, const int64_t count[OVS_SK_COUNT], ovs_err *e) {
    ovs_buf b = {0};
    ovs_buf_printf(&b, "{\n  \"generator\": \"ovseg synth\",\n  \"seed\": %llu,\n  \"n\": %lld,\n  \"eval_n\": %lld,\n"
                   "  \"tune_n\": %lld,\n  \"base_url\": ", (unsigned long long)o->seed, (long long)o->n,
                   (long long)o->eval_n, (long long)o->tune_n);
    ovs_buf_json_str(&b, o->base_url, strlen(o->base_url));
    ovs_buf_printf(&b, ",\n  \"min_objects\": %d,\n  \"max_objects\": %d,\n  \"min_size\": %g,\n  \"max_size\": %g,\n"
                   "  \"absent_rate\": %g,\n  \"partial_rate\": %g,\n  \"no_entity_rate\": %g,\n  \"fail_rate\": %g,\n  \"colour_swap_rate\": %g,\n"
                   "  \"min_side\": %d,\n  \"max_side\": %d,\n  \"eval_size\": %d,\n  \"ignore_width\": %d,\n  \"kinds\": {",
                   o->min_objects, o->max_objects, o->min_size, o->max_size, o->absent_rate, o->partial_rate,
                   o->no_entity_rate, o->fail_rate, o->colour_swap_rate, o->min_side, o->max_side, o->eval_size, o->ignore_width);
    for (int k = 0; k < OVS_SK_COUNT; k++)
        ovs_buf_printf(&b, "%s\"%s\": %lld", k ? ", " : "", ovs_synth_kind_name(k), (long long)count[k]);
    ovs_buf_puts(&b, "},\n  \"classes\": [\"background\"");
    for (int c = 0; c < ovs_synth_nclasses(); c++) ovs_buf_printf(&b, ", \"%s\"", ovs_synth_class_name(c));
    ovs_buf_puts(&b, "]\n}\n");
    char path[4096];
    snprintf(path, sizeof path, "%s/synth.json", o->out);
    int rc = b.data ? ovs_write_atomic(path, b.data, b.len, e) : ovs_errf(e, OVS_EINTERNAL, "out of memory");
    ovs_buf_free(&b);
    return rc;
}

static int write_tables(const ovs_synth_opts *o, char **tsv, char **truth, ovs_err *e) {
    char **tabs[2] = {tsv, truth};
    const char *names[2] = {"cc12m-synth.tsv", "truth.tsv"};
    for (int t = 0; t < 2; t++) {
        ovs_buf b = {0};
        for (int64_t i = 0; i < o->n; i++) ovs_buf_puts(&b, tabs[t][i]);
        if (o->n && !b.data) return ovs_errf(e, OVS_EINTERNAL, "synth: out of memory");
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", o->out, names[t]);
        int rc = ovs_write_atomic(path, b.data ? b.data : "", b.len, e);
        ovs_buf_free(&b);
        if (rc) return rc;
    }
    return 0;
}

int ovs_synth_run(const ovs_synth_opts *opts, ovs_synth_stats *st, ovs_err *e) {
    int rc = ovs_synth_check(opts, e);
    if (rc) return rc;
    ovs_synth_opts o = *opts;
    char base[2048];
    size_t bl = strlen(o.base_url);
    snprintf(base, sizeof base, "%s%s", o.base_url, bl && o.base_url[bl - 1] == '/' ? "" : "/");
    o.base_url = base;
    memset(st, 0, sizeof *st);
    double t0 = ovs_now();
    if ((rc = prepare_out(o.out, e))) return rc;

    unsigned char *kinds = assign_kinds(&o, st->kind_count);
    char **tsv = calloc((size_t)o.n + 1, sizeof *tsv), **truth = calloc((size_t)o.n + 1, sizeof *truth);
    int64_t njobs = o.n + o.eval_n + o.tune_n;
    if (!kinds || !tsv || !truth) { rc = ovs_errf(e, OVS_EINTERNAL, "synth: out of memory"); goto done; }
    uint8_t pal[256 * 3];
    ovs_voc_palette(pal);
    ovs_progress prog;
    ovs_progress_start(&prog, "synth", njobs);
    int64_t done_jobs = 0, images = 0, bytes = 0;
    int failed = 0;
#pragma omp parallel reduction(+ : images, bytes)
    {
        worker wk = {0};
        ovs_err le = {0};
#pragma omp for schedule(dynamic, 8)
        for (int64_t j = 0; j < njobs; j++) {
            int bad;
#pragma omp atomic read
            bad = failed;
            if (bad) continue;
            int lrc;
            if (j < o.n) lrc = make_row(&o, j, kinds[j], &wk, &tsv[j], &truth[j], &images, &bytes, &le);
            else if (j < o.n + o.eval_n) lrc = make_eval(&o, "val", STREAM_VAL, j - o.n, &wk, pal, &images, &bytes, &le);
            else lrc = make_eval(&o, "tune", STREAM_TUNE, j - o.n - o.eval_n, &wk, pal, &images, &bytes, &le);
            if (lrc) {
                if (j < o.n) ovs_errctx(&le, "%s/cc12m-synth.tsv row %lld", o.out, (long long)j + 1);
                else ovs_errctx(&le, "%s/eval image %lld", o.out, (long long)(j - o.n));
#pragma omp critical(synth_err)
                if (!failed) { failed = 1; rc = lrc; *e = le; }
            }
            int64_t d;
#pragma omp atomic capture
            d = ++done_jobs;
            if ((d & 63) == 0) {
#pragma omp critical(synth_progress)
                ovs_progress_update(&prog, d, NULL);
            }
        }
        ovs_buf_free(&wk.enc);
        ovs_buf_free(&wk.cap);
        free(wk.objmap);
    }
    ovs_progress_update(&prog, done_jobs, NULL);
    ovs_progress_end(&prog);
    if (rc) goto done;
    if ((rc = write_lists(&o, e)) || (rc = write_tables(&o, tsv, truth, e)) || (rc = write_manifest(&o, st->kind_count, e)))
        goto done;
    char marker[4096];
    snprintf(marker, sizeof marker, "%s/.synth-in-progress", o.out);
    unlink(marker);
    st->rows = o.n;
    st->images = images;
    st->bytes = bytes;
    st->seconds = ovs_now() - t0;
done:
    if (tsv) for (int64_t i = 0; i < o.n; i++) free(tsv[i]);
    if (truth) for (int64_t i = 0; i < o.n; i++) free(truth[i]);
    free(tsv);
    free(truth);
    free(kinds);
    return rc;
}
