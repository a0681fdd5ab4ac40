/* lexicon.c — loading WordNet's index and exception files, and morphy (see lexicon.h). */
#include "entities/lexicon.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/rng.h"

typedef struct mapped { const char *p; size_t n; } mapped;

static int map_file(const char *dir, const char *name, mapped *m, ovs_err *e) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ovs_errno(e, OVS_EUSER, "WordNet: %s (install wordnet-base or pass --wordnet DIR)", path);
    struct stat st;
    if (fstat(fd, &st) || st.st_size == 0) {
        close(fd);
        return ovs_errf(e, OVS_EUSER, "WordNet: %s: empty or unreadable", path);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return ovs_errno(e, OVS_EINTERNAL, "WordNet: mmap %s", path);
    m->p = p;
    m->n = (size_t)st.st_size;
    return 0;
}

static int32_t add_key(ovs_lex *lx, const char *s, size_t n) {
    int added;
    int32_t i = ovs_strmap_add(&lx->map, s, n, &added);
    if (i < 0) return -1;
    if ((uint32_t)i >= lx->info_cap) {
        uint32_t cap = lx->info_cap ? lx->info_cap * 2 : 1 << 16;
        ovs_lex_info *in = realloc(lx->info, cap * sizeof *in);
        if (!in) return -1;
        lx->info = in;
        lx->info_cap = cap;
    }
    if (added) lx->info[i] = (ovs_lex_info){.exc = {-1, -1, -1}};
    return i;
}

/* Skips one space-separated field; returns the start of the next. */
static const char *next_field(const char *p, const char *end) {
    while (p < end && *p != ' ' && *p != '\n') p++;
    while (p < end && *p == ' ') p++;
    return p;
}

static long field_num(const char *p, const char *end) {
    long v = 0;
    while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
    return v;
}

/* index.POS line: lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt offsets... */
static int parse_index(ovs_lex *lx, mapped m, int pos, ovs_err *e) {
    const char *p = m.p, *end = m.p + m.n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if (*p != ' ') { /* lines starting with a space are the licence header */
            const char *sp = memchr(p, ' ', (size_t)(eol - p));
            if (!sp) return ovs_errf(e, OVS_EUSER, "WordNet: index file of pos %d: malformed line", pos);
            const char *f = next_field(sp + 1, eol); /* synset_cnt */
            f = next_field(f, eol);                  /* p_cnt */
            long np = field_num(f, eol);
            f = next_field(f, eol);
            for (long k = 0; k < np; k++) f = next_field(f, eol);
            f = next_field(f, eol); /* past sense_cnt: tagsense_cnt */
            long tag = field_num(f, eol);
            int32_t i = add_key(lx, p, (size_t)(sp - p));
            if (i < 0) return ovs_errf(e, OVS_EINTERNAL, "WordNet: out of memory");
            lx->info[i].pos |= (uint8_t)(1u << pos);
            lx->info[i].tagsense[pos] = (uint16_t)(tag > 65535 ? 65535 : tag);
            if (pos == OVS_POS_N) /* proper prefixes of collocations, at each '_' */
                for (const char *u = p; u < sp; u++)
                    if (*u == '_') {
                        int32_t j = add_key(lx, p, (size_t)(u - p));
                        if (j < 0) return ovs_errf(e, OVS_EINTERNAL, "WordNet: out of memory");
                        lx->info[j].flags |= OVS_LEX_PREFIX;
                    }
        }
        p = eol + 1;
    }
    return 0;
}

/* POS.exc line: inflected base [base...] — keeps the first base. */
static int parse_exc(ovs_lex *lx, mapped m, int pos, ovs_err *e) {
    const char *p = m.p, *end = m.p + m.n;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *sp = memchr(p, ' ', (size_t)(eol - p));
        if (sp) {
            const char *b = sp + 1, *be = b;
            while (be < eol && *be != ' ') be++;
            int32_t base = add_key(lx, b, (size_t)(be - b));
            int32_t i = base < 0 ? -1 : add_key(lx, p, (size_t)(sp - p));
            if (i < 0) return ovs_errf(e, OVS_EINTERNAL, "WordNet: out of memory");
            if (lx->info[i].exc[pos] < 0) lx->info[i].exc[pos] = base;
        }
        p = eol + 1;
    }
    return 0;
}

