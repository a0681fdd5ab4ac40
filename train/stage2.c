/* stage2.c — stage 2 of OVSegmentor: the momentum image encoder, the entity-guided detaching of
 * groups, and the cross-image mask consistency loss, hooked into the model's training step
 * (see stage2.h for the computation). */
#include "train/stage2.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/maskloss.h"
#include "train/model_internal.h"

struct ovs_stage2 {
    ovs_model *m;
    const ovs_config *c;
    int maxB, K, Np, C;
    float *mom;                   /* momentum parameter block, the model's layout */
    ovs_param *mtab;              /* img_encoder.* entries, names without "img_encoder." */
    int mn;
    float *act;                   /* arena of the activations below */
    a_image mi;                   /* momentum encoder on the partner image */
    a_text et;                    /* "A photo of <entity>" */
    a_proj pe, pg;                /* text_projector(entity CLS) [B], img_projector(groups) [B*K] */
    float *m1, *m2, *dm1, *dq, *score;
    unsigned char *detach;
    ovs_maskloss ml;
    int B;                        /* batch of the last step */
};

static void layout(ovs_stage2 *s, arena *ar) {
    const ovs_config *c = s->c;
    int B = s->maxB;
    image_layout(&s->mi, ar, c, B, c->img_size, c->img_size);
    text_layout(&s->et, ar, c, B, c->text_len);
    proj_layout(&s->pe, ar, c, B, c->text_width);
    proj_layout(&s->pg, ar, c, B * s->K, c->width);
    size_t bkp = (size_t)B * s->K * s->Np;
    s->m1 = take(ar, bkp); s->m2 = take(ar, bkp); s->dm1 = take(ar, bkp);
    s->dq = take(ar, (size_t)B * s->K * s->C);
    s->score = take(ar, (size_t)B * s->K);
    s->detach = (unsigned char *)take(ar, (size_t)B * s->K);
}

static int hook(void *ctx, ovs_model *m, const ovs_batch *b, ovs_rng *rng, float *loss, ovs_err *e);

int ovs_stage2_create(ovs_stage2 **out, ovs_model *m, ovs_err *e) {
    *out = NULL;
    const ovs_config *c = ovs_model_config(m);
    ovs_stage2 *s = calloc(1, sizeof *s);
    if (!s) return ovs_errf(e, OVS_EINTERNAL, "stage 2: out of memory");
    s->m = m, s->c = c, s->maxB = ovs_model_max_batch(m), s->K = c->groups_out, s->C = c->width;
    int g = c->img_size / c->patch;
    s->Np = g * g;
    size_t numel = ovs_model_numel(m);
    int n;
    const ovs_param *tab = ovs_model_table(m, &n);
    s->mom = aligned_alloc(64, ((numel + 15) & ~(size_t)15) * sizeof(float));
    s->mtab = calloc((size_t)n, sizeof(ovs_param));
    s->mi.b0 = calloc((size_t)c->depth0 + 1, sizeof(a_block));
    s->mi.b1 = calloc((size_t)c->depth1 + 1, sizeof(a_block));
    s->et.layers = calloc((size_t)c->text_layers + 1, sizeof(a_blayer));
    arena ar = {0};
    int rc = 0;
    if (!s->mom || !s->mtab || !s->mi.b0 || !s->mi.b1 || !s->et.layers) goto oom;
    layout(s, &ar);
    ar.cap = ar.used;
    ar.base = s->act = aligned_alloc(64, (ar.cap + 16) * sizeof(float));
    if (!s->act) goto oom;
    memset(s->act, 0, ar.cap * sizeof(float));
    ar.used = 0;
    layout(s, &ar);
    if ((rc = ovs_maskloss_init(&s->ml, s->maxB, s->K, g, g, c->img_size, OVS_STAGE2_THRESHOLD, e))) goto fail;
    memcpy(s->mom, ovs_model_params(m), numel * sizeof(float));
    for (int i = 0; i < n; i++) {
        if (strncmp(tab[i].name, "img_encoder.", 12)) continue;
        ovs_param *p = &s->mtab[s->mn++];
        *p = tab[i];
        memmove(p->name, tab[i].name + 12, strlen(tab[i].name + 12) + 1);
    }
    ovs_model_freeze_text(m);
    ovs_model_set_hook(m, hook, s, OVS_STAGE2_MASK_WEIGHT);
    *out = s;
    return 0;
oom:
    rc = ovs_errf(e, OVS_EINTERNAL, "stage 2: out of memory (momentum encoder, %zu floats)", numel);
fail:
    ovs_stage2_free(s);
    return rc;
}

