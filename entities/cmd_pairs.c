/* cmd_pairs.c — the `ovseg pairs` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_pairs(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg pairs: error: not implemented yet\n");
    return 2;
}
