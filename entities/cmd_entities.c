/* cmd_entities.c — the `ovseg entities` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_entities(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg entities: error: not implemented yet\n");
    return 2;
}
