/* model.c — the OVSegmentor model object: the parameter table (names, shapes and order of the
 * paper's MultiLabelContrastive.state_dict()), initialisation, the preallocated activation arena,
 * the stage-1 training step (forward, losses, backward) and the eval-mode encoders. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/model_internal.h"

struct ovs_model {
    ovs_config cfg;
    int max_batch;
    float *params, *grads;
    size_t numel;
    ovs_param *tab;
    int ntab, captab;
    p_model pm;
    /* activations */
    float *act;
    a_image img;
    a_text txt[3];                 /* caption, question, answer */
    a_proj pj_img, pj_txt, pj_ans, pj_br;
    a_con con, ent;
    a_mec mec;
    scratch s;
    float *dfeat, *dlast, *dqall, *dcls, *dimgx, *dans, *dn[4], *noise, *chunk;
    float *vfeat, *dvfeat, *qal, *dqal; /* decoder inputs at its width (aligned) and their grads */
    double *acc;
    size_t chunk_rows;
    int inject;                    /* tests: noise holds injected Gumbel noise */
    int inject_drop;               /* tests: img.drop holds injected drop-path factors */
    int B, L;                      /* sizes of the last step */
    ovs_model_hook hook;           /* stage 2: the mask-consistency loss (train/stage2.c) */
    void *hook_ctx;
    float hook_weight;
    int freeze_text;               /* stage 2: the text encoder gets no gradient */
    prof prof;                     /* step timing (bench) */
    /* data-parallel (ovs_model_set_collective): the losses on the gathered global batch */
    int dist;                      /* world > 1 */
    ovs_sync sync;
    a_con gcon[2];                 /* contrastive, entity: [world B, world B] */
    float *ga[4], *gd[2];          /* gathered sides [world B, D] and their gradients */
    float *garena;
    size_t ready[3][2];            /* parameter ranges final early in the backward (see ready()) */
    size_t act_floats;             /* arena size */
};

void prof_mark(prof *p, int part) {
    if (!p || !p->sec) return;
    double t = omp_get_wtime();
    if (part >= 0) p->sec[part] += t - p->last;
    p->last = t;
}

void ovs_model_profile(ovs_model *m, double *sec) { m->prof.sec = sec; m->img.prof = sec ? &m->prof : NULL; }

const char *ovs_model_profile_name(int part) {
    static const char *names[OVS_PROF_N] = {
        "other (checks, zeroing, noise)", "text encoder fwd (x3)", "projection heads fwd",
        "patch embed fwd", "ViT blocks before grouping fwd", "grouping block fwd",
        "ViT blocks after grouping fwd", "entity decoder fwd", "contrastive losses",
        "projection heads bwd", "entity decoder bwd", "text encoder bwd (x3)",
        "ViT blocks after grouping bwd", "grouping block bwd", "ViT blocks before grouping bwd",
        "patch embed bwd",
    };
    return part >= 0 && part < OVS_PROF_N ? names[part] : "?";
}

size_t ovs_model_activation_floats(const ovs_model *m) { return m->act_floats; }

/* ── arena ─────────────────────────────────────────────────────────────────────────────── */

float *take(arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;    /* 64-byte alignment of every buffer */
    float *p = a->base ? a->base + a->used : NULL;
    a->used += n;
    if (a->base && a->used > a->cap) abort(); /* layout passes disagree: a bug */
    return p;
}

static float *arena_alloc(arena *a) {
    a->cap = a->used;
    a->base = aligned_alloc(64, (a->cap ? a->cap : 16) * sizeof(float));
    if (a->base) memset(a->base, 0, a->cap * sizeof(float));
    a->used = 0;
    return a->base;
}

/* ── parameter table ───────────────────────────────────────────────────────────────────── */

typedef struct { ovs_model *m; char pre[128]; int trainable; int fail; } tb;

static size_t add(tb *t, const char *name, int ndim, int s0, int s1, int s2, int s3) {
    ovs_model *m = t->m;
    if (m->ntab == m->captab) {
        m->captab = m->captab ? 2 * m->captab : 256;
        ovs_param *n = realloc(m->tab, sizeof(ovs_param) * (size_t)m->captab);
        if (!n) { t->fail = 1; m->captab = m->ntab; return 0; }
        m->tab = n;
    }
    ovs_param *p = &m->tab[m->ntab++];
    memset(p, 0, sizeof *p);
    char full[300];
    snprintf(full, sizeof full, "%s%s", t->pre, name);
    if (strlen(full) >= sizeof p->name) t->fail = 1;
    memcpy(p->name, full, sizeof p->name - 1);
    p->ndim = ndim;
    int sh[4] = {s0, s1, s2, s3};
    p->numel = 1;
    for (int i = 0; i < ndim; i++) { p->shape[i] = sh[i]; p->numel *= (size_t)sh[i]; }
    p->offset = m->numel;
    size_t len = strlen(p->name);
    p->decay = !(ndim == 1 || (len > 5 && !strcmp(p->name + len - 5, ".bias")));
    p->trainable = t->trainable;
    m->numel += p->numel;
    return p->offset;
}

static void push(tb *t, const char *sub, char *save) {
    strcpy(save, t->pre);
    size_t n = strlen(t->pre);
    snprintf(t->pre + n, sizeof t->pre - n, "%s.", sub);
}
static void pop(tb *t, const char *save) { strcpy(t->pre, save); }

static p_lin add_lin(tb *t, const char *name, int out, int in, int conv1d) {
    char save[128], n[160];
    push(t, name, save);
    p_lin l;
    snprintf(n, sizeof n, "weight");
    l.w = conv1d ? add(t, n, 3, out, in, 1, 0) : add(t, n, 2, out, in, 0, 0);
    l.b = add(t, "bias", 1, out, 0, 0, 0);
    pop(t, save);
    return l;
}

static p_ln add_ln(tb *t, const char *name, int C) {
    char save[128];
    push(t, name, save);
    p_ln l;
    l.w = add(t, "weight", 1, C, 0, 0, 0);
    l.b = add(t, "bias", 1, C, 0, 0, 0);
    pop(t, save);
    return l;
}

