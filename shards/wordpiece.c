/* wordpiece.c — BERT-uncased WordPiece (see wordpiece.h): vocabulary hash table, the normaliser
 * (per input character: clean, CJK padding, accent strip, lower-case — each output character keeps
 * the byte span of the input character it came from), the pre-tokeniser (whitespace, punctuation)
 * and greedy longest-match piecing.
 *
 * Limits: NFD is applied per character without canonical reordering (irrelevant here since all
 * nonspacing marks are dropped); the Unicode tables are those of the Python that generated
 * unicode_tables.c (Unicode 14), so characters assigned later may be classed differently than in
 * Hugging Face's Rust tokenizers. */
#include "shards/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shards/unicode_tables.h"
#include "util/fsutil.h"
#include "util/rng.h"

struct ovs_wordpiece {
    char **tok;       /* id -> string */
    int ntok;
    int32_t *slot;    /* open-addressing table of ids, -1 = empty */
    uint64_t mask;    /* table size - 1 */
    int pad, unk, cls, sep, msk;
    char *data;       /* the file's bytes; tok[] points into it */
};

/* ── vocabulary ─────────────────────────────────────────────────────────────────────────── */

static int vocab_find(const ovs_wordpiece *wp, const char *s, size_t n) {
    uint64_t h = ovs_hash64(s, n) & wp->mask;
    for (;;) {
        int32_t id = wp->slot[h];
        if (id < 0) return -1;
        if (!strncmp(wp->tok[id], s, n) && wp->tok[id][n] == 0) return id;
        h = (h + 1) & wp->mask;
    }
}

static void vocab_insert(ovs_wordpiece *wp, int id) {
    const char *s = wp->tok[id];
    if (vocab_find(wp, s, strlen(s)) >= 0) return; /* a duplicate line keeps its first id */
    uint64_t h = ovs_hash64(s, strlen(s)) & wp->mask;
    while (wp->slot[h] >= 0) h = (h + 1) & wp->mask;
    wp->slot[h] = id;
}

int ovs_wp_load(ovs_wordpiece **out, const char *path, ovs_err *e) {
    char *data;
    size_t len;
    int rc = ovs_read_file(path, &data, &len, e);
    if (rc) return rc;
    ovs_wordpiece *wp = calloc(1, sizeof *wp);
    if (wp) wp->data = data;
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    if (len && data[len - 1] != '\n') lines++;
    uint64_t size = 16;
    while (size < (uint64_t)lines * 2 + 16) size *= 2;
    if (wp) {
        wp->tok = calloc((size_t)lines + 1, sizeof *wp->tok);
        wp->slot = malloc(size * sizeof *wp->slot);
    }
    if (!wp || !wp->tok || !wp->slot) {
        if (!wp) free(data);
        ovs_wp_free(wp);
        return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", path);
    }
    memset(wp->slot, 0xff, size * sizeof *wp->slot);
    wp->mask = size - 1;
    char *p = data, *end = data + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *q = nl ? nl : end;
        while (q > p && (q[-1] == '\r' || q[-1] == ' ' || q[-1] == '\t')) q--; /* trim_end, as HF does */
        *q = 0;
        wp->tok[wp->ntok] = p;
        vocab_insert(wp, wp->ntok);
        wp->ntok++;
        p = nl ? nl + 1 : end;
    }
    wp->pad = vocab_find(wp, "[PAD]", 5);
    wp->unk = vocab_find(wp, "[UNK]", 5);
    wp->cls = vocab_find(wp, "[CLS]", 5);
    wp->sep = vocab_find(wp, "[SEP]", 5);
    wp->msk = vocab_find(wp, "[MASK]", 6);
    if (wp->pad < 0 || wp->unk < 0 || wp->cls < 0 || wp->sep < 0 || wp->msk < 0) {
        ovs_wp_free(wp);
        return ovs_errf(e, OVS_EUSER, "%s: not a WordPiece vocabulary: needs [PAD] [UNK] [CLS] [SEP] [MASK]", path);
    }
    *out = wp;
    return 0;
}

void ovs_wp_free(ovs_wordpiece *wp) {
    if (!wp) return;
    free(wp->data);
    free(wp->tok);
    free(wp->slot);
    free(wp);
}