int ovs_lex_load(ovs_lex *lx, const char *dir, ovs_err *e) {
    static const char *const index_names[] = {"index.noun", "index.verb", "index.adj", "index.adv"};
    static const char *const exc_names[] = {"noun.exc", "verb.exc", "adj.exc"};
    memset(lx, 0, sizeof *lx);
    snprintf(lx->dir, sizeof lx->dir, "%s", dir);
    uint64_t v = 0x6f7673656721ULL;
    int rc = 0;
    for (int k = 0; k < 7 && !rc; k++) {
        const char *name = k < 4 ? index_names[k] : exc_names[k - 4];
        mapped m;
        if ((rc = map_file(dir, name, &m, e))) break;
        v = ovs_mix64(v ^ ovs_hash64(m.p, m.n));
        rc = k < 4 ? parse_index(lx, m, k, e) : parse_exc(lx, m, k - 4, e);
        if (rc) ovs_errctx(e, "%s/%s", dir, name);
        munmap((void *)m.p, m.n);
    }
    lx->version = v;
    if (rc) ovs_lex_free(lx);
    return rc;
}

void ovs_lex_free(ovs_lex *lx) {
    ovs_strmap_free(&lx->map);
    free(lx->info);
    lx->info = NULL;
    lx->info_cap = 0;
}

typedef struct suffix_rule { const char *from, *to; } suffix_rule;
static const suffix_rule NOUN_RULES[] = {{"ses", "s"}, {"xes", "x"}, {"zes", "z"}, {"ches", "ch"},
                                         {"shes", "sh"}, {"men", "man"}, {"ies", "y"}, {"s", ""}, {0, 0}};
static const suffix_rule VERB_RULES[] = {{"ies", "y"}, {"es", "e"}, {"es", ""}, {"s", ""}, {"ed", "e"},
                                         {"ed", ""}, {"ing", "e"}, {"ing", ""}, {0, 0}};
static const suffix_rule ADJ_RULES[] = {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}, {0, 0}};

static int32_t with_pos(const ovs_lex *lx, const char *w, size_t n, int pos) {
    int32_t i = ovs_strmap_find(&lx->map, w, n);
    return i >= 0 && (lx->info[i].pos & (1u << pos)) ? i : -1;
}

int32_t ovs_lex_morphy(const ovs_lex *lx, const char *w, size_t n, int pos) {
    int32_t self = ovs_strmap_find(&lx->map, w, n);
    if (self >= 0 && pos < 3 && lx->info[self].exc[pos] >= 0) {
        int32_t b = lx->info[self].exc[pos];
        if (lx->info[b].pos & (1u << pos)) return b;
    }
    int self_ok = self >= 0 && (lx->info[self].pos & (1u << pos));
    if (pos == OVS_POS_R) return self_ok ? self : -1;
    if (pos == OVS_POS_N && self_ok && w[n - 1] != 's') return self;
    const suffix_rule *rules = pos == OVS_POS_N ? NOUN_RULES : pos == OVS_POS_V ? VERB_RULES : ADJ_RULES;
    int stem_ok = !(pos == OVS_POS_N && n >= 2 && w[n - 1] == 's' && w[n - 2] == 's');
    char buf[128];
    for (const suffix_rule *r = rules; stem_ok && r->from && n < sizeof buf - 8; r++) {
        size_t fl = strlen(r->from), tl = strlen(r->to);
        if (n <= fl + 1 || memcmp(w + n - fl, r->from, fl)) continue;
        memcpy(buf, w, n - fl);
        memcpy(buf + n - fl, r->to, tl);
        int32_t b = with_pos(lx, buf, n - fl + tl, pos);
        if (b >= 0) return b;
    }
    /* doubled final consonant before -ing/-ed (verbs) or -er/-est (adjectives): sitting, bigger */
    static const char *const VERB_DOUBLE[] = {"ing", "ed", NULL}, *const ADJ_DOUBLE[] = {"er", "est", NULL};
    const char *const *dbl = pos == OVS_POS_V ? VERB_DOUBLE : pos == OVS_POS_A ? ADJ_DOUBLE : NULL;
    for (; dbl && *dbl; dbl++) {
        size_t fl = strlen(*dbl);
        if (n < fl + 3 || memcmp(w + n - fl, *dbl, fl) || w[n - fl - 1] != w[n - fl - 2]) continue;
        int32_t b = with_pos(lx, w, n - fl - 1, pos);
        if (b >= 0) return b;
    }
    return self_ok ? self : -1;
}
