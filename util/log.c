/* log.c — leveled messages on stderr (info, warn, debug). Warnings always print. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

static int g_level = OVS_LOG_INFO; /* the one process-wide setting, set by main */

void ovs_log_set_level(int level) { g_level = level; }
int ovs_log_level(void) { return g_level; }

static void vlog(const char *tag, const char *fmt, va_list ap) {
    fprintf(stderr, "%s", tag);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void ovs_info(const char *fmt, ...) {
    if (g_level < OVS_LOG_INFO) return;
    va_list ap;
    va_start(ap, fmt);
    vlog("", fmt, ap);
    va_end(ap);
}

void ovs_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog("warning: ", fmt, ap);
    va_end(ap);
}

void ovs_debug(const char *fmt, ...) {
    if (g_level < OVS_LOG_DEBUG) return;
    va_list ap;
    va_start(ap, fmt);
    vlog("debug: ", fmt, ap);
    va_end(ap);
}