int ovs_wp_vocab_size(const ovs_wordpiece *wp) { return wp->ntok; }
int ovs_wp_id(const ovs_wordpiece *wp, const char *tok) { return vocab_find(wp, tok, strlen(tok)); }
const char *ovs_wp_token_str(const ovs_wordpiece *wp, int id) { return id >= 0 && id < wp->ntok ? wp->tok[id] : NULL; }
int ovs_wp_pad(const ovs_wordpiece *wp) { return wp->pad; }
int ovs_wp_unk(const ovs_wordpiece *wp) { return wp->unk; }
int ovs_wp_cls(const ovs_wordpiece *wp) { return wp->cls; }
int ovs_wp_sep(const ovs_wordpiece *wp) { return wp->sep; }
int ovs_wp_mask(const ovs_wordpiece *wp) { return wp->msk; }

/* ── characters ─────────────────────────────────────────────────────────────────────────── */

int ovs_uc_class(uint32_t cp) {
    int lo = 0, hi = ovs_uc_nranges - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < ovs_uc_ranges[mid].lo) hi = mid - 1;
        else if (cp > ovs_uc_ranges[mid].hi) lo = mid + 1;
        else return ovs_uc_ranges[mid].cls;
    }
    return 0;
}

const ovs_uc_map *ovs_uc_find(const ovs_uc_map *t, int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < t[mid].cp) hi = mid - 1;
        else if (cp > t[mid].cp) lo = mid + 1;
        else return &t[mid];
    }
    return NULL;
}

/* Rust's char::is_whitespace (the White_Space property). */
static int is_ws(uint32_t c) {
    return c == ' ' || (c >= 9 && c <= 13) || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(uint32_t c) {
    if (c < 128) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    return ovs_uc_class(c) == OVS_UC_PUNCT;
}

/* Decodes one UTF-8 character at s (n bytes left); *len gets its length (1 for an invalid byte,
 * which decodes as U+FFFD). */
static uint32_t utf8_next(const unsigned char *s, size_t n, int *len) {
    uint32_t c = s[0];
    int k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!k || (size_t)k > n) { *len = 1; return 0xFFFD; }
    if (k == 1) { *len = 1; return c; }
    c &= 0x3F >> (k - 1);
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) { *len = 1; return 0xFFFD; }
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[k] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) { *len = 1; return 0xFFFD; }
    *len = k;
    return c;
}

static int utf8_put(uint32_t c, char *out) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12); out[1] = (char)(0x80 | ((c >> 6) & 0x3F)); out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* ── tokenising ─────────────────────────────────────────────────────────────────────────── */

typedef struct nchar { uint32_t cp; int32_t start, end, word; } nchar; /* a normalised character */

typedef struct nbuf { nchar *c; int n, cap; } nbuf;

static int nbuf_push(nbuf *b, uint32_t cp, int start, int end, int word) {
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 256;
        nchar *c = realloc(b->c, (size_t)cap * sizeof *c);
        if (!c) return -1;
        b->c = c, b->cap = cap;
    }
    b->c[b->n++] = (nchar){cp, start, end, word};
    return 0;
}

static int toks_push(ovs_wp_toks *t, int id, int start, int end, int word) {
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 64;
        ovs_wp_token *p = realloc(t->t, (size_t)cap * sizeof *p);
        if (!p) return -1;
        t->t = p, t->cap = cap;
    }
    t->t[t->n++] = (ovs_wp_token){id, start, end, word};
    return 0;
}

void ovs_wp_toks_free(ovs_wp_toks *t) {
    free(t->t);
    t->t = NULL;
    t->n = t->cap = 0;
}

