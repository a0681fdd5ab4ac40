/* safetensors.c — strict safetensors reader (mmap) and durable writer. See safetensors.h. */
#include "train/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const struct { const char *name; size_t size; } DTYPES[OVS_ST_NTYPES] = {
    [OVS_ST_BOOL] = {"BOOL", 1}, [OVS_ST_U8] = {"U8", 1},   [OVS_ST_I8] = {"I8", 1},
    [OVS_ST_I16] = {"I16", 2},   [OVS_ST_U16] = {"U16", 2}, [OVS_ST_F16] = {"F16", 2},
    [OVS_ST_BF16] = {"BF16", 2}, [OVS_ST_I32] = {"I32", 4}, [OVS_ST_U32] = {"U32", 4},
    [OVS_ST_F32] = {"F32", 4},   [OVS_ST_I64] = {"I64", 8}, [OVS_ST_U64] = {"U64", 8},
    [OVS_ST_F64] = {"F64", 8},
};

const char *ovs_st_dtype_name(ovs_st_dtype d) { return d < OVS_ST_NTYPES ? DTYPES[d].name : "?"; }
size_t ovs_st_dtype_size(ovs_st_dtype d) { return d < OVS_ST_NTYPES ? DTYPES[d].size : 0; }

static int dtype_from_name(const char *s, ovs_st_dtype *d) {
    for (int i = 0; i < OVS_ST_NTYPES; i++)
        if (!strcmp(s, DTYPES[i].name)) { *d = (ovs_st_dtype)i; return 0; }
    return -1;
}

/* ── a small JSON reader for the header: objects, arrays, strings, non-negative integers ────── */

typedef struct jp {
    const char *s, *start, *end, *path;
    ovs_err *e;
} jp;

static int jerr(jp *p, const char *what) {
    return ovs_errf(p->e, OVS_EUSER, "%s: bad safetensors header: %s at header byte %ld", p->path, what,
                    (long)(p->s - p->start));
}

static void ws(jp *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int expect(jp *p, char c) {
    ws(p);
    if (p->s >= p->end || *p->s != c) {
        char what[48];
        snprintf(what, sizeof what, "expected '%c'", c);
        return jerr(p, what);
    }
    p->s++;
    return 0;
}

static int peek(jp *p, char c) {
    ws(p);
    return p->s < p->end && *p->s == c;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(ovs_buf *b, unsigned cp) {
    char u[4];
    int n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 63)), u[2] = (char)(0x80 | (cp & 63)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 63)),
        u[2] = (char)(0x80 | ((cp >> 6) & 63)), u[3] = (char)(0x80 | (cp & 63)), n = 4;
    ovs_buf_append(b, u, (size_t)n);
}

static int read_u4(jp *p, unsigned *cp) {
    if (p->end - p->s < 4) return jerr(p, "short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[i]);
        if (h < 0) return jerr(p, "bad \\u escape");
        v = v << 4 | (unsigned)h;
    }
    p->s += 4;
    *cp = v;
    return 0;
}

/* Parses a JSON string into a malloc'd C string (embedded NULs are refused). */
static int jstring(jp *p, char **out) {
    if (expect(p, '"')) return p->e->code;
    ovs_buf b = {0};
    if (!ovs_buf_reserve(&b, 16)) b.data[0] = 0; /* "" is a string too */
    while (p->s < p->end && *p->s != '"') {
        unsigned char c = (unsigned char)*p->s++;
        if (c < 0x20) { ovs_buf_free(&b); return jerr(p, "control character in string"); }
        if (c != '\\') { ovs_buf_append(&b, &c, 1); continue; }
        if (p->s >= p->end) break;
        char x = *p->s++;
        unsigned cp;
        switch (x) {
        case '"': case '\\': case '/': ovs_buf_append(&b, &x, 1); break;
        case 'b': ovs_buf_append(&b, "\b", 1); break;
        case 'f': ovs_buf_append(&b, "\f", 1); break;
        case 'n': ovs_buf_append(&b, "\n", 1); break;
        case 'r': ovs_buf_append(&b, "\r", 1); break;
        case 't': ovs_buf_append(&b, "\t", 1); break;
        case 'u':
            if (read_u4(p, &cp)) { ovs_buf_free(&b); return p->e->code; }
            if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
                unsigned lo;
                p->s += 2;
                if (read_u4(p, &lo)) { ovs_buf_free(&b); return p->e->code; }
                if (lo < 0xDC00 || lo > 0xDFFF) { ovs_buf_free(&b); return jerr(p, "bad surrogate pair"); }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) { ovs_buf_free(&b); return jerr(p, "NUL in string"); }
            put_utf8(&b, cp);
            break;
        default: ovs_buf_free(&b); return jerr(p, "bad escape");
        }
    }
    if (p->s >= p->end) { ovs_buf_free(&b); return jerr(p, "unterminated string"); }
    p->s++;
    if (!b.data) { ovs_buf_free(&b); return ovs_errf(p->e, OVS_EINTERNAL, "out of memory"); }
    *out = b.data;
    return 0;
}

