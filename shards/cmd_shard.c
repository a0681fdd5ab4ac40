/* cmd_shard.c — the `ovseg shard` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_shard(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg shard: error: not implemented yet\n");
    return 2;
}
