/* model_glue.h — the trained model behind `ovseg eval`: loads a checkpoint (train/ckpt.h), the
 * WordPiece vocabulary (shards/wordpiece.h) and adapts the model's eval-mode encoders
 * (ovs_model_encode_image / ovs_model_encode_text) to the protocol's interfaces (segment.h,
 * prompts.h). In a build without the model, checkpoint or tokenizer parts, open() says so. */
#ifndef OVS_MODEL_GLUE_H
#define OVS_MODEL_GLUE_H

#include "eval/prompts.h"
#include "eval/segment.h"

typedef struct ovs_eval_model ovs_eval_model;

/* ckpt: a ckpt-STEP.safetensors file or a run folder (its newest checkpoint); vocab: vocab.txt. */
int ovs_eval_model_open(ovs_eval_model **m, const char *ckpt, const char *vocab, ovs_err *e);
void ovs_eval_model_free(ovs_eval_model *m);
/* The window encoder for segment.h (soft map = softmax over groups of the assignment logits;
 * windows whose sides are not multiples of the patch size lose the remainder, as a stride-patch
 * convolution does, and the map is stretched over the whole window as the paper's code does). */
void ovs_eval_model_segmenter(ovs_eval_model *m, ovs_segmenter *s);
int ovs_eval_model_dim(const ovs_eval_model *m);
/* ovs_text_encode_fn over the model (ctx = the ovs_eval_model). */
int ovs_eval_model_encode_texts(void *ctx, const char *const *texts, int n, float *out, ovs_err *e);
/* The resolved checkpoint file. */
const char *ovs_eval_model_path(const ovs_eval_model *m);

#endif
