/* extract.h — entities from a caption: tokenise, tag each token with a coarse part of speech
 * (WordNet candidates + function-word list, best sequence by a small Viterbi pass), join WordNet
 * multi-word nouns greedily, find noun phrases with a PCRE2 (JIT) pattern over the tag string, and
 * name each head noun by its morphy lemma mapped through synonyms, dropping stop-nouns.
 *
 *   ovs_ent_rules *r;  ovs_ent_rules_load(&r, NULL, &lex, &e);     // embedded rule files
 *   ovs_extractor *x = ovs_extractor_new(r);                        // one per thread
 *   size_t n; const ovs_entity *ents = ovs_extract(x, caption, strlen(caption), &n);
 *
 * Rules are read-only once loaded and shared by threads; an extractor caches the analysis of
 * every distinct word it has seen, so it is fast after the first few thousand captions. */
#ifndef OVS_EXTRACT_H
#define OVS_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

#include "entities/lexicon.h"
#include "util/buf.h"
#include "util/err.h"

typedef struct ovs_ent_rules ovs_ent_rules;
typedef struct ovs_extractor ovs_extractor;

typedef struct ovs_entity {
    const char *name;   /* NUL-terminated, valid as long as the extractor */
    uint32_t name_len;
    uint32_t start, end; /* byte span in the caption: [start, end) */
    uint32_t name_id;    /* dense index of the name within this extractor (for caching lookups) */
} ovs_entity;

/* The three rule files, compiled into the binary (entities/embed_data.sh). */
extern const char ovs_ent_rules_txt[], ovs_ent_synonyms_txt[], ovs_ent_stopnouns_txt[];

/* Loads rules.txt, synonyms.txt, stopnouns.txt from dir (NULL: the embedded copies). lex must
 * outlive the rules. Errors name file:line. */
int ovs_ent_rules_load(ovs_ent_rules **out, const char *dir, const ovs_lex *lex, ovs_err *e);
void ovs_ent_rules_free(ovs_ent_rules *r);
/* 16 hex digits: hash of the three files and WordNet; stored in samples.entities_version. */
const char *ovs_ent_rules_version(const ovs_ent_rules *r);
/* The synonym name of a lemma (itself when it has none); for evaluation tools. */
const char *ovs_ent_canonical(const ovs_ent_rules *r, const char *lemma, size_t n);

ovs_extractor *ovs_extractor_new(const ovs_ent_rules *r);
void ovs_extractor_free(ovs_extractor *x);
/* Entities of caption[0..len) in caption order; NULL with *n = 0 when none (or out of memory).
 * The array is reused by the next call. */
const ovs_entity *ovs_extract(ovs_extractor *x, const char *caption, size_t len, size_t *n);
/* Appends "token/TAG ..." and the entities of the caption to out (for --explain). */
int ovs_extract_explain(ovs_extractor *x, const char *caption, size_t len, ovs_buf *out);

#endif
