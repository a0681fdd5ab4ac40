/* extract.c — the per-caption pipeline of extract.h: tokenise, analyse each distinct word once
 * (cached), join multi-word nouns, Viterbi tagging, PCRE2 chunking, entity naming. */
#include "entities/extract.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "entities/rules.h"

#define NEG (-1e30f)
enum { MAX_WORD = 48, MAX_COLLOC = 4 };
enum { INFO_PUNCT = 0, INFO_NUMBER = 1 };

typedef struct winfo {
    float emit[OVS_NT];  /* log emission score per tag; NEG = impossible */
    const char *name;    /* entity name when a noun that is not a stop-noun */
    uint32_t name_len, name_id;
    int32_t nbase;       /* lexicon key of the noun base form, -1 */
    uint8_t prefix;      /* may start a multi-word noun */
    uint8_t adj;         /* can be an adjective (multi-word nouns it starts need a 'colloc' line) */
    uint8_t closed;      /* a function word */
    uint8_t known;       /* a function word or a WordNet lemma form */
    uint8_t stop;        /* a stop-noun: tagged M after Viterbi, so it ends noun phrases */
    uint8_t plural;      /* a plural noun form (dogs, children) */
    float nv_shift;      /* log factor moving weight from N to V after a plural noun (0: not N/V) */
} winfo;

typedef struct tok {
    uint32_t start, end;  /* span in the caption */
    uint32_t form, flen;  /* lowercase form in x->lower */
    int32_t info;
    uint8_t word;         /* a word (not punctuation or number) */
} tok;

struct ovs_extractor {
    const ovs_ent_rules *r;
    pcre2_match_data *md;
    ovs_strmap cache; /* lowercase form (or collocation key) -> info index */
    winfo *info;
    uint32_t info_cap;
    ovs_strmap names; /* interned entity names */
    char *lower;
    size_t lower_cap;
    tok *toks;
    size_t ntok, tok_cap;
    char *tags;
    uint8_t *back;
    float *score;
    size_t vcap;
    ovs_entity *ents;
    size_t nent, ent_cap;
};

/* ── word analysis ───────────────────────────────────────────────────────────────────────── */

static int32_t new_info(ovs_extractor *x, const char *key, size_t n, int *added) {
    int32_t i = ovs_strmap_add(&x->cache, key, n, added);
    if (i < 0) return -1;
    if ((uint32_t)i >= x->info_cap) {
        uint32_t cap = x->info_cap ? x->info_cap * 2 : 4096;
        winfo *in = realloc(x->info, cap * sizeof *in);
        if (!in) return -1;
        x->info = in;
        x->info_cap = cap;
    }
    if (*added) {
        winfo *w = &x->info[i];
        memset(w, 0, sizeof *w);
        for (int t = 0; t < OVS_NT; t++) w->emit[t] = NEG;
        w->nbase = -1;
    }
    return i;
}

/* Names the noun with lemma s[0..n): synonyms, then stop-nouns (before and after). */
static void set_name(ovs_extractor *x, winfo *w, const char *s, size_t n) {
    const ovs_ent_rules *r = x->r;
    w->stop = 1;
    if (ovs_strmap_find(&r->stop, s, n) >= 0) return;
    int32_t si = ovs_strmap_find(&r->syn_from, s, n);
    if (si >= 0) {
        s = ovs_strmap_str(&r->strings, r->syn_to[si]);
        n = strlen(s);
        if (ovs_strmap_find(&r->stop, s, n) >= 0) return;
    }
    int32_t k = ovs_strmap_add(&x->names, s, n, NULL);
    if (k < 0) return;
    w->stop = 0;
    w->name = ovs_strmap_str(&x->names, k);
    w->name_len = (uint32_t)n;
    w->name_id = (uint32_t)k;
}

