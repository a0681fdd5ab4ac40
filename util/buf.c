/* buf.c — growable byte buffer and JSON string escaping. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

int ovs_buf_reserve(ovs_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return OVS_EINTERNAL;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ovs_buf_append(ovs_buf *b, const void *p, size_t n) {
    if (ovs_buf_reserve(b, n)) return OVS_EINTERNAL;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int ovs_buf_puts(ovs_buf *b, const char *s) { return ovs_buf_append(b, s, strlen(s)); }

int ovs_buf_printf(ovs_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ovs_buf_reserve(b, (size_t)n)) return OVS_EINTERNAL;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int ovs_buf_json_str(ovs_buf *b, const char *s, size_t n) {
    if (ovs_buf_reserve(b, n + 2)) return OVS_EINTERNAL;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *rep = NULL;
        switch (c) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); rep = esc; }
        }
        int rc = rep ? ovs_buf_puts(b, rep) : ovs_buf_append(b, &s[i], 1);
        if (rc) return rc;
    }
    return ovs_buf_append(b, "\"", 1);
}

void ovs_buf_reset(ovs_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

void ovs_buf_free(ovs_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
