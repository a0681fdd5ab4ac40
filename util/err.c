/* err.c — formatting of ovs_err messages (see err.h). */
#include "util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ovs_errf(ovs_err *e, int code, const char *fmt, ...) {
    if (!e) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

int ovs_errno(ovs_err *e, int code, const char *fmt, ...) {
    int saved = errno;
    if (!e) return code;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof e->msg)
        snprintf(e->msg + n, sizeof e->msg - (size_t)n, ": %s", strerror(saved));
    e->code = code;
    return code;
}

int ovs_errctx(ovs_err *e, const char *fmt, ...) {
    if (!e) return OVS_EINTERNAL;
    char prefix[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof e->msg - 3) n = sizeof e->msg - 3;
    memcpy(e->msg, prefix, n);
    memcpy(e->msg + n, ": ", 2);
    size_t rest = sizeof e->msg - n - 3, k = strlen(old);
    if (k > rest) k = rest;
    memcpy(e->msg + n + 2, old, k);
    e->msg[n + 2 + k] = 0;
    if (!e->code) e->code = OVS_EINTERNAL;
    return e->code;
}

void ovs_err_clear(ovs_err *e) {
    if (!e) return;
    e->code = 0;
    e->msg[0] = 0;
}