void ovs_stage2_free(ovs_stage2 *s) {
    if (!s) return;
    if (s->m) ovs_model_set_hook(s->m, NULL, NULL, 0.0f);
    ovs_maskloss_free(&s->ml);
    free(s->mom); free(s->mtab); free(s->act);
    free(s->mi.b0); free(s->mi.b1); free(s->et.layers);
    free(s);
}

/* drop-path factors of the momentum encoder (train mode), drawn as the online encoder's */
static void draw_drop(ovs_stage2 *s, ovs_rng *rng, int B) {
    const ovs_config *c = s->c;
    const ovs_sync *sy = ovs_model_sync(s->m); /* data-parallel: the global batch's draws, our slice */
    int nb = c->depth0 + c->depth1;
    for (int i = 0; i < nb; i++) {
        float rate = nb > 1 ? c->drop_path * (float)i / (float)(nb - 1) : 0.0f, keep = 1.0f - rate;
        if (sy) sync_skip(sy, rng, (size_t)B, 1);
        for (int b = 0; b < B; b++) {
            float u = ovs_rng_float(rng);
            s->mi.drop[(size_t)i * B + b] = (float)(int)(keep + u) / keep;
        }
        if (sy) sync_skip(sy, rng, (size_t)B, 0);
    }
}

/* marks the n groups of each sample with the smallest score (ties: the lower index first) */
static void lowest(unsigned char *det, const float *score, int B, int K, int n) {
    memset(det, 0, (size_t)B * K);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < n; t++) {
            int best = -1;
            for (int k = 0; k < K; k++)
                if (!det[b * K + k] && (best < 0 || score[b * K + k] < score[b * K + best])) best = k;
            det[b * K + best] = 1;
        }
}