static int juint(jp *p, uint64_t *v) {
    ws(p);
    if (p->s >= p->end || *p->s < '0' || *p->s > '9') return jerr(p, "expected a non-negative integer");
    uint64_t x = 0;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
        uint64_t d = (uint64_t)(*p->s++ - '0');
        if (x > (UINT64_MAX - d) / 10) return jerr(p, "integer too large");
        x = x * 10 + d;
    }
    if (p->s < p->end && (*p->s == '.' || *p->s == 'e' || *p->s == 'E')) return jerr(p, "expected an integer");
    *v = x;
    return 0;
}

/* Parses [u, u, ...] into out (at most max entries). */
static int juint_array(jp *p, uint64_t *out, int max, int *n) {
    if (expect(p, '[')) return p->e->code;
    *n = 0;
    if (peek(p, ']')) { p->s++; return 0; }
    for (;;) {
        if (*n >= max) return jerr(p, "array too long");
        if (juint(p, &out[(*n)++])) return p->e->code;
        if (peek(p, ',')) { p->s++; continue; }
        return expect(p, ']');
    }
}

/* ── reading ─────────────────────────────────────────────────────────────────────────────────── */

static int add_tensor(ovs_st_file *f, jp *p, char *name) {
    ovs_st_tensor t = {.name = name, .dtype = OVS_ST_NTYPES, .ndim = -1};
    int have_off = 0;
    if (expect(p, '{')) return p->e->code;
    int first = 1;
    while (!peek(p, '}')) {
        if (!first && expect(p, ',')) return p->e->code;
        first = 0;
        char *key = NULL;
        if (jstring(p, &key) || expect(p, ':')) { free(key); return p->e->code; }
        int rc = 0;
        if (!strcmp(key, "dtype")) {
            char *d = NULL;
            rc = jstring(p, &d);
            if (!rc && dtype_from_name(d, &t.dtype))
                rc = ovs_errf(p->e, OVS_EUSER, "%s: tensor '%s': unknown dtype '%s'", f->path, name, d);
            free(d);
        } else if (!strcmp(key, "shape")) {
            uint64_t sh[OVS_ST_MAXDIM];
            rc = juint_array(p, sh, OVS_ST_MAXDIM, &t.ndim);
            for (int i = 0; !rc && i < t.ndim; i++) t.shape[i] = (int64_t)sh[i];
        } else if (!strcmp(key, "data_offsets")) {
            uint64_t off[2];
            int n = 0;
            rc = juint_array(p, off, 2, &n);
            if (!rc && n != 2) rc = ovs_errf(p->e, OVS_EUSER, "%s: tensor '%s': data_offsets needs 2 entries", f->path, name);
            t.begin = off[0], t.end = off[1], have_off = 1;
        } else {
            rc = ovs_errf(p->e, OVS_EUSER, "%s: tensor '%s': unknown header field '%s'", f->path, name, key);
        }
        free(key);
        if (rc) return rc;
    }
    p->s++;
    if (t.dtype == OVS_ST_NTYPES || t.ndim < 0 || !have_off)
        return ovs_errf(p->e, OVS_EUSER, "%s: tensor '%s': header entry lacks dtype, shape or data_offsets", f->path, name);
    t.numel = 1;
    for (int i = 0; i < t.ndim; i++) {
        if (t.shape[i] && t.numel > UINT64_MAX / (uint64_t)t.shape[i] / 8)
            return ovs_errf(p->e, OVS_EUSER, "%s: tensor '%s': shape too large", f->path, name);
        t.numel *= (uint64_t)t.shape[i];
    }
    if (t.end < t.begin)
        return ovs_errf(p->e, OVS_EUSER, "%s: tensor '%s': data_offsets [%llu, %llu] are reversed", f->path, name,
                        (unsigned long long)t.begin, (unsigned long long)t.end);
    if (t.end - t.begin != t.numel * ovs_st_dtype_size(t.dtype))
        return ovs_errf(p->e, OVS_EUSER, "%s: tensor '%s': %llu bytes but shape x %s needs %llu", f->path, name,
                        (unsigned long long)(t.end - t.begin), ovs_st_dtype_name(t.dtype),
                        (unsigned long long)(t.numel * ovs_st_dtype_size(t.dtype)));
    ovs_st_tensor *nt = realloc(f->t, (size_t)(f->n + 1) * sizeof *nt);
    if (!nt) return ovs_errf(p->e, OVS_EINTERNAL, "out of memory");
    f->t = nt;
    f->t[f->n++] = t;
    return 0;
}

