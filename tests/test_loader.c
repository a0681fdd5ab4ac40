/* test_loader.c — the streaming loader on real training shards written here (WebP images, captions with
 * entity spans, partner images): batch contents, exact resume from a cursor with 2 decode threads and a
 * shuffle buffer of 1,000, thread-count independence, the rank split, bad shards skipped and counted.
 * `test_loader dump SHARDS VOCAB SIZE OUT` writes one epoch without shuffling or augmentation (with
 * partners) as a binary file for test_shard_webdataset.py: per sample int64 key, 4x77 int32 (ids,
 * q_ids, a_ids, e_ids), 2x3xSIZExSIZE float32 (img, img2). */
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

#include "shards/loader.h"
#include "shards/randaug.h"
#include "shards/shardwrite.h"
#include "shards/tarread.h"
#include "util/progress.h"
#include "tests/check.h"
#include "util/fsutil.h"
#include "util/image.h"
#include "util/rng.h"

#define VOCAB ".venv/minilm/vocab.txt"

static const char *CAPS[] = {"a dog on the beach", "the man and his dog in the city", "two people near a tree",
                             "a woman riding a car", "city skyline at night with people", "portrait of a girl"};
static const char *ENTS[] = {"dog", "man", "people", "tree", "woman", "car", "city", "girl"};

/* A photo-like test image: smooth colour gradients, a few discs, mild noise. */
static void make_image(ovs_rng *r, int S, ovs_buf *out) {
    ovs_image im;
    ovs_image_alloc(&im, S, S, 3);
    int c0 = (int)ovs_rng_below(r, 256), c1 = (int)ovs_rng_below(r, 256);
    int cx[3], cy[3], cr[3];
    for (int k = 0; k < 3; k++) cx[k] = (int)ovs_rng_below(r, S), cy[k] = (int)ovs_rng_below(r, S), cr[k] = S / 8 + (int)ovs_rng_below(r, S / 4);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            uint8_t *p = im.px + (y * S + x) * 3;
            int v[3] = {c0 + x * 128 / S, c1 + y * 128 / S, (x + y) * 96 / S};
            for (int k = 0; k < 3; k++)
                if ((x - cx[k]) * (x - cx[k]) + (y - cy[k]) * (y - cy[k]) < cr[k] * cr[k]) v[k] += 90, v[(k + 1) % 3] -= 40;
            for (int k = 0; k < 3; k++) p[k] = (uint8_t)(v[k] + (int)ovs_rng_below(r, 12));
        }
    ovs_err e = {0};
    out->len = 0;
    ovs_image_encode(&im, OVS_IMG_WEBP, 80, out, &e);
    ovs_image_free(&im);
}

enum { BAD_NONE = 0, BAD_NO_TXT = 1, BAD_IMAGE = 2 };

/* Writes nshards shards of per samples (keys from 1) into dir with a manifest. bad_shard gets `bad`
 * applied to its second sample. */
static void make_shards(const char *dir, int nshards, int per, int S, int bad_shard, int bad) {
    ovs_err e = {0};
    ovs_mkdir_p(dir, &e);
    ovs_manifest m = {.seed = 1, .shard_size = per, .partners = 1, .nshards = nshards};
    snprintf(m.subset, sizeof m.subset, "test");
    m.shards = calloc((size_t)nshards, sizeof *m.shards);
    ovs_rng r;
    ovs_rng_seed(&r, 7, 0);
    ovs_buf img = {0}, pimg = {0}, json = {0};
    for (int s = 0; s < nshards; s++) {
        snprintf(m.shards[s].path, sizeof m.shards[s].path, "train-%06d.tar", s);
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, m.shards[s].path);
        ovs_tarw *w;
        CHECK_OK(ovs_tarw_open(&w, path, &e), &e);
        for (int i = 0; i < per; i++) {
            int64_t key = (int64_t)s * per + i + 1;
            const char *cap = CAPS[key % 6];
            ovs_train_entity ents[4];
            int ne = 0;
            for (int k = 0; k < 8 && ne < 4; k++) {
                const char *p = strstr(cap, ENTS[k]);
                if (p) ents[ne++] = (ovs_train_entity){ENTS[k], (int)(p - cap), (int)(p - cap + strlen(ENTS[k]))};
            }
            make_image(&r, S, &img);
            make_image(&r, S, &pimg);
            if (s == bad_shard && i == 1 && bad == BAD_IMAGE) memset(img.data + 20, 0x55, img.len - 40);
            ovs_train_pair pair = {key + 1000, ents[0].name, pimg.data, pimg.len};
            ovs_train_sample smp = {key, cap, img.data, img.len, ents, ne, &pair, 1};
            if (s == bad_shard && i == 1 && bad == BAD_NO_TXT) { /* every member but the caption */
                char name[64];
                snprintf(name, sizeof name, "%09" PRId64 ".webp", key);
                ovs_tarw_add(w, name, img.data, img.len, NULL, &e);
                ovs_train_json(&smp, &json);
                snprintf(name, sizeof name, "%09" PRId64 ".json", key);
                ovs_tarw_add(w, name, json.data, json.len, NULL, &e);
                continue;
            }
            CHECK_OK(ovs_train_write(w, &smp, &json, &e), &e);
        }
        CHECK_OK(ovs_tarw_commit(w, &m.shards[s].bytes, m.shards[s].sha256, &e), &e);
        m.shards[s].samples = per;
        m.samples += per;
    }
    CHECK_OK(ovs_manifest_write(dir, &m, &e), &e);
    ovs_manifest_free(&m);
    ovs_buf_free(&img);
    ovs_buf_free(&pimg);
    ovs_buf_free(&json);
}

