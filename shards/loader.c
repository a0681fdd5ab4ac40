/* loader.c — the streaming loader (see loader.h). Three parts:
 *   stream:  this rank's shards of the epoch, read header by header (tarread), grouped into samples,
 *            checked for their members, passed through the shuffle buffer; emits entries that point
 *            at member bytes (nothing is read yet) numbered by their stream index P.
 *   workers: read an entry's members with pread, decode and augment the image(s), tokenise; all
 *            random draws from an RNG seeded by (seed, epoch, P). They fill a ring of items.
 *   batches: the caller's thread takes items from the ring in stream order, skips failed ones,
 *            copies good ones into the batch.
 * A cursor = (epoch, batch, P of the next unconsumed entry, shuffle RNG state); resuming replays the
 * stream up to P (headers only) and checks the RNG state matches. */
#include "shards/loader.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <webp/decode.h>

#include "shards/minijson.h"
#include "shards/randaug.h"
#include "shards/shardwrite.h"
#include "shards/tarread.h"
#include "shards/wordpiece.h"
#include "util/buf.h"
#include "util/image.h"
#include "util/log.h"
#include "util/rng.h"

const char *const ovs_imagenet_templates[80] = {
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.", "a painting of a {}.",
    "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.",
    "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.", "a {} in a video game.",
    "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.", "a photo of a {}.",
    "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.",
    "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.",
    "a jpeg corrupted photo of the {}.", "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.",
    "a photo of the small {}.", "a photo of the weird {}.", "the cartoon {}.", "art of the {}.",
    "a drawing of the {}.", "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.",
    "a dark photo of a {}.", "itap of a {}.", "graffiti of the {}.", "a toy {}.",
    "itap of my {}.", "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
};

enum { MAX_PAIRS = 8, MAX_ENTS = 64 };
#define MAX_PIXELS ((int64_t)64 << 20) /* larger images are refused before decoding */

typedef struct mem { int64_t off, size; char suf[24]; } mem; /* a member: data offset, size, suffix */

typedef struct entry {
    int shard; /* manifest index */
    char key[48];
    mem img, txt, json;
    mem pair[MAX_PAIRS];
    int npair;
} entry;

enum { IT_FREE, IT_PENDING, IT_WORKING, IT_DONE, IT_FAILED };

typedef struct item {
    entry en;
    int epoch;
    int64_t P;
    ovs_rng rng_after; /* the shuffle RNG after this entry left the buffer */
    int state;
    int kind;          /* of a failure: 1 missing/bad member, 2 undecodable image */
    char msg[1024];
    int64_t key;
    float *img, *img2;
    int32_t *tok;      /* 8 arrays of L: ids mask q_ids q_mask a_ids a_mask e_ids e_mask */
} item;

typedef struct stream {
    int *shards, nshards;   /* this rank's shards (manifest indices) in epoch order */
    int cur;                /* position in shards */
    ovs_tarr tar;
    int tar_open, exhausted, quiet;
    int64_t pass_entries;
    entry *buf;
    int nbuf, cap;
    ovs_rng rng;
    int64_t emitted;        /* P of the next entry */
} stream;

typedef struct worker {
    ovs_loader *l;
    pthread_t th;
    ovs_wp_toks cap, q, tmp;
    ovs_buf b1, b2;
    uint8_t *px;            /* decoded WebP pixels, reused */
    size_t pxcap;
    uint8_t *ra;            /* RandAugment image and scratch, reused */
    size_t racap;
} worker;

struct ovs_loader {
    ovs_loader_cfg cfg;
    ovs_manifest man;
    char dir[4096];
    uint64_t fp;            /* fingerprint of the manifest's shard list */
    ovs_wordpiece *wp;
    ovs_loader_stats st;
    /* epoch */
    int epoch;
    int64_t batch_in_epoch, bpe, last_batch;
    stream s;
    int64_t consumed_P;     /* P of the next entry to consume in this epoch */
    ovs_rng consumed_rng;   /* shuffle RNG state after the last consumed entry */
    int64_t fail_streak, rank_samples;
    /* ring */
    item *ring;
    int R;
    int64_t seq_dispatched, seq_taken, seq_consumed;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int stop;
    worker *w;
    int nw;
    worker self;            /* used when threads == 0 */
    ovs_batch batch;
};

/* ── the stream ─────────────────────────────────────────────────────────────────────────── */

static int is_image_suffix(const char *s) {
    return !strcmp(s, "jpg") || !strcmp(s, "jpeg") || !strcmp(s, "webp") || !strcmp(s, "png");
}

static void shard_path(const ovs_loader *l, int shard, char *out, size_t cap) {
    const char *p = l->man.shards[shard].path;
    if (p[0] == '/') snprintf(out, cap, "%s", p);
    else snprintf(out, cap, "%s/%s", l->dir, p);
}

/* Turns a tar sample into an entry; 0 when a needed member is missing (message in e). */
static int make_entry(const ovs_loader *l, int shard, const ovs_tar_sample *ts, entry *en, ovs_err *e) {
    memset(en, 0, sizeof *en);
    en->shard = shard;
    snprintf(en->key, sizeof en->key, "%.47s", ts->key);
    int have_img = 0, have_txt = 0, have_json = 0;
    for (int i = 0; i < ts->n; i++) {
        char key[256];
        const char *suf = ovs_tar_split_name(ts->m[i].name, key, sizeof key);
        mem m = {ts->m[i].data_off, ts->m[i].size, ""};
        snprintf(m.suf, sizeof m.suf, "%s", suf);
        if (!strcmp(suf, "txt")) en->txt = m, have_txt = 1;
        else if (!strcmp(suf, "json")) en->json = m, have_json = 1;
        else if (is_image_suffix(suf)) en->img = m, have_img = 1;
        else if (!strncmp(suf, "pair", 4) && en->npair < MAX_PAIRS) en->pair[en->npair++] = m;
    }
    if (have_img && have_txt && have_json) return 1;
    char path[4400];
    shard_path(l, shard, path, sizeof path);
    ovs_errf(e, OVS_EUSER, "%s:%s: sample skipped: no %s member", path, ts->key,
             !have_txt ? ".txt" : !have_json ? ".json" : "image");
    return 0;
}

