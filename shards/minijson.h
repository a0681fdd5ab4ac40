/* minijson.h — a small JSON tokenizer (jsmn-style: one flat array of tokens in document order,
 * no allocation per value) and accessors, for the manifest and the KEY.json members of shards.
 * Malformed input gives an error, never a crash. */
#ifndef OVS_MINIJSON_H
#define OVS_MINIJSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MJ_NULL, MJ_BOOL, MJ_NUM, MJ_STR, MJ_ARR, MJ_OBJ } mj_type;

typedef struct mj_tok {
    mj_type type;
    int start, end; /* byte span in the text (strings: inside the quotes) */
    int size;       /* arrays: elements; objects: key/value pairs */
    int next;       /* index of the token after this value's subtree */
} mj_tok;

typedef struct mj_doc {
    const char *s;
    mj_tok *t;
    int n, cap;
} mj_doc;

/* Parses s[0..n). 0 ok, -1 malformed (or out of memory). */
int mj_parse(mj_doc *d, const char *s, size_t n);
void mj_free(mj_doc *d);
/* The value of key in object token obj, or -1. */
int mj_get(const mj_doc *d, int obj, const char *key);
/* Element i of array token arr, or -1. */
int mj_at(const mj_doc *d, int arr, int i);
int64_t mj_int(const mj_doc *d, int tok, int64_t dflt);
/* Unescapes string token tok into out (cap bytes, NUL-terminated, truncated). Returns length or -1. */
int mj_str(const mj_doc *d, int tok, char *out, size_t cap);

#endif
