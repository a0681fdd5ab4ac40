/* shardwrite.h — the training-shard format (see docs/loader.md): what one sample's members are and
 * how they are written into a tar shard, and the manifest.json that lists the shards.
 * Members of sample KEY (9 decimal digits of samples.id):
 *   KEY.jpg|webp|png   the stored image bytes as fetched (never re-encoded)
 *   KEY.txt            the caption (UTF-8)
 *   KEY.json           {"key":"KEY","entities":[{"name":..,"start":..,"end":..}],
 *                       "pairs":[{"key":"PKEY","entity":..,"member":"pair0.webp"}]}
 *                      (start/end: byte offsets in the caption, end exclusive)
 *   KEY.pairK.EXT      the image of the K-th embedded partner (K = 0..partners-1). */
#ifndef OVS_SHARDWRITE_H
#define OVS_SHARDWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "shards/tarwrite.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct ovs_train_entity { const char *name; int start, end; } ovs_train_entity;
typedef struct ovs_train_pair {
    int64_t key;
    const char *entity;
    const void *img;
    size_t img_n;
} ovs_train_pair;

typedef struct ovs_train_sample {
    int64_t key;
    const char *caption;
    const void *img;
    size_t img_n;
    const ovs_train_entity *ents;
    int nents;
    const ovs_train_pair *pairs;
    int npairs;
} ovs_train_sample;

/* The extension for image bytes ("jpg", "webp", "png"; "bin" when unknown). */
const char *ovs_image_ext(const void *data, size_t n);
/* Builds KEY.json of s into out (replacing it). */
int ovs_train_json(const ovs_train_sample *s, ovs_buf *out);
/* Writes all members of s. */
int ovs_train_write(ovs_tarw *w, const ovs_train_sample *s, ovs_buf *scratch, ovs_err *e);

typedef struct ovs_manifest_shard {
    char path[256];   /* file name relative to the manifest's folder */
    int64_t samples, bytes;
    char sha256[65];
} ovs_manifest_shard;

typedef struct ovs_manifest {
    char subset[128];
    uint64_t seed;
    int64_t shard_size, partners, samples;
    int nshards;
    ovs_manifest_shard *shards;
} ovs_manifest;

/* Writes DIR/manifest.json atomically. */
int ovs_manifest_write(const char *dir, const ovs_manifest *m, ovs_err *e);
/* Reads DIR/manifest.json (or the file itself when path ends in .json). */
int ovs_manifest_read(const char *path, ovs_manifest *m, ovs_err *e);
void ovs_manifest_free(ovs_manifest *m);

#endif
