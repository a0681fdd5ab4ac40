/* cmd_embed.c — the `ovseg embed` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_embed(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg embed: error: not implemented yet\n");
    return 2;
}
