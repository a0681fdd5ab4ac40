/* tsv.c — caption TSV reading through libarchive's raw format (every compression the same way),
 * line splitting and per-line validation (see tsv.h). */
#include "ingest/tsv.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const REJECT_NAMES[OVS_REJ_N] = {
    [OVS_REJ_NONE] = "ok",
    [OVS_REJ_LINE_TOO_LONG] = "line_too_long",
    [OVS_REJ_NUL] = "nul_byte",
    [OVS_REJ_BAD_UTF8] = "bad_utf8",
    [OVS_REJ_MISSING_TAB] = "missing_tab",
    [OVS_REJ_EMPTY_URL] = "empty_url",
    [OVS_REJ_BAD_SCHEME] = "bad_scheme",
    [OVS_REJ_URL_TOO_LONG] = "url_too_long",
    [OVS_REJ_BAD_URL] = "bad_url",
    [OVS_REJ_EMPTY_CAPTION] = "empty_caption",
    [OVS_REJ_CAPTION_TOO_LONG] = "caption_too_long",
    [OVS_REJ_HASH_COLLISION] = "hash_collision",
};

const char *ovs_reject_name(int reason) {
    return reason >= 0 && reason < OVS_REJ_N ? REJECT_NAMES[reason] : "unknown";
}

/* ── validation ─────────────────────────────────────────────────────────────────────────── */

int ovs_utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 ASCII bytes at a time */
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) { i += 8; continue; }
        }
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c == 0xE0) { need = 2; lo = 0xA0; }          /* no overlongs */
        else if (c >= 0xE1 && c <= 0xEC) need = 2;
        else if (c == 0xED) { need = 2; hi = 0x9F; }          /* no surrogates */
        else if (c >= 0xEE && c <= 0xEF) need = 2;
        else if (c == 0xF0) { need = 3; lo = 0x90; }
        else if (c >= 0xF1 && c <= 0xF3) need = 3;
        else if (c == 0xF4) { need = 3; hi = 0x8F; }          /* <= U+10FFFF */
        else return 0;
        if (i + need >= n) return 0; /* truncated sequence */
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += need + 1;
    }
    return 1;
}

static int all_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

static int check_url(const char *u, size_t n) {
    if (n == 0) return OVS_REJ_EMPTY_URL;
    size_t scheme;
    if (n >= 7 && !strncasecmp(u, "http://", 7)) scheme = 7;
    else if (n >= 8 && !strncasecmp(u, "https://", 8)) scheme = 8;
    else return OVS_REJ_BAD_SCHEME;
    if (n > OVS_TSV_MAX_URL) return OVS_REJ_URL_TOO_LONG;
    if (n == scheme || u[scheme] == '/') return OVS_REJ_BAD_URL;
    for (size_t i = scheme; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c < 0x20 || c == 0x7f) return OVS_REJ_BAD_URL;
    }
    return OVS_REJ_NONE;
}

int ovs_tsv_check(const char *line, size_t len, int caption_first, ovs_tsv_fields *f) {
    if (len > OVS_TSV_MAX_LINE) return OVS_REJ_LINE_TOO_LONG;
    if (len > 0 && line[len - 1] == '\r') len--;
    if (memchr(line, 0, len)) return OVS_REJ_NUL;
    if (!ovs_utf8_valid((const unsigned char *)line, len)) return OVS_REJ_BAD_UTF8;
    const char *tab = memchr(line, '\t', len);
    if (!tab) return OVS_REJ_MISSING_TAB;
    const char *a = line, *b = tab + 1;
    size_t na = (size_t)(tab - line), nb = len - na - 1;
    f->url = caption_first ? b : a;
    f->url_len = caption_first ? nb : na;
    f->caption = caption_first ? a : b;
    f->caption_len = caption_first ? na : nb;
    int r = check_url(f->url, f->url_len);
    if (r) return r;
    if (all_blank(f->caption, f->caption_len)) return OVS_REJ_EMPTY_CAPTION;
    if (f->caption_len > OVS_TSV_MAX_CAPTION) return OVS_REJ_CAPTION_TOO_LONG;
    return OVS_REJ_NONE;
}

/* ── reading ────────────────────────────────────────────────────────────────────────────── */

enum { READ_CHUNK = 1 << 20 };

