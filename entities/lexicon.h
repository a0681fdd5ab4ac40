/* lexicon.h — WordNet 3.0 as the extractor needs it: for every lemma its parts of speech and
 * SemCor sense-tag counts (index.noun/verb/adj/adv), the irregular forms (noun/verb/adj.exc),
 * the proper prefixes of multi-word nouns ("teddy" of "teddy_bear") for greedy collocation
 * matching, and morphy (exception lists, then WordNet's suffix rules). Files are mmap'd and parsed
 * once into one hash table (~160k keys, a few tens of milliseconds). */
#ifndef OVS_LEXICON_H
#define OVS_LEXICON_H

#include <stddef.h>
#include <stdint.h>

#include "entities/strmap.h"
#include "util/err.h"

enum { OVS_POS_N, OVS_POS_V, OVS_POS_A, OVS_POS_R, OVS_NPOS };
enum { OVS_LEX_PREFIX = 1 }; /* the key is a proper prefix of a noun collocation (at a '_') */

typedef struct ovs_lex_info {
    uint8_t pos;               /* bit p set: the key is a lemma of part of speech p */
    uint8_t flags;             /* OVS_LEX_PREFIX */
    uint16_t tagsense[OVS_NPOS]; /* senses tagged in SemCor: how common each part of speech is */
    int32_t exc[3];            /* base form (key index) from noun/verb/adj .exc, -1 if none */
} ovs_lex_info;

typedef struct ovs_lex {
    ovs_strmap map;
    ovs_lex_info *info; /* parallel to map keys */
    uint32_t info_cap;
    uint64_t version;   /* hash of the files read */
    char dir[1024];
} ovs_lex;

#define OVS_WORDNET_DIR "/usr/share/wordnet"

/* Loads WordNet from dir (index.* and *.exc). Errors name the file. */
int ovs_lex_load(ovs_lex *lx, const char *dir, ovs_err *e);
void ovs_lex_free(ovs_lex *lx);

static inline const ovs_lex_info *ovs_lex_get(const ovs_lex *lx, const char *w, size_t n) {
    int32_t i = ovs_strmap_find(&lx->map, w, n);
    return i < 0 ? NULL : &lx->info[i];
}

/* morphy: the base form of the lowercase word w[0..n) for part of speech pos, as a key index whose
 * info has that pos, or -1. Order: exception list, suffix rules, the word itself (nouns: a word that
 * does not end in 's' is its own base first). */
int32_t ovs_lex_morphy(const ovs_lex *lx, const char *w, size_t n, int pos);

#endif
