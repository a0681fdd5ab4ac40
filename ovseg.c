/* ovseg.c — the ovseg binary: global flags, then dispatch to a verb (git style). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cli.h"
#include "util/log.h"

typedef struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} verb;

static const verb VERBS[] = {
    {"init", cmd_init, "create a new ovseg database"},
    {"ingest", cmd_ingest, "load url/caption TSV files (plain, gz, bz2, xz, zst) into the database"},
    {"stats", cmd_stats, "print saved queries: crawl status, entities, subsets"},
    {"synth", cmd_synth, "generate the embedded CC12M-like crawl and a segmentation benchmark"},
    {"fetch", cmd_fetch, "crawl pending samples into WebDataset tar shards"},
    {"merge", cmd_merge, "merge the databases of crawl parts into one"},
    {"entities", cmd_entities, "extract noun-phrase entities from captions"},
    {"subset", cmd_subset, "choose the top-K entities and their samples (CC4M)"},
    {"pairs", cmd_pairs, "pair samples that share an entity"},
    {"shard", cmd_shard, "write training shards (sample + partner images + entity spans)"},
    {"vocab", cmd_vocab, "build a WordPiece vocabulary from the captions"},
    {"train", cmd_train, "train the model (stage 1 or 2)"},
    {"embed", cmd_embed, "compute image and text features with a checkpoint"},
    {"eval", cmd_eval, "zero-shot segmentation evaluation (mIoU)"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ovseg [-q|-v] <verb> [options] [args]\n\n"
               "Open-vocabulary semantic segmentation from image-caption pairs (OVSegmentor).\n\nverbs:\n");
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++)
        fprintf(f, "  %-9s %s\n", VERBS[i].name, VERBS[i].summary);
    fprintf(f, "\n`ovseg <verb> --help` describes each verb. -q: quiet, -v: verbose.\n");
}

/* OpenMP threads that spin while waiting make a step several times slower on a busy machine;
 * libgomp reads OMP_WAIT_POLICY only at start-up, so set it and start again (once). */
static void prefer_passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv); /* on failure: carry on with the default policy */
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) ovs_log_set_level(OVS_LOG_QUIET);
        else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) ovs_log_set_level(OVS_LOG_DEBUG);
        else if (!strcmp(argv[i], "--version")) { printf("ovseg %s\n", OVSEG_VERSION); return 0; }
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { usage(stdout); return 0; }
        else { fprintf(stderr, "ovseg: error: unknown flag %s\n", argv[i]); usage(stderr); return 1; }
    }
    if (i >= argc) { usage(stderr); return 1; }
    if (!strcmp(argv[i], "help")) { usage(stdout); return 0; }
    if (!strcmp(argv[i], "version")) { printf("ovseg %s\n", OVSEG_VERSION); return 0; }
    for (size_t k = 0; k < sizeof VERBS / sizeof VERBS[0]; k++)
        if (!strcmp(argv[i], VERBS[k].name)) return VERBS[k].fn(argc - i, argv + i);
    fprintf(stderr, "ovseg: error: unknown verb '%s' (see ovseg --help)\n", argv[i]);
    return 1;
}
