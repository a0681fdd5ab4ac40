/* wordpiece.h — the BERT-uncased WordPiece tokenizer over a standard vocab.txt (one token a line,
 * id = line number from 0), giving the same ids as Hugging Face's BertTokenizerFast with
 * do_lower_case=True: special tokens matched in the raw text, clean text (drop NUL, U+FFFD and control
 * characters, whitespace -> ' '), CJK ideographs as separate words, accent stripping (NFD, drop Mn),
 * lower-casing, split on whitespace and punctuation, greedy longest-match WordPiece with "##"
 * continuations, [UNK] for a word over 100 characters or one that cannot be pieced.
 * Every token carries the byte span of the input it came from (char-offset mapping), so entity
 * spans of a caption map to word pieces. The tokenizer is read-only after loading: threads share it. */
#ifndef OVS_WORDPIECE_H
#define OVS_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct ovs_wordpiece ovs_wordpiece;

typedef struct ovs_wp_token {
    int32_t id;
    int32_t start, end; /* byte span in the input text [start, end) */
    int32_t word;       /* index of the whitespace-separated word of the input it belongs to */
} ovs_wp_token;

/* A growable token list; reuse one per thread to avoid allocations. */
typedef struct ovs_wp_toks {
    ovs_wp_token *t;
    int n, cap;
} ovs_wp_toks;

typedef struct ovs_wp_span { int32_t start, end; } ovs_wp_span; /* byte span [start, end) */

enum { OVS_WP_MAX_LEN = 77, OVS_WP_MAX_WORD_CHARS = 100 };

/* Loads vocab.txt. It must contain [PAD] [UNK] [CLS] [SEP] [MASK]. */
int ovs_wp_load(ovs_wordpiece **wp, const char *vocab_path, ovs_err *e);
void ovs_wp_free(ovs_wordpiece *wp);
int ovs_wp_vocab_size(const ovs_wordpiece *wp);
/* Id of a token string, -1 when not in the vocabulary. */
int ovs_wp_id(const ovs_wordpiece *wp, const char *tok);
const char *ovs_wp_token_str(const ovs_wordpiece *wp, int id);
/* The special ids. */
int ovs_wp_pad(const ovs_wordpiece *wp);
int ovs_wp_unk(const ovs_wordpiece *wp);
int ovs_wp_cls(const ovs_wordpiece *wp);
int ovs_wp_sep(const ovs_wordpiece *wp);
int ovs_wp_mask(const ovs_wordpiece *wp);

/* Tokenizes text (n bytes of UTF-8; invalid bytes count as U+FFFD and vanish) into word pieces,
 * without [CLS]/[SEP] and without truncation; replaces the contents of out. 0 or OVS_EINTERNAL (OOM). */
int ovs_wp_tokenize(const ovs_wordpiece *wp, const char *text, size_t n, ovs_wp_toks *out);

/* Packs tokens as the model input: [CLS] t[0..L-3] [SEP] [PAD]..., mask 1 on real tokens.
 * Returns the number of real tokens (<= L). */
int ovs_wp_pack(const ovs_wordpiece *wp, const ovs_wp_token *t, int n, int L, int32_t *ids, int32_t *mask);

/* Tokenize + pack (scratch may be NULL: then it allocates). Returns real tokens, or -1 on OOM. */
int ovs_wp_encode(const ovs_wordpiece *wp, const char *text, int L, int32_t *ids, int32_t *mask, ovs_wp_toks *scratch);

/* The masked-entity "question": tokens whose byte span overlaps an entity span become [MASK].
 * per_piece = 0 (OVSegmentor's rule): one [MASK] per whitespace-separated word of the caption that
 * overlaps a span (the word's pieces inside the span collapse into one [MASK]; pieces of that word
 * outside every span, like "'s" of "dog's", stay). per_piece = 1: one [MASK] per word piece.
 * Replaces the contents of out with the question's tokens (not packed). */
int ovs_wp_mask_spans(const ovs_wordpiece *wp, const ovs_wp_toks *caption, const ovs_wp_span *spans, int nspans,
                      int per_piece, ovs_wp_toks *out);

void ovs_wp_toks_free(ovs_wp_toks *t);

/* BERT's basic tokenisation alone (no vocabulary): calls fn with each normalised word (UTF-8, not
 * NUL-terminated; words over 100 characters are left out). Stops at fn's first non-zero return. */
int ovs_wp_basic_words(const char *text, size_t n, int (*fn)(void *ctx, const char *word, size_t len), void *ctx);

#endif
