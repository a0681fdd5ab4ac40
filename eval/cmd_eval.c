/* cmd_eval.c — the `ovseg eval` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg eval: error: not implemented yet\n");
    return 2;
}
