/* import.h — pretrained weights under their public names, into the model's parameter block:
 *   OVS_IMPORT_VIT   a DINO / timm ViT (patch_embed.proj.*, pos_embed [1, 1+P, C] whose cls entry is
 *                    dropped, blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*, norm.*):
 *                    blocks 0..depth0-1 go to img_encoder.layers.0.blocks.N, the rest to
 *                    img_encoder.layers.1.blocks.(N - depth0), as the paper's code maps DINO's 12 blocks;
 *                    cls_token and head.* are ignored.
 *   OVS_IMPORT_BERT  a Hugging Face BERT (BertModel names, with or without the "bert." prefix of
 *                    BertFor* checkpoints) into text_encoder.transformer.*; embeddings.position_ids
 *                    and the cls.* pre-training heads are ignored.
 * Strict: every tensor of the file must map to a tensor of the table with the same shape, and every
 * table tensor of the imported family must be provided; otherwise an error lists the unexpected,
 * wrong-shape and missing tensors by name and nothing is copied. */
#ifndef OVS_IMPORT_H
#define OVS_IMPORT_H

#include "train/model.h"
#include "util/err.h"

typedef enum { OVS_IMPORT_VIT, OVS_IMPORT_BERT } ovs_import_kind;

/* Imports path into params (laid out by table); depth0 splits ViT blocks between the two stages.
 * *copied (may be NULL) gets the number of tensors copied. */
int ovs_import(const char *path, ovs_import_kind kind, const ovs_param *table, int n, int depth0, float *params,
               int *copied, ovs_err *e);

#endif
