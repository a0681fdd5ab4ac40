/* adamw.h — the optimiser and schedule of the paper's recipe: AdamW exactly as torch.optim.AdamW
 * computes it (single-tensor CPU path, decoupled weight decay), global-norm gradient clipping as
 * torch.nn.utils.clip_grad_norm_, and timm's per-iteration CosineLRScheduler with linear warmup.
 *
 * Parameters and gradients are the model's one flat block; the parameter table (model.h) says
 * which ranges are trainable and which get weight decay (not biases, norms or 1-D params). */
#ifndef OVS_ADAMW_H
#define OVS_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "train/model.h"
#include "util/err.h"

typedef struct ovs_adamw {
    double beta1, beta2, eps, weight_decay; /* 0.9, 0.999, 1e-8, 0.05 */
    int64_t step;           /* optimiser steps taken (torch's state['step']) */
    size_t numel;
    float *m, *v;           /* exp_avg, exp_avg_sq: same layout as the parameter block */
} ovs_adamw;

/* Allocates zeroed moments for numel floats with the paper's hyper-parameters. */
int ovs_adamw_init(ovs_adamw *o, size_t numel, ovs_err *e);
void ovs_adamw_free(ovs_adamw *o);

/* One AdamW step at learning rate lr over the trainable entries of table (decay flag per entry). */
void ovs_adamw_step(ovs_adamw *o, float *params, const float *grads, const ovs_param *table, int n, double lr);

/* Global 2-norm of the trainable gradients; when above max_norm (> 0) they are scaled by
 * max_norm / (norm + 1e-6) as clip_grad_norm_ does. Returns the norm before clipping. */
double ovs_clip_grad_norm(float *grads, const ovs_param *table, int n, double max_norm);

/* timm CosineLRScheduler (t_in_epochs=False, cycle_limit 1, no warmup prefix): for t < warmup,
 * warmup_lr + t (base - warmup_lr) / warmup; then min + (base - min)(1 + cos(pi t / total)) / 2;
 * min_lr from t >= total on. */
typedef struct ovs_sched {
    double base_lr, warmup_lr, min_lr;
    int64_t warmup_steps, total_steps;
} ovs_sched;

double ovs_sched_lr(const ovs_sched *s, int64_t t);

/* The paper's learning-rate scaling: lr × batch × world / 4096. */
double ovs_lr_scale(int batch, int world);

#endif
