/* cli.c — the common ending of every verb: error message and exit status. */
#include "util/cli.h"

#include <stdio.h>

#include "util/args.h"

int ovs_cli_finish(const char *verb, int rc, const ovs_err *e) {
    if (rc == 0 || rc == OVS_ARGS_HELP) return 0;
    fprintf(stderr, "ovseg %s: error: %s\n", verb, e && e->msg[0] ? e->msg : "failed");
    return rc == OVS_EUSER ? 1 : 2;
}
