/* fuzz_entities.c — fuzz target: the entity rules on arbitrary caption text (tokeniser, WordNet
 * lookups and morphy, tagging, multi-word nouns, the noun-phrase pattern, synonyms, stop-nouns) and
 * the --explain printer. WordNet and the built-in rules are loaded once; one extractor is reused,
 * as `ovseg entities` does (its word cache grows over the run). Every span must lie in the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "entities/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ovs_lex lex;
    static ovs_ent_rules *rules;
    static ovs_extractor *x;
    ovs_err e;
    if (!x) {
        if (ovs_lex_load(&lex, OVS_WORDNET_DIR, &e) || ovs_ent_rules_load(&rules, NULL, &lex, &e)) abort();
        if (!(x = ovs_extractor_new(rules))) abort();
    }
    const char *text = (const char *)data;
    size_t n = 0;
    const ovs_entity *ents = ovs_extract(x, text, size, &n);
    for (size_t i = 0; i < n; i++) {
        if (ents[i].start > ents[i].end || ents[i].end > size || !ents[i].name || strlen(ents[i].name) != ents[i].name_len)
            abort();
    }
    if (size < 4096) {
        ovs_buf b = {0};
        ovs_extract_explain(x, text, size, &b);
        ovs_buf_free(&b);
    }
    return 0;
}
