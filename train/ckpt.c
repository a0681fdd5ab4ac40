/* ckpt.c — checkpoint files (model + training state) in safetensors; see ckpt.h. */
#include "train/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/safetensors.h"
#include "util/fsutil.h"

/* ── key/value metadata ──────────────────────────────────────────────────────────────────────── */

int ovs_kv_set(ovs_kv *kv, const char *key, const char *val, ovs_err *e) {
    char *v = strdup(val);
    if (!v) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->key[i], key)) { free(kv->val[i]); kv->val[i] = v; return 0; }
    if (kv->n == kv->cap) {
        int cap = kv->cap ? 2 * kv->cap : 16;
        char **k = realloc(kv->key, (size_t)cap * sizeof *k);
        if (k) kv->key = k;
        char **vv = realloc(kv->val, (size_t)cap * sizeof *vv);
        if (vv) kv->val = vv;
        if (!k || !vv) { free(v); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
        kv->cap = cap;
    }
    if (!(kv->key[kv->n] = strdup(key))) { free(v); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
    kv->val[kv->n++] = v;
    return 0;
}

int ovs_kv_setf(ovs_kv *kv, ovs_err *e, const char *key, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return ovs_kv_set(kv, key, buf, e);
}

const char *ovs_kv_get(const ovs_kv *kv, const char *key) {
    for (int i = 0; i < kv->n; i++)
        if (!strcmp(kv->key[i], key)) return kv->val[i];
    return NULL;
}

void ovs_kv_free(ovs_kv *kv) {
    for (int i = 0; i < kv->n; i++) free(kv->key[i]), free(kv->val[i]);
    free(kv->key), free(kv->val);
    memset(kv, 0, sizeof *kv);
}

/* ── one file ─────────────────────────────────────────────────────────────────────────────────── */

static void full_name(char *out, size_t cap, const ovs_ckpt_part *p, const ovs_param *t) {
    snprintf(out, cap, "%s%s", p->prefix ? p->prefix : "", t->name);
}

int ovs_ckpt_write(const char *path, const ovs_ckpt_part *parts, int nparts, const ovs_kv *meta, ovs_err *e) {
    ovs_st_writer w;
    ovs_st_writer_init(&w);
    int rc = 0;
    char name[256];
    for (int p = 0; p < nparts && !rc; p++)
        for (int k = 0; k < parts[p].n && !rc; k++) {
            const ovs_param *t = &parts[p].table[k];
            if (parts[p].trainable_only && !t->trainable) continue;
            int64_t shape[4];
            for (int d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
            full_name(name, sizeof name, &parts[p], t);
            rc = ovs_st_add(&w, name, OVS_ST_F32, t->ndim, shape, parts[p].data + t->offset, e);
        }
    for (int i = 0; meta && i < meta->n && !rc; i++) rc = ovs_st_add_meta(&w, meta->key[i], meta->val[i], e);
    if (!rc) rc = ovs_st_write(&w, path, e);
    ovs_st_writer_free(&w);
    return rc;
}

/* Checks presence and shape of every tensor the parts expect. */
static int check_expected(const ovs_st_file *f, const ovs_ckpt_part *parts, int nparts, ovs_err *e) {
    char name[256];
    for (int p = 0; p < nparts; p++)
        for (int k = 0; k < parts[p].n; k++) {
            const ovs_param *t = &parts[p].table[k];
            if (parts[p].trainable_only && !t->trainable) continue;
            full_name(name, sizeof name, &parts[p], t);
            const ovs_st_tensor *s = ovs_st_find(f, name);
            if (!s) return ovs_errf(e, OVS_EUSER, "%s: tensor '%s' is missing", f->path, name);
            int same = s->ndim == t->ndim;
            for (int d = 0; same && d < t->ndim; d++) same = s->shape[d] == t->shape[d];
            if (!same) {
                char got[128] = "[", want[128] = "[";
                for (int d = 0; d < s->ndim; d++)
                    snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)s->shape[d]);
                for (int d = 0; d < t->ndim; d++)
                    snprintf(want + strlen(want), sizeof want - strlen(want), "%s%d", d ? ", " : "", t->shape[d]);
                return ovs_errf(e, OVS_EUSER, "%s: tensor '%s' has shape %s], the model needs %s]", f->path, name, got, want);
            }
            if (s->dtype != OVS_ST_F32 && s->dtype != OVS_ST_F16 && s->dtype != OVS_ST_BF16 && s->dtype != OVS_ST_F64 &&
                s->dtype != OVS_ST_I64)
                return ovs_errf(e, OVS_EUSER, "%s: tensor '%s' has dtype %s, expected a float type", f->path, name,
                                ovs_st_dtype_name(s->dtype));
        }
    return 0;
}