/* Reads the next valid sample of this pass from the rank's shards; 0 at the end of the pass. */
static int source_next(ovs_loader *l, stream *s, entry *en) {
    for (;;) {
        if (!s->tar_open) {
            if (s->cur >= s->nshards) return 0;
            char path[4400];
            shard_path(l, s->shards[s->cur], path, sizeof path);
            ovs_err e = {0};
            if (ovs_tarr_open(&s->tar, path, &e)) {
                if (!s->quiet) { ovs_warn("loader: shard skipped: %s", e.msg); l->st.corrupt_shards++; }
                s->cur++;
                continue;
            }
            s->tar_open = 1;
        }
        ovs_tar_sample ts;
        ovs_err e = {0};
        int rc = ovs_tarr_next_sample(&s->tar, &ts, &e);
        if (rc == OVS_TAR_GOT) {
            if (make_entry(l, s->shards[s->cur], &ts, en, &e)) return 1;
            if (!s->quiet) { ovs_warn("loader: %s", e.msg); l->st.skipped_missing++; }
            continue;
        }
        if (rc && !s->quiet) { ovs_warn("loader: rest of shard skipped: %s", e.msg); l->st.corrupt_shards++; }
        ovs_tarr_close(&s->tar);
        s->tar_open = 0;
        s->cur++;
    }
}

