/* entities_eval.h — scoring the extractor against tests/data/entities-gold.tsv (hand-labelled head
 * nouns of 300 real CC3M captions), and OVSegmentor's own CC4M filter (NLTK-like tokens, exact
 * case-sensitive match against its 100 words, mapped to 73 classes) on the same captions. Shared by
 * tests/test_entities_quality.c (thresholds) and the benchmark (report). */
#ifndef OVS_ENTITIES_EVAL_H
#define OVS_ENTITIES_EVAL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entities/extract.h"

/* OVSegmentor's TOP_CLASSES_1 (100 words) and what its syn_dict maps each to (its 73 classes). */
static const char *const OVSEG_WORDS[][2] = {
    {"people", "people"}, {"man", "people"}, {"men", "people"}, {"woman", "people"}, {"women", "people"},
    {"girl", "people"}, {"boy", "people"}, {"lady", "people"}, {"kid", "people"}, {"child", "people"},
    {"children", "people"}, {"baby", "people"}, {"student", "people"}, {"bride", "people"}, {"groom", "people"},
    {"couple", "people"}, {"prince", "people"}, {"princess", "people"}, {"car", "car"}, {"bus", "bus"},
    {"truck", "truck"}, {"motorcycle", "motorcycle"}, {"train", "train"}, {"bicycle", "bicycle"}, {"boat", "boat"},
    {"aeroplane", "aeroplane"}, {"airplane", "aeroplane"}, {"motorbike", "motorcycle"}, {"bike", "bicycle"},
    {"cup", "cup"}, {"bottle", "bottle"}, {"bowl", "bowl"}, {"knife", "knife"}, {"spoon", "spoon"}, {"glass", "glass"},
    {"fork", "fork"}, {"chair", "chair"}, {"table", "table"}, {"bench", "bench"}, {"clock", "clock"},
    {"laptop", "laptop"}, {"light", "light"}, {"vase", "vase"}, {"plant", "plant"}, {"remote", "remote"},
    {"microwave", "microwave"}, {"toaster", "toaster"}, {"oven", "oven"}, {"mouse", "mouse"}, {"keyboard", "keyboard"},
    {"sofa", "sofa"}, {"monitor", "monitor"}, {"desk", "table"}, {"tv", "tv"}, {"TV", "tv"}, {"couch", "sofa"},
    {"flower", "flower"}, {"refrigerator", "refrigerator"}, {"house", "house"}, {"building", "house"},
    {"hotel", "house"}, {"handbag", "bag"}, {"umbrella", "umbrella"}, {"book", "book"}, {"backpack", "backpack"},
    {"phone", "phone"}, {"shirt", "shirt"}, {"tie", "tie"}, {"suitcase", "suitcase"}, {"T-shirt", "shirt"},
    {"bag", "bag"}, {"box", "box"}, {"sink", "sink"}, {"bed", "bed"}, {"toilet", "toilet"}, {"cat", "cat"},
    {"dog", "dog"}, {"horse", "horse"}, {"bird", "bird"}, {"cow", "cow"}, {"sheep", "sheep"}, {"elephant", "elephant"},
    {"bear", "bear"}, {"zebra", "zebra"}, {"giraffe", "giraffe"}, {"ball", "ball"}, {"racket", "racket"},
    {"skateboard", "skateboard"}, {"skis", "skis"}, {"snowboard", "snowboard"}, {"surfboard", "surfboard"},
    {"kite", "kite"}, {"pizza", "pizza"}, {"cake", "cake"}, {"apple", "apple"}, {"banana", "banana"},
    {"sandwich", "sandwich"}, {"orange", "orange"}, {"carrot", "carrot"}, {"donut", "donut"}, {NULL, NULL}};

static int eval_is_class(const char *name) {
    for (int i = 0; OVSEG_WORDS[i][0]; i++)
        if (!strcmp(OVSEG_WORDS[i][1], name)) return 1;
    return 0;
}

/* A small set of short strings (one caption's entities). */
typedef struct eval_set { char v[64][48]; int n; } eval_set;

