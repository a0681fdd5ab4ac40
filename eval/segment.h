/* segment.h — OVSegmentor's zero-shot segmentation protocol (the paper's code,
 * segmentation/evaluation/group_vit_seg.py on mmseg's EncoderDecoder), independent of the model:
 *
 *   resize so the short side is 448 (long side <= 2048, aspect kept, bilinear), normalise with the
 *   ImageNet mean/std; slide a 448 window with stride 224 (mmseg slide_inference: window positions
 *   clamped to the image, logits summed and divided by the per-pixel window count) or one window
 *   over the whole image (--whole); per window:
 *     soft group map [G, gh*gw] -> bilinear to the window -> argmax group per pixel (one-hot)
 *     raw = s * Gf T^T, P = softmax_c(raw); top-k classes of softmax(s * If T^T);
 *     Ag  = softmax over the top-k classes of raw (others 0) * P       [G, C_fg]
 *     logit[1 + c] = Ag[group(pixel), c];  with background: th = min(bg_thresh, max Ag),
 *     logit[0] = 1 where max_c Ag[group(pixel), c] < th, else 0
 *   window logits averaged, resized bilinearly to the original size, argmax.
 *
 * The model enters through ovs_segmenter (a function that encodes one window), so the protocol and
 * the baselines are testable with any segmenter. Baselines computed from the same encoder calls:
 *   RANDOM  : the model's group features, but each patch assigned to a uniformly random group
 *   ORACLE  : the model's group map, each group labelled by its majority true class (per window)
 *   CEILING : each patch (cell of the encoder's gh x gw grid) labelled by its majority true class
 */
#ifndef OVS_SEGMENT_H
#define OVS_SEGMENT_H

#include <stdint.h>

#include "util/err.h"
#include "util/image.h"

/* What the image encoder gives for one window. The pointers belong to the segmenter and stay valid
 * until its next call. */
typedef struct ovs_seg_enc {
    int groups, gh, gw, dim;
    const float *soft;       /* [groups, gh*gw]: soft assignment, softmax over groups */
    const float *group_feat; /* [groups, dim]: projected group features, L2-normalised */
    const float *image_feat; /* [dim]: projected image feature, L2-normalised */
} ovs_seg_enc;

typedef struct ovs_segmenter {
    void *ctx;
    /* img: 3 planes [3, h, w], already normalised with the ImageNet mean/std. */
    int (*encode)(void *ctx, const float *img, int h, int w, ovs_seg_enc *out, ovs_err *e);
    float logit_scale; /* the model's exp(logit_scale), clamped at 100 */
} ovs_segmenter;

typedef struct ovs_seg_opts {
    int short_side, long_max; /* 448, 2048 */
    int window, stride;       /* 448, 224 */
    int whole;                /* 1: one window over the whole resized image */
    int with_bg;              /* class 0 is background (predicted by the threshold) */
    float bg_thresh;
    int topk;                 /* 5 */
} ovs_seg_opts;

void ovs_seg_opts_default(ovs_seg_opts *o); /* the paper's protocol, background on, thresh 0.95 */

enum { OVS_SEG_MODEL = 0, OVS_SEG_RANDOM, OVS_SEG_ORACLE, OVS_SEG_CEILING, OVS_SEG_NMODES };
extern const char *const ovs_seg_mode_names[OVS_SEG_NMODES]; /* "model", "random", ... */

typedef struct ovs_seg_out {
    uint8_t *pred[OVS_SEG_NMODES]; /* caller-allocated [H*W] for each requested mode, else NULL */
    float *scores;                 /* optional [C, H, W]: model-mode logits after the final resize */
    int windows;                   /* encoder calls made */
} ovs_seg_out;

/* Segments rgb (c=3) into C = nfg + with_bg classes. text: [nfg, dim] L2-normalised class
 * embeddings. gt (c=1, same size) is needed only for ORACLE and CEILING. modes: bit mask of
 * (1 << OVS_SEG_*). seed drives the RANDOM assignment. */
int ovs_seg_image(const ovs_segmenter *s, const ovs_seg_opts *o, const float *text, int nfg,
                  const ovs_image *rgb, const ovs_image *gt, unsigned modes, uint64_t seed,
                  ovs_seg_out *out, ovs_err *e);

/* Building blocks, exposed for tests and for the model glue. */
/* Output size of the keep-ratio resize (mmcv imrescale: scale = min(long/max, short/min)). */
void ovs_seg_rescale_size(int w, int h, int short_side, int long_max, int *nw, int *nh);
/* Window origins along one axis as mmseg's slide_inference: count and clamped starts. */
int ovs_seg_windows(int size, int crop, int stride, int *starts /* may be NULL */);
/* Bilinear resize of c float planes, align_corners=False (PyTorch F.interpolate semantics). */
void ovs_resize_bilinear(const float *src, int c, int h, int w, float *dst, int oh, int ow);
/* The group-to-class affinity Ag [G, nfg] of one window (see the top of this file). */
int ovs_seg_affinity(const ovs_seg_enc *enc, const float *text, int nfg, float logit_scale, int topk,
                     float *ag, ovs_err *e);

#endif
