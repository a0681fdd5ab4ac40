/* test_entities.c — the extractor: spans, lemmas, multi-word nouns, synonyms, stop-nouns, the
 * <PERSON> placeholder, bad input (huge, punctuation, emoji, foreign text, invalid UTF-8), rule
 * files from a folder (override, errors naming file:line) and the rules version. */
#include "entities/extract.h"
#include "tests/check.h"
#include "util/fsutil.h"

static ovs_lex lex;
static ovs_ent_rules *rules;
static ovs_extractor *ext;

/* "name[start,end) ..." of a caption's entities. */
static const char *ents(const char *cap) {
    static char out[4096];
    size_t n, k = 0;
    const ovs_entity *en = ovs_extract(ext, cap, strlen(cap), &n);
    out[0] = 0;
    for (size_t i = 0; i < n && k < sizeof out - 100; i++)
        k += (size_t)snprintf(out + k, sizeof out - k, "%s%s[%u,%u)", i ? " " : "", en[i].name, en[i].start, en[i].end);
    return out;
}

/* 1 if every entity has a sane name and a span inside the caption. */
static int sane(const char *cap, size_t len) {
    size_t n;
    const ovs_entity *en = ovs_extract(ext, cap, len, &n);
    for (size_t i = 0; i < n; i++) {
        if (en[i].start >= en[i].end || en[i].end > len || !en[i].name_len) return 0;
        for (const char *c = en[i].name; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || *c == ' ' || *c == '-')) return 0;
    }
    return 1;
}

TEST(entities_spans_lemmas_and_person_placeholder) {
    CHECK_STR(ents("A <PERSON> walks his dogs on a beach"), "people[2,10) dog[21,25) beach[31,36)");
    CHECK_STR(ents("two men and three children with glasses"), "people[4,7) people[18,26) glasses[32,39)");
    CHECK_STR(ents("Buses and Dogs."), "bus[0,5) dog[10,14)");
}

TEST(entities_multiword_nouns_and_synonyms) {
    CHECK_STR(ents("a teddy bear next to hot dogs"), "teddy bear[2,12) hot dog[21,29)");
    CHECK_STR(ents("close - up of a t - shirt on a couch"), "shirt[16,25) sofa[31,36)");
    CHECK_STR(ents("an airplane over the television"), "aeroplane[3,11) tv[21,31)");
    CHECK_STR(ents("the white house"), "house[10,15)"); /* adjective-first: not joined */
}

TEST(entities_stop_nouns_end_phrases) {
    CHECK_STR(ents("photo of a dog on a white background"), "dog[11,14)");
    CHECK_STR(ents("night sky background"), "sky[6,9)");
    CHECK_STR(ents("stock vector illustration"), "");
}

TEST(entities_heads_not_modifiers_and_verbs_not_nouns) {
    CHECK_STR(ents("a garbage truck on the road"), "garbage truck[2,15) road[23,27)");
    CHECK_STR(ents("city streets at night"), "street[5,12) night[16,21)");
    CHECK_STR(ents("the plane flies across the sky"), "aeroplane[4,9) sky[27,30)");
    CHECK_STR(ents("woman sitting in a chair"), "people[0,5) chair[19,24)");
    CHECK_STR(ents("pair of bright orange modern sneakers"), "sneaker[29,37)");
}

TEST(entities_bad_input_no_crash_no_garbage) {
    size_t big = 1 << 20;
    char *s = malloc(big + 1);
    for (size_t i = 0; i < big; i++) s[i] = "dog and cat , "[i % 14];
    s[big] = 0;
    size_t n;
    const ovs_entity *en = ovs_extract(ext, s, big, &n);
    CHECK(n > 100000 && en && !strcmp(en[0].name, "dog") && en[n - 1].end <= big);
    CHECK(sane(s, big));
    memset(s, 'a', big); /* one huge word */
    CHECK(sane(s, big));
    free(s);
    CHECK_STR(ents("!!! ... ,,, ??? --- ### $$$ %%% &&& *** ((( )))"), "");
    CHECK_STR(ents("\xf0\x9f\x90\xb6\xf0\x9f\x8e\x89\xe2\x9d\xa4\xef\xb8\x8f"), ""); /* emoji */
    CHECK_STR(ents("Der Hund läuft im Park mit seinem Besitzer"), "");
    CHECK_STR(ents("Собака бежит по парку"), "");
    CHECK_STR(ents("一只狗在公园里跑"), "");
    CHECK_STR(ents("le chien court dans le jardin avec son maître"), "");
    CHECK(sane("dog \xff\xfe\x80 cat \xc3", 13));
    CHECK(sane("", 0));
    CHECK(sane("<PERSON", 7) && sane("<>", 2) && sane("'s 's '", 7) && sane("- - -", 5));
    CHECK(sane("1950s 20th 3d 4k 6,000 $20", 26));
}

