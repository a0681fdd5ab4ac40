/* cmd_vocab.c — `ovseg vocab DB --out vocab.txt [--size 8000]`: a WordPiece vocabulary built from the
 * ingested captions (samples.caption), for users without a BERT vocab.txt.
 *
 * Ids: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then every character seen (most frequent first),
 * then "##"+character for every character seen inside a word — so every word can be pieced and only
 * words over 100 characters become [UNK] — then the pieces with the best score until --size: a
 * candidate is a word prefix (of 2+ characters, whole words included) or a "##" suffix of a word, its
 * score = (occurrences of the words it fits) x (characters - 1), i.e. the pieces it saves. Words
 * come from BERT's basic tokenisation (lower-case, accents stripped, punctuation split), as the
 * tokenizer applies it. A frequency heuristic, not the likelihood-driven training of BERT's vocab. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "shards/wordpiece.h"
#include "util/args.h"
#include "util/buf.h"
#include "util/cli.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/rng.h"

enum { MAX_PIECE_CHARS = 12 };

/* A string -> count hash table (open addressing). */
typedef struct sc_entry { char *s; int64_t n; } sc_entry;
typedef struct sc_map { sc_entry *e; size_t cap, used; } sc_map;

static int sc_add(sc_map *m, const char *s, size_t len, int64_t n) {
    if ((m->used + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1 << 16;
        sc_entry *ne = calloc(cap, sizeof *ne);
        if (!ne) return -1;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->e[i].s) continue;
            size_t h = ovs_hash64(m->e[i].s, strlen(m->e[i].s)) & (cap - 1);
            while (ne[h].s) h = (h + 1) & (cap - 1);
            ne[h] = m->e[i];
        }
        free(m->e);
        m->e = ne, m->cap = cap;
    }
    size_t h = ovs_hash64(s, len) & (m->cap - 1);
    while (m->e[h].s && (strncmp(m->e[h].s, s, len) || m->e[h].s[len])) h = (h + 1) & (m->cap - 1);
    if (!m->e[h].s) {
        if (!(m->e[h].s = strndup(s, len))) return -1;
        m->used++;
    }
    m->e[h].n += n;
    return 0;
}

static void sc_free(sc_map *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->e[i].s);
    free(m->e);
}

static int add_word(void *ctx, const char *w, size_t len) { return sc_add(ctx, w, len, 1); }

static size_t utf8_len(unsigned char c) { return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4; }

typedef struct scored { const char *s; double score; } scored;

static int by_score(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* Characters, "##" characters and scored pieces of the words in `words`. */
static int candidates(const sc_map *words, sc_map *chars, sc_map *cont, sc_map *pieces) {
    char buf[MAX_PIECE_CHARS * 4 + 3] = "##";
    for (size_t i = 0; i < words->cap; i++) {
        const char *w = words->e[i].s;
        if (!w) continue;
        int64_t n = words->e[i].n;
        size_t off[128], nc = 0, len = strlen(w);
        for (size_t p = 0; p < len && nc < 127; p += utf8_len((unsigned char)w[p])) off[nc++] = p;
        off[nc] = len;
        for (size_t k = 0; k < nc; k++) {
            size_t cl = off[k + 1] - off[k];
            if (sc_add(k ? cont : chars, w + off[k], cl, n)) return -1;
        }
        for (size_t k = 2; k <= nc && k <= MAX_PIECE_CHARS; k++) /* prefixes */
            if (sc_add(pieces, w, off[k], n * (int64_t)(k - 1))) return -1;
        for (size_t k = 1; k + 2 <= nc && nc - k <= MAX_PIECE_CHARS; k++) { /* "##" suffixes of 2+ chars */
            memcpy(buf + 2, w + off[k], len - off[k]);
            if (sc_add(pieces, buf, 2 + len - off[k], n * (int64_t)(nc - k - 1))) return -1;
        }
    }
    return 0;
}

static int sorted(const sc_map *m, scored **out, size_t *n) {
    *out = malloc((m->used + 1) * sizeof **out);
    if (!*out) return -1;
    *n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].s) (*out)[(*n)++] = (scored){m->e[i].s, (double)m->e[i].n};
    qsort(*out, *n, sizeof **out, by_score);
    return 0;
}

