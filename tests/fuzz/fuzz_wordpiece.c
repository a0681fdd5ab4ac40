/* fuzz_wordpiece.c — fuzz target: vocab.txt loading and the WordPiece tokenizer.
 * First byte even: the rest is caption text, tokenized with the real BERT vocabulary (or a small
 * built-in one when the venv's is absent), packed, masked over spans taken from the input, and
 * split into basic words. First byte odd: the rest is a vocab.txt, loaded and used on a caption. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shards/wordpiece.h"
#include "tests/fuzz/fuzz_memfile.h"

#define BERT_VOCAB ".venv/minilm/vocab.txt"
static const char SMALL_VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nthe\ndog\n##s\ncat\n.\n,\n##ing\nrun\n";

static int count_word(void *ctx, const char *w, size_t n) {
    (void)w;
    *(size_t *)ctx += n;
    return 0;
}

static void check_toks(const ovs_wordpiece *wp, const ovs_wp_toks *t, size_t n) {
    for (int i = 0; i < t->n; i++) {
        const ovs_wp_token *k = &t->t[i];
        if (k->id < 0 || k->id >= ovs_wp_vocab_size(wp) || k->start < 0 || k->end < k->start || (size_t)k->end > n)
            abort();
    }
}

static void use(const ovs_wordpiece *wp, const char *text, size_t n) {
    ovs_wp_toks t = {0}, q = {0};
    if (ovs_wp_tokenize(wp, text, n, &t) == 0) {
        check_toks(wp, &t, n);
        ovs_wp_span sp[4];
        int ns = 0;
        for (int i = 0; i + 1 < (int)n && ns < 4; i += 7, ns++) {
            sp[ns].start = (unsigned char)text[i] % (int)(n + 1);
            sp[ns].end = sp[ns].start + (unsigned char)text[i + 1] % 16;
        }
        ovs_wp_mask_spans(wp, &t, sp, ns, n & 1, &q);
        int32_t ids[OVS_WP_MAX_LEN], mask[OVS_WP_MAX_LEN];
        int real = ovs_wp_pack(wp, q.t, q.n, OVS_WP_MAX_LEN, ids, mask);
        if (real < 0 || real > OVS_WP_MAX_LEN) abort();
        char *z = malloc(n + 1); /* ovs_wp_encode takes a C string */
        memcpy(z, text, n);
        z[n] = 0;
        if (ovs_wp_encode(wp, z, OVS_WP_MAX_LEN, ids, mask, &t) > OVS_WP_MAX_LEN) abort();
        free(z);
    }
    size_t total = 0;
    ovs_wp_basic_words(text, n, count_word, &total);
    ovs_wp_toks_free(&t);
    ovs_wp_toks_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ovs_wordpiece *fixed;
    ovs_err e;
    if (!fixed && ovs_wp_load(&fixed, BERT_VOCAB, &e) &&
        ovs_wp_load(&fixed, fuzz_memfile(SMALL_VOCAB, sizeof SMALL_VOCAB - 1), &e))
        abort();
    if (size == 0) return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    if (!(data[0] & 1)) {
        use(fixed, rest, n);
        return 0;
    }
    ovs_wordpiece *wp;
    if (ovs_wp_load(&wp, fuzz_memfile(rest, n), &e)) return 0;
    for (int i = 0; i < ovs_wp_vocab_size(wp) && i < 64; i++) {
        const char *s = ovs_wp_token_str(wp, i);
        if (s && ovs_wp_id(wp, s) < 0) abort();
    }
    static const char cap[] = "A dog's [MASK] running, the CATS\xc3\xa9 \xe4\xb8\xad unaffable";
    use(wp, cap, sizeof cap - 1);
    ovs_wp_free(wp);
    return 0;
}