static ovs_loader_cfg base_cfg(const char *dir) {
    ovs_loader_cfg c;
    ovs_loader_defaults(&c);
    c.shards = dir, c.vocab = VOCAB, c.batch = 8, c.size = 32, c.threads = 2, c.shuffle = 1000, c.partners = 1;
    c.seed = 11;
    return c;
}

/* A copy of every array of a batch, to compare. */
typedef struct snap { int B; float *img, *img2; int32_t *tok; int64_t *keys; } snap;

static snap take(const ovs_batch *b) {
    snap s = {b->B, NULL, NULL, NULL, NULL};
    size_t im = (size_t)b->B * 3 * b->S * b->S, tl = (size_t)b->B * b->L;
    s.img = malloc(im * 4), s.img2 = malloc(im * 4), s.tok = malloc(tl * 8 * 4), s.keys = malloc((size_t)b->B * 8);
    memcpy(s.img, b->img, im * 4);
    memset(s.img2, 0, im * 4);
    memset(s.tok, 0, tl * 8 * 4);
    if (b->img2) memcpy(s.img2, b->img2, im * 4); /* stage 2 only */
    int32_t *t[8] = {b->ids, b->mask, b->q_ids, b->q_mask, b->a_ids, b->a_mask, b->e_ids, b->e_mask};
    for (int k = 0; k < 8; k++)
        if (t[k]) memcpy(s.tok + k * tl, t[k], tl * 4);
    memcpy(s.keys, b->keys, (size_t)b->B * 8);
    return s;
}

static int snap_eq(const snap *a, const snap *b, int S, int L) {
    size_t im = (size_t)a->B * 3 * S * S, tl = (size_t)a->B * L;
    return a->B == b->B && !memcmp(a->img, b->img, im * 4) && !memcmp(a->img2, b->img2, im * 4) &&
           !memcmp(a->tok, b->tok, tl * 8 * 4) && !memcmp(a->keys, b->keys, (size_t)a->B * 8);
}

static void snap_free(snap *s) { free(s->img), free(s->img2), free(s->tok), free(s->keys); }

/* Runs n batches from cursor (NULL = start) into out[]; cur_after (may be NULL) gets the cursor. */
static int run_batches(const ovs_loader_cfg *c, const char *cursor, int n, snap *out, char *cur_after) {
    ovs_loader *l;
    ovs_err e = {0};
    int rc = ovs_loader_open(&l, c, cursor, &e);
    CHECK_OK(rc, &e);
    if (rc) return rc;
    for (int i = 0; i < n && !rc; i++) {
        ovs_batch *b;
        rc = ovs_loader_next(l, &b, &e);
        CHECK_OK(rc, &e);
        if (!rc) out[i] = take(b);
    }
    if (cur_after) ovs_loader_cursor(l, cur_after, 256);
    ovs_loader_close(l);
    return rc;
}

