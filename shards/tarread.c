/* tarread.c — tar shards read with pread: header parsing (ustar name+prefix, pax path/size
 * records, GNU long names, octal and base-256 sizes, checksums), grouping by key, safe names. */
#include "shards/tarread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ovs_tarr_open(ovs_tarr *r, const char *path, ovs_err *e) {
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s", path);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) return ovs_errno(e, OVS_EUSER, "%s", path);
    struct stat st;
    if (fstat(r->fd, &st)) {
        int rc = ovs_errno(e, OVS_EINTERNAL, "%s: fstat", path);
        close(r->fd);
        r->fd = -1;
        return rc;
    }
    r->file_size = st.st_size;
    return 0;
}

void ovs_tarr_close(ovs_tarr *r) {
    if (r->fd >= 0) close(r->fd);
    r->fd = -1;
}

static int pread_all(int fd, void *buf, size_t n, int64_t off) {
    char *p = buf;
    while (n) {
        ssize_t k = pread(fd, p, n, off);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k, n -= (size_t)k, off += k;
    }
    return 0;
}

static int64_t parse_num(const unsigned char *f, int n) {
    if (f[0] & 0x80) { /* base-256 */
        int64_t v = f[0] & 0x3f;
        for (int i = 1; i < n; i++) v = v << 8 | f[i];
        return v;
    }
    int64_t v = 0;
    int i = 0;
    while (i < n && f[i] == ' ') i++;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) v = v * 8 + (f[i] - '0');
    for (; i < n; i++)
        if (f[i] != 0 && f[i] != ' ') return -1;
    return v;
}

static int checksum_ok(const unsigned char *h) {
    int64_t want = parse_num(h + 148, 8);
    int64_t sum = 0;
    for (int i = 0; i < 512; i++) sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return want == sum;
}

static int safe_name(const char *n) {
    if (!n[0] || n[0] == '/') return 0;
    for (const char *p = n; *p;) {
        const char *s = strchr(p, '/');
        size_t len = s ? (size_t)(s - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 0;
        if (!s) break;
        p = s + 1;
    }
    return 1;
}

/* Applies the pax records in data (n bytes) to name/size. */
static void apply_pax(const char *data, int64_t n, char *name, size_t cap, int64_t *size) {
    const char *p = data, *end = data + n;
    while (p < end) {
        char *sp;
        long len = strtol(p, &sp, 10);
        if (len <= 0 || p + len > end || *sp != ' ' || sp + 1 > p + len - 1) return; /* "LEN KEY=VALUE\n" */
        const char *kv = sp + 1, *rec_end = p + len - 1; /* record ends in '\n' */
        const char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
        if (eq) {
            size_t klen = (size_t)(eq - kv), vlen = (size_t)(rec_end - eq - 1);
            if (klen == 4 && !memcmp(kv, "path", 4) && vlen < cap) {
                memcpy(name, eq + 1, vlen);
                name[vlen] = 0;
            } else if (klen == 4 && !memcmp(kv, "size", 4)) {
                *size = strtoll(eq + 1, NULL, 10);
            }
        }
        p += len;
    }
}

int ovs_tarr_next(ovs_tarr *r, ovs_tar_member *m, ovs_err *e) {
    char long_name[256] = "";
    m->name[0] = 0;
    int64_t pax_size = -1, first_header = -1;
    for (;;) {
        if (r->done) return 0;
        unsigned char h[512];
        if (r->pos + 512 > r->file_size) { /* no end blocks: a clean end only right after a member */
            r->done = 1;
            if (r->pos == r->file_size && first_header < 0) return 0;
            return ovs_errf(e, OVS_EUSER, "%s@%lld: truncated tar header", r->path, (long long)r->pos);
        }
        if (pread_all(r->fd, h, 512, r->pos)) {
            r->done = 1;
            return ovs_errno(e, OVS_EUSER, "%s@%lld: read", r->path, (long long)r->pos);
        }
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++) zero = h[i] == 0;
        if (zero) { r->done = 1; return 0; }
        if (!checksum_ok(h)) {
            r->done = 1;
            return ovs_errf(e, OVS_EUSER, "%s@%lld: bad tar header checksum", r->path, (long long)r->pos);
        }
        int64_t size = parse_num(h + 124, 12);
        if (size < 0) {
            r->done = 1;
            return ovs_errf(e, OVS_EUSER, "%s@%lld: bad member size", r->path, (long long)r->pos);
        }
        if (first_header < 0) first_header = r->pos;
        int64_t data_off = r->pos + 512;
        char type = (char)h[156];
        if (type == 'x' || type == 'L') { /* meta header for the next one */
            if (size > 65536 || data_off + size > r->file_size) {
                r->done = 1;
                return ovs_errf(e, OVS_EUSER, "%s@%lld: bad extended header", r->path, (long long)r->pos);
            }
            char *d = malloc((size_t)size + 1);
            if (!d || pread_all(r->fd, d, (size_t)size, data_off)) {
                free(d);
                r->done = 1;
                return ovs_errf(e, OVS_EUSER, "%s@%lld: cannot read extended header", r->path, (long long)r->pos);
            }
            d[size] = 0;
            if (type == 'L') snprintf(long_name, sizeof long_name, "%s", d);
            else apply_pax(d, size, long_name, sizeof long_name, &pax_size);
            free(d);
            r->pos = data_off + (size + 511) / 512 * 512;
            continue;
        }
        if (pax_size >= 0) size = pax_size;
        r->pos = data_off + (size + 511) / 512 * 512;
        if (type != '0' && type != 0 && type != '7') { long_name[0] = 0, pax_size = -1, first_header = -1; continue; }
        if (long_name[0]) snprintf(m->name, sizeof m->name, "%s", long_name);
        else if (!memcmp(h + 257, "ustar", 5) && h[345])
            snprintf(m->name, sizeof m->name, "%.155s/%.100s", (const char *)h + 345, (const char *)h);
        else
            snprintf(m->name, sizeof m->name, "%.100s", (const char *)h);
        m->header_off = first_header;
        m->data_off = data_off;
        m->size = size;
        if (data_off + size > r->file_size) {
            r->done = 1;
            return ovs_errf(e, OVS_EUSER, "%s:%s: truncated member (%lld of %lld bytes)", r->path, m->name,
                            (long long)(r->file_size - data_off), (long long)size);
        }
        if (!safe_name(m->name)) {
            r->done = 1;
            return ovs_errf(e, OVS_EUSER, "%s:%s: refused member name (absolute or with ..)", r->path, m->name);
        }
        return OVS_TAR_GOT;
    }
}