static p_block add_block(tb *t, const char *name, int C, int hidden) {
    char save[128];
    push(t, name, save);
    p_block b;
    b.norm1 = add_ln(t, "norm1", C);
    b.qkv = add_lin(t, "attn.qkv", 3 * C, C, 0);
    b.proj = add_lin(t, "attn.proj", C, C, 0);
    b.norm2 = add_ln(t, "norm2", C);
    b.fc1 = add_lin(t, "mlp.fc1", hidden, C, 0);
    b.fc2 = add_lin(t, "mlp.fc2", C, hidden, 0);
    pop(t, save);
    return b;
}

static p_xblock add_xblock(tb *t, const char *name, int C) {
    char save[128];
    push(t, name, save);
    p_xblock b;
    b.norm_post = add_ln(t, "norm_post", C);
    b.q = add_lin(t, "attn.q_proj", C, C, 0);
    b.k = add_lin(t, "attn.k_proj", C, C, 0);
    b.v = add_lin(t, "attn.v_proj", C, C, 0);
    b.proj = add_lin(t, "attn.proj", C, C, 0);
    b.norm2 = add_ln(t, "norm2", C);
    b.fc1 = add_lin(t, "mlp.fc1", 4 * C, C, 0);
    b.fc2 = add_lin(t, "mlp.fc2", C, 4 * C, 0);
    pop(t, save);
    return b;
}

static p_assign add_assign(tb *t, const char *name, int C) {
    char save[128];
    push(t, name, save);
    p_assign a;
    a.q = add_lin(t, "q_proj", C, C, 0);
    a.k = add_lin(t, "k_proj", C, C, 0);
    a.v = add_lin(t, "v_proj", C, C, 0);
    a.proj = add_lin(t, "proj", C, C, 0);
    pop(t, save);
    return a;
}

static p_proj add_proj(tb *t, const char *name, int C, int Hd, int D) {
    char save[128], save2[128];
    push(t, name, save);
    p_proj p;
    p.hid = add_lin(t, "linear_hidden.0", Hd, C, 1);
    push(t, "linear_hidden.1", save2);
    p.bn.w = add(t, "weight", 1, Hd, 0, 0, 0);
    p.bn.b = add(t, "bias", 1, Hd, 0, 0, 0);
    int tr = t->trainable;
    t->trainable = 0;
    p.rmean = add(t, "running_mean", 1, Hd, 0, 0, 0);
    p.rvar = add(t, "running_var", 1, Hd, 0, 0, 0);
    p.nbt = add(t, "num_batches_tracked", 0, 0, 0, 0, 0);
    t->trainable = tr;
    pop(t, save2);
    p.out = add_lin(t, "linear_out", D, Hd, 1);
    pop(t, save);
    return p;
}

static int build_table(ovs_model *m) {
    const ovs_config *c = &m->cfg;
    int C = c->width, hid = c->mlp_ratio * C, Pn = (c->img_size / c->patch) * (c->img_size / c->patch);
    tb t = {m, "", 1, 0};
    char save[128], n[64];
    p_model *pm = &m->pm;
    pm->logit_scale = add(&t, "logit_scale", 0, 0, 0, 0, 0);
    push(&t, "img_encoder", save);
    pm->pos_embed = add(&t, "pos_embed", 2, Pn, C, 0, 0);
    pm->patch_w = add(&t, "patch_embed.proj.weight", 4, C, 3, c->patch, c->patch);
    pm->patch_b = add(&t, "patch_embed.proj.bias", 1, C, 0, 0, 0);
    pm->group_token = add(&t, "layers.0.group_token", 3, 1, c->groups_in, C, 0);
    for (int i = 0; i < c->depth0; i++) {
        snprintf(n, sizeof n, "layers.0.blocks.%d", i);
        pm->blocks0[i] = add_block(&t, n, C, hid);
    }
    char save2[128];
    push(&t, "layers.0.downsample", save2);
    p_group *g = &pm->group;
    g->norm_tokens = add_ln(&t, "norm_tokens", C);
    g->inter1 = add_lin(&t, "mlp_inter.fc1", C / 2, c->groups_in, 0);
    g->inter2 = add_lin(&t, "mlp_inter.fc2", c->groups_out, C / 2, 0);
    g->norm_post_tokens = add_ln(&t, "norm_post_tokens", C);
    g->norm_x = add_ln(&t, "norm_x", C);
    g->pre = add_xblock(&t, "pre_assign_attn", C);
    g->assign = add_assign(&t, "assign", C);
    g->norm_new_x = add_ln(&t, "norm_new_x", C);
    g->ch1 = add_lin(&t, "mlp_channels.fc1", 4 * C, C, 0);
    g->ch2 = add_lin(&t, "mlp_channels.fc2", C, 4 * C, 0);
    pop(&t, save2);
    for (int i = 0; i < c->depth1; i++) {
        snprintf(n, sizeof n, "layers.1.blocks.%d", i);
        pm->blocks1[i] = add_block(&t, n, C, hid);
    }
    pm->norm_w = add(&t, "norm.weight", 1, C, 0, 0, 0);
    pm->norm_b = add(&t, "norm.bias", 1, C, 0, 0, 0);
    pop(&t, save);
    int Ct = c->text_width;
    push(&t, "text_encoder.transformer", save);
    pm->word = add(&t, "embeddings.word_embeddings.weight", 2, c->vocab, Ct, 0, 0);
    pm->pos = add(&t, "embeddings.position_embeddings.weight", 2, c->max_pos, Ct, 0, 0);
    pm->type = add(&t, "embeddings.token_type_embeddings.weight", 2, c->type_vocab, Ct, 0, 0);
    pm->emb_ln = add_ln(&t, "embeddings.LayerNorm", Ct);
    for (int i = 0; i < c->text_layers; i++) {
        snprintf(n, sizeof n, "encoder.layer.%d", i);
        push(&t, n, save2);
        p_blayer *l = &pm->layers[i];
        l->q = add_lin(&t, "attention.self.query", Ct, Ct, 0);
        l->k = add_lin(&t, "attention.self.key", Ct, Ct, 0);
        l->v = add_lin(&t, "attention.self.value", Ct, Ct, 0);
        l->o = add_lin(&t, "attention.output.dense", Ct, Ct, 0);
        l->ln1 = add_ln(&t, "attention.output.LayerNorm", Ct);
        l->inter = add_lin(&t, "intermediate.dense", c->text_ff, Ct, 0);
        l->out = add_lin(&t, "output.dense", Ct, c->text_ff, 0);
        l->ln2 = add_ln(&t, "output.LayerNorm", Ct);
        pop(&t, save2);
    }
    t.trainable = 0; /* the pooler is carried, never used: PyTorch gives it no gradient */
    pm->pooler = add_lin(&t, "pooler.dense", Ct, Ct, 0);
    t.trainable = 1;
    pop(&t, save);
    pm->img_proj = add_proj(&t, "img_projector", C, c->proj_hidden, c->proj_out);
    pm->text_proj = add_proj(&t, "text_projector", Ct, c->proj_hidden, c->proj_out);
    /* the wider side is mapped to the decoder's width (the paper's align_proj_img/_text) */
    if (C > Ct) pm->align_img = add_lin(&t, "align_proj_img", Ct, C, 0);
    if (Ct > C) pm->align_text = add_lin(&t, "align_proj_text", C, Ct, 0);
    C = ovs_mem_width(c);
    push(&t, "multimodal_groupingblock.blocks.0", save);
    p_mec *e = &pm->mec;
    e->norm_tokens = add_ln(&t, "norm_tokens", C);
    e->norm_x = add_ln(&t, "norm_x", C);
    e->pre = add_xblock(&t, "pre_assign_attn", C);
    e->post = add_block(&t, "post_attn", C, 4 * C);
    t.trainable = 0; /* built by the paper's code, unused by its forward */
    e->assign = add_assign(&t, "assign", C);
    t.trainable = 1;
    e->norm_new_x = add_ln(&t, "norm_new_x", C);
    pop(&t, save);
    pm->bridge = add_proj(&t, "bridge_projector", C, c->proj_hidden, c->proj_out);
    return t.fail ? -1 : 0;
}

