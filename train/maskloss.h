/* maskloss.h — OVSegmentor's cross-image mask consistency loss (stage 2), forward and backward.
 *
 * m1 [B,G,h,w]: assignment logits of image A's groups (online encoder) against B's patch keys;
 * m2 [B,G,h,w]: logits of B's own groups against B's keys (momentum encoder, no gradient).
 * Both are upsampled bilinearly (align_corners) to S×S; per sample the G masks of A are matched to
 * those of B by the Hungarian algorithm on the L2 distance between l2-normalised maps; the target
 * is sigmoid(B's matched map) thresholded at threshold × its max; the prediction is the min–max
 * normalised A map; loss = Σ_b dice_b / G with dice_b = 1 − (2Σpt + 1)/(Σp + Σt + 1) over all G·S²
 * values of sample b. Groups with detach[b,g] = 1 get no gradient (the paper detaches the k groups
 * of A least similar to the shared entity). */
#ifndef OVS_MASKLOSS_H
#define OVS_MASKLOSS_H

#include <stdint.h>

#include "util/err.h"

typedef struct ovs_maskloss {
    int B, G, h, w, S;
    float threshold;     /* 0.6 in the paper */
    float *up1, *up2;    /* [B,G,S*S] upsampled maps (scratch) */
    float *grad_up;      /* [G,S*S] scratch for one sample */
    int *perm;           /* [B,G] matched B mask for each A mask */
} ovs_maskloss;

int ovs_maskloss_init(ovs_maskloss *ml, int B, int G, int h, int w, int S, float threshold, ovs_err *e);
void ovs_maskloss_free(ovs_maskloss *ml);

/* Forward and backward in one call. dm1 (may be NULL) receives d loss / d m1 [B,G,h,w]
 * (overwritten, not accumulated). Returns 0. */
int ovs_maskloss_run(ovs_maskloss *ml, const float *m1, const float *m2, const uint8_t *detach, float *loss, float *dm1);

/* Bilinear upsampling with align_corners=True: in [C,h,w] -> out [C,H,W], and its adjoint
 * (accumulates into din). */
void ovs_upsample_bilinear_ac(float *out, const float *in, int C, int h, int w, int H, int W);
void ovs_upsample_bilinear_ac_backward(float *din, const float *dout, int C, int h, int w, int H, int W);

/* Momentum (EMA) update of a parameter block: ema = m·ema + (1−m)·p. */
void ovs_ema_update(float *ema, const float *p, long n, float m);

#endif
