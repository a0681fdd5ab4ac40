/* rules.h — the parsed rule files shared (read-only) by all extractors of a run. Internal to
 * entities/; the public API is extract.h. */
#ifndef OVS_RULES_H
#define OVS_RULES_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "entities/extract.h"
#include "entities/lexicon.h"
#include "entities/strmap.h"

enum { OVS_NT = 10 };               /* tags D A N V P C R O T X; index OVS_NT = start (rows) / end (cols) */
enum { OVS_T_D, OVS_T_A, OVS_T_N, OVS_T_V, OVS_T_P, OVS_T_C, OVS_T_R, OVS_T_O, OVS_T_T, OVS_T_X };
enum { OVS_MAX_CLOSED = 4096, OVS_MAX_LEMMA = 4096, OVS_MAX_SYN = 8192 };
extern const char OVS_TAGS[OVS_NT + 1];
int ovs_tag_index(int c);

struct ovs_ent_rules {
    const ovs_lex *lex;
    ovs_strmap closed;                 /* function words */
    uint16_t closed_mask[OVS_MAX_CLOSED];
    uint8_t closed_first[OVS_MAX_CLOSED];
    float trans[OVS_NT + 1][OVS_NT + 1]; /* log weights: [from or start][to or end] */
    ovs_strmap lemma_from;             /* lemma overrides: form -> strings index */
    int32_t lemma_to[OVS_MAX_LEMMA];
    ovs_strmap syn_from;               /* synonyms: variant -> strings index */
    int32_t syn_to[OVS_MAX_SYN];
    ovs_strmap strings;                /* names used by lemma/synonym lines */
    ovs_strmap stop, nocolloc, colloc; /* colloc: adjective-first multi-word nouns to join */
    int minknown;
    float emission_power;
    float ing_verb, after_plural; /* verb weight factors (see rules.txt) */
    char chunk[1024];
    pcre2_code *re;
    int head_group, jit;
    char version[17];
    char rules_path[1200];
};

#endif