static int build(ovs_db *db, const char *out, int64_t size, ovs_err *e) {
    sc_map words = {0}, chars = {0}, cont = {0}, pieces = {0};
    sqlite3_stmt *st;
    int rc = ovs_db_prepare(db, &st, "SELECT caption FROM samples", e);
    if (rc) return rc;
    int64_t total = 0, done = 0;
    ovs_db_int(db, "SELECT count(*) FROM samples", &total, e);
    ovs_progress pr;
    ovs_progress_start(&pr, "vocab", total);
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(st, 0);
        if (c && ovs_wp_basic_words(c, (size_t)sqlite3_column_bytes(st, 0), add_word, &words))
            rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
        ovs_progress_update(&pr, ++done, NULL);
    }
    ovs_progress_end(&pr);
    sqlite3_finalize(st);
    if (!rc && !words.used) rc = ovs_errf(e, OVS_EUSER, "%s: no captions to build a vocabulary from (see ovseg ingest)", db->path);
    if (!rc && candidates(&words, &chars, &cont, &pieces)) rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    scored *sc = NULL, *sn = NULL, *sp = NULL;
    size_t nc = 0, nn = 0, np = 0;
    if (!rc && (sorted(&chars, &sc, &nc) || sorted(&cont, &sn, &nn) || sorted(&pieces, &sp, &np)))
        rc = ovs_errf(e, OVS_EINTERNAL, "out of memory");
    ovs_buf b = {0};
    int64_t n = 0;
    if (!rc) {
        const char *special[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
        for (int i = 0; i < 5; i++, n++) ovs_buf_printf(&b, "%s\n", special[i]);
        for (size_t i = 0; i < nc; i++, n++) ovs_buf_printf(&b, "%s\n", sc[i].s);
        for (size_t i = 0; i < nn; i++, n++) ovs_buf_printf(&b, "##%s\n", sn[i].s);
        if (n > size) ovs_warn("vocab: %" PRId64 " special tokens and characters already exceed --size %" PRId64, n, size);
        for (size_t i = 0; i < np && n < size; i++) {
            if (strlen(sp[i].s) <= 2 + 4 && !strncmp(sp[i].s, "##", 2) && utf8_len((unsigned char)sp[i].s[2]) == strlen(sp[i].s) - 2)
                continue; /* a "##" single character: already in */
            ovs_buf_printf(&b, "%s\n", sp[i].s);
            n++;
        }
        rc = ovs_write_atomic(out, b.data, b.len, e);
    }
    if (!rc) ovs_info("vocab: %" PRId64 " tokens (%zu characters, %zu word pieces) from %zu distinct words -> %s", n, nc,
                      (size_t)(n - 5 - (int64_t)nc - (int64_t)nn), words.used, out);
    ovs_buf_free(&b);
    free(sc), free(sn), free(sp);
    sc_free(&words), sc_free(&chars), sc_free(&cont), sc_free(&pieces);
    return rc;
}

int cmd_vocab(int argc, char **argv) {
    const char *out = NULL;
    int64_t size = 8000;
    ovs_opt opts[] = {{"out", OVS_ARG_STR, &out, "the vocab.txt to write (required)"},
                      {"size", OVS_ARG_COUNT, &size, "vocabulary size (default 8000)"},
                      {0}};
    ovs_cmd_spec spec = {.verb = "vocab", .usage = "DB --out vocab.txt",
                         .summary = "Build a WordPiece vocabulary (BERT format: one token a line, [PAD]=0 [UNK]=1 [CLS]=2\n"
                                    "[SEP]=3 [MASK]=4) from the ingested captions.",
                         .opts = opts, .min_pos = 1, .max_pos = 1};
    ovs_err e = {0};
    char *pos[1];
    int np, rc = ovs_args_parse(&spec, argc, argv, pos, 1, &np, &e);
    if (rc) return ovs_cli_finish("vocab", rc, &e);
    if (!out) return ovs_cli_finish("vocab", ovs_errf(&e, OVS_EUSER, "--out is required"), &e);
    if (size < 16) return ovs_cli_finish("vocab", ovs_errf(&e, OVS_EUSER, "--size: at least 16"), &e);
    ovs_db db;
    if ((rc = ovs_db_open(&db, pos[0], 0, &e))) return ovs_cli_finish("vocab", rc, &e);
    rc = build(&db, out, size, &e);
    ovs_db_close(&db);
    return ovs_cli_finish("vocab", rc, &e);
}
