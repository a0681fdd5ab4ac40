/* fuzz_safetensors.c — fuzz target: safetensors files (8-byte length, JSON header, offsets), then
 * every tensor read with dtype conversion and the metadata looked up. */
#include <stdint.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz_memfile.h"
#include "train/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ovs_st_file f;
    ovs_err e;
    if (ovs_st_open(&f, fuzz_memfile(data, size), &e)) return 0;
    for (int i = 0; i < f.n; i++) {
        const ovs_st_tensor *t = &f.t[i];
        if (t->end > f.size || t->begin > t->end) abort();
        if (t->numel > (1u << 22)) continue;
        float *dst = malloc((t->numel ? t->numel : 1) * sizeof *dst);
        ovs_st_read_f32(&f, t->name, dst, t->numel, &e);
        ovs_st_read_shaped(&f, t->name, t->ndim, t->shape, dst, &e);
        free(dst);
        if (ovs_st_find(&f, t->name) == NULL) abort();
    }
    ovs_st_meta(&f, "format");
    ovs_st_close(&f);
    return 0;
}
