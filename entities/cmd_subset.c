/* cmd_subset.c — the `ovseg subset` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_subset(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg subset: error: not implemented yet\n");
    return 2;
}
