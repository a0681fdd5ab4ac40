/* cmd_merge.c — the `ovseg merge` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_merge(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg merge: error: not implemented yet\n");
    return 2;
}
