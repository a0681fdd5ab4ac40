/* test_entities_quality.c — precision and recall of head-noun entities on the hand-labelled gold
 * captions (tests/data/entities-gold.tsv) must both be >= 0.90; on the 73 CC4M classes the
 * extractor must find at least as many as OVSegmentor's exact-word filter. With --report, prints
 * the figures and every error instead (used by tests/bench/bench_entities.sh). */
#include "tests/check.h"
#include "tests/entities_eval.h"

static ovs_lex lex;
static ovs_ent_rules *rules;
static ovs_extractor *ext;

TEST(entities_gold_precision_and_recall_at_least_090) {
    eval_result r;
    CHECK(eval_gold("tests/data/entities-gold.tsv", rules, ext, &r, NULL) == 0);
    CHECK(r.captions >= 300);
    double p = eval_ratio(r.tp, r.fp), rc = eval_ratio(r.tp, r.fn);
    printf("head nouns: precision %.3f recall %.3f on %d captions\n", p, rc, r.captions);
    CHECK_MSG(p >= 0.90, "precision %.3f < 0.90", p);
    CHECK_MSG(rc >= 0.90, "recall %.3f < 0.90", rc);
}

TEST(entities_class_recall_beats_exact_word_match) {
    eval_result r;
    CHECK(eval_gold("tests/data/entities-gold.tsv", rules, ext, &r, NULL) == 0);
    double ours = eval_ratio(r.c_tp, r.c_fn), exact = eval_ratio(r.x_tp, r.x_fn);
    CHECK_MSG(ours >= exact, "73-class recall %.3f below exact match %.3f", ours, exact);
    CHECK_MSG(ours >= 0.90, "73-class recall %.3f < 0.90", ours);
}

int main(int argc, char **argv) {
    ovs_err e = {0};
    if (ovs_lex_load(&lex, OVS_WORDNET_DIR, &e) || ovs_ent_rules_load(&rules, NULL, &lex, &e)) {
        printf("FAIL entities_setup: %s\n", e.msg);
        return 1;
    }
    ext = ovs_extractor_new(rules);
    if (argc > 1 && !strcmp(argv[1], "--report")) {
        eval_result r;
        if (eval_gold("tests/data/entities-gold.tsv", rules, ext, &r, argc > 2 ? stderr : NULL)) return 1;
        printf("| method (on %d hand-labelled captions) | head-noun P | head-noun R | 73-class P | 73-class R |\n", r.captions);
        printf("|---|---|---|---|---|\n");
        printf("| ovseg entities (WordNet + PCRE2 rules) | %.3f | %.3f | %.3f | %.3f |\n", eval_ratio(r.tp, r.fp),
               eval_ratio(r.tp, r.fn), eval_ratio(r.c_tp, r.c_fp), eval_ratio(r.c_tp, r.c_fn));
        printf("| OVSegmentor exact match (100 words) | - | - | %.3f | %.3f |\n", eval_ratio(r.x_tp, r.x_fp),
               eval_ratio(r.x_tp, r.x_fn));
        if (!eval_gold("tests/data/entities-heldout.tsv", rules, ext, &r, argc > 2 ? stderr : NULL))
            printf("| held out (%d captions labelled after the rules were tuned) | %.3f | %.3f | %.3f | %.3f |\n", r.captions,
                   eval_ratio(r.tp, r.fp), eval_ratio(r.tp, r.fn), eval_ratio(r.c_tp, r.c_fp), eval_ratio(r.c_tp, r.c_fn));
    } else {
        RUN(entities_gold_precision_and_recall_at_least_090);
        RUN(entities_class_recall_beats_exact_word_match);
    }
    ovs_extractor_free(ext);
    ovs_ent_rules_free(rules);
    ovs_lex_free(&lex);
    return check_done();
}