static void set_noun_name(ovs_extractor *x, winfo *w, const char *form, size_t n) {
    const ovs_ent_rules *r = x->r;
    int32_t o = ovs_strmap_find(&r->lemma_from, form, n);
    if (o >= 0) {
        const char *l = ovs_strmap_str(&r->strings, r->lemma_to[o]);
        set_name(x, w, l, strlen(l));
        return;
    }
    const char *l = ovs_strmap_str(&r->lex->map, w->nbase);
    set_name(x, w, l, ovs_strmap_len(&r->lex->map, w->nbase));
}

static void analyse_closed(ovs_extractor *x, winfo *w, int32_t ci, const char *form, size_t n) {
    const ovs_ent_rules *r = x->r;
    uint16_t mask = r->closed_mask[ci];
    int k = __builtin_popcount(mask);
    for (int t = 0; t < OVS_NT; t++)
        if (mask & (1u << t)) w->emit[t] = k == 1 ? 0.0f : t == r->closed_first[ci] ? logf(0.8f) : logf(0.2f / (float)(k - 1));
    w->closed = w->known = 1;
    if (mask & (1u << OVS_T_N)) {
        w->nbase = ovs_lex_morphy(r->lex, form, n, OVS_POS_N);
        if (w->nbase >= 0) set_noun_name(x, w, form, n);
    }
}

static void analyse_open(ovs_extractor *x, winfo *w, const char *form, size_t n) {
    const ovs_ent_rules *r = x->r;
    const ovs_lex *lx = r->lex;
    const ovs_lex_info *self = ovs_lex_get(lx, form, n);
    w->prefix = self && (self->flags & OVS_LEX_PREFIX);
    static const int tag_of_pos[OVS_NPOS] = {OVS_T_N, OVS_T_V, OVS_T_A, OVS_T_R};
    double wt[OVS_NPOS] = {0}, sum = 0;
    for (int p = 0; p < OVS_NPOS; p++) {
        int32_t b = ovs_lex_morphy(lx, form, n, p);
        if (b < 0) continue;
        if (p == OVS_POS_N) w->nbase = b;
        wt[p] = pow(lx->info[b].tagsense[p] + 1.0, r->emission_power);
        sum += wt[p];
    }
    if (sum == 0) {
        w->emit[OVS_T_O] = 0;
        return;
    }
    if (wt[OVS_POS_V] > 0 && n > 4 && !memcmp(form + n - 3, "ing", 3)) { /* -ing: verb first */
        sum += wt[OVS_POS_V] * (r->ing_verb - 1);
        wt[OVS_POS_V] *= r->ing_verb;
    }
    w->plural = w->nbase >= 0 && (ovs_strmap_len(&lx->map, w->nbase) != n || memcmp(ovs_strmap_str(&lx->map, w->nbase), form, n));
    if (w->nbase >= 0 && wt[OVS_POS_V] > 0) w->nv_shift = logf(r->after_plural);
    w->known = 1;
    w->adj = wt[OVS_POS_A] > 0;
    for (int p = 0; p < OVS_NPOS; p++)
        if (wt[p] > 0) w->emit[tag_of_pos[p]] = (float)log(wt[p] / sum);
    if (w->nbase >= 0) set_noun_name(x, w, form, n);
}

/* The info index of a lowercase word form, analysed on first sight. */
static int32_t analyse(ovs_extractor *x, const char *form, size_t n) {
    int added;
    int32_t i = new_info(x, form, n, &added);
    if (i < 0 || !added) return i;
    winfo *w = &x->info[i];
    int ascii = n <= MAX_WORD;
    for (size_t k = 0; k < n && ascii; k++) ascii = (unsigned char)form[k] < 0x80;
    if (!ascii) {
        w->emit[OVS_T_O] = 0;
        return i;
    }
    for (size_t k = 0; k < n; k++)
        if (form[k] >= '0' && form[k] <= '9') { /* 1950s, 20th, 3d, 4k: like a number */
            w->emit[OVS_T_D] = 0;
            w->known = 1;
            return i;
        }
    int32_t ci = ovs_strmap_find(&x->r->closed, form, n);
    if (ci >= 0) analyse_closed(x, w, ci, form, n);
    else analyse_open(x, w, form, n);
    return i;
}

