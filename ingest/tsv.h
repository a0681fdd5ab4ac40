/* tsv.h — reading caption TSV files (plain, .gz, .bz2, .xz, .zst: one code path through
 * libarchive's raw format) line by line, and checking one line: split on its FIRST tab, then
 * validate the URL and the caption. No CSV quoting: real captions contain quotes. */
#ifndef OVS_TSV_H
#define OVS_TSV_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Limits of a valid line (bytes). A line longer than OVS_TSV_MAX_LINE cannot be valid and is not
 * kept in memory: it is rejected as line_too_long. */
enum { OVS_TSV_MAX_URL = 2048, OVS_TSV_MAX_CAPTION = 4096, OVS_TSV_MAX_LINE = 16384 };

/* Why a line was rejected (0 = accepted). The names (ovs_reject_name) are what `rejects.reason`
 * holds; their order is the order the checks run in. */
typedef enum {
    OVS_REJ_NONE = 0,
    OVS_REJ_LINE_TOO_LONG,    /* over OVS_TSV_MAX_LINE bytes */
    OVS_REJ_NUL,              /* a NUL byte anywhere in the line */
    OVS_REJ_BAD_UTF8,         /* not valid UTF-8 (overlongs, surrogates, > U+10FFFF included) */
    OVS_REJ_MISSING_TAB,      /* no tab at all (blank lines too) */
    OVS_REJ_EMPTY_URL,
    OVS_REJ_BAD_SCHEME,       /* not http:// or https:// (any case) */
    OVS_REJ_URL_TOO_LONG,     /* over OVS_TSV_MAX_URL bytes */
    OVS_REJ_BAD_URL,          /* no host after the scheme, or a control character/tab inside */
    OVS_REJ_EMPTY_CAPTION,    /* empty or only spaces/tabs */
    OVS_REJ_CAPTION_TOO_LONG, /* over OVS_TSV_MAX_CAPTION bytes */
    OVS_REJ_HASH_COLLISION,   /* a different URL already has this URL's 64-bit hash (ingest.c) */
    OVS_REJ_N
} ovs_reject;

const char *ovs_reject_name(int reason);

/* A line split into its fields (pointers into the line). */
typedef struct ovs_tsv_fields {
    const char *url, *caption;
    size_t url_len, caption_len;
} ovs_tsv_fields;

/* Checks one line (without its '\n'; a trailing '\r' is stripped here). caption_first selects the
 * column order caption<TAB>url (CC3M) instead of url<TAB>caption (CC12M). Returns OVS_REJ_NONE and
 * fills f, or the reason the line is rejected. */
int ovs_tsv_check(const char *line, size_t len, int caption_first, ovs_tsv_fields *f);

/* 1 when s[0..n) is valid UTF-8. */
int ovs_utf8_valid(const unsigned char *s, size_t n);

/* A line reader over any supported file. */
typedef struct ovs_tsv {
    struct archive *a;
    char path[4096];
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start..end) */
    int64_t line;           /* lines returned so far (the last returned line's number) */
    int eof, skipping;      /* skipping: inside an over-long line, discarding up to its '\n' */
} ovs_tsv;

typedef struct ovs_tsv_line {
    const char *ptr; /* NULL at the end of the input */
    size_t len;      /* without the '\n' */
    int too_long;    /* over OVS_TSV_MAX_LINE: ptr/len hold only its first bytes */
    int64_t number;  /* 1-based */
} ovs_tsv_line;

/* Opens path (a missing file, a directory or an unreadable file is an OVS_EUSER naming it). */
int ovs_tsv_open(ovs_tsv *t, const char *path, ovs_err *e);
/* Next line into l (l->ptr == NULL at the end). A read or decompression error mid-stream is
 * OVS_EUSER "path:LINE: ..." naming the line where the input broke; the lines before it were
 * all returned. A last line without '\n' is returned as a line. */
int ovs_tsv_next(ovs_tsv *t, ovs_tsv_line *l, ovs_err *e);
void ovs_tsv_close(ovs_tsv *t);
/* A rough guess of the file's decompressed size in bytes (its size, times 3 when compressed), for
 * choosing how to ingest it; never a limit. */
int64_t ovs_tsv_size_guess(const ovs_tsv *t);

#endif
