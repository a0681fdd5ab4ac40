/* rules.c — parsing the three rule files (rules.txt, synonyms.txt, stopnouns.txt) into the
 * read-only tables the extractor uses, compiling the chunk pattern with PCRE2 JIT, and the rules
 * version hash. The format is documented at the top of entities/rules.txt. */
#include "entities/rules.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fsutil.h"
#include "util/sha256.h"

const char OVS_TAGS[OVS_NT + 1] = "DANVPCROTX";

int ovs_tag_index(int c) {
    const char *p = c ? strchr(OVS_TAGS, c) : NULL;
    return p ? (int)(p - OVS_TAGS) : -1;
}

/* Splits a line into whitespace-separated fields (in place); returns their count. */
static int split(char *s, char **f, int max) {
    int n = 0;
    while (*s && n < max) {
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (!*s) break;
        f[n++] = s;
        while (*s && *s != ' ' && *s != '\t' && *s != '\r') s++;
        if (*s) *s++ = 0;
    }
    return n;
}

static int add_set(ovs_strmap *m, const char *s, size_t n, const char *where, ovs_err *e) {
    if (ovs_strmap_add(m, s, n, NULL) < 0) return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", where);
    return 0;
}

static int parse_trans(ovs_ent_rules *r, char **f, int nf, const char *where, ovs_err *e) {
    int from = !strcmp(f[1], "S") ? OVS_NT : ovs_tag_index(f[1][0]);
    if (from < 0 || f[1][1]) return ovs_errf(e, OVS_EUSER, "%s: trans: unknown tag '%s'", where, f[1]);
    double w[OVS_NT + 1], sum = 0;
    for (int t = 0; t <= OVS_NT; t++) w[t] = 0.1;
    for (int k = 2; k < nf; k++) {
        char *colon = strchr(f[k], ':');
        int to = colon && colon == f[k] + 1 ? (f[k][0] == 'E' ? OVS_NT : ovs_tag_index(f[k][0])) : -1;
        char *end = NULL;
        double v = colon ? strtod(colon + 1, &end) : -1;
        if (to < 0 || !end || *end || v <= 0) return ovs_errf(e, OVS_EUSER, "%s: trans: bad weight '%s' (want TAG:NUMBER)", where, f[k]);
        w[to] = v;
    }
    for (int t = 0; t <= OVS_NT; t++) sum += w[t];
    for (int t = 0; t <= OVS_NT; t++) r->trans[from][t] = (float)log(w[t] / sum);
    return 0;
}