/* The info of a multi-word noun (key with '_'): a noun only. */
static int32_t analyse_colloc(ovs_extractor *x, const char *key, size_t n) {
    int added;
    int32_t i = new_info(x, key, n, &added);
    if (i < 0 || !added) return i;
    winfo *w = &x->info[i];
    w->emit[OVS_T_N] = 0;
    w->known = 1;
    char name[256];
    size_t m = n < sizeof name - 1 ? n : sizeof name - 1;
    for (size_t k = 0; k < m; k++) name[k] = key[k] == '_' ? ' ' : key[k];
    set_name(x, w, name, m);
    return i;
}

/* ── tokeniser ───────────────────────────────────────────────────────────────────────────── */

static int is_alnum(unsigned char c) { return (unsigned)((c | 32) - 'a') < 26u || (unsigned)(c - '0') < 10u; }
static int is_wordc(unsigned char c) { return is_alnum(c) || c >= 0x80; }
static int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }

static int push_tok(ovs_extractor *x, uint32_t start, uint32_t end, uint32_t form, uint32_t flen, int32_t info, int word) {
    if (x->ntok == x->tok_cap) {
        size_t cap = x->tok_cap ? x->tok_cap * 2 : 64;
        tok *t = realloc(x->toks, cap * sizeof *t);
        if (!t) return -1;
        x->toks = t;
        x->tok_cap = cap;
    }
    x->toks[x->ntok++] = (tok){start, end, form, flen, info, (uint8_t)word};
    return 0;
}

/* Length of a "<PERSON>"-style placeholder at s (uppercase letters in angle brackets), or 0. */
static size_t placeholder(const char *s, size_t n) {
    size_t j = 1;
    while (j < n && j < 24 && s[j] >= 'A' && s[j] <= 'Z') j++;
    return j > 1 && j < n && s[j] == '>' ? j + 1 : 0;
}

/* Length of a contraction at s ('s 'd 'll 're 've 'm 't followed by a non-letter), or 0. */
static size_t contraction(const char *s, size_t n) {
    static const char *const C[] = {"s", "d", "ll", "re", "ve", "m", "t", NULL};
    for (const char *const *c = C; *c; c++) {
        size_t k = strlen(*c);
        if (n > k && !strncasecmp(s + 1, *c, k) && (n == k + 1 || !is_alnum((unsigned char)s[k + 1]))) return k + 1;
    }
    return 0;
}

static int tokenise(ovs_extractor *x, const char *s, size_t n) {
    x->ntok = 0;
    if (n + 1 > x->lower_cap) {
        char *l = realloc(x->lower, n + 1);
        if (!l) return -1;
        x->lower = l;
        x->lower_cap = n + 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        x->lower[i] = (char)((unsigned)(c - 'A') < 26u ? c + 32 : c);
    }
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t j = i + 1, p;
        int rc;
        if (c <= ' ' || c == 0x7f) {
            i++;
            continue;
        }
        if (c == '<' && (p = placeholder(s + i, n - i))) {
            rc = push_tok(x, (uint32_t)i, (uint32_t)(i + p), (uint32_t)(i + 1), (uint32_t)(p - 2),
                          analyse(x, x->lower + i + 1, p - 2), 1);
            j = i + p;
        } else if (is_digit(c)) { /* a number: digits with inner , or . ; letters after make it a word */
            while (j < n && (is_digit((unsigned char)s[j]) || ((s[j] == ',' || s[j] == '.') && j + 1 < n && is_digit((unsigned char)s[j + 1])))) j++;
            if (j < n && is_wordc((unsigned char)s[j])) {
                while (j < n && is_wordc((unsigned char)s[j])) j++;
                rc = push_tok(x, (uint32_t)i, (uint32_t)j, (uint32_t)i, (uint32_t)(j - i), analyse(x, x->lower + i, j - i), 1);
            } else {
                rc = push_tok(x, (uint32_t)i, (uint32_t)j, (uint32_t)i, (uint32_t)(j - i), INFO_NUMBER, 0);
            }
        } else if (is_wordc(c) || (c == '\'' && (p = contraction(s + i, n - i)))) {
            while (j < n && (is_wordc((unsigned char)s[j]) || (s[j] == '-' && j + 1 < n && is_alnum((unsigned char)s[j + 1]) && c != '\''))) j++;
            rc = push_tok(x, (uint32_t)i, (uint32_t)j, (uint32_t)i, (uint32_t)(j - i), analyse(x, x->lower + i, j - i), 1);
        } else if (c == '\'' && x->ntok && x->toks[x->ntok - 1].end == i && x->toks[x->ntok - 1].word) {
            rc = push_tok(x, (uint32_t)i, (uint32_t)j, (uint32_t)i, 1, analyse(x, "'", 1), 1); /* plural possessive */
        } else {
            rc = push_tok(x, (uint32_t)i, (uint32_t)j, (uint32_t)i, 1, INFO_PUNCT, 0);
        }
        if (rc || x->toks[x->ntok - 1].info < 0) return -1;
        i = j;
    }
    return 0;
}

