/* loader.h — the streaming loader of training shards (made by `ovseg shard`), the C API the trainer
 * and eval use. It yields ovs_batch (shards/batch.h): augmented float images, caption tokens, the
 * masked-entity question and answer and, for stage 2, the partner image and "A photo of <entity>".
 *
 * Per epoch: a seeded shard order (the same on every rank), shards dealt to ranks round-robin
 * (position p goes to rank p % world), every rank yields the same number of batches: the smallest
 * rank's sample count / batch (drop_last) — larger ranks leave their surplus for that epoch, a rank
 * that runs short (skipped samples) wraps around its own shards. Samples pass a shuffle buffer
 * (seeded per epoch and rank), then N decode threads; output is in stream order, and every random
 * draw of a sample comes from an RNG seeded by (seed, epoch, stream index), so the batches do not
 * depend on the number of threads. A cursor (a short string) taken after any batch resumes exactly:
 * the loader replays the stream's structure (tar headers only, no decoding) up to the cursor.
 * Corrupt shards, missing members and undecodable images are skipped with a warning naming
 * shard:member and counted. See docs/loader.md. */
#ifndef OVS_LOADER_H
#define OVS_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "shards/batch.h"
#include "util/err.h"

typedef struct ovs_loader ovs_loader;

typedef struct ovs_loader_cfg {
    const char *shards;     /* folder holding manifest.json (or the manifest file) */
    const char *vocab;      /* WordPiece vocab.txt */
    int batch;              /* B (default 32) */
    int size;               /* S: output image side (default 224) */
    int max_len;            /* L: token length (default 77) */
    int threads;            /* decode threads (default 2; 0 = decode on the calling thread) */
    int shuffle;            /* shuffle buffer size in samples (default 1000; 0 or 1 = stream order) */
    int shuffle_shards;     /* 1 (default): seeded shard order per epoch; 0: manifest order */
    int augment;            /* 1 (default): RandomResizedCrop + flip; 0: whole image resized to SxS */
    float scale_min, scale_max; /* RandomResizedCrop area scale (default 0.08, 1.0; stage 2: 0.4, 1.0) */
    float erase_prob;       /* timm RandomErasing probability, 'pixel' mode, one box (default 0; stage 1: 0.25) */
    int randaug_layers;     /* RandAugment ops per image (default 0 = off; stage 1: 2, "rand-m9-mstd0.5-inc1") */
    float randaug_mag, randaug_mstd; /* its magnitude and magnitude std (default 9, 0.5) */
    int partners;           /* 1: fill img2/e_ids/e_mask (stage 2); 0 (default): leave them NULL */
    int mask_per_piece;     /* 0 (default, OVSegmentor): one [MASK] per word; 1: one per word piece */
    int drop_last;          /* 1 (default): every batch full; 0: the epoch's last batch may be smaller */
    int rank, world;        /* default 0, 1 */
    uint64_t seed;
} ovs_loader_cfg;

typedef struct ovs_loader_stats {
    int64_t samples;          /* samples yielded in batches */
    int64_t skipped_missing;  /* samples without caption/json/image member or with a bad json */
    int64_t skipped_decode;   /* undecodable images (sample or partner) */
    int64_t corrupt_shards;   /* shards cut short (truncated, bad header) or unreadable */
} ovs_loader_stats;

void ovs_loader_defaults(ovs_loader_cfg *cfg);

/* Opens the loader; cursor (NULL or "" = the start of epoch 0) is a string from ovs_loader_cursor,
 * or the cursors of all ranks joined by '|' (each rank picks its own). Given only another rank's
 * cursor it resumes at the same epoch and batch, exact unless it had skipped undecodable samples. */
int ovs_loader_open(ovs_loader **l, const ovs_loader_cfg *cfg, const char *cursor, ovs_err *e);
/* The next batch (epochs roll over by themselves). *b stays valid until the next call. After an
 * error (OVS_EUSER: no readable sample left) close the loader. */
int ovs_loader_next(ovs_loader *l, ovs_batch **b, ovs_err *e);
/* Where the loader stands after the last batch returned (a line of text, < 256 bytes). */
int ovs_loader_cursor(const ovs_loader *l, char *out, size_t cap);
int ovs_loader_epoch(const ovs_loader *l);          /* epoch of the next batch */
int64_t ovs_loader_batch_in_epoch(const ovs_loader *l); /* index within that epoch */
int64_t ovs_loader_batches_per_epoch(const ovs_loader *l); /* of the current epoch */
ovs_loader_stats ovs_loader_get_stats(const ovs_loader *l);
void ovs_loader_close(ovs_loader *l);

/* The 80 full_imagenet_templates of OVSegmentor (CLIP's ImageNet prompts), each with one "{}". */
extern const char *const ovs_imagenet_templates[80];

#endif
