/* args.h — the one flag parser every verb uses, so `--help`, `--flag value`, `--flag=value` and
 * the error messages ("unknown flag --x", "--n: not an integer: 'abc'") are the same everywhere. */
#ifndef OVS_ARGS_H
#define OVS_ARGS_H

#include <stdint.h>

#include "util/err.h"

typedef enum {
    OVS_ARG_FLAG,   /* int, set to 1 when present */
    OVS_ARG_INT,    /* int64_t */
    OVS_ARG_DOUBLE, /* double */
    OVS_ARG_STR,    /* const char * (points into argv) */
    OVS_ARG_BYTES,  /* int64_t, suffixes K/M/G = 1024^n */
    OVS_ARG_COUNT,  /* int64_t, suffixes K/M/G = 1000^n */
} ovs_argtype;

typedef struct ovs_opt {
    const char *name; /* without the dashes: "shard-size" */
    ovs_argtype type;
    void *ptr;
    const char *help;
} ovs_opt;

typedef struct ovs_cmd_spec {
    const char *verb;
    const char *usage;   /* "DB FILE..." */
    const char *summary; /* one line */
    const ovs_opt *opts; /* terminated by {0} */
    int min_pos, max_pos; /* positional argument counts; max_pos < 0 = unlimited */
} ovs_cmd_spec;

enum { OVS_ARGS_HELP = 100 }; /* returned after --help was printed: exit 0 */

/* Parses argv[1..argc) (argv[0] is the verb). Positionals go to pos (at most maxpos kept, *npos
 * counts them). Returns 0, OVS_ARGS_HELP, or OVS_EUSER with a message naming the flag. */
int ovs_args_parse(const ovs_cmd_spec *spec, int argc, char **argv, char **pos, int maxpos,
                   int *npos, ovs_err *e);
void ovs_args_usage(const ovs_cmd_spec *spec);

/* Parses "20M"-style numbers; base 1024 or 1000. Returns 0 or OVS_EUSER. */
int ovs_parse_size(const char *s, int base, int64_t *out);

#endif
