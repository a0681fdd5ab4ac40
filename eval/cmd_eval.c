/* cmd_eval.c — `ovseg eval`: zero-shot segmentation mIoU of a checkpoint on VOC, PASCAL Context,
 * COCO-Object or the synthetic dataset, by the paper's protocol (segment.h), with baselines on
 * synth, result files (run.h) and rows in SQLite (eval_results) when --db is given. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "eval/model_glue.h"
#include "eval/prompts.h"
#include "eval/run.h"
#include "util/args.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/cli.h"
#include "util/log.h"
#include "util/progress.h"

typedef struct eval_flags {
    const char *ckpt, *dataset, *root, *split, *out, *bg, *templates, *db, *vocab, *oor;
    int64_t overlays, short_side, window, stride, limit, seed;
    int whole, baselines, no_baselines, skip_bad, scores;
} eval_flags;

/* --bg-thresh: a number, or "paper" (the dataset's value in the paper's code) or "groupvit"
 * (GroupViT's: 0.95 for COCO-Object, otherwise the same). */
static int parse_bg(const char *s, const ovs_evalset *d, float *out, ovs_err *e) {
    if (!s || !strcmp(s, "paper")) { *out = d->bg_thresh; return 0; }
    if (!strcmp(s, "groupvit")) { *out = !strcmp(d->kind, "coco-object") ? 0.95f : d->bg_thresh; return 0; }
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || !(v >= 0 && v <= 1)) return ovs_errf(e, OVS_EUSER, "--bg-thresh: expected 0..1, 'paper' or 'groupvit': '%s'", s);
    *out = (float)v;
    return 0;
}