/* ── initialisation (as the paper's code: timm trunc_normal for GroupViT linears, HF BERT normal,
 * both with the config's init_std (.02 in the paper); PyTorch defaults for convolutions and the
 * entity decoder) ─────────────────────────────────────────────────────────────────────────────── */

static int ends(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}
static int starts(const char *s, const char *pre) { return !strncmp(s, pre, strlen(pre)); }

static void init_params(ovs_model *m, uint64_t seed) {
    ovs_rng r;
    ovs_rng_seed(&r, seed, 0x696e6974 /* "init" */);
    /* rounded to 6 decimals so that 0.02 gives the very weights of the code before the key existed
     * (the float nearest .02 is not .02) */
    double std = round((double)m->cfg.init_std * 1e6) / 1e6;
    for (int i = 0; i < m->ntab; i++) {
        const ovs_param *p = &m->tab[i];
        float *x = m->params + p->offset;
        const char *n = p->name;
        size_t fan_in = p->ndim >= 2 ? p->numel / (size_t)p->shape[0] : 1;
        int is_ln = strstr(n, "norm") || strstr(n, "LayerNorm") || starts(n, "img_encoder.norm.");
        if (!strcmp(n, "logit_scale")) { x[0] = logf(1.0f / 0.07f); continue; }
        if (ends(n, "running_var")) { for (size_t j = 0; j < p->numel; j++) x[j] = 1.0f; continue; }
        if (ends(n, "running_mean") || ends(n, "num_batches_tracked")) continue;
        if (ends(n, "linear_hidden.1.weight")) { for (size_t j = 0; j < p->numel; j++) x[j] = 1.0f; continue; }
        if (ends(n, "linear_hidden.1.bias")) continue;
        if (is_ln && p->ndim == 1) {
            if (ends(n, ".weight")) for (size_t j = 0; j < p->numel; j++) x[j] = 1.0f;
            continue;
        }
        int pytorch_default = strstr(n, "patch_embed") || strstr(n, "projector") || starts(n, "align_proj") ||
                              starts(n, "multimodal_groupingblock");
        if (pytorch_default) {
            /* kaiming_uniform(a=sqrt(5)) for weights and U(+-1/sqrt(fan_in)) for biases */
            size_t fi = fan_in;
            if (p->ndim == 1) {
                const ovs_param *w = &m->tab[i - 1];
                fi = w->numel / (size_t)w->shape[0];
            }
            float bound = 1.0f / sqrtf((float)fi);
            for (size_t j = 0; j < p->numel; j++) x[j] = (2.0f * ovs_rng_float(&r) - 1.0f) * bound;
            continue;
        }
        if (p->ndim == 1) continue; /* linear biases: zero */
        for (size_t j = 0; j < p->numel; j++) {
            double v = std * ovs_rng_normal(&r);
            x[j] = (float)(v < -2 ? -2 : v > 2 ? 2 : v);
        }
        if (ends(n, "word_embeddings.weight")) memset(x, 0, sizeof(float) * (size_t)p->shape[1]); /* padding_idx 0 */
    }
}

/* ── activations ───────────────────────────────────────────────────────────────────────── */

static size_t max3(size_t a, size_t b, size_t c) { size_t m = a > b ? a : b; return m > c ? m : c; }

static void layout(ovs_model *m, arena *ar) {
    const ovs_config *c = &m->cfg;
    int B = m->max_batch, L = c->text_len, K = c->groups_out, G = c->groups_in;
    int C = c->width > c->text_width ? c->width : c->text_width; /* scratch fits either side */
    int Pn = (c->img_size / c->patch) * (c->img_size / c->patch), T = Pn + G;
    image_layout(&m->img, ar, c, B, c->img_size, c->img_size);
    for (int i = 0; i < 3; i++) text_layout(&m->txt[i], ar, c, B, L);
    int Cm = ovs_mem_width(c);
    proj_layout(&m->pj_img, ar, c, B, c->width);
    proj_layout(&m->pj_txt, ar, c, B, c->text_width);
    proj_layout(&m->pj_ans, ar, c, B, c->text_width);
    proj_layout(&m->pj_br, ar, c, B, Cm);
    m->vfeat = take(ar, (size_t)B * K * Cm); m->dvfeat = take(ar, (size_t)B * K * Cm);
    m->qal = take(ar, (size_t)B * L * Cm); m->dqal = take(ar, (size_t)B * L * Cm);
    con_layout(&m->con, ar, B);
    con_layout(&m->ent, ar, B);
    mec_layout(&m->mec, ar, c, B, L);
    size_t rows = (size_t)B * (T > L ? T : L);
    size_t hid = max3((size_t)c->mlp_ratio * C, 4 * (size_t)C, (size_t)c->text_ff);
    m->s.d0 = take(ar, rows * C);
    m->s.d1 = take(ar, 3 * rows * C);
    m->s.d2 = take(ar, rows * C);
    m->s.d3 = take(ar, rows * hid);
    m->s.d4 = take(ar, rows * C);
    int H = c->heads > c->mem_heads ? c->heads : c->mem_heads;
    size_t pimg = (size_t)B * H * (size_t)T * T;
    size_t ptxt = (size_t)B * c->text_heads * L * L;
    size_t pmec = (size_t)B * c->mem_heads * L * (L > K ? L : K);
    m->s.dp = take(ar, max3(pimg, ptxt, pmec) + (size_t)B * H * K * Pn);
    m->dfeat = take(ar, (size_t)B * K * C);
    m->dlast = take(ar, (size_t)B * L * C);
    m->dqall = take(ar, (size_t)B * L * C);
    m->dcls = take(ar, (size_t)B * C);
    m->dimgx = take(ar, (size_t)B * C);
    m->dans = take(ar, (size_t)B * C);
    for (int i = 0; i < 4; i++) m->dn[i] = take(ar, (size_t)B * c->proj_out);
    m->noise = take(ar, (size_t)B * K * Pn);
    m->chunk_rows = 256;
    m->chunk = take(ar, m->chunk_rows * c->proj_hidden);
    m->acc = (double *)take(ar, 4 * (size_t)c->proj_hidden);
}