static void stream_free(stream *s) {
    if (s->tar_open) ovs_tarr_close(&s->tar);
    free(s->shards);
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* The next entry out of the shuffle buffer (refilled from the shards; a new pass over the rank's
 * shards starts when one is drained). OVS_EUSER when a whole pass has no valid sample. */
static int stream_pull(ovs_loader *l, stream *s, entry *out, ovs_err *e) {
    for (;;) {
        if (!s->exhausted && s->nbuf < s->cap) {
            if (source_next(l, s, &s->buf[s->nbuf])) { s->nbuf++; s->pass_entries++; continue; }
            s->exhausted = 1;
        }
        if (s->nbuf == 0) { /* pass drained: next pass */
            if (s->pass_entries == 0)
                return ovs_errf(e, OVS_EUSER, "loader: rank %d: no readable sample in its %d shard(s) of epoch %d",
                                l->cfg.rank, s->nshards, l->epoch);
            s->exhausted = 0, s->cur = 0, s->pass_entries = 0;
            continue;
        }
        int k = s->cap > 1 ? (int)ovs_rng_below(&s->rng, (uint64_t)s->nbuf) : 0;
        *out = s->buf[k];
        s->buf[k] = s->buf[--s->nbuf];
        s->emitted++;
        return 0;
    }
}

/* Shard order of an epoch (same on every rank), this rank's part, and the batches per epoch. */
static int begin_epoch(ovs_loader *l, ovs_err *e) {
    stream_free(&l->s);
    stream *s = &l->s;
    int n = l->man.nshards, W = l->cfg.world;
    int *order = malloc((size_t)n * sizeof *order);
    s->shards = malloc((size_t)n * sizeof *s->shards);
    s->cap = l->cfg.shuffle > 1 ? l->cfg.shuffle : 1;
    s->buf = malloc((size_t)s->cap * sizeof *s->buf);
    if (!order || !s->shards || !s->buf) { free(order); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
    for (int i = 0; i < n; i++) order[i] = i;
    if (l->cfg.shuffle_shards) {
        ovs_rng r;
        ovs_rng_seed(&r, l->cfg.seed, 0x4f52444552ULL + (uint64_t)l->epoch * 2); /* "ORDER" */
        ovs_rng_shuffle(&r, order, (uint64_t)n, sizeof *order);
    }
    int64_t *count = calloc((size_t)W, sizeof *count);
    if (!count) { free(order); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
    for (int i = 0; i < n; i++) {
        count[i % W] += l->man.shards[order[i]].samples;
        if (i % W == l->cfg.rank) s->shards[s->nshards++] = order[i];
    }
    int64_t target = count[0];
    for (int r = 1; r < W; r++) target = count[r] < target ? count[r] : target;
    l->rank_samples = count[l->cfg.rank];
    free(count);
    free(order);
    int64_t B = l->cfg.batch;
    l->bpe = l->cfg.drop_last ? target / B : (target + B - 1) / B;
    l->last_batch = l->cfg.drop_last || target % B == 0 ? B : target % B;
    if (l->bpe < 1)
        return ovs_errf(e, OVS_EUSER, "loader: %s: epoch %d gives rank %d only %" PRId64 " samples, fewer than one batch of %d",
                        l->dir, l->epoch, l->cfg.rank, target, l->cfg.batch);
    ovs_rng_seed(&s->rng, l->cfg.seed, 0x5348554646ULL + ((uint64_t)l->epoch << 20) + (uint64_t)l->cfg.rank); /* "SHUFF" */
    l->batch_in_epoch = 0;
    l->consumed_P = 0;
    l->consumed_rng = s->rng;
    return 0;
}

/* ── image augmentation ─────────────────────────────────────────────────────────────────── */

/* torchvision RandomResizedCrop.get_params: 10 tries, then a centre crop with the ratio clamped. */
static void rrc_params(ovs_rng *r, int W, int H, float smin, float smax, int *x, int *y, int *w, int *h) {
    double area = (double)W * H, lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    for (int t = 0; t < 10; t++) {
        double ta = area * (smin + (smax - smin) * ovs_rng_double(r));
        double ar = exp(lr0 + (lr1 - lr0) * ovs_rng_double(r));
        int cw = (int)lround(sqrt(ta * ar)), ch = (int)lround(sqrt(ta / ar));
        if (cw > 0 && cw <= W && ch > 0 && ch <= H) {
            *y = (int)ovs_rng_below(r, (uint64_t)(H - ch + 1));
            *x = (int)ovs_rng_below(r, (uint64_t)(W - cw + 1));
            *w = cw, *h = ch;
            return;
        }
    }
    double in = (double)W / H;
    if (in < 3.0 / 4.0) *w = W, *h = (int)lround(W / (3.0 / 4.0));
    else if (in > 4.0 / 3.0) *h = H, *w = (int)lround(H * (4.0 / 3.0));
    else *w = W, *h = H;
    if (*h > H) *h = H;
    if (*w > W) *w = W;
    *y = (H - *h) / 2, *x = (W - *w) / 2;
}

/* Bilinear (half-pixel centres, edge clamp) resize of the crop (x,y,w,h) of im to SxS, optional
 * horizontal flip, ImageNet normalisation, written channel-first into out[3][S][S]. Separable: each
 * output row first blends its two source rows (the crop's columns only, RGB interleaved) into
 * row[], then blends along x. scratch holds 3*w + 3*S floats and 2*S ints. */
static const float MEAN[3] = {0.485f, 0.456f, 0.406f}, STDV[3] = {0.229f, 0.224f, 0.225f};

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("vect-cost-model=dynamic"))) /* -O2's "very cheap" model leaves these loops scalar */
#endif
static void resample(const ovs_image *im, int x, int y, int w, int h, int flip, int S, float *out, float *scratch,
                     int raw) {
    float a[3], b[3]; /* out = value * a + b: ImageNet normalisation, or the raw 0..255 value */
    for (int c = 0; c < 3; c++) a[c] = raw ? 1.0f : 1.0f / (255.0f * STDV[c]), b[c] = raw ? 0.0f : -MEAN[c] / STDV[c];
    float *row = scratch, *xf = scratch + 3 * w;
    int *x0 = (int *)(xf + S), *x1 = x0 + S;
    float sx = (float)w / S, sy = (float)h / S;
    for (int i = 0; i < S; i++) {
        float fx = (i + 0.5f) * sx - 0.5f;
        if (fx < 0) fx = 0;
        int k = (int)fx;
        if (k > w - 1) k = w - 1;
        int o = flip ? S - 1 - i : i;
        x0[o] = 3 * k, x1[o] = 3 * (k + 1 < w ? k + 1 : k), xf[o] = k + 1 < w ? fx - k : 0;
    }
    const size_t stride = (size_t)im->w * 3;
    for (int j = 0; j < S; j++) {
        float fy = (j + 0.5f) * sy - 0.5f;
        if (fy < 0) fy = 0;
        int y0 = (int)fy;
        if (y0 > h - 1) y0 = h - 1;
        int y1 = y0 + 1 < h ? y0 + 1 : y0;
        float ty = y0 + 1 < h ? fy - y0 : 0;
        const uint8_t *r0 = im->px + (size_t)(y + y0) * stride + (size_t)x * 3, *r1 = im->px + (size_t)(y + y1) * stride + (size_t)x * 3;
        for (int i = 0; i < 3 * w; i++) row[i] = (float)r0[i] + ty * (float)((int)r1[i] - (int)r0[i]);
        for (int c = 0; c < 3; c++) {
            const float *src = row + c;
            float *dst = out + (size_t)c * S * S + (size_t)j * S, ac = a[c], bc = b[c];
            for (int i = 0; i < S; i++) {
                float l = src[x0[i]], r = src[x1[i]];
                dst[i] = (l + xf[i] * (r - l)) * ac + bc;
            }
        }
    }
}

/* Decodes bytes and writes one augmented image (draws from r) into out. */
/* Crop + resize to 8-bit (rounded), RandAugment on it, then normalise into out: timm's order
 * (RandomResizedCrop, flip, RandAugment, ToTensor, Normalize). */
static int randaug_image(ovs_loader *l, worker *wk, ovs_rng *r, const ovs_image *im, int x, int y, int w, int h,
                         int flip, float *out, float *scratch, ovs_err *e) {
    const int S = l->cfg.size;
    const size_t n = (size_t)S * S;
    if (2 * 3 * n > wk->racap) {
        uint8_t *p = realloc(wk->ra, 2 * 3 * n);
        if (!p) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        wk->ra = p, wk->racap = 2 * 3 * n;
    }
    uint8_t *px = wk->ra, *tmp = wk->ra + 3 * n;
    resample(im, x, y, w, h, flip, S, out, scratch, 1);
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            int v = (int)(out[c * n + i] + 0.5f); /* bilinear of 0..255 values: never negative */
            px[3 * i + c] = (uint8_t)(v > 255 ? 255 : v);
        }
    ovs_randaug(r, l->cfg.randaug_layers, l->cfg.randaug_mag, l->cfg.randaug_mstd, px, S, S, tmp);
    for (int c = 0; c < 3; c++) {
        float a = 1.0f / (255.0f * STDV[c]), b = -MEAN[c] / STDV[c];
        for (size_t i = 0; i < n; i++) out[c * n + i] = px[3 * i + c] * a + b;
    }
    return 0;
}