/* ── multi-word nouns ────────────────────────────────────────────────────────────────────── */

/* Appends '_' + s[0..n) to key (length *kl); 0 when it does not fit. */
static int key_add(char *key, size_t *kl, size_t cap, const char *s, size_t n) {
    if (*kl + n + 2 > cap) return 0;
    if (*kl) key[(*kl)++] = '_';
    memcpy(key + *kl, s, n);
    *kl += n;
    key[*kl] = 0;
    return 1;
}

/* "t - shirt", "close - up": a hyphenated WordNet noun written with spaces. Returns the info index
 * of the joined noun, or -1. */
static int32_t spaced_hyphen(ovs_extractor *x, size_t i) {
    if (i + 2 >= x->ntok) return -1;
    const tok *a = &x->toks[i], *h = &x->toks[i + 1], *b = &x->toks[i + 2];
    if (!a->word || !b->word || h->word || h->flen != 1 || x->lower[h->form] != '-') return -1;
    const ovs_lex *lx = x->r->lex;
    const winfo *wb = &x->info[b->info];
    const char *base = wb->nbase >= 0 ? ovs_strmap_str(&lx->map, wb->nbase) : x->lower + b->form;
    size_t bl = wb->nbase >= 0 ? ovs_strmap_len(&lx->map, wb->nbase) : b->flen;
    char key[256];
    if (a->flen + bl + 2 > sizeof key) return -1;
    memcpy(key, x->lower + a->form, a->flen);
    key[a->flen] = '-';
    memcpy(key + a->flen + 1, base, bl);
    const ovs_lex_info *li = ovs_lex_get(lx, key, a->flen + 1 + bl);
    if (!li || !(li->pos & (1u << OVS_POS_N))) return -1;
    return analyse_colloc(x, key, a->flen + 1 + bl);
}

/* Joins the longest WordNet multi-word noun starting at each token (greedy, left to right). */
static int join_collocations(ovs_extractor *x) {
    const ovs_lex *lx = x->r->lex;
    size_t out = 0;
    for (size_t i = 0; i < x->ntok; i++) {
        tok t = x->toks[i];
        int32_t hy = spaced_hyphen(x, i);
        if (hy >= 0) {
            t.info = hy;
            t.end = x->toks[i + 2].end;
            x->toks[out++] = t;
            i += 2;
            continue;
        }
        const winfo *w = &x->info[t.info];
        size_t best = 0, bestlen = 0;
        char key[256], bestkey[256];
        size_t kl = 0;
        if (t.word && w->prefix && !w->closed && key_add(key, &kl, sizeof key, x->lower + t.form, t.flen)) {
            for (size_t j = i + 1; j < x->ntok && j <= i + MAX_COLLOC; j++) {
                const tok *u = &x->toks[j];
                const winfo *wu = &x->info[u->info];
                if (!u->word || wu->closed) break;
                char cand[256];
                size_t cl = kl;
                memcpy(cand, key, kl + 1);
                const char *base = wu->nbase >= 0 ? ovs_strmap_str(&lx->map, wu->nbase) : x->lower + u->form;
                size_t bl = wu->nbase >= 0 ? ovs_strmap_len(&lx->map, wu->nbase) : u->flen;
                if (key_add(cand, &cl, sizeof cand, base, bl)) {
                    const ovs_lex_info *li = ovs_lex_get(lx, cand, cl);
                    if (li && (li->pos & (1u << OVS_POS_N)) && ovs_strmap_find(&x->r->nocolloc, cand, cl) < 0 &&
                        (!w->adj || ovs_strmap_find(&x->r->colloc, cand, cl) >= 0)) {
                        best = j;
                        bestlen = cl;
                        memcpy(bestkey, cand, cl + 1);
                    }
                }
                if (!key_add(key, &kl, sizeof key, x->lower + u->form, u->flen)) break;
                const ovs_lex_info *lk = ovs_lex_get(lx, key, kl);
                if (!lk || !(lk->flags & OVS_LEX_PREFIX)) break;
            }
        }
        if (best) {
            t.info = analyse_colloc(x, bestkey, bestlen);
            if (t.info < 0) return -1;
            t.end = x->toks[best].end;
            i = best;
        }
        x->toks[out++] = t;
    }
    x->ntok = out;
    return 0;
}