int ovs_tsv_open(ovs_tsv *t, const char *path, ovs_err *e) {
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    struct stat st;
    if (stat(path, &st) != 0) return ovs_errno(e, OVS_EUSER, "%s", path);
    if (S_ISDIR(st.st_mode)) return ovs_errf(e, OVS_EUSER, "%s: is a directory, not a TSV file", path);
    t->cap = READ_CHUNK + OVS_TSV_MAX_LINE + 1;
    t->buf = malloc(t->cap);
    t->a = archive_read_new();
    if (!t->buf || !t->a) { ovs_tsv_close(t); return ovs_errf(e, OVS_EINTERNAL, "%s: out of memory", path); }
    archive_read_support_filter_all(t->a);
    archive_read_support_format_raw(t->a);
    if (st.st_size == 0) { t->eof = 1; return 0; } /* libarchive's raw format refuses empty input */
    int rc = archive_read_open_filename(t->a, path, READ_CHUNK);
    struct archive_entry *ent;
    if (rc == ARCHIVE_OK) rc = archive_read_next_header(t->a, &ent);
    /* the raw format accepts any input of one byte or more, so "unrecognized format" means the
     * decompressed stream is empty (e.g. gzip of nothing) */
    const char *why = archive_error_string(t->a);
    if (rc == ARCHIVE_EOF || (rc == ARCHIVE_FATAL && why && strstr(why, "Unrecognized archive format"))) {
        t->eof = 1;
        return 0;
    }
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        int err = ovs_errf(e, OVS_EUSER, "%s: cannot read: %s", path,
                           archive_error_string(t->a) ? archive_error_string(t->a) : "unknown error");
        ovs_tsv_close(t);
        return err;
    }
    return 0;
}

/* Moves the unread bytes to the front and reads more; sets eof at the end of the input. */
static int refill(ovs_tsv *t, ovs_err *e) {
    size_t avail = t->end - t->start;
    if (t->start) memmove(t->buf, t->buf + t->start, avail);
    t->start = 0;
    t->end = avail;
    la_ssize_t n = archive_read_data(t->a, t->buf + t->end, t->cap - t->end);
    if (n < 0) {
        const char *msg = archive_error_string(t->a);
        return ovs_errf(e, OVS_EUSER, "%s:%lld: input broken here: %s", t->path, (long long)t->line + 1,
                        msg ? msg : "read error");
    }
    if (n == 0) t->eof = 1;
    t->end += (size_t)n;
    return 0;
}

static void emit(ovs_tsv *t, ovs_tsv_line *l, size_t len, int too_long) {
    l->ptr = t->buf + t->start;
    l->len = len;
    l->too_long = too_long;
    l->number = ++t->line;
}

int ovs_tsv_next(ovs_tsv *t, ovs_tsv_line *l, ovs_err *e) {
    l->ptr = NULL;
    for (;;) {
        char *p = t->buf + t->start;
        size_t avail = t->end - t->start;
        char *nl = memchr(p, '\n', avail);
        if (t->skipping) { /* the rest of an over-long line already returned */
            if (nl) { t->start += (size_t)(nl - p) + 1; t->skipping = 0; continue; }
            t->start = t->end;
        } else if (nl) {
            size_t len = (size_t)(nl - p);
            if (len > OVS_TSV_MAX_LINE) emit(t, l, OVS_TSV_MAX_LINE, 1);
            else emit(t, l, len, 0);
            t->start += (size_t)(nl - p) + 1;
            return 0;
        } else if (avail > OVS_TSV_MAX_LINE) {
            emit(t, l, OVS_TSV_MAX_LINE, 1);
            t->skipping = 1; /* the bytes stay valid until the next call, which discards them */
            return 0;
        } else if (t->eof) {
            if (avail == 0) return 0;
            emit(t, l, avail, 0);
            t->start = t->end;
            return 0;
        }
        if (t->eof) return 0;
        int rc = refill(t, e);
        if (rc) return rc;
    }
}

int64_t ovs_tsv_size_guess(const ovs_tsv *t) {
    struct stat st;
    if (stat(t->path, &st) != 0) return 0;
    int compressed = t->a && archive_filter_count(t->a) > 1; /* the last filter is the file itself */
    return (int64_t)st.st_size * (compressed ? 3 : 1);
}

void ovs_tsv_close(ovs_tsv *t) {
    if (t->a) archive_read_free(t->a);
    free(t->buf);
    t->a = NULL;
    t->buf = NULL;
}