TEST(loader_batch_holds_tokens_masks_and_normalised_images) {
    const char *dir = check_path("basic");
    make_shards(dir, 2, 10, 40, -1, 0);
    ovs_loader_cfg c = base_cfg(dir);
    snap s[1];
    if (run_batches(&c, NULL, 1, s, NULL)) return;
    const int L = 77;
    for (int b = 0; b < 8; b++) {
        int32_t *ids = s->tok + b * L, *q = s->tok + 2 * 8 * L + b * L, *a = s->tok + 4 * 8 * L + b * L;
        int32_t *ev = s->tok + 6 * 8 * L + b * L;
        CHECK_EQ_INT(ids[0], 101);
        CHECK_EQ_INT(q[0], 101);
        CHECK_EQ_INT(a[0], 101);
        CHECK_EQ_INT(ev[0], 101);
        int masks = 0;
        for (int i = 0; i < L; i++) masks += q[i] == 103;
        CHECK(masks >= 1);
        CHECK(s->keys[b] >= 1 && s->keys[b] <= 20);
    }
    float mn = 1e9f, mx = -1e9f;
    for (size_t i = 0; i < (size_t)8 * 3 * 32 * 32; i++) mn = fminf(mn, s->img[i]), mx = fmaxf(mx, s->img[i]);
    CHECK(mn >= -2.2f && mx <= 2.7f && mx > mn);
    snap_free(s);
}

TEST(loader_resume_from_cursor_is_bitwise_exact_with_2_threads) {
    const char *dir = check_path("resume");
    make_shards(dir, 4, 12, 40, -1, 0); /* 48 samples: 6 batches an epoch, so 0..8 crosses an epoch */
    ovs_loader_cfg c = base_cfg(dir);
    enum { N = 4 };
    snap straight[2 * N], first[N], second[N];
    char cur[256];
    if (run_batches(&c, NULL, 2 * N, straight, NULL)) return;
    if (run_batches(&c, NULL, N, first, cur)) return;
    if (run_batches(&c, cur, N, second, NULL)) return;
    for (int i = 0; i < N; i++) {
        CHECK_MSG(snap_eq(&straight[i], &first[i], 32, 77), "batch %d differs before the cut", i);
        CHECK_MSG(snap_eq(&straight[N + i], &second[i], 32, 77), "batch %d differs after resuming from '%s'", N + i, cur);
    }
    /* every cut point, threads off */
    c.threads = 0;
    for (int cut = 1; cut < 2 * N; cut++) {
        snap a[2 * N];
        if (run_batches(&c, NULL, cut, a, cur)) return;
        if (run_batches(&c, cur, 2 * N - cut, a + cut, NULL)) return;
        for (int i = 0; i < 2 * N; i++) {
            CHECK_MSG(snap_eq(&straight[i], &a[i], 32, 77), "cut %d: batch %d differs (threads 0 vs 2)", cut, i);
            snap_free(&a[i]);
        }
    }
    for (int i = 0; i < 2 * N; i++) snap_free(&straight[i]);
    for (int i = 0; i < N; i++) snap_free(&first[i]), snap_free(&second[i]);
}

TEST(loader_full_scale_crop_is_the_image_or_its_mirror) {
    const char *dir = check_path("mirror");
    make_shards(dir, 1, 16, 32, -1, 0);
    ovs_loader_cfg c = base_cfg(dir);
    c.shuffle = 0, c.shuffle_shards = 0, c.batch = 16, c.partners = 0;
    snap plain[1], aug[1];
    c.augment = 0;
    if (run_batches(&c, NULL, 1, plain, NULL)) return;
    c.augment = 1, c.scale_min = c.scale_max = 1.0f; /* every try fails: the centre crop is the whole image */
    if (run_batches(&c, NULL, 1, aug, NULL)) return;
    int flipped = 0;
    for (int b = 0; b < 16; b++) {
        const float *p = plain->img + b * 3 * 32 * 32, *a = aug->img + b * 3 * 32 * 32;
        int same = !memcmp(p, a, 3 * 32 * 32 * 4), mirror = 1;
        for (int i = 0; i < 3 * 32 * 32 && mirror; i++) mirror = a[i] == p[(i / 32) * 32 + 31 - i % 32];
        CHECK_MSG(same || mirror, "sample %d is neither the image nor its mirror", b);
        flipped += mirror && !same;
    }
    CHECK(flipped > 0 && flipped < 16);
    snap_free(plain);
    snap_free(aug);
}

