/* rng.h — a seedable, serialisable random stream (xoshiro256**), one per named purpose.
 * The whole state is 4 uint64 words, so checkpoints can save and restore it exactly. */
#ifndef OVS_RNG_H
#define OVS_RNG_H

#include <stdint.h>

typedef struct ovs_rng { uint64_t s[4]; } ovs_rng;

/* Seeds from (seed, stream): different streams of one seed are independent. */
void ovs_rng_seed(ovs_rng *r, uint64_t seed, uint64_t stream);
uint64_t ovs_rng_u64(ovs_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t ovs_rng_below(ovs_rng *r, uint64_t n);
/* Uniform float in [0, 1) with 24 random bits; double with 53. */
float ovs_rng_float(ovs_rng *r);
double ovs_rng_double(ovs_rng *r);
/* Standard normal (Box-Muller, no cached second value, so the state stays 4 words). */
double ovs_rng_normal(ovs_rng *r);
/* Gumbel(0,1) sample: -log(-log(u)), u in (0,1). */
float ovs_rng_gumbel(ovs_rng *r);
/* Fisher-Yates shuffle of n items of size sz. */
void ovs_rng_shuffle(ovs_rng *r, void *base, uint64_t n, uint64_t sz);

/* 64-bit hash of bytes (FNV-1a followed by a splitmix finaliser); stable across versions. */
uint64_t ovs_hash64(const void *data, uint64_t len);
uint64_t ovs_mix64(uint64_t x);

#endif