static int alloc_structs(ovs_model *m) {
    const ovs_config *c = &m->cfg;
    m->pm.blocks0 = calloc((size_t)c->depth0 + 1, sizeof(p_block));
    m->pm.blocks1 = calloc((size_t)c->depth1 + 1, sizeof(p_block));
    m->pm.layers = calloc((size_t)c->text_layers + 1, sizeof(p_blayer));
    m->img.b0 = calloc((size_t)c->depth0 + 1, sizeof(a_block));
    m->img.b1 = calloc((size_t)c->depth1 + 1, sizeof(a_block));
    int ok = m->pm.blocks0 && m->pm.blocks1 && m->pm.layers && m->img.b0 && m->img.b1;
    for (int i = 0; i < 3; i++) {
        m->txt[i].layers = calloc((size_t)c->text_layers + 1, sizeof(a_blayer));
        ok = ok && m->txt[i].layers;
    }
    return ok ? 0 : -1;
}

int ovs_model_create(ovs_model **out, const ovs_config *cfg, int max_batch, uint64_t seed, ovs_err *e) {
    *out = NULL;
    if (max_batch < 1) return ovs_errf(e, OVS_EUSER, "model: max_batch %d < 1", max_batch);
    layers_init();
    ovs_model *m = calloc(1, sizeof *m);
    if (!m) return ovs_errf(e, OVS_EINTERNAL, "model: out of memory");
    m->cfg = *cfg;
    m->max_batch = max_batch;
    if (alloc_structs(m) || build_table(m)) {
        ovs_model_free(m);
        return ovs_errf(e, OVS_EINTERNAL, "model: out of memory building the parameter table");
    }
    m->params = aligned_alloc(64, ((m->numel + 15) & ~(size_t)15) * sizeof(float));
    m->grads = aligned_alloc(64, ((m->numel + 15) & ~(size_t)15) * sizeof(float));
    arena ar = {0};
    layout(m, &ar);
    if (!m->params || !m->grads || !arena_alloc(&ar)) {
        size_t mb = (2 * m->numel + ar.cap) * sizeof(float) >> 20;
        ovs_model_free(m);
        return ovs_errf(e, OVS_EINTERNAL, "model %s: out of memory (%zu MiB for parameters, gradients, activations)", cfg->name, mb);
    }
    m->act = ar.base;
    m->act_floats = ar.cap;
    layout(m, &ar);
    memset(m->params, 0, m->numel * sizeof(float));
    memset(m->grads, 0, m->numel * sizeof(float));
    init_params(m, seed);
    *out = m;
    return 0;
}

void ovs_model_free(ovs_model *m) {
    if (!m) return;
    free(m->params); free(m->grads); free(m->tab); free(m->act);
    free(m->pm.blocks0); free(m->pm.blocks1); free(m->pm.layers);
    free(m->img.b0); free(m->img.b1);
    for (int i = 0; i < 3; i++) free(m->txt[i].layers);
    free(m->garena);
    free(m);
}

const ovs_config *ovs_model_config(const ovs_model *m) { return &m->cfg; }
float *ovs_model_params(ovs_model *m) { return m->params; }
float *ovs_model_grads(ovs_model *m) { return m->grads; }
size_t ovs_model_numel(const ovs_model *m) { return m->numel; }
const ovs_param *ovs_model_table(const ovs_model *m, int *n) { *n = m->ntab; return m->tab; }
const ovs_param *ovs_model_find(const ovs_model *m, const char *name) {
    for (int i = 0; i < m->ntab; i++)
        if (!strcmp(m->tab[i].name, name)) return &m->tab[i];
    return NULL;
}

float ovs_model_logit_scale(const ovs_model *m) {
    float s = expf(m->params[m->pm.logit_scale]);
    return s > 100.0f ? 100.0f : s;
}

void ovs_model_set_gumbel(ovs_model *m, const float *noise, size_t n) {
    m->inject = noise != NULL;
    if (noise) {
        size_t cap = (size_t)m->max_batch * m->cfg.groups_out * m->img.P;
        memcpy(m->noise, noise, sizeof(float) * (n < cap ? n : cap));
    }
}

void ovs_model_set_droppath(ovs_model *m, const float *factors, size_t n) {
    m->inject_drop = factors != NULL;
    if (factors) {
        size_t cap = (size_t)(m->cfg.depth0 + m->cfg.depth1) * m->max_batch;
        memcpy(m->img.drop, factors, sizeof(float) * (n < cap ? n : cap));
    }
}

