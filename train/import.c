/* import.c — DINO/timm ViT and Hugging Face BERT weights by their public names; see import.h. */
#include "train/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/safetensors.h"
#include "util/buf.h"

enum { MAPPED = 0, IGNORED = 1, UNKNOWN = -1 };

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

/* A ViT name to the model's name. */
static int vit_name(const char *src, int depth0, char *dst, size_t cap) {
    if (!strcmp(src, "cls_token") || starts(src, "head.") || !strcmp(src, "dist_token")) return IGNORED;
    if (starts(src, "patch_embed.proj.") || !strcmp(src, "pos_embed") || starts(src, "norm.")) {
        snprintf(dst, cap, "img_encoder.%s", src);
        return MAPPED;
    }
    int blk, used = 0;
    if (sscanf(src, "blocks.%d.%n", &blk, &used) == 1 && used > 0 && blk >= 0) {
        const char *rest = src + used;
        if (blk < depth0) snprintf(dst, cap, "img_encoder.layers.0.blocks.%d.%s", blk, rest);
        else snprintf(dst, cap, "img_encoder.layers.1.blocks.%d.%s", blk - depth0, rest);
        return MAPPED;
    }
    return UNKNOWN;
}

static int bert_name(const char *src, char *dst, size_t cap) {
    if (starts(src, "bert.")) src += 5;
    if (!strcmp(src, "embeddings.position_ids") || starts(src, "cls.")) return IGNORED;
    if (!starts(src, "embeddings.") && !starts(src, "encoder.") && !starts(src, "pooler.")) return UNKNOWN;
    snprintf(dst, cap, "text_encoder.transformer.%s", src);
    return MAPPED;
}

/* The table entries an import of this kind must provide. */
static int in_family(const char *name, ovs_import_kind kind) {
    if (kind == OVS_IMPORT_BERT) return starts(name, "text_encoder.transformer.");
    if (starts(name, "img_encoder.patch_embed.proj.") || !strcmp(name, "img_encoder.pos_embed") || starts(name, "img_encoder.norm."))
        return 1;
    return (starts(name, "img_encoder.layers.0.blocks.") || starts(name, "img_encoder.layers.1.blocks."));
}

static const ovs_param *find(const ovs_param *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    return NULL;
}

/* Shape check; pos_embed [1, 1+P, C] or [1+P, C] drops its first (cls) row: *skip gets 1. */
static int shape_ok(const ovs_st_tensor *s, const ovs_param *t, int is_pos, int *skip) {
    *skip = 0;
    if (is_pos) {
        int64_t rows = s->ndim == 3 && s->shape[0] == 1 ? s->shape[1] : s->ndim == 2 ? s->shape[0] : -1;
        int64_t C = s->ndim ? s->shape[s->ndim - 1] : -1;
        if (rows < 0 || t->ndim < 1 || C != t->shape[t->ndim - 1]) return 0;
        if ((uint64_t)(rows - 1) * (uint64_t)C == t->numel) { *skip = 1; return 1; }
        return (uint64_t)rows * (uint64_t)C == t->numel;
    }
    if (s->ndim != t->ndim) return 0;
    for (int d = 0; d < t->ndim; d++)
        if (s->shape[d] != t->shape[d]) return 0;
    return 1;
}

static void list_add(ovs_buf *b, int *count, const char *fmt, const char *a, const char *c) {
    if ((*count)++ < 6) {
        if (b->len) ovs_buf_puts(b, ", ");
        ovs_buf_printf(b, fmt, a, c);
    }
}

int ovs_import(const char *path, ovs_import_kind kind, const ovs_param *table, int n, int depth0, float *params,
               int *copied, ovs_err *e) {
    ovs_st_file f;
    int rc = ovs_st_open(&f, path, e);
    if (rc) return rc;
    char *provided = calloc((size_t)n + 1, 1);
    const ovs_param **target = calloc((size_t)f.n + 1, sizeof *target);
    int *skip = calloc((size_t)f.n + 1, sizeof *skip);
    if (!provided || !target || !skip) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); goto done; }
    ovs_buf unexpected = {0}, wrong = {0}, missing = {0};
    int nu = 0, nw = 0, nm = 0, ncopy = 0;
    char name[256];
    for (int i = 0; i < f.n; i++) {
        const ovs_st_tensor *s = &f.t[i];
        int r = kind == OVS_IMPORT_VIT ? vit_name(s->name, depth0, name, sizeof name) : bert_name(s->name, name, sizeof name);
        if (r == IGNORED) continue;
        const ovs_param *t = r == MAPPED ? find(table, n, name) : NULL;
        if (!t) { list_add(&unexpected, &nu, "'%s'%s", s->name, ""); continue; }
        if (!shape_ok(s, t, !strcmp(name, "img_encoder.pos_embed"), &skip[i])) {
            list_add(&wrong, &nw, "'%s' (for '%s')", s->name, t->name);
            provided[t - table] = 1; /* listed as wrong-shape, not again as missing */
            continue;
        }
        target[i] = t;
        provided[t - table] = 1;
    }
    for (int k = 0; k < n; k++)
        if (in_family(table[k].name, kind) && !provided[k]) list_add(&missing, &nm, "'%s'%s", table[k].name, "");
    if (nu || nw || nm) {
        rc = ovs_errf(e, OVS_EUSER, "%s: does not fit the model as a %s: %d unexpected%s%s%s, %d wrong-shape%s%s%s, %d missing%s%s%s",
                      path, kind == OVS_IMPORT_VIT ? "ViT" : "BERT", nu, nu ? " (" : "", nu ? unexpected.data : "",
                      nu > 6 ? ", ...)" : nu ? ")" : "", nw, nw ? " (" : "", nw ? wrong.data : "", nw > 6 ? ", ...)" : nw ? ")" : "",
                      nm, nm ? " (" : "", nm ? missing.data : "", nm > 6 ? ", ...)" : nm ? ")" : "");
    } else {
        float *tmp = NULL;
        for (int i = 0; i < f.n && !rc; i++) {
            if (!target[i]) continue;
            const ovs_param *t = target[i];
            if (!skip[i]) { rc = ovs_st_read_f32(&f, f.t[i].name, params + t->offset, t->numel, e); ncopy++; continue; }
            free(tmp);
            if (!(tmp = malloc((size_t)f.t[i].numel * sizeof *tmp))) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); break; }
            rc = ovs_st_read_f32(&f, f.t[i].name, tmp, (size_t)f.t[i].numel, e);
            size_t C = (size_t)t->shape[t->ndim - 1];
            if (!rc) memcpy(params + t->offset, tmp + C, t->numel * sizeof *tmp); /* drop the cls row */
            ncopy++;
        }
        free(tmp);
    }
    if (copied) *copied = ncopy;
    ovs_buf_free(&unexpected), ovs_buf_free(&wrong), ovs_buf_free(&missing);
done:
    free(provided), free(target), free(skip);
    ovs_st_close(&f);
    return rc;
}
