/* log.h — messages to stderr with a level; the level is part of an explicit ovs_log config. */
#ifndef OVS_LOG_H
#define OVS_LOG_H

enum { OVS_LOG_QUIET = 0, OVS_LOG_INFO = 1, OVS_LOG_DEBUG = 2 };

/* Process-wide verbosity, set once by ovseg.c from --quiet/--verbose and OVSEG_LOG. */
void ovs_log_set_level(int level);
int ovs_log_level(void);

void ovs_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ovs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ovs_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
