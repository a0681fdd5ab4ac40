/* cmd_synth.c — the `ovseg synth` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_synth(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg synth: error: not implemented yet\n");
    return 2;
}
