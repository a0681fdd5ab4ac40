/* minijson.c — the JSON tokenizer of minijson.h: recursive descent with a depth limit. */
#include "shards/minijson.h"

#include <stdlib.h>
#include <string.h>

typedef struct mj_p { mj_doc *d; size_t pos, n; int depth; } mj_p;

static void ws(mj_p *p) {
    while (p->pos < p->n && (p->d->s[p->pos] == ' ' || p->d->s[p->pos] == '\n' || p->d->s[p->pos] == '\t' ||
                             p->d->s[p->pos] == '\r'))
        p->pos++;
}

static int add(mj_p *p, mj_type t, int start) {
    mj_doc *d = p->d;
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 32;
        mj_tok *nt = realloc(d->t, (size_t)cap * sizeof *nt);
        if (!nt) return -1;
        d->t = nt, d->cap = cap;
    }
    d->t[d->n] = (mj_tok){t, start, start, 0, 0};
    return d->n++;
}

static int value(mj_p *p);

static int string(mj_p *p) {
    const char *s = p->d->s;
    size_t i = ++p->pos;
    while (i < p->n && s[i] != '"') {
        if ((unsigned char)s[i] < 0x20) return -1;
        i += s[i] == '\\' ? 2 : 1;
    }
    if (i >= p->n) return -1;
    int k = add(p, MJ_STR, (int)p->pos);
    if (k < 0) return -1;
    p->d->t[k].end = (int)i;
    p->d->t[k].next = k + 1;
    p->pos = i + 1;
    return k;
}

static int container(mj_p *p, int obj) {
    if (++p->depth > 64) return -1;
    int k = add(p, obj ? MJ_OBJ : MJ_ARR, (int)p->pos);
    if (k < 0) return -1;
    p->pos++;
    ws(p);
    char close = obj ? '}' : ']';
    if (p->pos < p->n && p->d->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            ws(p);
            if (obj) {
                if (p->pos >= p->n || p->d->s[p->pos] != '"' || string(p) < 0) return -1;
                ws(p);
                if (p->pos >= p->n || p->d->s[p->pos] != ':') return -1;
                p->pos++;
            }
            if (value(p) < 0) return -1;
            p->d->t[k].size++;
            ws(p);
            if (p->pos >= p->n) return -1;
            char c = p->d->s[p->pos++];
            if (c == close) break;
            if (c != ',') return -1;
        }
    }
    p->d->t[k].end = (int)p->pos;
    p->d->t[k].next = p->d->n;
    p->depth--;
    return k;
}

static int value(mj_p *p) {
    ws(p);
    if (p->pos >= p->n) return -1;
    const char *s = p->d->s;
    char c = s[p->pos];
    if (c == '{' || c == '[') return container(p, c == '{');
    if (c == '"') return string(p);
    size_t i = p->pos;
    mj_type t;
    if (c == '-' || (c >= '0' && c <= '9')) {
        t = MJ_NUM;
        while (i < p->n && strchr("+-0123456789.eE", s[i])) i++;
    } else if (p->n - i >= 4 && !memcmp(s + i, "true", 4)) t = MJ_BOOL, i += 4;
    else if (p->n - i >= 5 && !memcmp(s + i, "false", 5)) t = MJ_BOOL, i += 5;
    else if (p->n - i >= 4 && !memcmp(s + i, "null", 4)) t = MJ_NULL, i += 4;
    else return -1;
    int k = add(p, t, (int)p->pos);
    if (k < 0) return -1;
    p->d->t[k].end = (int)i;
    p->d->t[k].next = k + 1;
    p->pos = i;
    return k;
}

int mj_parse(mj_doc *d, const char *s, size_t n) {
    d->s = s;
    d->n = 0;
    mj_p p = {d, 0, n, 0};
    if (value(&p) < 0) return -1;
    ws(&p);
    return p.pos == n ? 0 : -1;
}

void mj_free(mj_doc *d) {
    free(d->t);
    d->t = NULL;
    d->n = d->cap = 0;
}

int mj_get(const mj_doc *d, int obj, const char *key) {
    if (obj < 0 || obj >= d->n || d->t[obj].type != MJ_OBJ) return -1;
    size_t kl = strlen(key);
    for (int i = obj + 1, k = 0; k < d->t[obj].size; k++) {
        const mj_tok *kt = &d->t[i];
        int v = i + 1;
        if ((size_t)(kt->end - kt->start) == kl && !memcmp(d->s + kt->start, key, kl)) return v;
        i = d->t[v].next;
    }
    return -1;
}

int mj_at(const mj_doc *d, int arr, int idx) {
    if (arr < 0 || arr >= d->n || d->t[arr].type != MJ_ARR || idx < 0 || idx >= d->t[arr].size) return -1;
    int i = arr + 1;
    for (int k = 0; k < idx; k++) i = d->t[i].next;
    return i;
}

int64_t mj_int(const mj_doc *d, int tok, int64_t dflt) {
    if (tok < 0 || d->t[tok].type != MJ_NUM) return dflt;
    char num[32]; /* the text is not NUL-terminated: copy the number out */
    int n = d->t[tok].end - d->t[tok].start;
    if (n <= 0 || n >= (int)sizeof num) return dflt;
    memcpy(num, d->s + d->t[tok].start, (size_t)n);
    num[n] = 0;
    return strtoll(num, NULL, 10);
}

static int hex4(const char *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

int mj_str(const mj_doc *d, int tok, char *out, size_t cap) {
    if (tok < 0 || d->t[tok].type != MJ_STR || !cap) return -1;
    const char *s = d->s;
    size_t o = 0;
    for (int i = d->t[tok].start; i < d->t[tok].end; i++) {
        char buf[4];
        int nb = 1;
        buf[0] = s[i];
        if (s[i] == '\\') {
            char c = s[++i];
            switch (c) {
            case 'n': buf[0] = '\n'; break;
            case 't': buf[0] = '\t'; break;
            case 'r': buf[0] = '\r'; break;
            case 'b': buf[0] = '\b'; break;
            case 'f': buf[0] = '\f'; break;
            case 'u': {
                if (i + 4 >= d->t[tok].end) return -1;
                int cp = hex4(s + i + 1);
                if (cp < 0) return -1;
                i += 4;
                if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < d->t[tok].end && s[i + 1] == '\\' && s[i + 2] == 'u') {
                    int lo = hex4(s + i + 3);
                    if (lo >= 0xDC00 && lo < 0xE000) { cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00); i += 6; }
                }
                if (cp < 0x80) buf[0] = (char)cp;
                else if (cp < 0x800) buf[0] = (char)(0xC0 | cp >> 6), buf[1] = (char)(0x80 | (cp & 63)), nb = 2;
                else if (cp < 0x10000)
                    buf[0] = (char)(0xE0 | cp >> 12), buf[1] = (char)(0x80 | ((cp >> 6) & 63)), buf[2] = (char)(0x80 | (cp & 63)), nb = 3;
                else
                    buf[0] = (char)(0xF0 | cp >> 18), buf[1] = (char)(0x80 | ((cp >> 12) & 63)),
                    buf[2] = (char)(0x80 | ((cp >> 6) & 63)), buf[3] = (char)(0x80 | (cp & 63)), nb = 4;
                break;
            }
            default: buf[0] = c;
            }
        }
        for (int k = 0; k < nb; k++)
            if (o + 1 < cap) out[o++] = buf[k];
    }
    out[o] = 0;
    return (int)o;
}