static int run_eval(eval_flags *f, int argc, char **argv, ovs_err *e) {
    ovs_evalset d;
    int rc = ovs_evalset_open(&d, f->dataset, f->root, f->split, e);
    if (rc) return rc;
    ovs_eval_cfg cfg = {.ckpt = f->ckpt, .write_masks = f->out != NULL, .overlays = (int)f->overlays,
                        .limit = (int)f->limit, .skip_bad = f->skip_bad, .seed = (uint64_t)f->seed,
                        .write_scores = f->scores};
    ovs_seg_opts_default(&cfg.seg);
    cfg.seg.short_side = (int)f->short_side;
    cfg.seg.window = (int)f->window;
    cfg.seg.stride = (int)f->stride;
    cfg.seg.whole = f->whole;
    cfg.seg.with_bg = d.with_bg;
    cfg.baselines = f->baselines || (!strcmp(d.kind, "synth") && !f->no_baselines);
    char outbuf[4096], vocab[4096];
    if (f->out) snprintf(outbuf, sizeof outbuf, "%s", f->out);
    else snprintf(outbuf, sizeof outbuf, "%s.eval-%s", f->ckpt, d.kind); /* beside the checkpoint */
    cfg.out_dir = outbuf;
    if (f->vocab) snprintf(vocab, sizeof vocab, "%s", f->vocab);
    else if (ovs_is_dir(f->ckpt)) snprintf(vocab, sizeof vocab, "%s/vocab.txt", f->ckpt); /* a run folder */
    else {
        const char *slash = strrchr(f->ckpt, '/');
        snprintf(vocab, sizeof vocab, "%.*svocab.txt", slash ? (int)(slash - f->ckpt + 1) : 0, f->ckpt);
    }
    if (cfg.seg.short_side < 16 || cfg.seg.window < 16 || cfg.seg.stride < 1)
        rc = ovs_errf(e, OVS_EUSER, "--short-side, --window must be >= 16 and --stride >= 1");
    if (!rc) rc = parse_bg(f->bg, &d, &cfg.seg.bg_thresh, e);
    if (!rc && f->oor) {
        if (!strcmp(f->oor, "error")) cfg.oor_mode = OVS_OOR_ERROR;
        else if (!strcmp(f->oor, "ignore")) cfg.oor_mode = OVS_OOR_IGNORE;
        else if (!strcmp(f->oor, "mmseg")) cfg.oor_mode = OVS_OOR_MMSEG;
        else rc = ovs_errf(e, OVS_EUSER, "--out-of-range: expected error, ignore or mmseg: '%s'", f->oor);
    }
    char **tpl = NULL;
    int ntpl = 0;
    if (!rc && f->templates) rc = ovs_templates_read(f->templates, &tpl, &ntpl, e);
    ovs_eval_model *gm = NULL;
    float *text = NULL;
    if (!rc) rc = ovs_eval_model_open(&gm, f->ckpt, vocab, e);
    int nfg = d.ncls - d.with_bg;
    if (!rc) {
        int dim = ovs_eval_model_dim(gm);
        text = malloc(sizeof(float) * (size_t)nfg * (size_t)dim);
        rc = text ? ovs_class_embeddings(ovs_eval_model_encode_texts, gm, dim, d.names + d.with_bg, nfg, tpl, ntpl, text, e)
                  : ovs_errf(e, OVS_EINTERNAL, "out of memory");
    }
    ovs_eval_result r = {0};
    if (!rc) {
        ovs_segmenter s;
        ovs_eval_model_segmenter(gm, &s);
        cfg.ckpt = ovs_eval_model_path(gm);
        ovs_info("eval: %s on %s (%d images, %d classes), bg_thresh %.2f, %s", cfg.ckpt, d.kind, d.n, d.ncls,
                 cfg.seg.bg_thresh, cfg.seg.whole ? "whole image" : "sliding window");
        rc = ovs_eval_run(&cfg, &d, &s, text, &r, e);
    }
    if (!rc) rc = ovs_eval_write_files(&cfg, &d, &r, e);
    if (!rc) {
        ovs_eval_print_table(&d, &r, stdout);
        printf("results: %s/results.json\n", cfg.out_dir);
    }
    if (!rc && f->db) {
        ovs_db db;
        if (!(rc = ovs_db_open(&db, f->db, 0, e))) {
            rc = ovs_db_run_start(&db, "eval", argc, argv, e);
            if (!rc) rc = ovs_eval_store(&db, &cfg, &d, &r, e);
            char counts[128];
            snprintf(counts, sizeof counts, "{\"images\": %d, \"skipped\": %d}", r.images, r.skipped);
            if (db.run_id) ovs_db_run_end(&db, rc == 0, counts, NULL);
            ovs_db_close(&db);
        }
    }
    ovs_eval_result_free(&r);
    free(text);
    ovs_eval_model_free(gm);
    ovs_templates_free(tpl, ntpl);
    ovs_evalset_free(&d);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    eval_flags f = {.split = "val", .short_side = 448, .window = 448, .stride = 224, .seed = 0};
    const ovs_opt opts[] = {
        {"ckpt", OVS_ARG_STR, &f.ckpt, "checkpoint file (ckpt-STEP.safetensors) or run folder (newest) [required]"},
        {"dataset", OVS_ARG_STR, &f.dataset, "voc | context | coco-object | synth [required]"},
        {"root", OVS_ARG_STR, &f.root, "dataset folder (mmseg layout; see docs/eval.md) [required]"},
        {"split", OVS_ARG_STR, &f.split, "split name (default val)"},
        {"out", OVS_ARG_STR, &f.out, "folder for results.json, confusion.tsv, masks/ID.png (default CKPT.eval-DATASET, no masks)"},
        {"overlays", OVS_ARG_INT, &f.overlays, "write N overlay PNGs (image | prediction | ground truth)"},
        {"bg-thresh", OVS_ARG_STR, &f.bg, "background threshold: 0..1, 'paper' (default: voc .95, context .35, "
                                          "coco-object .90) or 'groupvit' (coco-object .95)"},
        {"short-side", OVS_ARG_INT, &f.short_side, "resize the short side to this (default 448)"},
        {"window", OVS_ARG_INT, &f.window, "sliding window size (default 448)"},
        {"stride", OVS_ARG_INT, &f.stride, "sliding window stride (default 224)"},
        {"whole", OVS_ARG_FLAG, &f.whole, "one window over the whole resized image instead of sliding"},
        {"templates", OVS_ARG_STR, &f.templates, "prompt templates file, one per line with {} (default 'a photo of a {}.')"},
        {"vocab", OVS_ARG_STR, &f.vocab, "WordPiece vocab.txt (default: vocab.txt beside the checkpoint)"},
        {"limit", OVS_ARG_INT, &f.limit, "evaluate only the first N images"},
        {"db", OVS_ARG_STR, &f.db, "record results in this ovseg database (table eval_results)"},
        {"baselines", OVS_ARG_FLAG, &f.baselines, "also compute the baselines (default on for synth)"},
        {"no-baselines", OVS_ARG_FLAG, &f.no_baselines, "skip the baselines on synth"},
        {"skip-bad", OVS_ARG_FLAG, &f.skip_bad, "count and skip images with missing/bad files instead of stopping"},
        {"out-of-range", OVS_ARG_STR, &f.oor, "mask values >= the class count (not 255): error (default), ignore, or mmseg "
                                              "(counted in the unions, as mmseg's metric does; the paper's COCO-Object "
                                              "conversion leaves stuff as 81..171)"},
        {"scores", OVS_ARG_FLAG, &f.scores, "also write OUT/scores/ID.f32: the class scores, float32 [C,H,W] (parity checks)"},
        {"seed", OVS_ARG_INT, &f.seed, "seed of the random-assignment baseline (default 0)"},
        {0}};
    static const ovs_cmd_spec spec_base = {.verb = "eval", .usage = "--ckpt F --dataset D --root DIR",
                                           .summary = "Zero-shot segmentation mIoU by OVSegmentor's protocol (slide 448/224, top-5 classes,\n"
                                                      "background threshold), with per-class IoU, masks, overlays and baselines.",
                                           .min_pos = 0, .max_pos = 0};
    ovs_cmd_spec spec = spec_base;
    spec.opts = opts;
    ovs_err e = {0};
    int np, rc = ovs_args_parse(&spec, argc, argv, NULL, 0, &np, &e);
    if (!rc && (!f.ckpt || !f.dataset || !f.root)) rc = ovs_errf(&e, OVS_EUSER, "--ckpt, --dataset and --root are required");
    if (!rc && f.overlays < 0) rc = ovs_errf(&e, OVS_EUSER, "--overlays: must be >= 0");
    if (!rc) rc = run_eval(&f, argc, argv, &e);
    return ovs_cli_finish("eval", rc, &e);
}
