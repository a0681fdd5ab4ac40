/* cmd_fetch.c — the `ovseg fetch` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_fetch(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg fetch: error: not implemented yet\n");
    return 2;
}