TEST(loader_ranks_resume_from_the_gathered_cursors) {
    const char *dir = check_path("rankcur");
    make_shards(dir, 4, 10, 24, -1, 0);
    ovs_loader_cfg c = base_cfg(dir);
    c.batch = 4, c.partners = 0, c.world = 2, c.size = 24;
    snap s1[6], a0[3], a1[3], b1[3];
    char c0[256], c1[256], joined[600];
    c.rank = 1;
    if (run_batches(&c, NULL, 6, s1, NULL)) return;
    c.rank = 0;
    if (run_batches(&c, NULL, 3, a0, c0)) return;
    c.rank = 1;
    if (run_batches(&c, NULL, 3, a1, c1)) return;
    snprintf(joined, sizeof joined, "%s|%s", c0, c1);
    if (run_batches(&c, joined, 3, b1, NULL)) return;
    for (int i = 0; i < 3; i++) CHECK_MSG(snap_eq(&s1[3 + i], &b1[i], 24, 77), "batch %d differs (gathered cursors)", 3 + i);
    for (int i = 0; i < 3; i++) snap_free(&b1[i]);
    if (run_batches(&c, c0, 3, b1, NULL)) return; /* only rank 0's cursor: same epoch and batch */
    for (int i = 0; i < 3; i++) CHECK_MSG(snap_eq(&s1[3 + i], &b1[i], 24, 77), "batch %d differs (rank 0's cursor)", 3 + i);
    for (int i = 0; i < 3; i++) snap_free(&b1[i]), snap_free(&a0[i]), snap_free(&a1[i]);
    for (int i = 0; i < 6; i++) snap_free(&s1[i]);
}

TEST(loader_random_erasing_fills_one_box_with_noise) {
    const char *dir = check_path("erase");
    make_shards(dir, 1, 16, 32, -1, 0);
    ovs_loader_cfg c = base_cfg(dir);
    c.shuffle = 0, c.shuffle_shards = 0, c.batch = 16, c.partners = 0, c.scale_min = c.scale_max = 1.0f;
    snap plain[1], er[1];
    if (run_batches(&c, NULL, 1, plain, NULL)) return;
    c.erase_prob = 1.0f;
    if (run_batches(&c, NULL, 1, er, NULL)) return;
    int erased = 0;
    for (int b = 0; b < 16; b++) {
        int diff = 0, x0 = 32, x1 = -1, y0 = 32, y1 = -1;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                size_t i = (size_t)b * 3 * 1024 + y * 32 + x;
                float a = er->img[i], p = plain->img[i], pm = plain->img[(size_t)b * 3 * 1024 + y * 32 + 31 - x];
                if (a != p && a != pm) { diff++; x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1, y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1; }
            }
        if (!diff) continue;
        erased++;
        int box = (x1 - x0 + 1) * (y1 - y0 + 1);
        CHECK_MSG(box <= 1024 / 3 + 40 && diff == box, "sample %d: %d changed pixels in a %d box", b, diff, box);
    }
    CHECK(erased >= 12); /* a box can miss only when all 10 tries do not fit */
    snap_free(plain);
    snap_free(er);
}

TEST(loader_randaugment_is_deterministic_and_changes_images) {
    const char *dir = check_path("randaug");
    make_shards(dir, 2, 12, 32, -1, 0);
    ovs_loader_cfg c = base_cfg(dir);
    c.batch = 12, c.partners = 1, c.erase_prob = 0.25f;
    snap plain[2], t0[2], t2[2];
    if (run_batches(&c, NULL, 2, plain, NULL)) return;
    c.randaug_layers = 2;
    c.threads = 0;
    if (run_batches(&c, NULL, 2, t0, NULL)) return;
    c.threads = 2;
    if (run_batches(&c, NULL, 2, t2, NULL)) return;
    int changed = 0;
    for (int i = 0; i < 2; i++) {
        CHECK_MSG(snap_eq(&t0[i], &t2[i], 32, 77), "batch %d differs between 0 and 2 threads", i);
        for (int b = 0; b < 12; b++) changed += memcmp(plain[i].img + b * 3 * 1024, t0[i].img + b * 3 * 1024, 3 * 1024 * 4) != 0;
        snap_free(&plain[i]), snap_free(&t0[i]), snap_free(&t2[i]);
    }
    CHECK_MSG(changed >= 6, "only %d of 24 images changed by RandAugment", changed);
}