static void eval_add(eval_set *s, const char *w, size_t n) {
    if (n >= 48 || s->n == 64) return;
    for (int i = 0; i < s->n; i++)
        if (strlen(s->v[i]) == n && !memcmp(s->v[i], w, n)) return;
    memcpy(s->v[s->n], w, n);
    s->v[s->n++][n] = 0;
}

static int eval_has(const eval_set *s, const char *w) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], w)) return 1;
    return 0;
}

/* The head word of an entity name: its last word ("teddy bear" -> "bear"). */
static void eval_add_head(eval_set *s, const char *name) {
    const char *sp = strrchr(name, ' ');
    const char *h = sp ? sp + 1 : name;
    eval_add(s, h, strlen(h));
}

/* OVSegmentor's filter: NLTK-like tokens (split on spaces, punctuation split off the ends, "'s"
 * split), exact case-sensitive match against the 100 words, mapped to the 73 classes. */
static void eval_exact_match(const char *cap, eval_set *out) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%.4095s", cap);
    for (char *t = strtok(buf, " \t"); t; t = strtok(NULL, " \t")) {
        size_t n = strlen(t);
        while (n && strchr(".,!?;:\"()[]", t[n - 1])) t[--n] = 0;
        while (*t && strchr(".,!?;:\"()[]'", *t)) t++, n--;
        if (n > 2 && !strcmp(t + n - 2, "'s")) t[n -= 2] = 0;
        for (int i = 0; OVSEG_WORDS[i][0]; i++)
            if (!strcmp(OVSEG_WORDS[i][0], t)) eval_add(out, OVSEG_WORDS[i][1], strlen(OVSEG_WORDS[i][1]));
    }
}

typedef struct eval_result {
    int captions;
    long tp, fp, fn;                 /* head nouns */
    long c_tp, c_fp, c_fn;           /* ours on the 73 classes */
    long x_tp, x_fp, x_fn;           /* exact match on the 73 classes */
} eval_result;

/* Scores gold_path; prints each caption's errors to err when not NULL. Returns 0 or -1 (no file). */
static int eval_gold(const char *gold_path, const ovs_ent_rules *r, ovs_extractor *x, eval_result *res, FILE *err) {
    memset(res, 0, sizeof *res);
    FILE *f = fopen(gold_path, "r");
    if (!f) return -1;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *cap = line;
        eval_set gold = {0}, pred = {0}, exact = {0};
        for (char *l = strtok(tab + 1, ","); l; l = strtok(NULL, ",")) {
            const char *c = ovs_ent_canonical(r, l, strlen(l));
            eval_add_head(&gold, c ? c : l);
        }
        size_t n;
        const ovs_entity *en = ovs_extract(x, cap, strlen(cap), &n);
        for (size_t i = 0; i < n; i++) eval_add_head(&pred, en[i].name);
        eval_exact_match(cap, &exact);
        res->captions++;
        for (int i = 0; i < pred.n; i++) {
            int ok = eval_has(&gold, pred.v[i]);
            res->tp += ok, res->fp += !ok;
            if (err && !ok) fprintf(err, "  extra   %-14s | %s\n", pred.v[i], cap);
            if (eval_is_class(pred.v[i])) res->c_tp += ok, res->c_fp += !ok;
        }
        for (int i = 0; i < gold.n; i++) {
            int ok = eval_has(&pred, gold.v[i]);
            res->fn += !ok;
            if (err && !ok) fprintf(err, "  missed  %-14s | %s\n", gold.v[i], cap);
            if (eval_is_class(gold.v[i])) res->c_fn += !ok, res->x_fn += !eval_has(&exact, gold.v[i]);
        }
        for (int i = 0; i < exact.n; i++) {
            int ok = eval_has(&gold, exact.v[i]);
            res->x_tp += ok, res->x_fp += !ok;
        }
    }
    fclose(f);
    return 0;
}

static double eval_ratio(long a, long b) { return a + b ? (double)a / (double)(a + b) : 0.0; }

#endif
