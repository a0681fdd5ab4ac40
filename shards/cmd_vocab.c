/* cmd_vocab.c — the `ovseg vocab` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_vocab(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg vocab: error: not implemented yet\n");
    return 2;
}