static int add_metadata(ovs_st_file *f, jp *p) {
    if (expect(p, '{')) return p->e->code;
    int first = 1;
    while (!peek(p, '}')) {
        if (!first && expect(p, ',')) return p->e->code;
        first = 0;
        char *k = NULL, *v = NULL;
        if (jstring(p, &k) || expect(p, ':')) { free(k); return p->e->code; }
        if (!peek(p, '"')) {
            int rc = ovs_errf(p->e, OVS_EUSER, "%s: __metadata__ value of '%s' is not a string", f->path, k);
            free(k);
            return rc;
        }
        if (jstring(p, &v)) { free(k); return p->e->code; }
        char **nk = realloc(f->meta_key, (size_t)(f->nmeta + 1) * sizeof *nk);
        if (nk) f->meta_key = nk;
        char **nv = realloc(f->meta_val, (size_t)(f->nmeta + 1) * sizeof *nv);
        if (nv) f->meta_val = nv;
        if (!nk || !nv) { free(k); free(v); return ovs_errf(p->e, OVS_EINTERNAL, "out of memory"); }
        f->meta_key[f->nmeta] = k, f->meta_val[f->nmeta++] = v;
    }
    p->s++;
    return 0;
}

static int parse_header(ovs_st_file *f, const char *h, size_t len, ovs_err *e) {
    jp p = {.s = h, .start = h, .end = h + len, .path = f->path, .e = e};
    if (expect(&p, '{')) return e->code;
    int first = 1, have_meta = 0;
    while (!peek(&p, '}')) {
        if (!first && expect(&p, ',')) return e->code;
        first = 0;
        char *name = NULL;
        if (jstring(&p, &name) || expect(&p, ':')) { free(name); return e->code; }
        int rc;
        if (!strcmp(name, "__metadata__")) {
            free(name);
            if (have_meta) return ovs_errf(e, OVS_EUSER, "%s: duplicate __metadata__", f->path);
            have_meta = 1;
            rc = add_metadata(f, &p);
        } else {
            rc = add_tensor(f, &p, name);
            if (rc && (f->n == 0 || f->t[f->n - 1].name != name)) free(name);
        }
        if (rc) return rc;
    }
    p.s++;
    ws(&p);
    if (p.s != p.end) return jerr(&p, "trailing bytes after the header object");
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const ovs_st_tensor *const *)a)->name, (*(const ovs_st_tensor *const *)b)->name);
}
static int cmp_begin(const void *a, const void *b) {
    const ovs_st_tensor *x = *(const ovs_st_tensor *const *)a, *y = *(const ovs_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Duplicate names; offsets in range, without overlap or holes, covering the data section. */
static int check_layout(ovs_st_file *f, uint64_t data_size, ovs_err *e) {
    if (!f->n) {
        if (data_size) return ovs_errf(e, OVS_EUSER, "%s: %llu data bytes but no tensors", f->path, (unsigned long long)data_size);
        return 0;
    }
    ovs_st_tensor **v = malloc((size_t)f->n * sizeof *v);
    if (!v) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int i = 0; i < f->n; i++) v[i] = &f->t[i];
    int rc = 0;
    qsort(v, (size_t)f->n, sizeof *v, cmp_name);
    for (int i = 1; i < f->n && !rc; i++)
        if (!strcmp(v[i]->name, v[i - 1]->name)) rc = ovs_errf(e, OVS_EUSER, "%s: tensor '%s' appears twice", f->path, v[i]->name);
    qsort(v, (size_t)f->n, sizeof *v, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        if (v[i]->end > data_size)
            rc = ovs_errf(e, OVS_EUSER, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the file "
                          "(%llu data bytes; truncated?)", f->path, v[i]->name, (unsigned long long)v[i]->begin,
                          (unsigned long long)v[i]->end, (unsigned long long)data_size);
        else if (v[i]->begin < at)
            rc = ovs_errf(e, OVS_EUSER, "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s'", f->path,
                          v[i]->name, (unsigned long long)v[i]->begin, (unsigned long long)v[i]->end, v[i - 1]->name);
        else if (v[i]->begin > at)
            rc = ovs_errf(e, OVS_EUSER, "%s: tensor '%s': hole of %llu bytes before its data", f->path, v[i]->name,
                          (unsigned long long)(v[i]->begin - at));
        at = v[i]->end;
    }
    if (!rc && at != data_size)
        rc = ovs_errf(e, OVS_EUSER, "%s: %llu bytes after the last tensor", f->path, (unsigned long long)(data_size - at));
    free(v);
    return rc;
}

int ovs_st_open(ovs_st_file *f, const char *path, ovs_err *e) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ovs_errno(e, OVS_EUSER, "%s", path);
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) { close(fd); return ovs_errf(e, OVS_EUSER, "%s: not a regular file", path); }
    f->size = (size_t)st.st_size;
    if (f->size < 8) { close(fd); return ovs_errf(e, OVS_EUSER, "%s: %zu bytes, too short for a safetensors file", path, f->size); }
    f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) { f->map = NULL; return ovs_errno(e, OVS_EINTERNAL, "%s: mmap", path); }
    uint64_t hlen;
    memcpy(&hlen, f->map, 8);
    int rc = 0;
    if (hlen > f->size - 8 || hlen > 100u * 1024 * 1024)
        rc = ovs_errf(e, OVS_EUSER, "%s: header length %llu does not fit in the file's %zu bytes (not safetensors, or truncated)",
                      path, (unsigned long long)hlen, f->size);
    if (!rc) rc = parse_header(f, (const char *)f->map + 8, (size_t)hlen, e);
    if (!rc) rc = check_layout(f, f->size - 8 - hlen, e);
    if (rc) { ovs_st_close(f); return rc; }
    const char *data = (const char *)f->map + 8 + hlen;
    for (int i = 0; i < f->n; i++) f->t[i].data = data + f->t[i].begin;
    return 0;
}