const float *ovs_model_activation(const ovs_model *m, const char *name, size_t *n) {
    int B = m->B, L = m->L, C = m->cfg.width, Ct = m->cfg.text_width, Cm = ovs_mem_width(&m->cfg);
    int K = m->cfg.groups_out, D = m->cfg.proj_out, Pn = m->img.P;
    struct { const char *name; const float *p; size_t n; } t[] = {
        {"image_x", m->img.image_x, (size_t)B * C},
        {"feat", m->img.feat, (size_t)B * K * C},
        {"img_proj", m->pj_img.out, (size_t)B * D},
        {"text_cls", m->txt[0].cls, (size_t)B * Ct},
        {"text_proj", m->pj_txt.out, (size_t)B * D},
        {"assign_raw", m->img.grp.raw, (size_t)B * K * Pn},
        {"assign_hard", m->img.grp.hard, (size_t)B * K * Pn},
        {"q_all", text_last(&m->cfg, (a_text *)&m->txt[1]), (size_t)B * L * Ct},
        {"a_cls", m->txt[2].cls, (size_t)B * Ct},
        {"a_proj", m->pj_ans.out, (size_t)B * D},
        {"mec_answer", m->mec.answer, (size_t)B * Cm},
        {"bridge_out", m->pj_br.out, (size_t)B * D},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].name, name)) { *n = t[i].n; return t[i].p; }
    *n = 0;
    return NULL;
}

/* The parameter range [lo, hi) of the table entries whose names start with one of the prefixes
 * (they are consecutive in the table); lo = hi = 0 when none. */
static void prefix_range(const ovs_model *m, const char *const *pre, int npre, size_t *r) {
    r[0] = r[1] = 0;
    int found = 0;
    for (int i = 0; i < m->ntab; i++)
        for (int k = 0; k < npre; k++)
            if (starts(m->tab[i].name, pre[k])) {
                if (!found++) r[0] = m->tab[i].offset;
                r[1] = m->tab[i].offset + m->tab[i].numel;
            }
}

/* Data-parallel: tells the caller that gradient range i is final (0: the entity decoder, its
 * alignment and the bridge; 1: the image projector; 2: the image encoder). */
static void ready(ovs_model *m, int i) {
    if (m->dist && m->sync.c.ready && m->ready[i][1] > m->ready[i][0])
        m->sync.c.ready(m->sync.c.ctx, m->ready[i][0], m->ready[i][1] - m->ready[i][0]);
}

static void global_layout(ovs_model *m, arena *ar) {
    size_t WB = (size_t)m->max_batch * m->sync.c.world, n = WB * m->cfg.proj_out;
    for (int i = 0; i < 2; i++) con_layout(&m->gcon[i], ar, (int)WB);
    for (int i = 0; i < 4; i++) m->ga[i] = take(ar, n);
    for (int i = 0; i < 2; i++) m->gd[i] = take(ar, n);
    m->sync.buf = (double *)take(ar, 4 * (size_t)m->cfg.proj_hidden);
}

int ovs_model_set_collective(ovs_model *m, const ovs_collective *c, ovs_err *e) {
    free(m->garena);
    m->garena = NULL;
    memset(&m->sync, 0, sizeof m->sync);
    m->dist = c && c->world > 1;
    a_proj *pj[4] = {&m->pj_img, &m->pj_txt, &m->pj_ans, &m->pj_br};
    for (int i = 0; i < 4; i++) pj[i]->sync = NULL;
    if (!m->dist) return 0;
    if (c->rank < 0 || c->rank >= c->world || !c->sum || !c->gather) {
        m->dist = 0;
        return ovs_errf(e, OVS_EINTERNAL, "model: bad collective (rank %d of %d)", c->rank, c->world);
    }
    m->sync.c = *c;
    arena ar = {0};
    global_layout(m, &ar);
    if (!arena_alloc(&ar)) {
        m->dist = 0;
        return ovs_errf(e, OVS_EINTERNAL, "model: out of memory for the global-batch losses (%d ranks)", c->world);
    }
    m->garena = ar.base;
    global_layout(m, &ar);
    static const char *const tail[] = {"align_proj_", "multimodal_groupingblock.", "bridge_projector."};
    static const char *const imgp[] = {"img_projector."}, *const imge[] = {"img_encoder."};
    prefix_range(m, tail, 3, m->ready[0]);
    prefix_range(m, imgp, 1, m->ready[1]);
    prefix_range(m, imge, 1, m->ready[2]);
    if (m->ready[0][1] != m->numel) m->ready[0][0] = m->ready[0][1] = 0; /* not the table's tail: no early sum */
    for (int i = 0; i < 4; i++) pj[i]->sync = &m->sync;
    return 0;
}

ovs_sync *ovs_model_sync(ovs_model *m) { return m->dist ? &m->sync : NULL; }

void ovs_model_set_hook(ovs_model *m, ovs_model_hook fn, void *ctx, float weight) {
    m->hook = fn, m->hook_ctx = ctx, m->hook_weight = weight;
}
void ovs_model_freeze_text(ovs_model *m) {
    m->freeze_text = 1;
    for (int i = 0; i < m->ntab; i++)
        if (starts(m->tab[i].name, "text_encoder.")) m->tab[i].trainable = 0;
}
a_image *ovs_model_image_act(ovs_model *m) { return &m->img; }
const p_model *ovs_model_pm(const ovs_model *m) { return &m->pm; }
int ovs_model_max_batch(const ovs_model *m) { return m->max_batch; }

/* ── the training step ─────────────────────────────────────────────────────────────────── */

static int check_ids(const ovs_model *m, const int32_t *ids, const int32_t *mask, int B, int L,
                     const char *what, ovs_err *e) {
    if (!ids || !mask) return ovs_errf(e, OVS_EUSER, "model step: batch has no %s tokens", what);
    for (int i = 0; i < B * L; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab)
            return ovs_errf(e, OVS_EUSER, "model step: %s token id %d of sample %d is outside the vocabulary (%d)",
                            what, ids[i], i / L, m->cfg.vocab);
    for (int b = 0; b < B; b++)
        if (!mask[(size_t)b * L]) return ovs_errf(e, OVS_EUSER, "model step: %s of sample %d has no [CLS] token", what, b);
    return 0;
}

/* Gumbel noise [B,K,P], then drop-path factors [block][B]. Data-parallel, the draws are those of the
 * global batch (ranks in order) and this rank keeps its samples' part. */