/* Normalises one input character (at bytes [start,end)) into b. */
static int normalise_char(nbuf *b, uint32_t cp, int start, int end, int word) {
    if (cp == 0 || cp == 0xFFFD) return 0;
    if (is_ws(cp) && (cp == '\t' || cp == '\n' || cp == '\r' || ovs_uc_class(cp) != OVS_UC_OTHER))
        return nbuf_push(b, ' ', start, end, word);
    if (ovs_uc_class(cp) == OVS_UC_OTHER) return 0;
    if (is_cjk(cp)) {
        if (nbuf_push(b, ' ', start, end, word)) return -1;
    }
    uint32_t stripped[3];
    int ns;
    const ovs_uc_map *m;
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: L V [T] */
        uint32_t s = cp - 0xAC00;
        stripped[0] = 0x1100 + s / 588, stripped[1] = 0x1161 + (s % 588) / 28, ns = 2;
        if (s % 28) stripped[ns++] = 0x11A7 + s % 28;
    } else if ((m = ovs_uc_find(ovs_uc_strip, ovs_uc_strip_n, cp))) {
        ns = m->n;
        memcpy(stripped, m->to, sizeof stripped);
    } else {
        stripped[0] = cp, ns = 1;
    }
    for (int i = 0; i < ns; i++) {
        const ovs_uc_map *l = stripped[i] < 128 ? NULL : ovs_uc_find(ovs_uc_lower, ovs_uc_lower_n, stripped[i]);
        if (!l) {
            uint32_t c = stripped[i];
            if (c >= 'A' && c <= 'Z') c += 32;
            if (nbuf_push(b, c, start, end, word)) return -1;
        } else {
            for (int k = 0; k < l->n; k++)
                if (nbuf_push(b, l->to[k], start, end, word)) return -1;
        }
    }
    if (is_cjk(cp)) return nbuf_push(b, ' ', start, end, word);
    return 0;
}

/* Pieces one pre-tokenised word (normalised characters w[0..n)) into t. */
static int piece_word(const ovs_wordpiece *wp, const nchar *w, int n, ovs_wp_toks *t) {
    if (n > OVS_WP_MAX_WORD_CHARS) return toks_push(t, wp->unk, w[0].start, w[n - 1].end, w[0].word);
    char bytes[OVS_WP_MAX_WORD_CHARS * 4 + 3];
    int off[OVS_WP_MAX_WORD_CHARS + 1]; /* byte offset of each char in bytes (after the "##" room) */
    off[0] = 2;
    for (int i = 0; i < n; i++) off[i + 1] = off[i] + utf8_put(w[i].cp, bytes + off[i]);
    int first = t->n;
    for (int s = 0; s < n;) {
        int id = -1, e = n;
        for (; e > s; e--) {
            const char *p = bytes + off[s];
            size_t len = (size_t)(off[e] - off[s]);
            if (s > 0) { bytes[off[s] - 2] = '#', bytes[off[s] - 1] = '#'; p -= 2, len += 2; }
            id = vocab_find(wp, p, len);
            if (s > 0) utf8_put(w[s - 1].cp, bytes + off[s - 1]); /* restore the bytes "##" overwrote */
            if (id >= 0) break;
        }
        if (id < 0) {
            t->n = first;
            return toks_push(t, wp->unk, w[0].start, w[n - 1].end, w[0].word);
        }
        if (toks_push(t, id, w[s].start, w[e - 1].end, w[s].word)) return -1;
        s = e;
    }
    return 0;
}

/* Normalises text[a,b) into nb; *word counts whitespace-separated words of the input. */
static int normalise(const char *text, int a, int b, int *word, nbuf *nb) {
    nb->n = 0;
    const unsigned char *s = (const unsigned char *)text;
    int in_ws = 0;
    for (int i = a; i < b;) {
        int len;
        uint32_t cp = utf8_next(s + i, (size_t)(b - i), &len);
        int ws = is_ws(cp);
        if (ws && !in_ws) (*word)++;
        in_ws = ws;
        if (normalise_char(nb, cp, i, i + len, *word)) return -1;
        i += len;
    }
    return 0;
}

/* Pre-tokenising: the end of the word starting at nb->c[i] (runs of non-space, non-punctuation
 * characters; each punctuation character alone). */
static int word_end(const nbuf *nb, int i) {
    int j = i + 1;
    if (!is_punct(nb->c[i].cp))
        while (j < nb->n && !is_ws(nb->c[j].cp) && !is_punct(nb->c[j].cp)) j++;
    return j;
}

/* Normalises, pre-tokenises and pieces the raw segment text[a,b) (no special tokens in it). */
static int tokenize_segment(const ovs_wordpiece *wp, const char *text, int a, int b, int *word, nbuf *nb,
                            ovs_wp_toks *out) {
    if (normalise(text, a, b, word, nb)) return -1;
    for (int i = 0; i < nb->n;) {
        if (is_ws(nb->c[i].cp)) { i++; continue; }
        int j = word_end(nb, i);
        if (piece_word(wp, nb->c + i, j - i, out)) return -1;
        i = j;
    }
    return 0;
}

