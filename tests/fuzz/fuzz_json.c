/* fuzz_json.c — fuzz target: the small JSON tokenizer of shard manifests and KEY.json members,
 * with its accessors walked over every token. */
#include <stdint.h>
#include <stdlib.h>

#include "shards/minijson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mj_doc d = {0};
    if (mj_parse(&d, (const char *)data, size) == 0) {
        char out[64];
        for (int i = 0; i < d.n; i++) {
            const mj_tok *t = &d.t[i];
            if (t->start < 0 || t->end < t->start || (size_t)t->end > size || t->next <= i || t->next > d.n) abort();
            mj_int(&d, i, 0);
            mj_str(&d, i, out, sizeof out);
            if (t->type == MJ_OBJ) { mj_get(&d, i, "key"); mj_get(&d, i, "caption"); }
            if (t->type == MJ_ARR) { mj_at(&d, i, 0); mj_at(&d, i, t->size); }
        }
    }
    mj_free(&d);
    return 0;
}