static void draw_noise(ovs_model *m, ovs_rng *rng, int B) {
    const ovs_config *c = &m->cfg;
    size_t n = (size_t)B * c->groups_out * m->img.P;
    const ovs_sync *sy = m->dist ? &m->sync : NULL;
    if (!m->inject) {
        if (sy) sync_skip(sy, rng, n, 1);
        for (size_t i = 0; i < n; i++) m->noise[i] = ovs_rng_gumbel(rng);
        if (sy) sync_skip(sy, rng, n, 0);
    }
    int nb = c->depth0 + c->depth1;
    m->img.use_drop = m->inject_drop;
    if (m->inject_drop || m->inject || c->drop_path <= 0.0f || nb == 0) return;
    m->img.use_drop = 1;
    for (int i = 0; i < nb; i++) {
        float rate = nb > 1 ? c->drop_path * (float)i / (float)(nb - 1) : 0.0f, keep = 1.0f - rate;
        if (sy) sync_skip(sy, rng, (size_t)B, 1);
        for (int b = 0; b < B; b++) {
            float u = ovs_rng_float(rng);
            m->img.drop[(size_t)i * B + b] = floorf(keep + u) / keep;
        }
        if (sy) sync_skip(sy, rng, (size_t)B, 0);
    }
}

/* dlast = zeros with each sample's [CLS] row = dcls */
static void cls_grad(float *dlast, const float *dcls, int B, int L, int C) {
    memset(dlast, 0, sizeof(float) * (size_t)B * L * C);
    for (int b = 0; b < B; b++) memcpy(dlast + (size_t)b * L * C, dcls + (size_t)b * C, sizeof(float) * (size_t)C);
}

/* The symmetric contrastive loss (i = 0: image-text, 1: entity) of two normalised sides [B,D]: on
 * this batch, or data-parallel on every rank's rows gathered in rank order. */
static float con_forward(ovs_model *m, int i, const float *na, const float *nb, float s, int B, int D) {
    if (!m->dist) return contrastive_forward(i ? &m->ent : &m->con, na, nb, s, B, D);
    size_t n = (size_t)B * D;
    sync_gather(&m->sync, na, m->ga[2 * i], n);
    sync_gather(&m->sync, nb, m->ga[2 * i + 1], n);
    return contrastive_forward(&m->gcon[i], m->ga[2 * i], m->ga[2 * i + 1], s, B * m->sync.c.world, D);
}

/* Adds the gradient of the (global) loss wrt this rank's rows to da, db; returns d loss / d s, which
 * every rank computes whole, so only rank 0 passes it on (the gradient sum over ranks adds it once). */
static float con_backward(ovs_model *m, int i, float s, int B, int D, float *da, float *db) {
    if (!m->dist) return contrastive_backward(i ? &m->ent : &m->con, s, B, D, da, db);
    int W = m->sync.c.world;
    size_t n = (size_t)B * D, off = (size_t)m->sync.c.rank * n;
    memset(m->gd[0], 0, sizeof(float) * n * W);
    memset(m->gd[1], 0, sizeof(float) * n * W);
    float ds = contrastive_backward(&m->gcon[i], s, B * W, D, m->gd[0], m->gd[1]);
    for (size_t j = 0; j < n; j++) da[j] += m->gd[0][off + j], db[j] += m->gd[1][off + j];
    return m->sync.c.rank == 0 ? ds : 0.0f;
}

