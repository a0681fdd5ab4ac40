/* cmd_entities.c — `ovseg entities DB [--export FILE]`: extract the entities of every sample not
 * yet processed with the current rules version, store them with their byte spans in
 * sample_entities and keep the entities table's counts (occurrences, samples) exact.
 *
 * Work goes in batches of samples in id order, each written in one transaction while a worker
 * thread extracts the next batch (entities/store.c). A sample processed by an older rules version is
 * re-extracted; when its (entity, start, end) list is unchanged only its version is
 * updated, else its old rows are subtracted from the counts and replaced. kill -9 loses at most the
 * batch in flight, which the next run redoes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "entities/extract.h"
#include "entities/store.h"
#include "util/args.h"
#include "util/cli.h"
#include "util/log.h"
#include "util/progress.h"

static const ovs_cmd_spec SPEC = {
    .verb = "entities", .usage = "DB",
    .summary = "Extract noun-phrase entities (WordNet-tagged, PCRE2-chunked head nouns) from the captions\n"
               "of every sample not yet processed with the current rules; keep counts in the entities table.\n"
               "Re-running does only new or changed work. --explain TEXT shows the tagging of one caption.",
    .min_pos = 0, .max_pos = 1};

int cmd_entities(int argc, char **argv) {
    ovs_err e = {0};
    const char *export_path = NULL, *rules_dir = NULL, *wordnet = OVS_WORDNET_DIR, *explain = NULL;
    int64_t batch = 20000;
    const ovs_opt opts[] = {
        {"export", OVS_ARG_STR, &export_path, "write url<TAB>caption<TAB>entities (sorted, comma-separated) of every processed sample to FILE"},
        {"rules", OVS_ARG_STR, &rules_dir, "folder with rules.txt, synonyms.txt, stopnouns.txt (default: the built-in copies)"},
        {"wordnet", OVS_ARG_STR, &wordnet, "WordNet 3.0 dict folder (default " OVS_WORDNET_DIR ")"},
        {"explain", OVS_ARG_STR, &explain, "print the tokens, tags and entities of TEXT and exit (no DB needed)"},
        {"batch", OVS_ARG_COUNT, &batch, "samples per transaction (default 20000)"},
        {0}};
    ovs_cmd_spec spec = SPEC;
    spec.opts = opts;
    char *pos[1];
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, 1, &np, &e);
    if (rc) return ovs_cli_finish("entities", rc, &e);
    if (!np && !explain) return ovs_cli_finish("entities", ovs_errf(&e, OVS_EUSER, "missing DB (see --help)"), &e);
    if (batch < 1) return ovs_cli_finish("entities", ovs_errf(&e, OVS_EUSER, "--batch: must be at least 1"), &e);

    ovs_lex lex;
    ovs_ent_rules *rules = NULL;
    if ((rc = ovs_lex_load(&lex, wordnet, &e))) return ovs_cli_finish("entities", rc, &e);
    if ((rc = ovs_ent_rules_load(&rules, rules_dir, &lex, &e))) {
        ovs_lex_free(&lex);
        return ovs_cli_finish("entities", rc, &e);
    }
    if (explain) {
        ovs_extractor *x = ovs_extractor_new(rules);
        ovs_buf b = {0};
        rc = x ? ovs_extract_explain(x, explain, strlen(explain), &b) : OVS_EINTERNAL;
        if (!rc) fputs(b.data, stdout);
        else ovs_errf(&e, rc, "out of memory");
        ovs_buf_free(&b);
        ovs_extractor_free(x);
    } else {
        ovs_db db;
        if (!(rc = ovs_db_open(&db, pos[0], 0, &e))) {
            ovs_ent_stats st = {0};
            if (!(rc = ovs_db_run_start(&db, "entities", argc, argv, &e))) {
                rc = ovs_ent_update(&db, rules, (int)batch, &st, &e);
                if (!rc && export_path) rc = ovs_ent_export(&db, export_path, &st, &e);
                char counts[256];
                snprintf(counts, sizeof counts,
                         "{\"version\":\"%s\",\"processed\":%lld,\"changed\":%lld,\"unchanged\":%lld,\"rows\":%lld,\"exported\":%lld}",
                         ovs_ent_rules_version(rules), (long long)st.processed, (long long)st.changed,
                         (long long)st.unchanged, (long long)st.rows, (long long)st.exported);
                ovs_db_run_end(&db, rc == 0, counts, NULL);
                if (!rc)
                    ovs_info("entities: rules %s: %lld samples processed (%lld changed, %lld unchanged), %lld entity rows written%s",
                             ovs_ent_rules_version(rules), (long long)st.processed, (long long)st.changed,
                             (long long)st.unchanged, (long long)st.rows, export_path ? "; exported" : "");
            }
            ovs_db_close(&db);
        }
    }
    ovs_ent_rules_free(rules);
    ovs_lex_free(&lex);
    return ovs_cli_finish("entities", rc, &e);
}