/* timm's RandomErasing (mode 'pixel', one box), on the normalised image: with probability p, up to
 * 10 tries of a box of area 0.02..1/3 of the image and log-uniform aspect 0.3..1/0.3; the first that
 * fits is filled with standard normal noise per pixel and channel. */
static void random_erase(ovs_rng *r, float p, int S, float *img) {
    if (ovs_rng_double(r) >= p) return;
    double area = (double)S * S, la0 = log(0.3), la1 = log(1 / 0.3);
    for (int t = 0; t < 10; t++) {
        double ta = area * (0.02 + (1.0 / 3 - 0.02) * ovs_rng_double(r)), ar = exp(la0 + (la1 - la0) * ovs_rng_double(r));
        int h = (int)lround(sqrt(ta * ar)), w = (int)lround(sqrt(ta / ar));
        if (w >= S || h >= S) continue;
        int top = (int)ovs_rng_below(r, (uint64_t)(S - h + 1)), left = (int)ovs_rng_below(r, (uint64_t)(S - w + 1));
        float spare = 0;
        int have = 0;
        for (int c = 0; c < 3; c++)
            for (int y = top; y < top + h; y++)
                for (int x = left; x < left + w; x++) {
                    if (!have) { /* Box-Muller, both outputs used */
                        float u1 = 1.0f - ovs_rng_float(r), u2 = ovs_rng_float(r), m = sqrtf(-2.0f * logf(u1));
                        img[((size_t)c * S + y) * S + x] = m * cosf(6.2831853f * u2);
                        spare = m * sinf(6.2831853f * u2), have = 1;
                    } else {
                        img[((size_t)c * S + y) * S + x] = spare, have = 0;
                    }
                }
        return;
    }
}

/* WebP straight into the worker's reused pixel buffer (no allocation per image); other formats
 * through ovs_image_decode. *owned tells whether im.px must be freed. */
static int decode(worker *w, const ovs_buf *bytes, ovs_image *im, int *owned, ovs_err *e) {
    int W, H;
    *owned = 0;
    if (ovs_image_sniff(bytes->data, bytes->len) != OVS_IMG_WEBP || !WebPGetInfo((const uint8_t *)bytes->data, bytes->len, &W, &H)) {
        *owned = 1;
        return ovs_image_decode(bytes->data, bytes->len, MAX_PIXELS, 0, im, e);
    }
    if ((int64_t)W * H > MAX_PIXELS) return ovs_errf(e, OVS_EUSER, "too many pixels: %dx%d", W, H);
    size_t need = (size_t)W * H * 3;
    if (need > w->pxcap) {
        uint8_t *p = realloc(w->px, need);
        if (!p) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        w->px = p, w->pxcap = need;
    }
    if (!WebPDecodeRGBInto((const uint8_t *)bytes->data, bytes->len, w->px, need, W * 3))
        return ovs_errf(e, OVS_EUSER, "webp decode error: corrupt or truncated data");
    *im = (ovs_image){W, H, 3, w->px};
    return 0;
}

static int load_image(ovs_loader *l, worker *wk, const ovs_buf *bytes, ovs_rng *r, float *out, ovs_err *e) {
    ovs_image im;
    int owned;
    int rc = decode(wk, bytes, &im, &owned, e);
    if (rc) return rc;
    int x = 0, y = 0, w = im.w, h = im.h, flip = 0;
    if (l->cfg.augment) {
        rrc_params(r, im.w, im.h, l->cfg.scale_min, l->cfg.scale_max, &x, &y, &w, &h);
        flip = ovs_rng_u64(r) >> 63;
    }
    int S = l->cfg.size;
    float *scratch = malloc(((size_t)3 * w + 5 * (size_t)S) * sizeof *scratch);
    if (!scratch) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    else if (l->cfg.augment && l->cfg.randaug_layers > 0) rc = randaug_image(l, wk, r, &im, x, y, w, h, flip, out, scratch, e);
    else resample(&im, x, y, w, h, flip, S, out, scratch, 0);
    free(scratch);
    if (owned) ovs_image_free(&im);
    if (!rc && l->cfg.augment && l->cfg.erase_prob > 0) random_erase(r, l->cfg.erase_prob, S, out);
    return rc;
}

/* ── one sample ─────────────────────────────────────────────────────────────────────────── */

typedef struct sample_text {
    char caption[4096];
    char names[MAX_ENTS][128];
    ovs_wp_span spans[MAX_ENTS];
    int nents;
    char pair_entity[MAX_PAIRS][128], pair_member[MAX_PAIRS][32];
    int npairs;
} sample_text;

static int read_member(int fd, const char *path, const entry *en, const mem *m, ovs_buf *out, ovs_err *e) {
    ovs_tar_member tm = {.data_off = m->off, .size = m->size};
    snprintf(tm.name, sizeof tm.name, "%s.%s", en->key, m->suf);
    return ovs_tar_read_data(fd, path, &tm, out, e);
}