int ovs_model_step(ovs_model *m, const ovs_batch *b, ovs_rng *rng, ovs_losses *out, ovs_err *e) {
    const ovs_config *c = &m->cfg;
    int B = b->B, L = b->L, C = c->width, Ct = c->text_width, Cm = ovs_mem_width(c), K = c->groups_out, D = c->proj_out;
    if (B < 1 || B > m->max_batch)
        return ovs_errf(e, OVS_EUSER, "model step: batch of %d samples (this model holds 1..%d)", B, m->max_batch);
    if (b->S != c->img_size || !b->img)
        return ovs_errf(e, OVS_EUSER, "model step: images are %dpx, config %s wants %dpx", b->S, c->name, c->img_size);
    if (L < 1 || L > c->text_len)
        return ovs_errf(e, OVS_EUSER, "model step: token length %d outside 1..%d (config %s)", L, c->text_len, c->name);
    prof *pf = &m->prof;
    prof_mark(pf, -1);
    int rc = check_ids(m, b->ids, b->mask, B, L, "caption", e);
    if (!rc) rc = check_ids(m, b->q_ids, b->q_mask, B, L, "question", e);
    if (!rc) rc = check_ids(m, b->a_ids, b->a_mask, B, L, "answer", e);
    if (rc) return rc;
    m->B = B; m->L = L;
    ovs_sync *sy = ovs_model_sync(m);
    m->sync.rc = 0;
    float *P = m->params, *G = m->grads;
    const p_model *pm = &m->pm;
    memset(G, 0, sizeof(float) * m->numel);
    draw_noise(m, rng, B);
    m->img.B = B;
    m->img.pos = P + pm->pos_embed;
    for (int i = 0; i < 3; i++) { m->txt[i].B = B; m->txt[i].L = L; }
    m->pj_img.N = m->pj_txt.N = m->pj_ans.N = m->pj_br.N = B;

    /* forward, in the order of the paper's forward_train (BatchNorm running statistics included) */
    prof_mark(pf, OVS_PROF_OTHER);
    text_forward(c, pm, P, &m->txt[0], b->ids, b->mask);
    prof_mark(pf, OVS_PROF_TEXT_FWD);
    proj_forward(c, &pm->text_proj, P, &m->pj_txt, m->txt[0].cls, 1, 1);
    proj_running_only(c, &pm->text_proj, P, text_last(c, &m->txt[0]), (size_t)B * L, Ct, m->chunk, m->chunk_rows, m->acc, sy);
    prof_mark(pf, OVS_PROF_PROJ_FWD);
    image_forward(c, pm, P, &m->img, b->img, m->noise, 1);
    proj_forward(c, &pm->img_proj, P, &m->pj_img, m->img.image_x, 1, 1);
    proj_running_only(c, &pm->img_proj, P, m->img.feat, (size_t)B * K, C, m->chunk, m->chunk_rows, m->acc, sy);
    prof_mark(pf, OVS_PROF_PROJ_FWD);
    float s = ovs_model_logit_scale(m);
    float lc = con_forward(m, 0, m->pj_img.nrm, m->pj_txt.nrm, s, B, D);
    prof_mark(pf, OVS_PROF_LOSS);
    text_forward(c, pm, P, &m->txt[1], b->q_ids, b->q_mask);
    prof_mark(pf, OVS_PROF_TEXT_FWD);
    proj_running_only(c, &pm->text_proj, P, m->txt[1].cls, (size_t)B, Ct, m->chunk, m->chunk_rows, m->acc, sy);
    float *qall = text_last(c, &m->txt[1]);
    proj_running_only(c, &pm->text_proj, P, qall, (size_t)B * L, Ct, m->chunk, m->chunk_rows, m->acc, sy);
    prof_mark(pf, OVS_PROF_PROJ_FWD);
    text_forward(c, pm, P, &m->txt[2], b->a_ids, b->a_mask);
    prof_mark(pf, OVS_PROF_TEXT_FWD);
    proj_forward(c, &pm->text_proj, P, &m->pj_ans, m->txt[2].cls, 1, 1);
    proj_running_only(c, &pm->text_proj, P, text_last(c, &m->txt[2]), (size_t)B * L, Ct, m->chunk, m->chunk_rows, m->acc, sy);
    const float *vfeat = m->img.feat, *qal = qall;
    if (C > Ct) { linear_forward(m->vfeat, Cm, m->img.feat, C, P + pm->align_img.w, P + pm->align_img.b, B * K, C, Cm); vfeat = m->vfeat; }
    if (Ct > C) { linear_forward(m->qal, Cm, qall, Ct, P + pm->align_text.w, P + pm->align_text.b, B * L, Ct, Cm); qal = m->qal; }
    prof_mark(pf, OVS_PROF_PROJ_FWD);
    mec_forward(c, pm, P, &m->mec, vfeat, qal, B, L);
    prof_mark(pf, OVS_PROF_MEC_FWD);
    proj_forward(c, &pm->bridge, P, &m->pj_br, m->mec.answer, 1, 1);
    prof_mark(pf, OVS_PROF_PROJ_FWD);
    float le = con_forward(m, 1, m->pj_br.nrm, m->pj_ans.nrm, s, B, D);
    prof_mark(pf, OVS_PROF_LOSS);
    float lm = 0.0f;
    m->img.grp.daq_extra = NULL;
    if (m->hook && (rc = m->hook(m->hook_ctx, m, b, rng, &lm, e))) return rc;
    if (m->hook && sy) { /* a sum over samples: the global batch's is the sum over ranks */
        double t = lm;
        sync_sum(sy, &t, 1);
        lm = (float)t;
    }
    int tb = !m->freeze_text;      /* backward through the text encoder */

    /* backward */
    for (int i = 0; i < 4; i++) memset(m->dn[i], 0, sizeof(float) * (size_t)B * D);
    float we = c->entity_weight, ds = 0.0f;  /* the entity loss's weight (1 in the paper) */
    if (we != 0.0f) ds = we * con_backward(m, 1, s, B, D, m->dn[2], m->dn[3]);
    if (we != 0.0f && we != 1.0f)
        for (size_t i = 0; i < (size_t)B * D; i++) { m->dn[2][i] *= we; m->dn[3][i] *= we; }
    ds += con_backward(m, 0, s, B, D, m->dn[0], m->dn[1]);
    if (expf(P[pm->logit_scale]) <= 100.0f) G[pm->logit_scale] += ds * expf(P[pm->logit_scale]);
    prof_mark(pf, OVS_PROF_LOSS);
    memset(m->dans, 0, sizeof(float) * (size_t)B * Cm);
    proj_backward(c, &pm->bridge, P, G, &m->pj_br, m->dn[2], m->dans, &m->s);
    prof_mark(pf, OVS_PROF_PROJ_BWD);
    memset(m->dfeat, 0, sizeof(float) * (size_t)B * K * C);
    memset(m->dqall, 0, sizeof(float) * (size_t)B * L * Ct);
    float *dv = C > Ct ? m->dvfeat : m->dfeat, *dq = Ct > C ? m->dqal : m->dqall;
    if (C > Ct) memset(dv, 0, sizeof(float) * (size_t)B * K * Cm);
    if (Ct > C) memset(dq, 0, sizeof(float) * (size_t)B * L * Cm);
    mec_backward(c, pm, P, G, &m->mec, vfeat, qal, m->dans, dv, dq, &m->s, B, L);
    if (C > Ct)
        linear_backward(m->dfeat, C, 1, G + pm->align_img.w, G + pm->align_img.b, dv, Cm, m->img.feat, C, P + pm->align_img.w, B * K, C, Cm);
    if (Ct > C)
        linear_backward(m->dqall, Ct, 1, G + pm->align_text.w, G + pm->align_text.b, dq, Cm, qall, Ct, P + pm->align_text.w, B * L, Ct, Cm);
    ready(m, 0);
    prof_mark(pf, OVS_PROF_MEC_BWD);
    memset(m->dcls, 0, sizeof(float) * (size_t)B * Ct);
    proj_backward(c, &pm->text_proj, P, G, &m->pj_ans, m->dn[3], m->dcls, &m->s);
    prof_mark(pf, OVS_PROF_PROJ_BWD);
    cls_grad(m->dlast, m->dcls, B, L, Ct);
    if (tb) text_backward(c, pm, P, G, &m->txt[2], m->dlast, &m->s);
    if (tb) text_backward(c, pm, P, G, &m->txt[1], m->dqall, &m->s);
    prof_mark(pf, OVS_PROF_TEXT_BWD);
    memset(m->dimgx, 0, sizeof(float) * (size_t)B * C);
    proj_backward(c, &pm->img_proj, P, G, &m->pj_img, m->dn[0], m->dimgx, &m->s);
    ready(m, 1);
    for (int bb = 0; bb < B; bb++)
        for (int k = 0; k < K; k++)
            for (int i = 0; i < C; i++) m->dfeat[((size_t)bb * K + k) * C + i] += m->dimgx[(size_t)bb * C + i] / (float)K;
    prof_mark(pf, OVS_PROF_PROJ_BWD);
    image_backward(c, pm, P, G, &m->img, m->dfeat, &m->s);
    ready(m, 2);
    memset(m->dcls, 0, sizeof(float) * (size_t)B * Ct);
    proj_backward(c, &pm->text_proj, P, G, &m->pj_txt, m->dn[1], m->dcls, &m->s);
    prof_mark(pf, OVS_PROF_PROJ_BWD);
    cls_grad(m->dlast, m->dcls, B, L, Ct);
    if (tb) text_backward(c, pm, P, G, &m->txt[0], m->dlast, &m->s);
    prof_mark(pf, OVS_PROF_TEXT_BWD);
    m->img.grp.daq_extra = NULL;
    if (sy && sy->rc) {
        *e = sy->err;
        return ovs_errctx(e, "model step (rank %d of %d)", sy->c.rank, sy->c.world);
    }

    out->contrastive = lc;
    out->entity = le;
    out->mask = lm;
    out->total = lc + we * le + (m->hook ? m->hook_weight * lm : 0.0f);
    return 0;
}