TEST(entities_rules_from_folder_override_and_version) {
    ovs_err e = {0};
    const char *dir = check_tmpdir();
    char path[600];
    const char *names[3] = {"rules.txt", "synonyms.txt", "stopnouns.txt"};
    const char *texts[3] = {ovs_ent_rules_txt, ovs_ent_synonyms_txt, ovs_ent_stopnouns_txt};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        ovs_write_atomic(path, texts[k], strlen(texts[k]), &e);
    }
    ovs_ent_rules *same;
    CHECK_OK(ovs_ent_rules_load(&same, dir, &lex, &e), &e);
    CHECK_STR(ovs_ent_rules_version(same), ovs_ent_rules_version(rules));
    ovs_ent_rules_free(same);
    snprintf(path, sizeof path, "%s/synonyms.txt", dir);
    char *syn = malloc(strlen(ovs_ent_synonyms_txt) + 64);
    if (!syn) return;
    sprintf(syn, "%scanine: dog, puppy\n", ovs_ent_synonyms_txt);
    ovs_write_atomic(path, syn, strlen(syn), &e);
    free(syn);
    ovs_ent_rules *edited;
    CHECK_OK(ovs_ent_rules_load(&edited, dir, &lex, &e), &e);
    CHECK(strcmp(ovs_ent_rules_version(edited), ovs_ent_rules_version(rules)) != 0);
    ovs_extractor *x = ovs_extractor_new(edited);
    size_t n;
    const ovs_entity *en = ovs_extract(x, "a puppy and a dog", 17, &n);
    CHECK(n == 2 && !strcmp(en[0].name, "canine") && !strcmp(en[1].name, "canine"));
    ovs_extractor_free(x);
    ovs_ent_rules_free(edited);
    snprintf(path, sizeof path, "%s/rules.txt", dir);
    const char *bad = "chunk (?<head>N)\nfrobnicate x\n";
    ovs_write_atomic(path, bad, strlen(bad), &e);
    CHECK_EQ_INT(ovs_ent_rules_load(&edited, dir, &lex, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "rules.txt:2") && strstr(e.msg, "frobnicate"), "message: %s", e.msg);
    bad = "chunk (?<head>N\n";
    ovs_write_atomic(path, bad, strlen(bad), &e);
    CHECK_EQ_INT(ovs_ent_rules_load(&edited, dir, &lex, &e), OVS_EUSER);
    CHECK_MSG(strstr(e.msg, "chunk pattern"), "message: %s", e.msg);
}

TEST(entities_wordnet_missing_names_the_folder) {
    ovs_err e = {0};
    ovs_lex l2;
    CHECK_EQ_INT(ovs_lex_load(&l2, "/nonexistent/wn", &e), OVS_EUSER);
    CHECK(strstr(e.msg, "/nonexistent/wn/index.noun") && strstr(e.msg, "--wordnet"));
}

TEST(entities_morphy) {
    char b[64];
    struct { const char *w; int pos; const char *base; } cases[] = {
        {"men", OVS_POS_N, "man"}, {"children", OVS_POS_N, "child"}, {"buses", OVS_POS_N, "bus"},
        {"boxes", OVS_POS_N, "box"}, {"berries", OVS_POS_N, "berry"}, {"glass", OVS_POS_N, "glass"},
        {"sitting", OVS_POS_V, "sit"}, {"walked", OVS_POS_V, "walk"}, {"ran", OVS_POS_V, "run"},
        {"bigger", OVS_POS_A, "big"}, {"teddy_bears", OVS_POS_N, "teddy_bear"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int32_t k = ovs_lex_morphy(&lex, cases[i].w, strlen(cases[i].w), cases[i].pos);
        snprintf(b, sizeof b, "%s", k >= 0 ? ovs_strmap_str(&lex.map, k) : "(none)");
        CHECK_MSG(!strcmp(b, cases[i].base), "morphy(%s) = %s, want %s", cases[i].w, b, cases[i].base);
    }
}

int main(void) {
    ovs_err e = {0};
    if (ovs_lex_load(&lex, OVS_WORDNET_DIR, &e) || ovs_ent_rules_load(&rules, NULL, &lex, &e)) {
        printf("FAIL entities_setup: %s\n", e.msg);
        return 1;
    }
    ext = ovs_extractor_new(rules);
    RUN(entities_spans_lemmas_and_person_placeholder);
    RUN(entities_multiword_nouns_and_synonyms);
    RUN(entities_stop_nouns_end_phrases);
    RUN(entities_heads_not_modifiers_and_verbs_not_nouns);
    RUN(entities_bad_input_no_crash_no_garbage);
    RUN(entities_rules_from_folder_override_and_version);
    RUN(entities_wordnet_missing_names_the_folder);
    RUN(entities_morphy);
    ovs_extractor_free(ext);
    ovs_ent_rules_free(rules);
    ovs_lex_free(&lex);
    return check_done();
}
