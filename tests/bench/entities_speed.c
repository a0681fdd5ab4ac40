/* entities_speed.c — extraction speed on one core (built and run by bench_entities.sh): ovseg's
 * extractor vs OVSegmentor's exact-word-match filter (in C, same captions), and the load time of
 * WordNet + rules. Captions: real CC3M captions sampled with replacement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/entities_eval.h"
#include "util/progress.h"
#include "util/rng.h"
#include <time.h>

/* CPU seconds of this thread: rates per core, unaffected by other load on the machine. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "../shared/data/cc3m-val-captions-odd.tsv";
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); return 1; }
    char line[8192], **pool = NULL;
    size_t np = 0, cap = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\t\n")] = 0;
        if (np == cap) pool = realloc(pool, (cap = cap ? cap * 2 : 8192) * sizeof *pool);
        pool[np++] = strdup(line);
    }
    fclose(f);
    ovs_rng r;
    ovs_rng_seed(&r, 1, 0);
    const char **caps = malloc((size_t)n * sizeof *caps);
    size_t *lens = malloc((size_t)n * sizeof *lens);
    for (long i = 0; i < n; i++) caps[i] = pool[ovs_rng_below(&r, np)], lens[i] = strlen(caps[i]);

    double t0 = ovs_now();
    ovs_err e = {0};
    ovs_lex lex;
    ovs_ent_rules *rules;
    if (ovs_lex_load(&lex, OVS_WORDNET_DIR, &e) || ovs_ent_rules_load(&rules, NULL, &lex, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    double t_load = ovs_now() - t0;

    double c0 = cpu_now();
    t0 = ovs_now();
    long hits = 0;
    for (long i = 0; i < n; i++) {
        eval_set s = {0};
        eval_exact_match(caps[i], &s);
        hits += s.n > 0;
    }
    double t_exact = ovs_now() - t0, c_exact = cpu_now() - c0;

    ovs_extractor *x = ovs_extractor_new(rules);
    c0 = cpu_now();
    t0 = ovs_now();
    long ents = 0, with = 0;
    for (long i = 0; i < n; i++) {
        size_t k;
        ovs_extract(x, caps[i], lens[i], &k);
        ents += (long)k;
        with += k > 0;
    }
    double t_ext = ovs_now() - t0, c_ext = cpu_now() - c0;
    printf("| one thread, %ld captions | captions per CPU second | captions per wall second | result |\n|---|---|---|---|\n", n);
    printf("| OVSegmentor exact match (C: split, strip punctuation, 100-word compare) | %.0f | %.0f | %.1f%% of captions kept |\n",
           n / c_exact, n / t_exact, 100.0 * hits / n);
    printf("| ovseg extractor (tokenise, tag, chunk, name) | %.0f | %.0f | %.2f entities per caption, %.1f%% with one |\n",
           n / c_ext, n / t_ext, (double)ents / n, 100.0 * with / n);
    printf("| load WordNet + rules | %.0f ms | %u lexicon keys |\n", t_load * 1000, lex.map.n);
    ovs_extractor_free(x);
    ovs_ent_rules_free(rules);
    ovs_lex_free(&lex);
    return 0;
}
