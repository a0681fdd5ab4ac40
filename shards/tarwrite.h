/* tarwrite.h — writing WebDataset tar shards atomically with libarchive (ustar/pax):
 * members go to PATH.tmp; commit fsyncs, renames to PATH and fsyncs the folder. Member byte offsets
 * are reported so the database can point at each sample. */
#ifndef OVS_TARWRITE_H
#define OVS_TARWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct ovs_tarw ovs_tarw;

/* Starts PATH.tmp (an existing stale PATH.tmp is replaced). */
int ovs_tarw_open(ovs_tarw **w, const char *path, ovs_err *e);
/* Adds one regular file member; *header_offset (may be NULL) gets the byte offset of its header. */
int ovs_tarw_add(ovs_tarw *w, const char *name, const void *data, size_t n, int64_t *header_offset, ovs_err *e);
/* Finishes the archive, fsyncs, renames PATH.tmp -> PATH, fsyncs the folder. Frees w.
 * bytes/sha256_hex (may be NULL) get the shard's size and SHA-256. */
int ovs_tarw_commit(ovs_tarw *w, int64_t *bytes, char sha256_hex[65], ovs_err *e);
/* Drops the shard: closes and removes PATH.tmp. Frees w. */
void ovs_tarw_abort(ovs_tarw *w);

#endif
