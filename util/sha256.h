/* sha256.h — SHA-256 (FIPS 180-4) for content hashes of downloads, shards and manifests. */
#ifndef OVS_SHA256_H
#define OVS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ovs_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
} ovs_sha256;

void ovs_sha256_init(ovs_sha256 *c);
void ovs_sha256_update(ovs_sha256 *c, const void *data, size_t n);
void ovs_sha256_final(ovs_sha256 *c, unsigned char out[32]);
/* One call: hex digest (64 chars + NUL) of data. */
void ovs_sha256_hex(const void *data, size_t n, char hex[65]);
void ovs_hex(const unsigned char *bin, size_t n, char *hex);

#endif