void ovs_st_close(ovs_st_file *f) {
    if (f->map) munmap(f->map, f->size);
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->nmeta; i++) free(f->meta_key[i]), free(f->meta_val[i]);
    free(f->t), free(f->meta_key), free(f->meta_val);
    char path[sizeof f->path];
    memcpy(path, f->path, sizeof path);
    memset(f, 0, sizeof *f);
    memcpy(f->path, path, sizeof path);
}

const ovs_st_tensor *ovs_st_find(const ovs_st_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const char *ovs_st_meta(const ovs_st_file *f, const char *key) {
    for (int i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta_key[i], key)) return f->meta_val[i];
    return NULL;
}

static float half_to_float(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, ex = (h >> 10) & 31, m = h & 1023, u;
    if (ex == 31) u = s | 0x7F800000u | m << 13;
    else if (ex) u = s | (ex + 112) << 23 | m << 13;
    else if (!m) u = s;
    else { float f = ldexpf((float)m, -24); return s ? -f : f; }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void convert(const ovs_st_tensor *t, float *dst) {
    const unsigned char *p = t->data;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case OVS_ST_F32: memcpy(dst, p, n * 4); break;
    case OVS_ST_F64: for (size_t i = 0; i < n; i++) { double v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; } break;
    case OVS_ST_F16: for (size_t i = 0; i < n; i++) { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = half_to_float(v); } break;
    case OVS_ST_BF16:
        for (size_t i = 0; i < n; i++) { uint16_t v; memcpy(&v, p + 2 * i, 2); uint32_t u = (uint32_t)v << 16; memcpy(&dst[i], &u, 4); }
        break;
    case OVS_ST_I64: for (size_t i = 0; i < n; i++) { int64_t v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; } break;
    case OVS_ST_U64: for (size_t i = 0; i < n; i++) { uint64_t v; memcpy(&v, p + 8 * i, 8); dst[i] = (float)v; } break;
    case OVS_ST_I32: for (size_t i = 0; i < n; i++) { int32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = (float)v; } break;
    case OVS_ST_U32: for (size_t i = 0; i < n; i++) { uint32_t v; memcpy(&v, p + 4 * i, 4); dst[i] = (float)v; } break;
    case OVS_ST_I16: for (size_t i = 0; i < n; i++) { int16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = (float)v; } break;
    case OVS_ST_U16: for (size_t i = 0; i < n; i++) { uint16_t v; memcpy(&v, p + 2 * i, 2); dst[i] = (float)v; } break;
    case OVS_ST_I8: for (size_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i]; break;
    case OVS_ST_U8: case OVS_ST_BOOL: for (size_t i = 0; i < n; i++) dst[i] = (float)p[i]; break;
    default: break;
    }
}

