/* miou.h — segmentation metrics with mmsegmentation's semantics: a confusion matrix accumulated
 * over the whole dataset (rows = ground truth, columns = prediction; pixels whose ground truth is
 * the ignore label are dropped), per-class IoU = intersection / union summed over the dataset
 * (NaN when the union is 0: the class is neither in any ground truth nor predicted), mIoU = the mean
 * over the classes whose IoU is not NaN, and pixel accuracy = correct / labelled pixels. */
#ifndef OVS_MIOU_H
#define OVS_MIOU_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum { OVS_IGNORE_LABEL = 255 };

/* What a ground-truth value >= ncls (other than 255) means. The paper's COCO-Object conversion
 * leaves stuff classes as 81..171, which mmseg's metric drops from the label areas (torch.histc over
 * 0..ncls-1) but still counts in the prediction areas, i.e. in the unions. */
typedef enum {
    OVS_OOR_ERROR = 0, /* bad input: an error naming the value */
    OVS_OOR_IGNORE,    /* treated as 255 (counted in oor) */
    OVS_OOR_MMSEG,     /* as mmseg: not a label, but its prediction adds to that class's union */
} ovs_oor_mode;

typedef struct ovs_miou {
    int ncls;
    ovs_oor_mode oor_mode;
    int64_t *conf;     /* ncls * ncls: conf[gt * ncls + pred] */
    int64_t *oor_pred; /* [ncls]: predictions on out-of-range ground truth (OVS_OOR_MMSEG) */
    int64_t oor;       /* pixels whose ground truth was out of range */
    int64_t ignored;   /* pixels dropped because their ground truth was the ignore label */
    int64_t images;
} ovs_miou;

int ovs_miou_init(ovs_miou *m, int ncls, ovs_err *e);
void ovs_miou_free(ovs_miou *m);
/* Adds n pixels. A ground-truth value >= ncls that is not 255 is, by oor_mode (set it after init;
 * default OVS_OOR_ERROR), a user error (the message names the value and the pixel index; the
 * caller adds the file), ignored, or counted as mmseg does; a prediction >= ncls is internal.
 * Nothing is added when an error is returned. */
int ovs_miou_add(ovs_miou *m, const uint8_t *gt, const uint8_t *pred, size_t n, ovs_err *e);
/* Per-class IoU (NaN when the union is 0) into iou[ncls]; returns the mIoU (NaN if no class has a
 * union). Also the per-class accuracy (recall) when acc is not NULL. */
double ovs_miou_compute(const ovs_miou *m, double *iou, double *acc);
double ovs_miou_pixel_acc(const ovs_miou *m);
/* Number of labelled pixels (gt != 255). */
int64_t ovs_miou_labelled(const ovs_miou *m);

#endif
