/* prompts.h — class prompts for zero-shot segmentation: "a photo of a {}." by default (the paper's
 * code uses only this one for segmentation), or the templates of a file (one a line, each with a
 * "{}"); a class embedding is the mean of its per-template normalised text features, normalised
 * again (GroupViT's build_text_embedding). */
#ifndef OVS_PROMPTS_H
#define OVS_PROMPTS_H

#include <stddef.h>

#include "util/err.h"

extern const char *const ovs_default_template; /* "a photo of a {}." */

/* Reads templates (blank lines and lines starting with '#' skipped; each needs exactly one "{}"). */
int ovs_templates_read(const char *path, char ***tpl, int *n, ovs_err *e);
void ovs_templates_free(char **tpl, int n);
/* tpl with its "{}" replaced by name; OVS_EUSER if it does not fit in cap. */
int ovs_prompt_fill(const char *tpl, const char *name, char *out, size_t cap, ovs_err *e);

/* Encodes n texts to [n, dim] L2-normalised features. */
typedef int (*ovs_text_encode_fn)(void *ctx, const char *const *texts, int n, float *out, ovs_err *e);

/* out [nnames, dim]: per class, the normalised mean over templates of the normalised features. */
int ovs_class_embeddings(ovs_text_encode_fn enc, void *ctx, int dim, char *const *names, int nnames,
                         char *const *tpl, int ntpl, float *out, ovs_err *e);

#endif
