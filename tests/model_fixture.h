/* model_fixture.h — test helper: a minimal read-only safetensors reader (F32, I32 and I64 tensors,
 * the whole file in memory) for the twin's fixtures, and a relative-error comparison. */
#ifndef OVS_MODEL_FIXTURE_H
#define OVS_MODEL_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct { char name[160]; char dtype[8]; int ndim; int64_t shape[8]; size_t begin, end; } fx_tensor;
typedef struct { char *data; void *map; size_t size; const char *body; fx_tensor *t; int n; } fx_file;

static int fx_open(fx_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    void *map = sz > 8 ? mmap(NULL, (size_t)sz, PROT_READ, MAP_PRIVATE, fileno(fp), 0) : MAP_FAILED;
    fclose(fp);
    if (map == MAP_FAILED) return -1;
    f->size = (size_t)sz;
    uint64_t hl;
    memcpy(&hl, map, 8);
    f->data = malloc(hl + 1);            /* the header, writable for parsing */
    memcpy(f->data, (char *)map + 8, hl);
    f->data[hl] = 0;
    f->map = map;
    char *h = f->data, *end = h + hl;
    f->body = (const char *)map + 8 + hl;
    int cap = 1024;
    f->t = calloc((size_t)cap, sizeof(fx_tensor));
    char *p = h + 1;
    while (p < end) {
        char *q = strchr(p, '"');
        if (!q || q >= end) break;
        char *qe = strchr(q + 1, '"');
        char *ob = strchr(qe, '{'), *cb = strchr(qe, '}');
        fx_tensor t;
        memset(&t, 0, sizeof t);
        snprintf(t.name, sizeof t.name, "%.*s", (int)(qe - q - 1), q + 1);
        p = cb + 1;
        if (!strcmp(t.name, "__metadata__")) continue;
        *cb = 0;
        char *d = strstr(ob, "\"dtype\"");
        sscanf(strchr(d + 7, '"') + 1, "%7[A-Z0-9]", t.dtype);
        char *s = strchr(strstr(ob, "\"shape\""), '[') + 1;
        while (*s != ']') {
            if (*s >= '0' && *s <= '9') { t.shape[t.ndim++] = strtoll(s, &s, 10); continue; }
            s++;
        }
        char *o = strchr(strstr(ob, "\"data_offsets\""), '[') + 1;
        t.begin = strtoull(o, &o, 10);
        t.end = strtoull(o + 1, &o, 10);
        *cb = '}';
        if (f->n == cap) { cap *= 2; f->t = realloc(f->t, sizeof(fx_tensor) * (size_t)cap); }
        f->t[f->n++] = t;
    }
    return 0;
}

static void fx_close(fx_file *f) {
    if (f->map) munmap(f->map, f->size);
    free(f->data); free(f->t); memset(f, 0, sizeof *f);
}

static const fx_tensor *fx_find(const fx_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

static size_t fx_numel(const fx_tensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

/* pointer to the data (aligned copy is not needed on x86) */
static const void *fx_data(const fx_file *f, const fx_tensor *t) { return f->body + t->begin; }

static const float *fx_f32(const fx_file *f, const char *name, size_t *n) {
    const fx_tensor *t = fx_find(f, name);
    if (!t || strcmp(t->dtype, "F32")) { if (n) *n = 0; return NULL; }
    if (n) *n = fx_numel(t);
    return (const float *)fx_data(f, t);
}

static const int32_t *fx_i32(const fx_file *f, const char *name, size_t *n) {
    const fx_tensor *t = fx_find(f, name);
    if (!t || strcmp(t->dtype, "I32")) { if (n) *n = 0; return NULL; }
    if (n) *n = fx_numel(t);
    return (const int32_t *)fx_data(f, t);
}

/* max |a-b| / max |b| (or max |a-b| when b is all zero) */
static double fx_rel(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || d != d) md = d != d ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return mb > 0 ? md / mb : md;
}

#endif
