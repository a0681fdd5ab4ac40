/* strmap.h — an interning string → index map for the entity extractor: keys are copied once into
 * a chunked arena (so pointers to them never move), each key gets a dense index 0..n-1 that callers
 * use to index their own parallel arrays. Open addressing with linear probing; grows at 50% load. */
#ifndef OVS_STRMAP_H
#define OVS_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ovs_arena_block ovs_arena_block;
typedef struct ovs_arena {
    ovs_arena_block *head; /* current block; older ones chained behind it */
    size_t used, cap;
} ovs_arena;

/* Copies n bytes plus a NUL into the arena; NULL on out-of-memory. */
char *ovs_arena_strdup(ovs_arena *a, const char *s, size_t n);
void ovs_arena_free(ovs_arena *a);

typedef struct ovs_strmap_key {
    const char *s;
    uint32_t len, hash;
} ovs_strmap_key;

typedef struct ovs_strmap {
    uint32_t *slots; /* 0 = empty, else key index + 1 */
    uint32_t cap;    /* power of two */
    ovs_strmap_key *keys;
    uint32_t n, keys_cap;
    ovs_arena arena;
} ovs_strmap;

uint32_t ovs_strmap_hash(const char *s, size_t n);
/* Index of key s[0..n) or -1. */
int32_t ovs_strmap_find(const ovs_strmap *m, const char *s, size_t n);
/* Index of key s[0..n), adding it when absent (*added = 1 then; added may be NULL); -1 on OOM. */
int32_t ovs_strmap_add(ovs_strmap *m, const char *s, size_t n, int *added);
static inline const char *ovs_strmap_str(const ovs_strmap *m, int32_t i) { return m->keys[i].s; }
static inline uint32_t ovs_strmap_len(const ovs_strmap *m, int32_t i) { return m->keys[i].len; }
void ovs_strmap_free(ovs_strmap *m);

#endif