static int belongs(const char *name, const ovs_ckpt_part *parts, int nparts) {
    for (int p = 0; p < nparts; p++) {
        size_t pl = parts[p].prefix ? strlen(parts[p].prefix) : 0;
        if (pl && strncmp(name, parts[p].prefix, pl)) continue;
        for (int k = 0; k < parts[p].n; k++)
            if (!strcmp(name + pl, parts[p].table[k].name) && (!parts[p].trainable_only || parts[p].table[k].trainable))
                return 1;
    }
    return 0;
}

/* Lists (up to 5 of) the tensors no part expects. */
static int check_unexpected(const ovs_st_file *f, const ovs_ckpt_part *parts, int nparts, ovs_err *e) {
    char list[600] = "";
    int extra = 0;
    for (int i = 0; i < f->n; i++) {
        if (belongs(f->t[i].name, parts, nparts)) continue;
        if (extra++ < 5) snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", extra > 1 ? ", " : "", f->t[i].name);
    }
    if (!extra) return 0;
    return ovs_errf(e, OVS_EUSER, "%s: %d unexpected tensor%s: %s%s", f->path, extra, extra > 1 ? "s" : "", list,
                    extra > 5 ? ", ..." : "");
}

int ovs_ckpt_read(const char *path, const ovs_ckpt_part *parts, int nparts, int strict_extra, ovs_kv *meta, ovs_err *e) {
    ovs_st_file f;
    int rc = ovs_st_open(&f, path, e);
    if (rc) return rc;
    rc = check_expected(&f, parts, nparts, e);
    if (!rc && strict_extra) rc = check_unexpected(&f, parts, nparts, e);
    char name[256];
    for (int p = 0; p < nparts && !rc; p++)
        for (int k = 0; k < parts[p].n && !rc; k++) {
            const ovs_param *t = &parts[p].table[k];
            if (parts[p].trainable_only && !t->trainable) continue;
            full_name(name, sizeof name, &parts[p], t);
            rc = ovs_st_read_f32(&f, name, parts[p].data + t->offset, t->numel, e);
        }
    for (int i = 0; meta && i < f.nmeta && !rc; i++) rc = ovs_kv_set(meta, f.meta_key[i], f.meta_val[i], e);
    ovs_st_close(&f);
    return rc;
}

/* ── a run folder's checkpoints ──────────────────────────────────────────────────────────────── */