int ovs_st_read_f32(const ovs_st_file *f, const char *name, float *dst, size_t numel, ovs_err *e) {
    const ovs_st_tensor *t = ovs_st_find(f, name);
    if (!t) return ovs_errf(e, OVS_EUSER, "%s: tensor '%s' is missing", f->path, name);
    if (t->numel != numel)
        return ovs_errf(e, OVS_EUSER, "%s: tensor '%s' has %llu elements, expected %zu", f->path, name,
                        (unsigned long long)t->numel, numel);
    convert(t, dst);
    return 0;
}

static void shape_str(char *out, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(out, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++) k += (size_t)snprintf(out + k, cap - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < cap) snprintf(out + k, cap - k, "]");
}

int ovs_st_read_shaped(const ovs_st_file *f, const char *name, int ndim, const int64_t *shape, float *dst, ovs_err *e) {
    const ovs_st_tensor *t = ovs_st_find(f, name);
    if (!t) return ovs_errf(e, OVS_EUSER, "%s: tensor '%s' is missing", f->path, name);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[160], b[160];
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, ndim, shape);
        return ovs_errf(e, OVS_EUSER, "%s: tensor '%s' has shape %s, expected %s", f->path, name, a, b);
    }
    convert(t, dst);
    return 0;
}

/* ── writing ─────────────────────────────────────────────────────────────────────────────────── */

void ovs_st_writer_init(ovs_st_writer *w) { memset(w, 0, sizeof *w); }

void ovs_st_writer_free(ovs_st_writer *w) {
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < w->nmeta; i++) free(w->meta_key[i]), free(w->meta_val[i]);
    free(w->t), free(w->meta_key), free(w->meta_val);
    memset(w, 0, sizeof *w);
}

int ovs_st_add(ovs_st_writer *w, const char *name, ovs_st_dtype dtype, int ndim, const int64_t *shape,
               const void *data, ovs_err *e) {
    if (dtype >= OVS_ST_NTYPES || ndim < 0 || ndim > OVS_ST_MAXDIM)
        return ovs_errf(e, OVS_EINTERNAL, "safetensors: tensor '%s': bad dtype or rank", name);
    if (!strcmp(name, "__metadata__") || !*name)
        return ovs_errf(e, OVS_EINTERNAL, "safetensors: bad tensor name '%s'", name);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) return ovs_errf(e, OVS_EINTERNAL, "safetensors: tensor '%s' added twice", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        ovs_st_entry *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
        w->t = t, w->cap = cap;
    }
    ovs_st_entry *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    t->dtype = dtype, t->ndim = ndim, t->data = data;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i], numel *= (size_t)shape[i];
    t->nbytes = numel * ovs_st_dtype_size(dtype);
    w->n++;
    return 0;
}

