/* cli.h — the verbs of the ovseg binary. Each verb lives in its stage's folder as cmd_<verb>.c,
 * takes (argc, argv) with argv[0] = the verb, and returns the process exit status:
 * 0 success, 1 user error (bad flag, bad input), 2 internal failure. */
#ifndef OVS_CLI_H
#define OVS_CLI_H

#include "util/err.h"

int cmd_init(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_entities(int argc, char **argv);
int cmd_subset(int argc, char **argv);
int cmd_pairs(int argc, char **argv);
int cmd_shard(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_eval(int argc, char **argv);

/* Turns a verb's return code into an exit status, printing "ovseg VERB: error: MSG" for failures.
 * OVS_ARGS_HELP (help was printed) becomes 0. */
int ovs_cli_finish(const char *verb, int rc, const ovs_err *e);

#define OVSEG_VERSION "0.1.0"

#endif
