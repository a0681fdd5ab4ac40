/* cmd_ingest.c — the `ovseg ingest` verb. (Placeholder until its stage lands.) */
#include <stdio.h>

#include "util/cli.h"

int cmd_ingest(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ovseg ingest: error: not implemented yet\n");
    return 2;
}
