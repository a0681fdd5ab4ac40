/* cmd_synth.c — `ovseg synth --out DIR`: generate the embedded CC12M-like crawl (DIR/www/,
 * DIR/cc12m-synth.tsv, DIR/truth.tsv) and segmentation benchmark (DIR/eval/). See docs/synth.md. */
#include <stdio.h>

#include "ingest/synth.h"
#include "util/args.h"
#include "util/cli.h"
#include "util/log.h"

int cmd_synth(int argc, char **argv) {
    ovs_synth_opts o;
    ovs_synth_defaults(&o);
    int64_t seed = (int64_t)o.seed, min_obj = o.min_objects, max_obj = o.max_objects;
    int64_t min_side = o.min_side, max_side = o.max_side, eval_size = o.eval_size, ignore_w = o.ignore_width;
    const ovs_opt opts[] = {
        {"out", OVS_ARG_STR, &o.out, "output folder (required; empty, absent or an earlier synth run)"},
        {"n", OVS_ARG_COUNT, &o.n, "TSV rows of the crawl (default 20000)"},
        {"eval-n", OVS_ARG_COUNT, &o.eval_n, "eval images, ImageSets/Segmentation/val.txt (default 500)"},
        {"tune-n", OVS_ARG_COUNT, &o.tune_n, "tuning images, ImageSets/Segmentation/tune.txt (default 200)"},
        {"seed", OVS_ARG_INT, &seed, "seed: same seed, byte-identical tree (default 1)"},
        {"base-url", OVS_ARG_STR, &o.base_url, "URL prefix of the rows (default http://127.0.0.1:8089/)"},
        {"min-objects", OVS_ARG_INT, &min_obj, "objects per image, at least (default 1)"},
        {"max-objects", OVS_ARG_INT, &max_obj, "objects per image, at most (default 4, max 8)"},
        {"min-size", OVS_ARG_DOUBLE, &o.min_size, "object extent / short side, smallest (default 0.3)"},
        {"max-size", OVS_ARG_DOUBLE, &o.max_size, "object extent / short side, largest (default 0.7)"},
        {"absent-rate", OVS_ARG_DOUBLE, &o.absent_rate, "captions naming one absent class (default 0.05)"},
        {"partial-rate", OVS_ARG_DOUBLE, &o.partial_rate, "captions naming only part of the classes (default 0.15)"},
        {"no-entity-rate", OVS_ARG_DOUBLE, &o.no_entity_rate, "captions naming no class (default 0.05)"},
        {"fail-rate", OVS_ARG_DOUBLE, &o.fail_rate, "rows that fail when crawled (default 0.33)"},
        {"colour-swap-rate", OVS_ARG_DOUBLE, &o.colour_swap_rate, "objects coloured like another class (default 0)"},
        {"min-side", OVS_ARG_INT, &min_side, "crawl images: long side, smallest (default 200)"},
        {"max-side", OVS_ARG_INT, &max_side, "crawl images: long side, largest (default 1000)"},
        {"eval-size", OVS_ARG_INT, &eval_size, "eval/tune images: square side in pixels (default 128)"},
        {"ignore-width", OVS_ARG_INT, &ignore_w, "eval masks: 255 within this many px of a border (default 1)"},
        {0}};
    const ovs_cmd_spec spec = {
        .verb = "synth", .usage = "--out DIR",
        .summary = "Generate the embedded CC12M-like crawl (DIR/www/ served by tests/serve-synth.sh,\n"
                   "DIR/cc12m-synth.tsv, DIR/truth.tsv) and a VOC-layout segmentation set (DIR/eval/).\n"
                   "The same seed gives a byte-identical tree.",
        .opts = opts, .min_pos = 0, .max_pos = 0};
    ovs_err e = {0};
    int np, rc = ovs_args_parse(&spec, argc, argv, NULL, 0, &np, &e);
    if (rc) return ovs_cli_finish("synth", rc, &e);
    o.seed = (uint64_t)seed;
    o.min_objects = (int)min_obj, o.max_objects = (int)max_obj;
    o.min_side = (int)min_side, o.max_side = (int)max_side;
    o.eval_size = (int)eval_size, o.ignore_width = (int)ignore_w;
    ovs_synth_stats st;
    rc = ovs_synth_run(&o, &st, &e);
    if (!rc) {
        int64_t ok = st.kind_count[OVS_SK_OK] + st.kind_count[OVS_SK_OK_REDIRECT];
        ovs_info("synth: %s: %lld rows (%.1f%% good), %lld images, %.1f MB in %.1f s (%.0f images/s)", o.out,
                 (long long)st.rows, st.rows ? 100.0 * ok / st.rows : 0.0, (long long)st.images, st.bytes / 1e6,
                 st.seconds, st.seconds > 0 ? st.images / st.seconds : 0.0);
    }
    return ovs_cli_finish("synth", rc, &e);
}