/* ── eval-mode encoders ────────────────────────────────────────────────────────────────── */

/* PyTorch bicubic (A = -0.75, align_corners=False) weights for source coordinate x */
static void cubic_weights(float t, float w[4]) {
    const float A = -0.75f;
    float x;
    x = t + 1.0f; w[0] = ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
    x = t;        w[1] = ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
    x = 1.0f - t; w[2] = ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
    x = 2.0f - t; w[3] = ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
}

static void src_index(int dst, int in, int out, int *i0, float *t) {
    float scale = (float)in / (float)out;
    float real = ((float)dst + 0.5f) * scale - 0.5f;
    int f = (int)floorf(real);
    float lam = real - (float)f;
    *i0 = f;
    *t = lam < 0.0f ? 0.0f : lam > 1.0f ? 1.0f : lam;
}

/* pos [s*s, C] -> out [h*w, C] */
static void bicubic_pos(float *out, const float *pos, int s, int h, int w, int C) {
    for (int y = 0; y < h; y++) {
        int iy; float ty, wy[4];
        src_index(y, s, h, &iy, &ty);
        cubic_weights(ty, wy);
        for (int x = 0; x < w; x++) {
            int ix; float tx, wx[4];
            src_index(x, s, w, &ix, &tx);
            cubic_weights(tx, wx);
            float *o = out + ((size_t)y * w + x) * C;
            memset(o, 0, sizeof(float) * (size_t)C);
            for (int a = 0; a < 4; a++) {
                int yy = iy - 1 + a; yy = yy < 0 ? 0 : yy >= s ? s - 1 : yy;
                for (int bb = 0; bb < 4; bb++) {
                    int xx = ix - 1 + bb; xx = xx < 0 ? 0 : xx >= s ? s - 1 : xx;
                    float wt = wy[a] * wx[bb];
                    const float *p = pos + ((size_t)yy * s + xx) * C;
                    for (int c = 0; c < C; c++) o[c] += wt * p[c];
                }
            }
        }
    }
}

int ovs_model_encode_image(ovs_model *m, const float *img, int B, int H, int W, float *image_x,
                           float *groups, float *hard, float *logits, ovs_err *e) {
    const ovs_config *c = &m->cfg;
    if (B < 1 || H < c->patch || W < c->patch || H % c->patch || W % c->patch)
        return ovs_errf(e, OVS_EUSER, "encode image: %d images of %dx%d (sides must be multiples of the patch %d)", B, H, W, c->patch);
    int K = c->groups_out, D = c->proj_out, C = c->width;
    a_image a;
    memset(&a, 0, sizeof a);
    a_proj px, pg;
    a.b0 = calloc((size_t)c->depth0 + 1, sizeof(a_block));
    a.b1 = calloc((size_t)c->depth1 + 1, sizeof(a_block));
    if (!a.b0 || !a.b1) { free(a.b0); free(a.b1); return ovs_errf(e, OVS_EINTERNAL, "encode image: out of memory"); }
    arena ar = {0};
    for (int pass = 0; pass < 2; pass++) {
        image_layout(&a, &ar, c, B, H, W);
        proj_layout(&px, &ar, c, B, C);
        proj_layout(&pg, &ar, c, B * K, C);
        if (pass == 0 && !arena_alloc(&ar)) {
            free(a.b0); free(a.b1);
            return ovs_errf(e, OVS_EINTERNAL, "encode image: out of memory (%zu MiB)", ar.cap * sizeof(float) >> 20);
        }
    }
    int s = c->img_size / c->patch;
    if (a.gh == s && a.gw == s) a.pos = m->params + m->pm.pos_embed;
    else { bicubic_pos(a.posbuf, m->params + m->pm.pos_embed, s, a.gh, a.gw, C); a.pos = a.posbuf; }
    a.use_drop = 0;
    image_forward(c, &m->pm, m->params, &a, img, NULL, 0);
    proj_forward(c, &m->pm.img_proj, m->params, &px, a.image_x, 0, 0);
    proj_forward(c, &m->pm.img_proj, m->params, &pg, a.feat, 0, 0);
    size_t kp = (size_t)B * K * a.P;
    if (image_x) memcpy(image_x, px.nrm, sizeof(float) * (size_t)B * D);
    if (groups) memcpy(groups, pg.nrm, sizeof(float) * (size_t)B * K * D);
    if (hard) memcpy(hard, a.grp.hard, sizeof(float) * kp);
    if (logits) memcpy(logits, a.grp.raw, sizeof(float) * kp);
    free(ar.base); free(a.b0); free(a.b1);
    return 0;
}

int ovs_model_encode_text(ovs_model *m, const int32_t *ids, const int32_t *mask, int B, int L,
                          float *out, ovs_err *e) {
    const ovs_config *c = &m->cfg;
    if (B < 1 || L < 1 || L > c->max_pos)
        return ovs_errf(e, OVS_EUSER, "encode text: %d texts of %d tokens (1..%d)", B, L, c->max_pos);
    int rc = check_ids(m, ids, mask, B, L, "text", e);
    if (rc) return rc;
    a_text t;
    memset(&t, 0, sizeof t);
    a_proj pj;
    t.layers = calloc((size_t)c->text_layers + 1, sizeof(a_blayer));
    if (!t.layers) return ovs_errf(e, OVS_EINTERNAL, "encode text: out of memory");
    arena ar = {0};
    for (int pass = 0; pass < 2; pass++) {
        text_layout(&t, &ar, c, B, L);
        proj_layout(&pj, &ar, c, B, c->text_width);
        if (pass == 0 && !arena_alloc(&ar)) { free(t.layers); return ovs_errf(e, OVS_EINTERNAL, "encode text: out of memory"); }
    }
    text_forward(c, &m->pm, m->params, &t, ids, mask);
    proj_forward(c, &m->pm.text_proj, m->params, &pj, t.cls, 0, 0);
    memcpy(out, pj.nrm, sizeof(float) * (size_t)B * c->proj_out);
    free(ar.base); free(t.layers);
    return 0;
}