/* Caption and KEY.json into t. */
static int read_text(int fd, const char *path, const entry *en, ovs_buf *b, sample_text *t, ovs_err *e) {
    if (en->txt.size >= (int64_t)sizeof t->caption)
        return ovs_errf(e, OVS_EUSER, "%s:%s.txt: caption of %" PRId64 " bytes is too long", path, en->key, en->txt.size);
    int rc = read_member(fd, path, en, &en->txt, b, e);
    if (rc) return rc;
    memcpy(t->caption, b->data, b->len);
    t->caption[b->len] = 0;
    int clen = (int)b->len;
    if ((rc = read_member(fd, path, en, &en->json, b, e))) return rc;
    mj_doc d = {0};
    if (mj_parse(&d, b->data, b->len)) {
        mj_free(&d);
        return ovs_errf(e, OVS_EUSER, "%s:%s.json: not valid JSON", path, en->key);
    }
    int ents = mj_get(&d, 0, "entities"), pairs = mj_get(&d, 0, "pairs");
    t->nents = t->npairs = 0;
    for (int i = 0; ents >= 0 && d.t[ents].type == MJ_ARR && i < d.t[ents].size && t->nents < MAX_ENTS; i++) {
        int o = mj_at(&d, ents, i);
        int64_t s = mj_int(&d, mj_get(&d, o, "start"), -1), en2 = mj_int(&d, mj_get(&d, o, "end"), -1);
        if (mj_str(&d, mj_get(&d, o, "name"), t->names[t->nents], 128) < 0 || s < 0 || en2 <= s || en2 > clen) {
            mj_free(&d);
            return ovs_errf(e, OVS_EUSER, "%s:%s.json: entity %d has no name or a span outside the caption", path, en->key, i);
        }
        t->spans[t->nents++] = (ovs_wp_span){(int32_t)s, (int32_t)en2};
    }
    for (int i = 0; pairs >= 0 && d.t[pairs].type == MJ_ARR && i < d.t[pairs].size && t->npairs < MAX_PAIRS; i++) {
        int o = mj_at(&d, pairs, i);
        if (mj_str(&d, mj_get(&d, o, "entity"), t->pair_entity[t->npairs], 128) < 0 ||
            mj_str(&d, mj_get(&d, o, "member"), t->pair_member[t->npairs], 32) < 0)
            continue;
        t->npairs++;
    }
    mj_free(&d);
    return 0;
}

static void answer_text(const sample_text *t, int tmpl, char *out, size_t cap) {
    const char *tp = ovs_imagenet_templates[tmpl], *br = strstr(tp, "{}");
    size_t k = (size_t)(br - tp);
    snprintf(out, cap, "%.*s", (int)k, tp);
    int first = 1;
    for (int i = 0; i < t->nents; i++) {
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) dup = !strcmp(t->names[i], t->names[j]);
        if (dup) continue;
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", first ? "" : " and ", t->names[i]);
        first = 0;
    }
}