/* ── tagging and chunking ────────────────────────────────────────────────────────────────── */

static int viterbi(ovs_extractor *x) {
    size_t n = x->ntok;
    if (n + 1 > x->vcap) {
        size_t cap = (n + 1) * 2;
        char *tg = realloc(x->tags, cap);
        if (tg) x->tags = tg;
        uint8_t *b = realloc(x->back, cap * OVS_NT);
        if (b) x->back = b;
        float *s = realloc(x->score, cap * OVS_NT * sizeof *s);
        if (s) x->score = s;
        if (!tg || !b || !s) return -1;
        x->vcap = cap;
    }
    const ovs_ent_rules *r = x->r;
    float *sc = x->score;
    const winfo *w0 = &x->info[x->toks[0].info];
    for (int t = 0; t < OVS_NT; t++) sc[t] = r->trans[OVS_NT][t] + w0->emit[t];
    for (size_t i = 1; i < n; i++) {
        const winfo *w = &x->info[x->toks[i].info];
        float vbonus = w->nv_shift != 0 && x->info[x->toks[i - 1].info].plural ? w->nv_shift : 0;
        float *prev = sc + (i - 1) * OVS_NT, *cur = sc + i * OVS_NT;
        uint8_t *bk = x->back + i * OVS_NT;
        for (int t = 0; t < OVS_NT; t++) {
            if (w->emit[t] <= NEG) {
                cur[t] = 2 * NEG;
                bk[t] = 0;
                continue;
            }
            float best = prev[0] + r->trans[0][t];
            int arg = 0;
            for (int s = 1; s < OVS_NT; s++) {
                float v = prev[s] + r->trans[s][t];
                if (v > best) best = v, arg = s;
            }
            cur[t] = best + w->emit[t] + (t == OVS_T_V ? vbonus : 0);
            bk[t] = (uint8_t)arg;
        }
    }
    const float *last = sc + (n - 1) * OVS_NT;
    int arg = 0;
    for (int t = 1; t < OVS_NT; t++)
        if (last[t] + r->trans[t][OVS_NT] > last[arg] + r->trans[arg][OVS_NT]) arg = t;
    for (size_t i = n; i-- > 0;) {
        x->tags[i] = arg == OVS_T_N && x->info[x->toks[i].info].stop ? 'M' : OVS_TAGS[arg];
        if (i) arg = x->back[i * OVS_NT + arg];
    }
    x->tags[n] = 0;
    return 0;
}

static int push_entity(ovs_extractor *x, const tok *t, const winfo *w) {
    if (x->nent == x->ent_cap) {
        size_t cap = x->ent_cap ? x->ent_cap * 2 : 16;
        ovs_entity *en = realloc(x->ents, cap * sizeof *en);
        if (!en) return -1;
        x->ents = en;
        x->ent_cap = cap;
    }
    x->ents[x->nent++] = (ovs_entity){w->name, w->name_len, t->start, t->end, w->name_id};
    return 0;
}