static int collect_epoch_keys(ovs_loader_cfg *c, int64_t *keys, int *n) {
    ovs_loader *l;
    ovs_err e = {0};
    int rc = ovs_loader_open(&l, c, NULL, &e);
    CHECK_OK(rc, &e);
    if (rc) return rc;
    *n = 0;
    int64_t bpe = ovs_loader_batches_per_epoch(l);
    for (int64_t i = 0; i < bpe && !rc; i++) {
        ovs_batch *b;
        rc = ovs_loader_next(l, &b, &e);
        CHECK_OK(rc, &e);
        for (int k = 0; !rc && k < b->B; k++) keys[(*n)++] = b->keys[k];
    }
    CHECK_EQ_INT(ovs_loader_epoch(l), 1);
    ovs_loader_close(l);
    return rc;
}

TEST(loader_ranks_see_disjoint_equal_halves_of_one_epoch) {
    const char *dir = check_path("ranks");
    make_shards(dir, 4, 10, 24, -1, 0);
    ovs_loader_cfg c = base_cfg(dir);
    c.batch = 5, c.partners = 0;
    int64_t k0[64], k1[64];
    int n0, n1;
    c.world = 2, c.rank = 0;
    if (collect_epoch_keys(&c, k0, &n0)) return;
    c.rank = 1;
    if (collect_epoch_keys(&c, k1, &n1)) return;
    CHECK_EQ_INT(n0, 20);
    CHECK_EQ_INT(n1, 20);
    int seen[41] = {0};
    for (int i = 0; i < n0; i++) seen[k0[i]]++;
    for (int i = 0; i < n1; i++) seen[k1[i]] += 100;
    for (int k = 1; k <= 40; k++) CHECK_MSG(seen[k] == 1 || seen[k] == 100, "key %d seen %d", k, seen[k]);
}

TEST(loader_ranks_get_equal_batches_from_unequal_shards) {
    const char *dir = check_path("uneven");
    make_shards(dir, 3, 10, 24, -1, 0); /* 3 shards, 2 ranks: 20 vs 10 samples -> 10 each */
    ovs_loader_cfg c = base_cfg(dir);
    c.batch = 5, c.partners = 0, c.world = 2;
    int64_t k0[64], k1[64];
    int n0, n1;
    c.rank = 0;
    if (collect_epoch_keys(&c, k0, &n0)) return;
    c.rank = 1;
    if (collect_epoch_keys(&c, k1, &n1)) return;
    CHECK_EQ_INT(n0, n1);
    CHECK_EQ_INT(n0, 10);
}

TEST(loader_skips_truncated_shard_missing_caption_and_bad_image) {
    const char *a = check_path("bad_txt"), *b = check_path("bad_img"), *t = check_path("bad_trunc");
    make_shards(a, 2, 10, 24, 0, BAD_NO_TXT);
    make_shards(b, 2, 10, 24, 1, BAD_IMAGE);
    make_shards(t, 2, 10, 24, -1, 0);
    char p[600];
    snprintf(p, sizeof p, "%s/train-000001.tar", t);
    ovs_tarr r; /* cut in the middle of the 5th sample's image */
    ovs_tar_member mem = {0};
    ovs_err e0 = {0};
    CHECK_OK(ovs_tarr_open(&r, p, &e0), &e0);
    for (int i = 0; i < 17; i++) ovs_tarr_next(&r, &mem, &e0);
    ovs_tarr_close(&r);
    CHECK(strstr(mem.name, ".webp") && !strstr(mem.name, "pair"));
    CHECK(truncate(p, mem.data_off + mem.size / 2) == 0);
    const char *dirs[3] = {a, b, t};
    for (int d = 0; d < 3; d++) {
        ovs_loader_cfg c = base_cfg(dirs[d]);
        c.batch = 4;
        ovs_loader *l;
        ovs_err e = {0};
        int rc = ovs_loader_open(&l, &c, NULL, &e);
        CHECK_OK(rc, &e);
        if (rc) continue;
        for (int i = 0; i < 12 && !rc; i++) { /* more than two epochs */
            ovs_batch *bt;
            rc = ovs_loader_next(l, &bt, &e);
            CHECK_OK(rc, &e);
            if (!rc) CHECK_EQ_INT(bt->B, 4);
        }
        ovs_loader_stats s = ovs_loader_get_stats(l);
        if (d == 0) CHECK_MSG(s.skipped_missing >= 1 && s.skipped_decode == 0, "missing %lld decode %lld", (long long)s.skipped_missing, (long long)s.skipped_decode);
        if (d == 1) CHECK_MSG(s.skipped_decode >= 1 && s.skipped_missing == 0, "missing %lld decode %lld", (long long)s.skipped_missing, (long long)s.skipped_decode);
        if (d == 2) CHECK_MSG(s.corrupt_shards >= 1, "corrupt %lld", (long long)s.corrupt_shards);
        CHECK_EQ_INT(s.samples, 48);
        ovs_loader_close(l);
    }
}

