/* hashset.h — an in-memory map from 64-bit URL hash to sample id (open addressing, linear
 * probing, 16 bytes a slot, at most 3/4 full). The bulk ingest path (ingest.c) deduplicates URLs
 * with it instead of the UNIQUE url_hash index, which it drops for the duration of the ingest.
 * Keys must be well mixed in their top bits (URL hashes are). Keys put in sorted order crowd into
 * the first slots while the table grows: reserve room for all of them first.
 *
 *   ovs_hashset s = {0};
 *   int64_t *id; if (ovs_hashset_put(&s, hash, &id) == 1) { ...new: set *id... } else { ...*id is the earlier one... }
 *   ovs_hashset_free(&s);
 */
#ifndef OVS_HASHSET_H
#define OVS_HASHSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct ovs_hashset_slot {
    int64_t key, val; /* val == OVS_HASHSET_EMPTY: a free slot */
} ovs_hashset_slot;

#define OVS_HASHSET_EMPTY INT64_MIN /* the one value that cannot be stored */

typedef struct ovs_hashset {
    ovs_hashset_slot *slots;
    size_t n, cap; /* cap: 0 or a power of two, 2^(64 - shift) */
    unsigned shift;
} ovs_hashset;

/* Finds key; when absent adds it (value OVS_HASHSET_EMPTY until the caller sets *val). Returns 1
 * when key was added, 0 when it was there already (*val points at its value), -1 out of memory.
 * *val stays valid until the next put. */
int ovs_hashset_put(ovs_hashset *s, int64_t key, int64_t **val);
/* Makes room for n keys in all without growing again (optional). Returns 0 or -1 out of memory. */
int ovs_hashset_reserve(ovs_hashset *s, size_t n);
void ovs_hashset_free(ovs_hashset *s);

#endif
