/* run.h — one evaluation over a dataset: load each image and mask, segment it (segment.h),
 * accumulate the metrics of the model and of the baselines (miou.h), and write the outputs:
 *   OUT/results.json     mIoU, pixel accuracy, per-class IoU and accuracy, baselines, protocol
 *   OUT/confusion.tsv    the model's confusion matrix (rows: ground truth, columns: prediction)
 *   OUT/masks/ID.png     every predicted mask as a VOC-palette PNG (when write_masks)
 *   OUT/overlays/ID.png  image | prediction | ground truth with a class legend (first N images)
 *   OUT/scores/ID.f32    the model's per-pixel class scores, float32 [C, H, W] (when write_scores)
 * Bad input (missing image or mask, mask size differing from the image, a mask value outside the
 * classes other than 255) stops the run with an error naming the file, or with skip_bad is
 * counted, warned about and left out of every metric (results.json "skipped"). */
#ifndef OVS_EVAL_RUN_H
#define OVS_EVAL_RUN_H

#include <stdint.h>

#include "eval/datasets.h"
#include "eval/miou.h"
#include "eval/segment.h"

/* Metrics rows: the model, then the baselines. */
enum { OVS_EV_MODEL = 0, OVS_EV_RANDOM, OVS_EV_ORACLE, OVS_EV_CEILING, OVS_EV_ALLBG, OVS_EV_N };
extern const char *const ovs_eval_method_names[OVS_EV_N];

typedef struct ovs_eval_cfg {
    const char *out_dir;   /* required */
    const char *ckpt;      /* recorded in results */
    int write_masks, overlays, limit, skip_bad, baselines;
    int write_scores;      /* OUT/scores/ID.f32: the model's class scores, float32 [C, H, W] */
    uint64_t seed;         /* random-assignment baseline */
    ovs_oor_mode oor_mode; /* mask values >= classes (not 255): error (default), ignore, mmseg */
    ovs_seg_opts seg;
} ovs_eval_cfg;

typedef struct ovs_eval_result {
    ovs_miou m[OVS_EV_N];  /* m[i].ncls == 0 when method i was not run */
    int images, skipped, windows;
    double seconds;
} ovs_eval_result;

/* text: [d->ncls - d->with_bg, dim] normalised class embeddings (background has none). */
int ovs_eval_run(const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_segmenter *s,
                 const float *text, ovs_eval_result *r, ovs_err *e);
void ovs_eval_result_free(ovs_eval_result *r);
/* results.json of a finished run into out (appended). */
int ovs_eval_json(const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_eval_result *r, ovs_buf *out);
/* Per-class JSON object {"name": iou|null, ...} of method i. */
int ovs_eval_per_class_json(const ovs_evalset *d, const ovs_eval_result *r, int i, ovs_buf *out);
/* Writes OUT/results.json and OUT/confusion.tsv. */
int ovs_eval_write_files(const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_eval_result *r, ovs_err *e);
/* One eval_results row per method run (model and baselines; a NaN mIoU is left out), in one
 * transaction, tied to db->run_id. */
struct ovs_db;
int ovs_eval_store(struct ovs_db *db, const ovs_eval_cfg *cfg, const ovs_evalset *d, const ovs_eval_result *r, ovs_err *e);
/* The final table (per-class IoU, mIoU, pixel accuracy, baselines) to f. */
void ovs_eval_print_table(const ovs_evalset *d, const ovs_eval_result *r, void *file);

/* Overlay: image | prediction | ground truth, with a legend of the classes present. */
int ovs_eval_overlay(const ovs_image *rgb, const uint8_t *pred, const uint8_t *gt, char *const *names,
                     int ncls, ovs_image *out, ovs_err *e);

#endif
