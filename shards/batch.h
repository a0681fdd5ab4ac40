/* batch.h — one training/eval batch as the loader yields it and the model consumes it:
 * contiguous float images ready for the model, token ids and attention masks for the caption,
 * the masked-entity "question", the "answer" prompt, and the stage-2 partner image and entity prompt.
 * All buffers are owned by whoever allocated the batch (the loader); the model only reads them. */
#ifndef OVS_BATCH_H
#define OVS_BATCH_H

#include <stdint.h>

typedef struct ovs_batch {
    int B;              /* samples in this batch */
    int S;              /* image side in pixels (square) */
    int L;              /* token sequence length (max_len, padded) */
    float *img;         /* [B,3,S,S] normalised with ImageNet mean/std, channel-first */
    int32_t *ids;       /* [B,L] caption token ids: [CLS] ... [SEP] [PAD]... */
    int32_t *mask;      /* [B,L] 1 for real tokens, 0 for padding */
    int32_t *q_ids;     /* [B,L] "question": the caption with entity word pieces -> [MASK] */
    int32_t *q_mask;    /* [B,L] */
    int32_t *a_ids;     /* [B,L] "answer" prompt, e.g. "a photo of a dog and people" */
    int32_t *a_mask;    /* [B,L] */
    /* stage 2 (NULL when the shards carry no partner or stage 1 is trained) */
    float *img2;        /* [B,3,S,S] partner image, own augmentation draws */
    int32_t *e_ids;     /* [B,L] "A photo of <shared entity>" */
    int32_t *e_mask;    /* [B,L] */
    int64_t *keys;      /* [B] sample ids (shard keys) */
} ovs_batch;

#endif