int ovs_st_add_meta(ovs_st_writer *w, const char *key, const char *value, ovs_err *e) {
    char *v = strdup(value);
    if (!v) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    for (int i = 0; i < w->nmeta; i++)
        if (!strcmp(w->meta_key[i], key)) { free(w->meta_val[i]); w->meta_val[i] = v; return 0; }
    if (w->nmeta == w->meta_cap) {
        int cap = w->meta_cap ? 2 * w->meta_cap : 16;
        char **k = realloc(w->meta_key, (size_t)cap * sizeof *k);
        if (k) w->meta_key = k;
        char **vv = realloc(w->meta_val, (size_t)cap * sizeof *vv);
        if (vv) w->meta_val = vv;
        if (!k || !vv) { free(v); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
        w->meta_cap = cap;
    }
    if (!(w->meta_key[w->nmeta] = strdup(key))) { free(v); return ovs_errf(e, OVS_EINTERNAL, "out of memory"); }
    w->meta_val[w->nmeta++] = v;
    return 0;
}

static int build_header(const ovs_st_writer *w, ovs_buf *h) {
    int rc = ovs_buf_puts(h, "{");
    if (w->nmeta) {
        rc |= ovs_buf_puts(h, "\"__metadata__\":{");
        for (int i = 0; i < w->nmeta; i++) {
            if (i) rc |= ovs_buf_puts(h, ",");
            rc |= ovs_buf_json_str(h, w->meta_key[i], strlen(w->meta_key[i]));
            rc |= ovs_buf_puts(h, ":");
            rc |= ovs_buf_json_str(h, w->meta_val[i], strlen(w->meta_val[i]));
        }
        rc |= ovs_buf_puts(h, "}");
    }
    uint64_t at = 0;
    for (int i = 0; i < w->n; i++) {
        const ovs_st_entry *t = &w->t[i];
        if (i || w->nmeta) rc |= ovs_buf_puts(h, ",");
        rc |= ovs_buf_json_str(h, t->name, strlen(t->name));
        rc |= ovs_buf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", ovs_st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) rc |= ovs_buf_printf(h, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        rc |= ovs_buf_printf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
                             (unsigned long long)(at + t->nbytes));
        at += t->nbytes;
    }
    rc |= ovs_buf_puts(h, "}");
    while (!rc && h->len % 8) rc = ovs_buf_puts(h, " "); /* data starts 8-byte aligned */
    return rc ? OVS_EINTERNAL : 0;
}

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        c += k, n -= (size_t)k;
    }
    return 0;
}

int ovs_st_write(const ovs_st_writer *w, const char *path, ovs_err *e) {
    ovs_buf h = {0};
    if (build_header(w, &h)) { ovs_buf_free(&h); return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", path); }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { ovs_buf_free(&h); return ovs_errno(e, OVS_EUSER, "%s", tmp); }
    uint64_t hlen = h.len;
    int bad = write_all(fd, &hlen, 8) || write_all(fd, h.data, h.len);
    for (int i = 0; i < w->n && !bad; i++) bad = write_all(fd, w->t[i].data, w->t[i].nbytes);
    ovs_buf_free(&h);
    if (bad || fsync(fd)) {
        int rc = ovs_errno(e, OVS_EUSER, "%s: write", tmp);
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd)) { int rc = ovs_errno(e, OVS_EUSER, "%s: close", tmp); unlink(tmp); return rc; }
    if (rename(tmp, path)) { int rc = ovs_errno(e, OVS_EUSER, "rename %s", path); unlink(tmp); return rc; }
    return ovs_fsync_dir_of(path, e);
}