static int parse_rules_line(ovs_ent_rules *r, char *line, const char *where, ovs_err *e) {
    char *f[32];
    int nf = split(line, f, 32);
    if (!nf || f[0][0] == '#') return 0;
    if (!strcmp(f[0], "word") && nf >= 3) {
        int32_t i = ovs_strmap_add(&r->closed, f[1], strlen(f[1]), NULL);
        if (i < 0 || i >= OVS_MAX_CLOSED) return ovs_errf(e, OVS_EUSER, "%s: too many function words", where);
        uint16_t mask = 0;
        for (int k = 2; k < nf; k++) {
            int t = ovs_tag_index(f[k][0]);
            if (t < 0 || f[k][1]) return ovs_errf(e, OVS_EUSER, "%s: word %s: unknown tag '%s'", where, f[1], f[k]);
            if (k == 2) r->closed_first[i] = (uint8_t)t;
            mask |= (uint16_t)(1u << t);
        }
        r->closed_mask[i] = mask;
        return 0;
    }
    if (!strcmp(f[0], "trans") && nf >= 3) return parse_trans(r, f, nf, where, e);
    if (!strcmp(f[0], "lemma") && nf == 3) {
        int32_t i = ovs_strmap_add(&r->lemma_from, f[1], strlen(f[1]), NULL);
        int32_t j = ovs_strmap_add(&r->strings, f[2], strlen(f[2]), NULL);
        if (i < 0 || j < 0 || i >= OVS_MAX_LEMMA) return ovs_errf(e, OVS_EUSER, "%s: too many lemma lines", where);
        r->lemma_to[i] = j;
        return 0;
    }
    if (!strcmp(f[0], "nocolloc") && nf == 2) return add_set(&r->nocolloc, f[1], strlen(f[1]), where, e);
    if (!strcmp(f[0], "colloc") && nf == 2) return add_set(&r->colloc, f[1], strlen(f[1]), where, e);
    if (!strcmp(f[0], "minknown") && nf == 2) {
        r->minknown = atoi(f[1]);
        return 0;
    }
    if (!strcmp(f[0], "ing_verb") && nf == 2) {
        r->ing_verb = (float)atof(f[1]);
        return 0;
    }
    if (!strcmp(f[0], "after_plural") && nf == 2) {
        r->after_plural = (float)atof(f[1]);
        return 0;
    }
    if (!strcmp(f[0], "emission_power") && nf == 2) {
        r->emission_power = (float)atof(f[1]);
        return 0;
    }
    if (!strcmp(f[0], "chunk") && nf >= 2) {
        /* the pattern is the rest of the original line: rebuild it from the fields */
        size_t n = 0;
        for (int k = 1; k < nf && n < sizeof r->chunk - 2; k++)
            n += (size_t)snprintf(r->chunk + n, sizeof r->chunk - n, "%s%s", k > 1 ? " " : "", f[k]);
        return 0;
    }
    return ovs_errf(e, OVS_EUSER, "%s: unknown rule line '%s' (see the comment at the top of rules.txt)", where, f[0]);
}

/* Trims spaces at both ends in place. */
static char *trim(char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
    return s;
}

static int parse_synonyms_line(ovs_ent_rules *r, char *line, const char *where, ovs_err *e) {
    char *s = trim(line);
    if (!*s || *s == '#') return 0;
    char *colon = strchr(s, ':');
    if (!colon) return ovs_errf(e, OVS_EUSER, "%s: want 'NAME: VARIANT, VARIANT, ...'", where);
    *colon = 0;
    char *name = trim(s);
    int32_t j = ovs_strmap_add(&r->strings, name, strlen(name), NULL);
    if (j < 0) return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", where);
    for (char *v = strtok(colon + 1, ","); v; v = strtok(NULL, ",")) {
        v = trim(v);
        if (!*v) continue;
        for (char *c = v; *c; c++) *c = (char)tolower((unsigned char)*c);
        int32_t i = ovs_strmap_add(&r->syn_from, v, strlen(v), NULL);
        if (i < 0 || i >= OVS_MAX_SYN) return ovs_errf(e, OVS_EUSER, "%s: too many synonyms", where);
        r->syn_to[i] = j;
    }
    return 0;
}

static int parse_stop_line(ovs_ent_rules *r, char *line, const char *where, ovs_err *e) {
    char *s = trim(line);
    if (!*s || *s == '#') return 0;
    return add_set(&r->stop, s, strlen(s), where, e);
}

typedef int (*line_fn)(ovs_ent_rules *, char *, const char *, ovs_err *);

/* Feeds each line of text to fn, naming file:line in errors; hashes the text into the version. */
static int parse_text(ovs_ent_rules *r, const char *text, const char *base, const char *name, line_fn fn, ovs_sha256 *h, ovs_err *e) {
    size_t n = strlen(text);
    ovs_sha256_update(h, base, strlen(base) + 1);
    ovs_sha256_update(h, text, n);
    char *copy = malloc(n + 1);
    if (!copy) return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", name);
    memcpy(copy, text, n + 1);
    int rc = 0, lineno = 0;
    for (char *p = copy; p && *p && !rc;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        char where[1200];
        snprintf(where, sizeof where, "%.1180s:%d", name, ++lineno);
        rc = fn(r, p, where, e);
        p = nl ? nl + 1 : NULL;
    }
    free(copy);
    return rc;
}