void ovs_ckpt_path(char *out, size_t cap, const char *rundir, const char *kind, int64_t step) {
    snprintf(out, cap, "%s/%s-%08" PRId64 ".safetensors", rundir, kind, step);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parses "KIND-DIGITS.safetensors"; returns the step or -1. */
static int64_t step_of(const char *name, const char *kind) {
    size_t kl = strlen(kind);
    if (strncmp(name, kind, kl) || name[kl] != '-') return -1;
    const char *s = name + kl + 1;
    char *end;
    if (*s < '0' || *s > '9') return -1;
    long long v = strtoll(s, &end, 10);
    return strcmp(end, ".safetensors") ? -1 : (int64_t)v;
}

static int cmp_i64_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The steps of complete checkpoints, newest first (malloc'd). */
static int list_complete(const char *rundir, int64_t **steps, int *n, ovs_err *e) {
    *steps = NULL, *n = 0;
    DIR *d = opendir(rundir);
    if (!d) return ovs_errno(e, OVS_EUSER, "%s", rundir);
    int cap = 0, rc = 0;
    char p[4200];
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s = step_of(de->d_name, "ckpt");
        if (s < 0) continue;
        ovs_ckpt_path(p, sizeof p, rundir, "state", s);
        if (!file_exists(p)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            int64_t *v = realloc(*steps, (size_t)cap * sizeof *v);
            if (!v) { rc = ovs_errf(e, OVS_EINTERNAL, "out of memory"); break; }
            *steps = v;
        }
        (*steps)[(*n)++] = s;
    }
    closedir(d);
    if (!rc && *n) qsort(*steps, (size_t)*n, sizeof **steps, cmp_i64_desc);
    return rc;
}

int ovs_ckpt_latest(const char *rundir, int64_t *step, ovs_err *e) {
    int64_t *steps;
    int n, rc = list_complete(rundir, &steps, &n, e);
    *step = !rc && n ? steps[0] : -1;
    free(steps);
    return rc;
}

/* Removes complete checkpoints beyond the newest keep, and stray files (a half pair left by a kill
 * during an earlier prune) older than the oldest pair kept. */
static int prune(const char *rundir, int keep, ovs_err *e) {
    int64_t *steps;
    int n, rc = list_complete(rundir, &steps, &n, e);
    if (rc || keep <= 0 || n == 0) { free(steps); return rc; }
    int64_t oldest_kept = steps[(n < keep ? n : keep) - 1];
    free(steps);
    DIR *d = opendir(rundir);
    if (!d) return ovs_errno(e, OVS_EUSER, "%s", rundir);
    char p[4200];
    for (struct dirent *de; (de = readdir(d));) {
        int64_t s = step_of(de->d_name, "ckpt");
        if (s < 0) s = step_of(de->d_name, "state");
        if (s < 0 || s >= oldest_kept) continue;
        snprintf(p, sizeof p, "%s/%s", rundir, de->d_name);
        if (unlink(p) && errno != ENOENT) { rc = ovs_errno(e, OVS_EUSER, "remove %s", p); break; }
    }
    closedir(d);
    snprintf(p, sizeof p, "%s/.", rundir);
    return rc ? rc : ovs_fsync_dir_of(p, e);
}

int ovs_ckpt_save(const char *rundir, int64_t step, const ovs_ckpt_part *model, int nmodel, const ovs_kv *model_meta,
                  const ovs_ckpt_part *state, int nstate, const ovs_kv *state_meta, int keep, ovs_err *e) {
    char p[4200];
    ovs_ckpt_path(p, sizeof p, rundir, "state", step);
    int rc = ovs_ckpt_write(p, state, nstate, state_meta, e);
    if (rc) return rc;
    ovs_ckpt_path(p, sizeof p, rundir, "ckpt", step);
    if ((rc = ovs_ckpt_write(p, model, nmodel, model_meta, e))) return rc;
    return prune(rundir, keep, e);
}

int ovs_ckpt_resolve(const char *path_or_rundir, char *out, size_t cap, ovs_err *e) {
    if (!ovs_is_dir(path_or_rundir)) {
        if (!file_exists(path_or_rundir)) return ovs_errf(e, OVS_EUSER, "%s: no such checkpoint file or run folder", path_or_rundir);
        snprintf(out, cap, "%s", path_or_rundir);
        return 0;
    }
    int64_t step;
    int rc = ovs_ckpt_latest(path_or_rundir, &step, e);
    if (rc) return rc;
    if (step < 0) return ovs_errf(e, OVS_EUSER, "%s: run folder holds no complete checkpoint", path_or_rundir);
    ovs_ckpt_path(out, cap, path_or_rundir, "ckpt", step);
    return 0;
}

/* ── the model config as text ────────────────────────────────────────────────────────────────── */

typedef enum { F_INT, F_FLOAT, F_STR } ftype;
#define FIELD(name, t) {#name, t, offsetof(ovs_config, name), 0}
#define OPTIONAL(name, t) {#name, t, offsetof(ovs_config, name), 1} /* absent in older checkpoints */
static const struct { const char *name; ftype type; size_t off; int optional; } CFG_FIELDS[] = {
    FIELD(name, F_STR), FIELD(img_size, F_INT), FIELD(patch, F_INT), FIELD(width, F_INT), FIELD(heads, F_INT),
    FIELD(depth0, F_INT), FIELD(depth1, F_INT), FIELD(groups_in, F_INT), FIELD(groups_out, F_INT),
    FIELD(mlp_ratio, F_INT), FIELD(drop_path, F_FLOAT), FIELD(vocab, F_INT), FIELD(text_len, F_INT),
    FIELD(text_width, F_INT), FIELD(text_heads, F_INT), FIELD(text_layers, F_INT), FIELD(text_ff, F_INT),
    FIELD(type_vocab, F_INT), FIELD(max_pos, F_INT), FIELD(proj_hidden, F_INT), FIELD(proj_out, F_INT),
    FIELD(mem_layers, F_INT), FIELD(mem_heads, F_INT), FIELD(local_patches, F_INT), FIELD(no_group_residual, F_INT),
    OPTIONAL(entity_weight, F_FLOAT), OPTIONAL(init_std, F_FLOAT),
};
#undef FIELD
#undef OPTIONAL
enum { NFIELDS = sizeof CFG_FIELDS / sizeof CFG_FIELDS[0] };

int ovs_config_to_text(const ovs_config *c, char *out, size_t cap) {
    size_t k = 0;
    out[0] = 0;
    for (int i = 0; i < NFIELDS && k < cap; i++) {
        const char *base = (const char *)c + CFG_FIELDS[i].off;
        switch (CFG_FIELDS[i].type) {
        case F_INT: k += (size_t)snprintf(out + k, cap - k, "%s=%d\n", CFG_FIELDS[i].name, *(const int *)base); break;
        case F_FLOAT: k += (size_t)snprintf(out + k, cap - k, "%s=%.9g\n", CFG_FIELDS[i].name, (double)*(const float *)base); break;
        case F_STR: k += (size_t)snprintf(out + k, cap - k, "%s=%s\n", CFG_FIELDS[i].name, base); break;
        }
    }
    return k < cap ? 0 : OVS_EINTERNAL;
}

int ovs_config_from_text(ovs_config *c, const char *text, ovs_err *e) {
    memset(c, 0, sizeof *c);
    c->entity_weight = 1.0f;   /* the optional keys' values before they existed */
    c->init_std = 0.02f;
    char seen[NFIELDS] = {0};
    for (const char *s = text; *s;) {
        const char *nl = strchr(s, '\n'), *eq = strchr(s, '=');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        if (!eq || eq > s + len) return ovs_errf(e, OVS_EUSER, "model config: bad line '%.*s'", (int)len, s);
        char key[64], val[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - s), s);
        snprintf(val, sizeof val, "%.*s", (int)(s + len - eq - 1), eq + 1);
        int i = 0;
        while (i < NFIELDS && strcmp(CFG_FIELDS[i].name, key)) i++;
        if (i == NFIELDS) return ovs_errf(e, OVS_EUSER, "model config: unknown key '%s'", key);
        char *base = (char *)c + CFG_FIELDS[i].off, *end;
        switch (CFG_FIELDS[i].type) {
        case F_INT: *(int *)base = (int)strtol(val, &end, 10); break;
        case F_FLOAT: *(float *)base = strtof(val, &end); break;
        case F_STR:
            if (strlen(val) >= sizeof c->name) return ovs_errf(e, OVS_EUSER, "model config: %s too long", key);
            memcpy(base, val, strlen(val) + 1);
            end = val + strlen(val);
            break;
        }
        if (*end || !*val) return ovs_errf(e, OVS_EUSER, "model config: bad value for %s: '%s'", key, val);
        seen[i] = 1;
        s += len + (nl ? 1 : 0);
    }
    for (int i = 0; i < NFIELDS; i++)
        if (!seen[i] && !CFG_FIELDS[i].optional)
            return ovs_errf(e, OVS_EUSER, "model config: key '%s' missing", CFG_FIELDS[i].name);
    return 0;
}

void ovs_rng_to_hex(const ovs_rng *r, char out[65]) {
    for (int i = 0; i < 4; i++) snprintf(out + 16 * i, 17, "%016" PRIx64, r->s[i]);
}

int ovs_rng_from_hex(ovs_rng *r, const char *hex, ovs_err *e) {
    if (!hex || strlen(hex) != 64) return ovs_errf(e, OVS_EUSER, "bad RNG state '%s'", hex ? hex : "(missing)");
    for (int i = 0; i < 4; i++) {
        char w[17], *end;
        memcpy(w, hex + 16 * i, 16);
        w[16] = 0;
        r->s[i] = strtoull(w, &end, 16);
        if (*end) return ovs_errf(e, OVS_EUSER, "bad RNG state '%s'", hex);
    }
    return 0;
}
