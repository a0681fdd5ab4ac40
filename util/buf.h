/* buf.h — a growable byte buffer (also used as a string builder) and JSON string escaping. */
#ifndef OVS_BUF_H
#define OVS_BUF_H

#include <stddef.h>

typedef struct ovs_buf {
    char *data;
    size_t len, cap;
} ovs_buf;

/* All return 0 or OVS_EINTERNAL on out-of-memory. data stays NUL-terminated. */
int ovs_buf_reserve(ovs_buf *b, size_t extra);
int ovs_buf_append(ovs_buf *b, const void *p, size_t n);
int ovs_buf_puts(ovs_buf *b, const char *s);
int ovs_buf_printf(ovs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s (n bytes) as a JSON string literal with quotes, escaping as RFC 8259 requires. */
int ovs_buf_json_str(ovs_buf *b, const char *s, size_t n);
void ovs_buf_reset(ovs_buf *b);
void ovs_buf_free(ovs_buf *b);

#endif