/* Runs the chunk pattern over the tags and collects the named head nouns. */
static int chunk(ovs_extractor *x) {
    const ovs_ent_rules *r = x->r;
    PCRE2_SIZE off = 0, n = x->ntok;
    while (off < n) {
        int m = r->jit ? pcre2_jit_match(r->re, (PCRE2_SPTR)x->tags, n, off, 0, x->md, NULL)
                       : pcre2_match(r->re, (PCRE2_SPTR)x->tags, n, off, 0, x->md, NULL);
        if (m < 0) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
        PCRE2_SIZE hs = ov[2 * r->head_group], he = ov[2 * r->head_group + 1];
        if (hs != PCRE2_UNSET)
            for (PCRE2_SIZE k = hs; k < he; k++) {
                const winfo *w = &x->info[x->toks[k].info];
                if (x->tags[k] == 'N' && w->name && push_entity(x, &x->toks[k], w)) return -1;
            }
        off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    return 0;
}

/* Fewer known English words than rules' minknown percent: not English enough to tag. */
static int foreign(const ovs_extractor *x) {
    size_t words = 0, known = 0;
    for (size_t i = 0; i < x->ntok; i++)
        if (x->toks[i].word) {
            words++;
            known += x->info[x->toks[i].info].known;
        }
    return words >= 2 && known * 100 < (size_t)x->r->minknown * words;
}

static int run(ovs_extractor *x, const char *caption, size_t len) {
    x->nent = 0;
    if (tokenise(x, caption, len) || join_collocations(x)) return -1;
    if (!x->ntok || foreign(x)) return 1; /* no entities */
    if (viterbi(x)) return -1;
    return chunk(x);
}

const ovs_entity *ovs_extract(ovs_extractor *x, const char *caption, size_t len, size_t *n) {
    *n = 0;
    if (run(x, caption, len)) return NULL;
    *n = x->nent;
    return x->nent ? x->ents : NULL;
}

int ovs_extract_explain(ovs_extractor *x, const char *caption, size_t len, ovs_buf *out) {
    int rc = run(x, caption, len);
    if (rc < 0) return OVS_EINTERNAL;
    for (size_t i = 0; i < x->ntok; i++) {
        const tok *t = &x->toks[i];
        ovs_buf_printf(out, "%s%.*s/%c", i ? " " : "", (int)(t->end - t->start), caption + t->start,
                       rc == 1 ? '-' : x->tags[i]);
    }
    ovs_buf_puts(out, rc == 1 ? "\n  (not English enough: no entities)\n" : "\n ");
    for (size_t i = 0; i < x->nent; i++)
        ovs_buf_printf(out, " %s[%u,%u)", x->ents[i].name, x->ents[i].start, x->ents[i].end);
    if (rc != 1) ovs_buf_puts(out, "\n");
    return 0;
}

/* ── lifetime ────────────────────────────────────────────────────────────────────────────── */

ovs_extractor *ovs_extractor_new(const ovs_ent_rules *r) {
    ovs_extractor *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->r = r;
    x->md = pcre2_match_data_create_from_pattern(r->re, NULL);
    int a1, a2;
    if (!x->md || new_info(x, "\x01p", 2, &a1) != INFO_PUNCT || new_info(x, "\x01n", 2, &a2) != INFO_NUMBER) {
        ovs_extractor_free(x);
        return NULL;
    }
    x->info[INFO_PUNCT].emit[OVS_T_O] = 0;
    x->info[INFO_NUMBER].emit[OVS_T_D] = 0;
    x->info[INFO_NUMBER].known = 1;
    return x;
}

void ovs_extractor_free(ovs_extractor *x) {
    if (!x) return;
    if (x->md) pcre2_match_data_free(x->md);
    ovs_strmap_free(&x->cache);
    ovs_strmap_free(&x->names);
    free(x->info);
    free(x->lower);
    free(x->toks);
    free(x->tags);
    free(x->back);
    free(x->score);
    free(x->ents);
    free(x);
}