TEST(loader_refuses_a_cursor_of_other_settings) {
    const char *dir = check_path("cursor");
    make_shards(dir, 2, 8, 24, -1, 0);
    ovs_loader_cfg c = base_cfg(dir);
    c.batch = 4;
    snap s[1];
    char cur[256];
    if (run_batches(&c, NULL, 1, s, cur)) return;
    snap_free(s);
    c.seed = 12;
    ovs_loader *l;
    ovs_err e = {0};
    CHECK_EQ_INT(ovs_loader_open(&l, &c, cur, &e), OVS_EUSER);
    CHECK(strstr(e.msg, "other settings") != NULL);
    CHECK_EQ_INT(ovs_loader_open(&l, &c, "garbage", &e), OVS_EUSER);
}

static int dump(const char *dir, const char *vocab, int S, const char *out) {
    ovs_loader_cfg c;
    ovs_loader_defaults(&c);
    c.shards = dir, c.vocab = vocab, c.batch = 1, c.size = S, c.threads = 2, c.shuffle = 0, c.shuffle_shards = 0;
    c.augment = 0, c.partners = 1;
    ovs_loader *l;
    ovs_err e = {0};
    if (ovs_loader_open(&l, &c, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
    FILE *f = fopen(out, "wb");
    int64_t n = ovs_loader_batches_per_epoch(l);
    for (int64_t i = 0; i < n; i++) {
        ovs_batch *b;
        if (ovs_loader_next(l, &b, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
        fwrite(b->keys, 8, 1, f);
        fwrite(b->ids, 4, 77, f);
        fwrite(b->q_ids, 4, 77, f);
        fwrite(b->a_ids, 4, 77, f);
        fwrite(b->e_ids, 4, 77, f);
        fwrite(b->img, 4, (size_t)3 * S * S, f);
        fwrite(b->img2, 4, (size_t)3 * S * S, f);
    }
    fclose(f);
    ovs_loader_close(l);
    return 0;
}

static double cpu_now(void) { /* CPU seconds of all threads of the process */
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* bench SHARDS VOCAB: bare WebP decode rate of the shards' images (1 thread), then the loader's
 * images/s at 224 px (augment on, shuffle 1000, batch 64) with 1 and 2 decode threads. */
static int bench(const char *dir, const char *vocab) {
    ovs_manifest m;
    ovs_err e = {0};
    if (ovs_manifest_read(dir, &m, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
    ovs_buf all = {0};
    size_t *off = NULL, *len = NULL;
    int n = 0, cap = 0;
    for (int s = 0; s < m.nshards; s++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, m.shards[s].path);
        ovs_tarr r;
        if (ovs_tarr_open(&r, p, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
        ovs_tar_member mem;
        ovs_buf b = {0};
        while (ovs_tarr_next(&r, &mem, &e) == OVS_TAR_GOT) {
            if (!strstr(mem.name, ".webp") || strstr(mem.name, "pair")) continue;
            ovs_tar_read_data(r.fd, p, &mem, &b, &e);
            if (n == cap) cap = cap ? 2 * cap : 256, off = realloc(off, cap * sizeof *off), len = realloc(len, cap * sizeof *len);
            off[n] = all.len, len[n++] = b.len;
            ovs_buf_append(&all, b.data, b.len);
        }
        ovs_buf_free(&b);
        ovs_tarr_close(&r);
    }
    double t0 = ovs_now(), c0 = cpu_now();
    for (int i = 0; i < n; i++) {
        ovs_image im;
        ovs_image_decode(all.data + off[i], len[i], 0, 0, &im, &e);
        ovs_image_free(&im);
    }
    double dec = n / (ovs_now() - t0), dec_cpu = n / (cpu_now() - c0);
    printf("| what | threads | images/s (wall) | images per CPU-second |\n|---|---|---|---|\n");
    printf("| bare WebP decode 256 px (ovs_image_decode, baseline) | 1 | %.0f | %.0f |\n", dec, dec_cpu);
    for (int th = 1; th <= 2; th++) {
        ovs_loader_cfg c;
        ovs_loader_defaults(&c);
        c.shards = dir, c.vocab = vocab, c.batch = 64, c.threads = th, c.shuffle_shards = 1;
        ovs_loader *l;
        if (ovs_loader_open(&l, &c, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
        int64_t nb = ovs_loader_batches_per_epoch(l), imgs = 0;
        ovs_batch *b;
        ovs_loader_next(l, &b, &e); /* warm-up */
        t0 = ovs_now(), c0 = cpu_now();
        for (int64_t i = 1; i < nb; i++) {
            if (ovs_loader_next(l, &b, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
            imgs += b->B;
        }
        double rate = imgs / (ovs_now() - t0), rate_cpu = imgs / (cpu_now() - c0);
        printf("| loader: 256 px WebP -> 224 RandomResizedCrop+flip+normalise, tokens | %d | %.0f | %.0f |\n", th, rate, rate_cpu);
        ovs_loader_close(l);
    }
    {
        ovs_loader_cfg c;
        ovs_loader_defaults(&c);
        c.shards = dir, c.vocab = vocab, c.batch = 64, c.threads = 2, c.randaug_layers = 2, c.erase_prob = 0.25f;
        ovs_loader *l;
        if (ovs_loader_open(&l, &c, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
        int64_t nb = ovs_loader_batches_per_epoch(l), imgs = 0;
        ovs_batch *b;
        ovs_loader_next(l, &b, &e);
        t0 = ovs_now(), c0 = cpu_now();
        for (int64_t i = 1; i < nb; i++) {
            if (ovs_loader_next(l, &b, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
            imgs += b->B;
        }
        printf("| loader, OVSegmentor stage 1 recipe (+ RandAugment m9 x2, RandomErasing 0.25) | 2 | %.0f | %.0f |\n",
               imgs / (ovs_now() - t0), imgs / (cpu_now() - c0));
        ovs_loader_close(l);
    }
    printf("\n%d images (%.1f KB average) of %s. images per CPU-second = per core: it counts the CPU time\n"
           "of all threads (decode threads and the caller's, which assembles batches), so it holds on a busy\n"
           "machine where wall-clock rates do not.\n", n, all.len / 1024.0 / n, dir);
    free(off), free(len), ovs_buf_free(&all), ovs_manifest_free(&m);
    return 0;
}

/* raop OP ARG W H IN OUT: one RandAugment op on raw RGB bytes (for test_loader_randaug.py). */
static int raop(int op, double arg, int w, int h, const char *in, const char *out) {
    size_t n = (size_t)w * h * 3;
    uint8_t *img = malloc(n), *tmp = malloc(n);
    FILE *f = fopen(in, "rb");
    if (!f || fread(img, 1, n, f) != n) return 2;
    fclose(f);
    ovs_ra_op(op, arg, img, w, h, tmp);
    f = fopen(out, "wb");
    fwrite(img, 1, n, f);
    fclose(f);
    free(img), free(tmp);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 8 && !strcmp(argv[1], "raop")) return raop(atoi(argv[2]), atof(argv[3]), atoi(argv[4]), atoi(argv[5]), argv[6], argv[7]);
    if (argc == 6 && !strcmp(argv[1], "dump")) return dump(argv[2], argv[3], atoi(argv[4]), argv[5]);
    if (argc == 5 && !strcmp(argv[1], "mkshards")) { make_shards(argv[2], atoi(argv[3]), atoi(argv[4]), 256, -1, 0); return check_done(); }
    if (argc == 4 && !strcmp(argv[1], "bench")) return bench(argv[2], argv[3]);
    RUN(loader_batch_holds_tokens_masks_and_normalised_images);
    RUN(loader_resume_from_cursor_is_bitwise_exact_with_2_threads);
    RUN(loader_full_scale_crop_is_the_image_or_its_mirror);
    RUN(loader_random_erasing_fills_one_box_with_noise);
    RUN(loader_randaugment_is_deterministic_and_changes_images);
    RUN(loader_ranks_see_disjoint_equal_halves_of_one_epoch);
    RUN(loader_ranks_get_equal_batches_from_unequal_shards);
    RUN(loader_ranks_resume_from_the_gathered_cursors);
    RUN(loader_skips_truncated_shard_missing_caption_and_bad_image);
    RUN(loader_refuses_a_cursor_of_other_settings);
    return check_done();
}