const char *ovs_tar_split_name(const char *name, char *key, size_t cap) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    size_t klen = dot ? (size_t)(dot - name) : strlen(name);
    if (klen >= cap) klen = cap - 1;
    memcpy(key, name, klen);
    key[klen] = 0;
    return dot ? dot + 1 : "";
}

int ovs_tarr_next_sample(ovs_tarr *r, ovs_tar_sample *s, ovs_err *e) {
    s->n = 0;
    s->key[0] = 0;
    if (r->err_pending) {
        r->err_pending = 0;
        if (e) *e = r->err;
        return r->err.code ? r->err.code : OVS_EUSER;
    }
    for (;;) {
        ovs_tar_member m;
        if (r->have_pending) {
            m = r->pending;
            r->have_pending = 0;
        } else {
            int rc = ovs_tarr_next(r, &m, e);
            if (rc == 0) return s->n ? OVS_TAR_GOT : 0;
            if (rc != OVS_TAR_GOT) {
                char k[256];
                ovs_tar_split_name(m.name, k, sizeof k);
                if (s->n && (!m.name[0] || strcmp(k, s->key))) { /* the sample read so far is whole */
                    r->err_pending = 1;
                    r->err = *e;
                    return OVS_TAR_GOT;
                }
                return rc;
            }
        }
        char key[256];
        ovs_tar_split_name(m.name, key, sizeof key);
        if (s->n && strcmp(key, s->key)) {
            r->pending = m;
            r->have_pending = 1;
            return OVS_TAR_GOT;
        }
        if (!s->n) snprintf(s->key, sizeof s->key, "%s", key);
        if (s->n < OVS_TAR_MAX_MEMBERS) s->m[s->n++] = m;
    }
}

const ovs_tar_member *ovs_tar_sample_find(const ovs_tar_sample *s, const char *suf) {
    char key[256];
    for (int i = 0; i < s->n; i++)
        if (!strcmp(ovs_tar_split_name(s->m[i].name, key, sizeof key), suf)) return &s->m[i];
    return NULL;
}

int ovs_tar_read_data(int fd, const char *path, const ovs_tar_member *m, ovs_buf *out, ovs_err *e) {
    out->len = 0;
    if (ovs_buf_reserve(out, (size_t)m->size + 1)) return ovs_errf(e, OVS_EINTERNAL, "%s:%s: out of memory", path, m->name);
    if (pread_all(fd, out->data, (size_t)m->size, m->data_off))
        return ovs_errf(e, OVS_EUSER, "%s:%s: cannot read %lld bytes at %lld", path, m->name, (long long)m->size,
                        (long long)m->data_off);
    out->len = (size_t)m->size;
    out->data[out->len] = 0;
    return 0;
}

int ovs_tar_read_member_at(int fd, const char *path, int64_t header_off, int64_t file_size, ovs_tar_member *m,
                           ovs_buf *out, ovs_err *e) {
    ovs_tarr r = {.fd = fd, .pos = header_off, .file_size = file_size};
    snprintf(r.path, sizeof r.path, "%s", path);
    int rc = ovs_tarr_next(&r, m, e);
    if (rc == 0) return ovs_errf(e, OVS_EUSER, "%s@%lld: no member there", path, (long long)header_off);
    if (rc != OVS_TAR_GOT) return rc;
    return ovs_tar_read_data(fd, path, m, out, e);
}
