/* layers.h — the model's building blocks as forward/backward pairs over flat float buffers
 * (llm.c style). Every matrix product goes through cblas_sgemm; element-wise loops use OpenMP.
 * Conventions: row-major; "N" rows of "C" channels; a backward ACCUMULATES (+=) into parameter
 * gradients and, unless its comment says otherwise, into input gradients too. Nothing allocates. */
#ifndef OVS_LAYERS_H
#define OVS_LAYERS_H

#include <stddef.h>

/* Makes OpenBLAS single-threaded: every product is split across OpenMP threads by mm() instead
 * (ovs_model_create calls it). */
void layers_init(void);

/* Bench only: when fn is set, every product mm() computes is reported with its shape and the
 * seconds it took (count 1), and each batched attention call reports its products with count B*H
 * (the seconds of the whole call, softmax included, go with its first product; 0 with the others).
 * NULL (the default) turns reporting off. Not thread-safe: set it between steps. */
typedef void (*layers_mm_hook)(void *ctx, int ta, int tb, int M, int N, int K, int count, double sec);
void layers_set_mm_hook(layers_mm_hook fn, void *ctx);

/* C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C, with leading dimensions (row strides). */
void mm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
        const float *B, int ldb, float beta, float *C, int ldc);

/* Linear: out[N,Cout] (row stride ldo) = inp[N,Cin] (row stride ldi) @ W[Cout,Cin]^T + b (b may be NULL). */
void linear_forward(float *out, int ldo, const float *inp, int ldi, const float *W, const float *b,
                    int N, int Cin, int Cout);
/* dinp (if not NULL) += dout @ W (acc=1) or = (acc=0); dW += dout^T @ inp; db (if not NULL) +=
 * column sums of dout. */
void linear_backward(float *dinp, int lddi, int acc, float *dW, float *db, const float *dout, int lddo,
                     const float *inp, int ldi, const float *W, int N, int Cin, int Cout);

/* Column statistics in double: sum[c] += sum_i x[i,c], sq[c] += sum_i x[i,c]^2 (x: N rows of C,
 * each column summed in row order). */
void colstats_add(double *sum, double *sq, const float *x, int N, int C);

/* LayerNorm over the last axis: out[N,C], mean[N], rstd[N]; rows of inp/out have strides ldi/ldo. */
void layernorm_forward(float *out, int ldo, float *mean, float *rstd, const float *inp, int ldi,
                       const float *w, const float *b, int N, int C, float eps);
void layernorm_backward(float *dinp, int lddi, float *dw, float *db, const float *dout, int lddo,
                        const float *inp, int ldi, const float *w, const float *mean,
                        const float *rstd, int N, int C);

/* h[N,C] += b[C] (b may be NULL), then g = gelu(h) (erf form). In place on h; g may alias nothing. */
void bias_gelu_forward(float *g, float *h, const float *b, size_t N, int C);
/* dh = dg * gelu'(h) (overwrites dh; dh may alias dg). */
void gelu_backward(float *dh, const float *dg, const float *h, size_t n);

/* out[i] = a[i] + b[i] * (scale ? scale[i / per] : 1): residual with optional per-sample drop-path factor. */
void residual_forward(float *out, const float *a, const float *b, const float *scale, size_t per, size_t n);
/* da += dout; db += dout * scale. (da or db may be NULL.) */
void residual_backward(float *da, float *db, const float *dout, const float *scale, size_t per, size_t n);

/* Multi-head attention, batched over B and H, no copies: for b, h:
 *   S = scale * Q_bh[Nq,hd] K_bh[Nk,hd]^T (+ key mask: keys with kmask[b*Nk+j]==0 get -inf)
 *   P = softmax_rows(S); O_bh = P V_bh.
 * Q/K/V/O rows of sample b start at q + b*sq with row stride ldq (head h at column h*hd).
 * probs: [B,H,Nq,Nk] (kept for backward). kmask may be NULL. */
typedef struct attn_shape {
    int B, H, Nq, Nk, hd;
    int ldq, ldk, ldv, ldo;       /* row strides */
    size_t sq, sk, sv, so;        /* per-sample strides */
    float scale;
    const int *kmask;             /* [B,Nk] or NULL */
    const int *rowmask;           /* [Nq,Nk] keys each query row may see (all samples), or NULL;
                                     set after the initialiser (used by the local_patches option) */
} attn_shape;
void attention_forward(float *o, float *probs, const float *q, const float *k, const float *v,
                       const attn_shape *s);
/* dq, dk, dv ACCUMULATE with the same strides as q, k, v; dprobs scratch [B,H,Nq,Nk]. */
void attention_backward(float *dq, float *dk, float *dv, float *dprobs, const float *dout,
                        const float *probs, const float *q, const float *k, const float *v,
                        const attn_shape *s);

/* BatchNorm1d over N rows of C channels. Train (batch statistics, biased variance to normalise):
 * writes out, xhat-free mean[C], rstd[C], and when rmean is not NULL updates running statistics
 * with momentum (unbiased variance) as PyTorch does. */
void batchnorm_train_forward(float *out, float *mean, float *rstd, const float *inp,
                             const float *w, const float *b, int N, int C,
                             float *rmean, float *rvar, float momentum, float eps);
void batchnorm_eval_forward(float *out, const float *inp, const float *w, const float *b,
                            const float *rmean, const float *rvar, int N, int C, float eps);
/* dinp OVERWRITTEN; dw, db accumulate. */
void batchnorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, const float *mean, const float *rstd, int N, int C);
/* Running-statistics update from column sums (double) of n rows: sum[C], sumsq[C]. */
void batchnorm_running_update(float *rmean, float *rvar, const double *sum, const double *sumsq,
                              size_t n, int C, float momentum);

/* relu in place; backward: d = d * (out > 0). */
void relu_forward(float *x, size_t n);
void relu_backward(float *d, const float *out, size_t n);

/* out[N,C] = x / max(||x||, 1e-12) per row; norm[N] kept. Backward accumulates into dx. */
void l2norm_forward(float *out, float *norm, const float *x, int N, int C);
void l2norm_backward(float *dx, const float *dout, const float *out, const float *norm, int N, int C);

/* Mean softmax cross-entropy of logits[N,M] (row stride ld) with targets t[i]; dlogits (if not NULL)
 * gets scale * d(mean loss)/dlogits (overwritten). Returns the loss. */
float cross_entropy_forward_backward(float *dlogits, const float *logits, int ld, const int *t,
                                     int N, int M, float scale);

/* Softmax over rows in place: x[N,M] *= scale then softmax. */
void softmax_rows(float *x, int N, int M, float scale);

/* Gumbel-hard assignment over the GROUP axis of a [K,P] block (for each of B blocks):
 *   soft = softmax_k(raw + noise) (noise may be NULL), hard = onehot(argmax_k soft),
 *   a = hard / (sum_p hard + 1).
 * Writes soft[B,K,P], a[B,K,P], and hard[B,K,P] when not NULL. */
void assign_forward(float *a, float *soft, float *hard, const float *raw, const float *noise,
                    int B, int K, int P);
/* Straight-through backward (hard: the one-hot from assign_forward): da -> draw (overwritten) through the normalisation of the hard
 * one-hot and the gradient of the soft softmax. */
void assign_backward(float *draw, const float *da, const float *hard, const float *soft,
                     int B, int K, int P);

/* out[n,:] = table[ids[n],:] for N ids. Backward accumulates rows, skipping ids == skip_id. */
void embedding_forward(float *out, const int *ids, const float *table, int N, int C);
void embedding_backward(float *dtable, const int *ids, const float *dout, int N, int C, int skip_id);

#endif