int ovs_wp_basic_words(const char *text, size_t n, int (*fn)(void *ctx, const char *word, size_t len), void *ctx) {
    nbuf nb = {0};
    int word = 0, rc = normalise(text, 0, (int)n, &word, &nb) ? OVS_EINTERNAL : 0;
    char buf[OVS_WP_MAX_WORD_CHARS * 4 + 4];
    for (int i = 0; !rc && i < nb.n;) {
        if (is_ws(nb.c[i].cp)) { i++; continue; }
        int j = word_end(&nb, i);
        if (j - i <= OVS_WP_MAX_WORD_CHARS) {
            size_t len = 0;
            for (int k = i; k < j; k++) len += (size_t)utf8_put(nb.c[k].cp, buf + len);
            rc = fn(ctx, buf, len);
        }
        i = j;
    }
    free(nb.c);
    return rc;
}

/* Length of the special token starting at text[i] (0 if none); *id gets its id. */
static int special_at(const ovs_wordpiece *wp, const char *text, size_t n, size_t i, int *id) {
    static const char *names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    if (text[i] != '[') return 0;
    for (int k = 0; k < 5; k++) {
        size_t l = strlen(names[k]);
        if (i + l <= n && !memcmp(text + i, names[k], l)) {
            *id = k == 0 ? wp->pad : k == 1 ? wp->unk : k == 2 ? wp->cls : k == 3 ? wp->sep : wp->msk;
            return (int)l;
        }
    }
    return 0;
}

int ovs_wp_tokenize(const ovs_wordpiece *wp, const char *text, size_t n, ovs_wp_toks *out) {
    out->n = 0;
    nbuf nb = {0};
    int word = 0, seg = 0, rc = 0;
    for (size_t i = 0; i <= n && !rc; i++) {
        int id = -1, l = i < n ? special_at(wp, text, n, i, &id) : 0;
        if (i < n && !l) continue;
        if ((int)i > seg) rc = tokenize_segment(wp, text, seg, (int)i, &word, &nb, out);
        if (!rc && l) rc = toks_push(out, id, (int)i, (int)i + l, word);
        seg = (int)i + l;
        if (l) i += (size_t)l - 1;
    }
    free(nb.c);
    return rc ? OVS_EINTERNAL : 0;
}

int ovs_wp_pack(const ovs_wordpiece *wp, const ovs_wp_token *t, int n, int L, int32_t *ids, int32_t *mask) {
    if (n > L - 2) n = L - 2;
    int k = 0;
    ids[k++] = wp->cls;
    for (int i = 0; i < n; i++) ids[k++] = t[i].id;
    ids[k++] = wp->sep;
    for (int i = 0; i < L; i++) {
        if (mask) mask[i] = i < k;
        if (i >= k) ids[i] = wp->pad;
    }
    return k;
}

int ovs_wp_encode(const ovs_wordpiece *wp, const char *text, int L, int32_t *ids, int32_t *mask, ovs_wp_toks *scratch) {
    ovs_wp_toks local = {0}, *t = scratch ? scratch : &local;
    int rc = ovs_wp_tokenize(wp, text, strlen(text), t);
    int k = rc ? -1 : ovs_wp_pack(wp, t->t, t->n, L, ids, mask);
    if (!scratch) ovs_wp_toks_free(&local);
    return k;
}

/* Index of the span token t overlaps, -1 if none. */
static int overlapping_span(const ovs_wp_token *t, const ovs_wp_span *sp, int ns) {
    for (int k = 0; k < ns; k++)
        if (t->start < sp[k].end && sp[k].start < t->end) return k;
    return -1;
}

int ovs_wp_mask_spans(const ovs_wordpiece *wp, const ovs_wp_toks *cap, const ovs_wp_span *spans, int nspans,
                      int per_piece, ovs_wp_toks *out) {
    out->n = 0;
    int prev_span = -1, prev_word = -1;
    for (int i = 0; i < cap->n; i++) {
        const ovs_wp_token *t = &cap->t[i];
        int k = overlapping_span(t, spans, nspans);
        if (k < 0) {
            prev_span = -1;
            if (toks_push(out, t->id, t->start, t->end, t->word)) return OVS_EINTERNAL;
            continue;
        }
        if (!per_piece && k == prev_span && t->word == prev_word) {
            out->t[out->n - 1].end = t->end; /* same word, same span: one [MASK] */
            continue;
        }
        if (toks_push(out, wp->msk, t->start, t->end, t->word)) return OVS_EINTERNAL;
        prev_span = k, prev_word = t->word;
    }
    return 0;
}
