/* err.h — how errors travel in ovseg: an int return code plus a message that names the place.
 *
 * Every fallible function returns 0 on success or one of the OVS_E* codes, and fills an ovs_err
 * with a message naming the thing that is wrong (file:line, URL, shard:member, tensor, flag).
 * Only ovseg.c turns a code into an exit status: OVS_EUSER -> 1, OVS_EINTERNAL -> 2.
 */
#ifndef OVS_ERR_H
#define OVS_ERR_H

#include <stddef.h>

enum {
    OVS_OK = 0,
    OVS_EUSER = 1,     /* bad flag, bad input file, bad data: the user can fix it */
    OVS_EINTERNAL = 2, /* I/O failure, library failure, out of memory, a bug */
};

typedef struct ovs_err {
    int code;
    char msg[1024];
} ovs_err;

/* Sets e (when not NULL) to code and the formatted message; returns code. */
int ovs_errf(ovs_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like ovs_errf, with ": strerror(errno)" appended. */
int ovs_errno(ovs_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in e with "context: " (keeps the code); returns e->code. */
int ovs_errctx(ovs_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ovs_err_clear(ovs_err *e);

#endif
