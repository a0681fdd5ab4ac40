/* replay_main.c — runs a fuzz target without libFuzzer: over every file of a seed corpus, then
 * over N seeded random mutations of them (bit flips, truncations, byte insertions, splices).
 * `make test` uses it as the short fuzz smoke run; `make fuzz T=name` uses real libFuzzer.
 *   replay_NAME CORPUS_DIR [N_MUTATIONS] [SEED] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct seed { char *data; size_t n; } seed;

static size_t mutate(ovs_rng *r, const seed *s, const seed *other, uint8_t *out, size_t cap) {
    size_t n = s->n < cap ? s->n : cap;
    memcpy(out, s->data, n);
    int ops = 1 + (int)ovs_rng_below(r, 4);
    for (int k = 0; k < ops; k++) {
        switch (ovs_rng_below(r, 5)) {
        case 0: if (n) out[ovs_rng_below(r, n)] ^= (uint8_t)(1u << ovs_rng_below(r, 8)); break;
        case 1: if (n) n = ovs_rng_below(r, n + 1); break;
        case 2: if (n < cap) { size_t at = ovs_rng_below(r, n + 1); memmove(out + at + 1, out + at, n - at); out[at] = (uint8_t)ovs_rng_u64(r); n++; } break;
        case 3: if (n) out[ovs_rng_below(r, n)] = (uint8_t)"\0\xff\x7f\x80\t\n\"\\<"[ovs_rng_below(r, 9)]; break;
        default:
            if (other->n && n) {
                size_t at = ovs_rng_below(r, n), from = ovs_rng_below(r, other->n);
                size_t len = other->n - from < cap - at ? other->n - from : cap - at;
                memcpy(out + at, other->data + from, len);
                if (at + len > n) n = at + len;
            }
        }
    }
    return n;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s CORPUS_DIR [N] [SEED]\n", argv[0]); return 2; }
    long nmut = argc > 2 ? atol(argv[2]) : 2000;
    ovs_rng r;
    ovs_rng_seed(&r, argc > 3 ? strtoull(argv[3], NULL, 10) : 1, 77);
    DIR *d = opendir(argv[1]);
    if (!d) { perror(argv[1]); return 2; }
    seed seeds[512];
    int ns = 0;
    struct dirent *de;
    while ((de = readdir(d)) && ns < 512) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", argv[1], de->d_name);
        ovs_err e = {0};
        if (ovs_read_file(p, &seeds[ns].data, &seeds[ns].n, &e) == 0) ns++;
    }
    closedir(d);
    if (!ns) { seeds[0].data = calloc(1, 1); seeds[0].n = 0; ns = 1; }
    for (int i = 0; i < ns; i++) LLVMFuzzerTestOneInput((const uint8_t *)seeds[i].data, seeds[i].n);
    size_t cap = 1 << 20;
    uint8_t *buf = malloc(cap);
    for (long i = 0; i < nmut; i++) {
        const seed *s = &seeds[ovs_rng_below(&r, (uint64_t)ns)], *o = &seeds[ovs_rng_below(&r, (uint64_t)ns)];
        size_t n = mutate(&r, s, o, buf, cap);
        uint8_t *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees overreads */
        memcpy(copy, buf, n);
        LLVMFuzzerTestOneInput(copy, n);
        free(copy);
    }
    printf("PASS fuzz_smoke_%s: %d seeds, %ld mutations, no crash\n", strrchr(argv[0], '_') ? strrchr(argv[0], '_') + 1 : argv[0], ns, nmut);
    for (int i = 0; i < ns; i++) free(seeds[i].data);
    free(buf);
    return 0;
}
