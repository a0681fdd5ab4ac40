/* rng.c — xoshiro256** streams, seeding by splitmix64, and a stable 64-bit hash. */
#include "util/rng.h"

#include <math.h>
#include <string.h>

uint64_t ovs_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void ovs_rng_seed(ovs_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = ovs_mix64(seed) ^ ovs_mix64(stream * 0xd1b54a32d192ed03ULL + 1);
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        r->s[i] = ovs_mix64(x);
    }
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) r->s[0] = 1;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ovs_rng_u64(ovs_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

uint64_t ovs_rng_below(ovs_rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = ovs_rng_u64(r); while (x >= limit);
    return x % n;
}

float ovs_rng_float(ovs_rng *r) { return (float)(ovs_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
double ovs_rng_double(ovs_rng *r) { return (double)(ovs_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

double ovs_rng_normal(ovs_rng *r) {
    double u1 = ovs_rng_double(r), u2 = ovs_rng_double(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

float ovs_rng_gumbel(ovs_rng *r) {
    double u = ovs_rng_double(r);
    if (u < 1e-20) u = 1e-20;
    return (float)(-log(-log(u)));
}

void ovs_rng_shuffle(ovs_rng *r, void *base, uint64_t n, uint64_t sz) {
    unsigned char *b = base, tmp[256];
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = ovs_rng_below(r, i);
        if (j == i - 1) continue;
        unsigned char *a = b + (i - 1) * sz, *c = b + j * sz;
        for (uint64_t off = 0; off < sz; off += sizeof tmp) {
            uint64_t k = sz - off < sizeof tmp ? sz - off : sizeof tmp;
            memcpy(tmp, a + off, k);
            memcpy(a + off, c + off, k);
            memcpy(c + off, tmp, k);
        }
    }
}

uint64_t ovs_hash64(const void *data, uint64_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint64_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return ovs_mix64(h);
}
