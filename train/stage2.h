/* stage2.h — OVSegmentor's stage 2: the cross-image mask consistency loss (train/maskloss.h) wired
 * into the model's training step, the momentum (EMA) image encoder, and the frozen text encoder.
 *
 * Per step (the paper's code, models/multi_label_contrastive.py forward_train with use_maskloss):
 *   qA      = assign-attention q of image A (online encoder, from the stage-1 forward)  [B,K,C]
 *   qB, kB  = assign-attention q, k of the partner image B (momentum encoder, train mode, no grad)
 *   m1 = qA kB^T/sqrt(C) (grad into qA only); m2 = qB kB^T/sqrt(C)               [B,K,h*w]
 *   e  = text_projector(CLS("A photo of <entity>")) (no grad; BatchNorm in train mode)
 *   the K*0.5 groups of A whose normalised img_projector(group feature) has the smallest dot with
 *   the normalised e are detached; L_mask = maskloss(m1, m2) (upsampled to the input size, 0.6)
 *   L = contrastive + 1.0 entity + 0.1 L_mask; the text encoder (text_encoder.*) is frozen.
 * After every optimiser step: momentum = 0.99 momentum + 0.01 online (img_encoder.* only).
 * The momentum weights are checkpoint tensors "img_encoder_momentum.<name>" (the paper's
 * state_dict names), so --resume restores them exactly. */
#ifndef OVS_STAGE2_H
#define OVS_STAGE2_H

#include "train/ckpt.h"
#include "train/model.h"
#include "util/err.h"

#define OVS_STAGE2_MASK_WEIGHT 0.1f
#define OVS_STAGE2_EMA 0.99f
#define OVS_STAGE2_THRESHOLD 0.6f
#define OVS_STAGE2_GROUP_RATIO 0.5f

typedef struct ovs_stage2 ovs_stage2;

/* Attaches stage 2 to m: freezes the text encoder, hooks the mask loss into ovs_model_step, and
 * copies the current image-encoder weights into the momentum encoder (call after loading --init). */
int ovs_stage2_create(ovs_stage2 **s, ovs_model *m, ovs_err *e);
void ovs_stage2_free(ovs_stage2 *s);

/* ovs_trainee callbacks (ctx = the ovs_stage2): the training step, and the EMA update. */
int ovs_stage2_step(void *ctx, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e);
int ovs_stage2_after_update(void *ctx, ovs_err *e);
/* The momentum weights as a checkpoint part ("img_encoder_momentum." + image-encoder names). */
ovs_ckpt_part ovs_stage2_part(ovs_stage2 *s);

/* Tests: the momentum parameter block (the model's layout; only img_encoder.* entries are used),
 * and a named value of the last step: "m1", "m2", "dm1" [B,K,h*w], "dq" [B,K,C] (weighted grad
 * added to qA), "score" [B,K], "e_proj" [B,D]; *n gets the length in floats. */
float *ovs_stage2_momentum(ovs_stage2 *s);
const float *ovs_stage2_value(const ovs_stage2 *s, const char *name, size_t *n);
/* Tests: detach flags [B,K] and Hungarian matches [B,K] of the last step. */
const unsigned char *ovs_stage2_detach(const ovs_stage2 *s);
const int *ovs_stage2_perm(const ovs_stage2 *s);

#endif