static int hook(void *ctx, ovs_model *m, const ovs_batch *b, ovs_rng *rng, float *loss, ovs_err *e) {
    ovs_stage2 *s = ctx;
    const ovs_config *c = s->c;
    const p_model *pm = ovs_model_pm(m);
    float *P = ovs_model_params(m);
    a_image *ia = ovs_model_image_act(m);
    int B = b->B, L = b->L, K = s->K, Np = s->Np, C = s->C, D = c->proj_out;
    if (!b->img2 || !b->e_ids || !b->e_mask)
        return ovs_errf(e, OVS_EUSER, "stage 2: the batch has no partner images (shards written without pairs?)");
    for (int i = 0; i < B * L; i++)
        if (b->e_ids[i] < 0 || b->e_ids[i] >= c->vocab)
            return ovs_errf(e, OVS_EUSER, "stage 2: entity prompt token id %d of sample %d is outside the vocabulary (%d)",
                            b->e_ids[i], i / L, c->vocab);
    s->B = B;
    /* momentum encoder on B (train mode, no gradient): only its assign q, k are used */
    s->mi.B = B;
    s->mi.pos = s->mom + pm->pos_embed;
    s->mi.use_drop = ia->use_drop;
    if (s->mi.use_drop) draw_drop(s, rng, B);
    image_forward(c, pm, s->mom, &s->mi, b->img2, NULL, 1);
    const float *qA = ia->grp.aq, *qB = s->mi.grp.aq, *kB = s->mi.grp.ak;
    float scale = 1.0f / sqrtf((float)C);
    for (int i = 0; i < B; i++) {
        mm(0, 1, K, Np, C, scale, qA + (size_t)i * K * C, C, kB + (size_t)i * Np * C, C, 0.0f, s->m1 + (size_t)i * K * Np, Np);
        mm(0, 1, K, Np, C, scale, qB + (size_t)i * K * C, C, kB + (size_t)i * Np * C, C, 0.0f, s->m2 + (size_t)i * K * Np, Np);
    }
    /* the shared entity's text embedding and A's projected groups (no gradient) */
    s->et.B = B, s->et.L = L;
    text_forward(c, pm, P, &s->et, b->e_ids, b->e_mask);
    s->pe.sync = s->pg.sync = ovs_model_sync(m); /* BatchNorm statistics of the global batch */
    s->pe.N = B;
    proj_forward(c, &pm->text_proj, P, &s->pe, s->et.cls, 1, 1);
    s->pg.N = B * K;
    proj_forward(c, &pm->img_proj, P, &s->pg, ia->feat, 1, 0);
    for (int i = 0; i < B; i++)
        for (int k = 0; k < K; k++) {
            /* raw dot product of the projections, as the paper's code ranks groups (no l2 norm) */
            const float *g = s->pg.out + ((size_t)i * K + k) * D, *t = s->pe.out + (size_t)i * D;
            float d = 0.0f;
            for (int j = 0; j < D; j++) d += g[j] * t[j];
            s->score[i * K + k] = d;
        }
    lowest(s->detach, s->score, B, K, (int)((float)K * OVS_STAGE2_GROUP_RATIO));
    /* the loss and its gradient into qA */
    s->ml.B = B;
    ovs_maskloss_run(&s->ml, s->m1, s->m2, s->detach, loss, s->dm1);
    for (int i = 0; i < B; i++)
        mm(0, 0, K, C, Np, OVS_STAGE2_MASK_WEIGHT * scale, s->dm1 + (size_t)i * K * Np, Np, kB + (size_t)i * Np * C, C, 0.0f,
           s->dq + (size_t)i * K * C, C);
    ia->grp.daq_extra = s->dq;
    return 0;
}

int ovs_stage2_step(void *ctx, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e) {
    ovs_stage2 *s = ctx;
    return ovs_model_step(s->m, b, rng, out, e);
}

int ovs_stage2_after_update(void *ctx, ovs_err *e) {
    (void)e;
    ovs_stage2 *s = ctx;
    const float *P = ovs_model_params(s->m);
    for (int i = 0; i < s->mn; i++)
        ovs_ema_update(s->mom + s->mtab[i].offset, P + s->mtab[i].offset, (long)s->mtab[i].numel, OVS_STAGE2_EMA);
    return 0;
}

ovs_ckpt_part ovs_stage2_part(ovs_stage2 *s) {
    return (ovs_ckpt_part){.prefix = "img_encoder_momentum.", .table = s->mtab, .n = s->mn, .data = s->mom};
}

float *ovs_stage2_momentum(ovs_stage2 *s) { return s->mom; }
const unsigned char *ovs_stage2_detach(const ovs_stage2 *s) { return s->detach; }
const int *ovs_stage2_perm(const ovs_stage2 *s) { return s->ml.perm; }

const float *ovs_stage2_value(const ovs_stage2 *s, const char *name, size_t *n) {
    size_t bkp = (size_t)s->B * s->K * s->Np;
    struct { const char *name; const float *p; size_t n; } t[] = {
        {"m1", s->m1, bkp}, {"m2", s->m2, bkp}, {"dm1", s->dm1, bkp},
        {"dq", s->dq, (size_t)s->B * s->K * s->C}, {"score", s->score, (size_t)s->B * s->K},
        {"e_proj", s->pe.nrm, (size_t)s->B * s->c->proj_out},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].name, name)) { *n = t[i].n; return t[i].p; }
    *n = 0;
    return NULL;
}