/* Fills item it from its entry: everything the batch needs. */
static int process(ovs_loader *l, worker *w, item *it, ovs_err *e) {
    const entry *en = &it->en;
    const int L = l->cfg.max_len;
    char path[4400];
    shard_path(l, en->shard, path, sizeof path);
    it->key = strtoll(en->key, NULL, 10);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { it->kind = 1; return ovs_errno(e, OVS_EUSER, "%s:%s", path, en->key); }
    sample_text *t = malloc(sizeof *t);
    int rc = t ? 0 : ovs_errf(e, OVS_EINTERNAL, "out of memory");
    ovs_rng r;
    ovs_rng_seed(&r, l->cfg.seed ^ ovs_mix64(0x53414d504c45ULL + (uint64_t)it->epoch), (uint64_t)it->P);
    it->kind = 1;
    if (!rc) rc = read_text(fd, path, en, &w->b1, t, e);
    if (!rc) rc = read_member(fd, path, en, &en->img, &w->b1, e);
    if (!rc) {
        it->kind = 2;
        if ((rc = load_image(l, w, &w->b1, &r, it->img, e))) ovs_errctx(e, "%s:%s.%s", path, en->key, en->img.suf);
    }
    int tmpl = (int)ovs_rng_below(&r, 80);
    if (!rc) {
        it->kind = 1;
        int32_t *T = it->tok;
        if (ovs_wp_tokenize(l->wp, t->caption, strlen(t->caption), &w->cap) ||
            ovs_wp_mask_spans(l->wp, &w->cap, t->spans, t->nents, l->cfg.mask_per_piece, &w->q))
            rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
        else {
            ovs_wp_pack(l->wp, w->cap.t, w->cap.n, L, T, T + L);
            ovs_wp_pack(l->wp, w->q.t, w->q.n, L, T + 2 * L, T + 3 * L);
            char ans[8192];
            answer_text(t, tmpl, ans, sizeof ans);
            if (ovs_wp_encode(l->wp, ans, L, T + 4 * L, T + 5 * L, &w->tmp) < 0) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
        }
    }
    if (!rc && l->cfg.partners) {
        int k = t->npairs ? (int)ovs_rng_below(&r, (uint64_t)t->npairs) : -1;
        const mem *pm = NULL;
        for (int i = 0; k >= 0 && i < en->npair; i++)
            if (!strcmp(en->pair[i].suf, t->pair_member[k])) pm = &en->pair[i];
        char prompt[256];
        snprintf(prompt, sizeof prompt, "A photo of %s", pm ? t->pair_entity[k] : t->nents ? t->names[0] : "");
        if (pm) rc = read_member(fd, path, en, pm, &w->b2, e); /* else: the sample is its own partner */
        if (!rc) {
            it->kind = 2;
            if ((rc = load_image(l, w, pm ? &w->b2 : &w->b1, &r, it->img2, e)))
                ovs_errctx(e, "%s:%s.%s", path, en->key, pm ? pm->suf : en->img.suf);
        }
        if (!rc && ovs_wp_encode(l->wp, prompt, L, it->tok + 6 * L, it->tok + 7 * L, &w->tmp) < 0)
            rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    free(t);
    close(fd);
    return rc;
}

/* ── the ring and the workers ───────────────────────────────────────────────────────────── */

/* Processes it; returns its final state (the caller stores it, under the lock when threaded). */
static int run_item(ovs_loader *l, worker *w, item *it) {
    ovs_err e = {0};
    int rc = process(l, w, it, &e);
    if (rc) snprintf(it->msg, sizeof it->msg, "%s", e.msg);
    return rc ? IT_FAILED : IT_DONE;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ovs_loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->seq_taken == l->seq_dispatched) pthread_cond_wait(&l->work, &l->mu);
        if (l->stop) break;
        item *it = &l->ring[l->seq_taken++ % l->R];
        it->state = IT_WORKING;
        pthread_mutex_unlock(&l->mu);
        int state = run_item(l, w, it);
        pthread_mutex_lock(&l->mu);
        it->state = state;
        pthread_cond_broadcast(&l->done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Tops the ring up with entries from the stream. */
static int dispatch(ovs_loader *l, ovs_err *e) {
    int rc = 0, added = 0;
    pthread_mutex_lock(&l->mu);
    while (l->seq_dispatched - l->seq_consumed < l->R) {
        item *it = &l->ring[l->seq_dispatched % l->R];
        pthread_mutex_unlock(&l->mu);
        it->P = l->s.emitted;
        it->epoch = l->epoch;
        rc = stream_pull(l, &l->s, &it->en, e);
        it->rng_after = l->s.rng;
        it->state = IT_PENDING;
        pthread_mutex_lock(&l->mu);
        if (rc) break;
        l->seq_dispatched++;
        added++;
    }
    if (added) pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Waits for the item at seq_consumed (runs it here when there are no threads). */
static item *wait_front(ovs_loader *l) {
    item *it = &l->ring[l->seq_consumed % l->R];
    if (!l->nw) {
        if (l->seq_taken == l->seq_consumed) { l->seq_taken++; it->state = run_item(l, &l->self, it); }
        return it;
    }
    pthread_mutex_lock(&l->mu);
    while (it->state != IT_DONE && it->state != IT_FAILED) pthread_cond_wait(&l->done, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return it;
}

/* Drops the items still in flight (the end of an epoch): those not taken yet are cancelled, those
 * being worked on are waited for. */
static void drain(ovs_loader *l) {
    pthread_mutex_lock(&l->mu);
    int64_t taken = l->seq_taken;
    l->seq_taken = l->seq_dispatched;
    for (int64_t q = l->seq_consumed; q < taken && l->nw; q++) {
        item *it = &l->ring[q % l->R];
        while (it->state != IT_DONE && it->state != IT_FAILED) pthread_cond_wait(&l->done, &l->mu);
    }
    l->seq_consumed = l->seq_dispatched;
    pthread_mutex_unlock(&l->mu);
}

static void copy_item(ovs_loader *l, const item *it, int b) {
    ovs_batch *B = &l->batch;
    const int L = l->cfg.max_len;
    size_t im = (size_t)3 * l->cfg.size * l->cfg.size;
    memcpy(B->img + b * im, it->img, im * sizeof(float));
    int32_t *dst[8] = {B->ids, B->mask, B->q_ids, B->q_mask, B->a_ids, B->a_mask, B->e_ids, B->e_mask};
    for (int k = 0; k < (l->cfg.partners ? 8 : 6); k++) memcpy(dst[k] + (size_t)b * L, it->tok + (size_t)k * L, (size_t)L * 4);
    if (l->cfg.partners) memcpy(B->img2 + b * im, it->img2, im * sizeof(float));
    B->keys[b] = it->key;
}

/* ── API ────────────────────────────────────────────────────────────────────────────────── */

void ovs_loader_defaults(ovs_loader_cfg *c) {
    memset(c, 0, sizeof *c);
    c->batch = 32, c->size = 224, c->max_len = OVS_WP_MAX_LEN, c->threads = 2, c->shuffle = 1000;
    c->shuffle_shards = 1, c->augment = 1, c->scale_min = 0.08f, c->scale_max = 1.0f, c->drop_last = 1;
    c->randaug_mag = 9.0f, c->randaug_mstd = 0.5f;
    c->world = 1;
}

static int alloc_all(ovs_loader *l, ovs_err *e) {
    const int B = l->cfg.batch, S = l->cfg.size, L = l->cfg.max_len;
    size_t im = (size_t)3 * S * S;
    l->R = B + 4 * (l->cfg.threads > 0 ? l->cfg.threads : 1); /* a whole batch ready while the caller computes */
    l->ring = calloc((size_t)l->R, sizeof *l->ring);
    if (!l->ring) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int i = 0; i < l->R; i++) {
        item *it = &l->ring[i];
        it->img = malloc(im * sizeof(float));
        it->img2 = l->cfg.partners ? malloc(im * sizeof(float)) : NULL;
        it->tok = malloc((size_t)8 * L * sizeof(int32_t));
        if (!it->img || !it->tok || (l->cfg.partners && !it->img2)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    ovs_batch *b = &l->batch;
    b->B = B, b->S = S, b->L = L;
    b->img = malloc((size_t)B * im * sizeof(float));
    int32_t **t[8] = {&b->ids, &b->mask, &b->q_ids, &b->q_mask, &b->a_ids, &b->a_mask, &b->e_ids, &b->e_mask};
    for (int k = 0; k < (l->cfg.partners ? 8 : 6); k++)
        if (!(*t[k] = malloc((size_t)B * L * sizeof(int32_t)))) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    if (l->cfg.partners) b->img2 = malloc((size_t)B * im * sizeof(float));
    b->keys = malloc((size_t)B * sizeof *b->keys);
    if (!b->img || !b->keys || (l->cfg.partners && !b->img2)) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    return 0;
}

static int check_cfg(const ovs_loader_cfg *c, ovs_err *e) {
    if (!c->shards || !c->vocab) return ovs_errf(e, OVS_EUSER, "loader: shards folder and vocab are required");
    if (c->batch < 1 || c->size < 8 || c->size > 4096 || c->max_len < 3 || c->max_len > 4096 || c->threads < 0 ||
        c->threads > 256 || c->shuffle < 0)
        return ovs_errf(e, OVS_EUSER, "loader: bad settings (batch %d, size %d, max_len %d, threads %d, shuffle %d)",
                        c->batch, c->size, c->max_len, c->threads, c->shuffle);
    if (c->randaug_layers < 0 || c->randaug_layers > 16 || !(c->randaug_mag >= 0 && c->randaug_mag <= 10) ||
        !(c->randaug_mstd >= 0))
        return ovs_errf(e, OVS_EUSER, "loader: bad RandAugment settings (layers %d, magnitude %g, std %g)",
                        c->randaug_layers, c->randaug_mag, c->randaug_mstd);
    if (!(c->erase_prob >= 0 && c->erase_prob <= 1))
        return ovs_errf(e, OVS_EUSER, "loader: erase probability %g not in [0, 1]", c->erase_prob);
    if (!(c->scale_min > 0 && c->scale_min <= c->scale_max && c->scale_max <= 1))
        return ovs_errf(e, OVS_EUSER, "loader: bad scale range (%g, %g): want 0 < min <= max <= 1", c->scale_min, c->scale_max);
    if (c->world < 1 || c->rank < 0 || c->rank >= c->world)
        return ovs_errf(e, OVS_EUSER, "loader: bad rank %d of world %d", c->rank, c->world);
    return 0;
}

/* This rank's cursor out of cur: one cursor, or several joined by '|' (gathered from all ranks).
 * *exact = 0 when none is this rank's: then out gets the first one. */
static int pick_cursor(const char *cur, int rank, char *out, size_t cap, int *exact) {
    *exact = 0;
    out[0] = 0;
    for (const char *p = cur; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        while (n && *p == ' ') p++, n--;
        if (n >= cap) return -1;
        const char *r = strstr(p, " rank=");
        int k = r && r < p + n ? atoi(r + 6) : -1;
        if (k == rank || !out[0]) {
            memcpy(out, p, n);
            out[n] = 0;
            if (k == rank) { *exact = 1; return 0; }
        }
        if (!bar) break;
        p = bar + 1;
    }
    return out[0] ? 0 : -1;
}

/* Parses a cursor and replays the stream up to it. With another rank's cursor (same epoch and batch
 * on every rank), this rank replays batch x batch-size entries: exact unless it had skipped an
 * undecodable sample before the cut (those are only known by decoding). */
static int resume(ovs_loader *l, const char *all, ovs_err *e) {
    char cur[512];
    int exact, epoch, rank, world, shuffle, batch;
    long long bi, P;
    unsigned long long seed, fp, rs[4];
    if (pick_cursor(all, l->cfg.rank, cur, sizeof cur, &exact) ||
        sscanf(cur, "ovsloader1 epoch=%d batch=%lld stream=%lld seed=%llu rank=%d world=%d shuffle=%d bs=%d fp=%llx "
                    "rng=%llx,%llx,%llx,%llx",
               &epoch, &bi, &P, &seed, &rank, &world, &shuffle, &batch, &fp, &rs[0], &rs[1], &rs[2], &rs[3]) != 13)
        return ovs_errf(e, OVS_EUSER, "loader: not a loader cursor: '%.80s'", all);
    if (seed != l->cfg.seed || world != l->cfg.world || shuffle != l->cfg.shuffle || batch != l->cfg.batch || fp != l->fp)
        return ovs_errf(e, OVS_EUSER, "loader: the cursor was taken with other settings or shards (seed/world/"
                                      "shuffle/batch/manifest differ): '%.120s'", cur);
    l->epoch = epoch;
    int rc = begin_epoch(l, e);
    if (rc) return rc;
    if (bi < 0 || bi >= l->bpe || P < 0) return ovs_errf(e, OVS_EUSER, "loader: cursor out of range: '%.120s'", cur);
    if (!exact) {
        ovs_warn("loader: rank %d resumes from rank %d's cursor (epoch %d, batch %lld): exact unless it skipped an "
                 "undecodable sample before; save every rank's cursor (joined by '|') for an exact resume",
                 l->cfg.rank, rank, epoch, bi);
        P = bi * l->cfg.batch;
    }
    l->s.quiet = 1;
    entry en;
    for (long long i = 0; i < P && !rc; i++) rc = stream_pull(l, &l->s, &en, e);
    l->s.quiet = 0;
    if (rc) return rc;
    if (exact && (l->s.rng.s[0] != rs[0] || l->s.rng.s[1] != rs[1] || l->s.rng.s[2] != rs[2] || l->s.rng.s[3] != rs[3]))
        return ovs_errf(e, OVS_EUSER, "loader: replaying to the cursor gave another shuffle state: the shards changed");
    l->batch_in_epoch = bi;
    l->consumed_P = P;
    l->consumed_rng = l->s.rng;
    return 0;
}

int ovs_loader_open(ovs_loader **out, const ovs_loader_cfg *cfg, const char *cursor, ovs_err *e) {
    int rc = check_cfg(cfg, e);
    if (rc) return rc;
    ovs_loader *l = calloc(1, sizeof *l);
    if (!l) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    l->cfg = *cfg;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work, NULL);
    pthread_cond_init(&l->done, NULL);
    l->self.l = l;
    size_t n = strlen(cfg->shards);
    if (n > 5 && !strcmp(cfg->shards + n - 5, ".json")) {
        snprintf(l->dir, sizeof l->dir, "%s", cfg->shards);
        char *slash = strrchr(l->dir, '/');
        if (slash) *slash = 0;
        else snprintf(l->dir, sizeof l->dir, ".");
    } else {
        snprintf(l->dir, sizeof l->dir, "%s", cfg->shards);
    }
    rc = ovs_manifest_read(cfg->shards, &l->man, e);
    if (!rc && l->man.nshards < cfg->world)
        rc = ovs_errf(e, OVS_EUSER, "loader: %s has %d shard(s), fewer than the %d ranks", cfg->shards, l->man.nshards, cfg->world);
    for (int i = 0; !rc && i < l->man.nshards; i++) {
        if (l->man.shards[i].samples < 0)
            rc = ovs_errf(e, OVS_EUSER, "loader: %s: shard %s has no sample count", cfg->shards, l->man.shards[i].path);
        uint64_t h = ovs_hash64(l->man.shards[i].path, strlen(l->man.shards[i].path)) ^ (uint64_t)l->man.shards[i].samples;
        l->fp = ovs_mix64(l->fp ^ h);
    }
    if (!rc) rc = ovs_wp_load(&l->wp, cfg->vocab, e);
    if (!rc) rc = alloc_all(l, e);
    if (!rc) rc = cursor && *cursor ? resume(l, cursor, e) : begin_epoch(l, e);
    for (int i = 0; !rc && i < cfg->threads; i++) {
        if (!l->w) l->w = calloc((size_t)cfg->threads, sizeof *l->w);
        if (!l->w) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); break; }
        l->w[i].l = l;
        if (pthread_create(&l->w[i].th, NULL, worker_main, &l->w[i])) rc = ovs_errf(e, OVS_EINTERNAL, "cannot start a decode thread");
        else l->nw++;
    }
    if (rc) { ovs_loader_close(l); return rc; }
    *out = l;
    return 0;
}

int ovs_loader_next(ovs_loader *l, ovs_batch **out, ovs_err *e) {
    int B = l->batch_in_epoch == l->bpe - 1 ? (int)l->last_batch : l->cfg.batch;
    int64_t limit = 2 * l->rank_samples + 1000;
    for (int b = 0; b < B;) {
        int rc = dispatch(l, e);
        if (rc) return rc;
        item *it = wait_front(l);
        l->seq_consumed++;
        l->consumed_P = it->P + 1;
        l->consumed_rng = it->rng_after;
        if (it->state == IT_FAILED) {
            ovs_warn("loader: sample skipped: %s", it->msg);
            if (it->kind == 2) l->st.skipped_decode++;
            else l->st.skipped_missing++;
            if (++l->fail_streak > limit)
                return ovs_errf(e, OVS_EUSER, "loader: rank %d: %" PRId64 " samples in a row failed; last: %s", l->cfg.rank,
                                l->fail_streak, it->msg);
            continue;
        }
        l->fail_streak = 0;
        copy_item(l, it, b++);
    }
    l->batch.B = B;
    l->st.samples += B;
    *out = &l->batch;
    if (++l->batch_in_epoch == l->bpe) {
        drain(l);
        l->epoch++;
        int rc = begin_epoch(l, e);
        if (rc) return rc;
    }
    return 0;
}

int ovs_loader_cursor(const ovs_loader *l, char *out, size_t cap) {
    const ovs_rng *r = &l->consumed_rng;
    return snprintf(out, cap,
                    "ovsloader1 epoch=%d batch=%" PRId64 " stream=%" PRId64 " seed=%" PRIu64 " rank=%d world=%d shuffle=%d "
                    "bs=%d fp=%016" PRIx64 " rng=%" PRIx64 ",%" PRIx64 ",%" PRIx64 ",%" PRIx64,
                    l->epoch, l->batch_in_epoch, l->consumed_P, l->cfg.seed, l->cfg.rank, l->cfg.world, l->cfg.shuffle,
                    l->cfg.batch, l->fp, r->s[0], r->s[1], r->s[2], r->s[3]);
}

int ovs_loader_epoch(const ovs_loader *l) { return l->epoch; }
int64_t ovs_loader_batch_in_epoch(const ovs_loader *l) { return l->batch_in_epoch; }
int64_t ovs_loader_batches_per_epoch(const ovs_loader *l) { return l->bpe; }
ovs_loader_stats ovs_loader_get_stats(const ovs_loader *l) { return l->st; }

static void worker_free(worker *w) {
    ovs_wp_toks_free(&w->cap);
    ovs_wp_toks_free(&w->q);
    ovs_wp_toks_free(&w->tmp);
    ovs_buf_free(&w->b1);
    ovs_buf_free(&w->b2);
    free(w->px);
    free(w->ra);
}

void ovs_loader_close(ovs_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nw; i++) pthread_join(l->w[i].th, NULL);
    for (int i = 0; l->w && i < l->cfg.threads; i++) worker_free(&l->w[i]);
    worker_free(&l->self);
    free(l->w);
    for (int i = 0; l->ring && i < l->R; i++) {
        free(l->ring[i].img);
        free(l->ring[i].img2);
        free(l->ring[i].tok);
    }
    free(l->ring);
    ovs_batch *b = &l->batch;
    free(b->img), free(b->img2), free(b->ids), free(b->mask), free(b->q_ids), free(b->q_mask);
    free(b->a_ids), free(b->a_mask), free(b->e_ids), free(b->e_mask), free(b->keys);
    stream_free(&l->s);
    ovs_wp_free(l->wp);
    ovs_manifest_free(&l->man);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->done);
    free(l);
}
