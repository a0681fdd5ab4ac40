/* cmd_train.c — the `ovseg train` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg train: error: not implemented yet\n");
    return 2;
}