static int compile_chunk(ovs_ent_rules *r, const char *where, ovs_err *e) {
    if (!r->chunk[0]) return ovs_errf(e, OVS_EUSER, "%s: no 'chunk' pattern", where);
    int err;
    PCRE2_SIZE off;
    r->re = pcre2_compile((PCRE2_SPTR)r->chunk, PCRE2_ZERO_TERMINATED, 0, &err, &off, NULL);
    if (!r->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return ovs_errf(e, OVS_EUSER, "%s: chunk pattern at offset %zu: %s", where, (size_t)off, (char *)msg);
    }
    r->head_group = pcre2_substring_number_from_name(r->re, (PCRE2_SPTR) "head");
    if (r->head_group < 0) return ovs_errf(e, OVS_EUSER, "%s: chunk pattern has no (?<head>...) group", where);
    r->jit = pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE) == 0;
    return 0;
}

int ovs_ent_rules_load(ovs_ent_rules **out, const char *dir, const ovs_lex *lex, ovs_err *e) {
    *out = NULL;
    ovs_ent_rules *r = calloc(1, sizeof *r);
    if (!r) return ovs_errf(e, OVS_EINTERNAL, "out of memory");
    r->lex = lex;
    r->minknown = 50;
    r->emission_power = 1.0f;
    r->ing_verb = r->after_plural = 1.0f;
    for (int a = 0; a <= OVS_NT; a++)
        for (int b = 0; b <= OVS_NT; b++) r->trans[a][b] = (float)log(1.0 / (OVS_NT + 1));
    static const char *const names[3] = {"rules.txt", "synonyms.txt", "stopnouns.txt"};
    const char *embedded[3] = {ovs_ent_rules_txt, ovs_ent_synonyms_txt, ovs_ent_stopnouns_txt};
    line_fn fns[3] = {parse_rules_line, parse_synonyms_line, parse_stop_line};
    ovs_sha256 h;
    ovs_sha256_init(&h);
    int rc = 0;
    char where[1200] = "rules.txt (embedded)";
    for (int k = 0; k < 3 && !rc; k++) {
        char *text = NULL;
        if (dir) {
            snprintf(where, sizeof where, "%s/%s", dir, names[k]);
            size_t len;
            if ((rc = ovs_read_file(where, &text, &len, e))) break;
        }
        rc = parse_text(r, dir ? text : embedded[k], names[k], dir ? where : names[k], fns[k], &h, e);
        free(text);
        if (k == 0 && dir) snprintf(r->rules_path, sizeof r->rules_path, "%s", where);
    }
    if (!rc) rc = compile_chunk(r, dir ? r->rules_path : "rules.txt (embedded)", e);
    if (rc) {
        ovs_ent_rules_free(r);
        return rc;
    }
    ovs_sha256_update(&h, &lex->version, sizeof lex->version);
    unsigned char d[32];
    ovs_sha256_final(&h, d);
    for (int i = 0; i < 8; i++) snprintf(r->version + 2 * i, 3, "%02x", d[i]);
    *out = r;
    return 0;
}

void ovs_ent_rules_free(ovs_ent_rules *r) {
    if (!r) return;
    ovs_strmap_free(&r->closed);
    ovs_strmap_free(&r->lemma_from);
    ovs_strmap_free(&r->strings);
    ovs_strmap_free(&r->syn_from);
    ovs_strmap_free(&r->stop);
    ovs_strmap_free(&r->nocolloc);
    ovs_strmap_free(&r->colloc);
    if (r->re) pcre2_code_free(r->re);
    free(r);
}

const char *ovs_ent_rules_version(const ovs_ent_rules *r) { return r->version; }

const char *ovs_ent_canonical(const ovs_ent_rules *r, const char *lemma, size_t n) {
    int32_t i = ovs_strmap_find(&r->syn_from, lemma, n);
    return i < 0 ? NULL : ovs_strmap_str(&r->strings, r->syn_to[i]);
}
