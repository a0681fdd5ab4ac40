/* fuzz_tsv.c — fuzz target: caption TSV files. The input is one whole file, read by the line
 * reader (plain or compressed: libarchive's raw format sniffs gz/bz2/xz/zst) and every line checked
 * (split on the first tab, URL and caption validation) in both column orders. */
#include <stdint.h>
#include <string.h>

#include "ingest/tsv.h"
#include "tests/fuzz/fuzz_memfile.h"

static void check_line(const char *p, size_t n) {
    ovs_tsv_fields f;
    for (int cf = 0; cf < 2; cf++) {
        int r = ovs_tsv_check(p, n, cf, &f);
        if (r < 0 || r >= OVS_REJ_N || !ovs_reject_name(r)) abort();
        if (r == OVS_REJ_NONE) { /* the fields lie inside the line and are valid UTF-8 */
            if (f.url < p || f.url + f.url_len > p + n || f.caption < p || f.caption + f.caption_len > p + n) abort();
            if (!ovs_utf8_valid((const unsigned char *)f.url, f.url_len)) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the raw bytes as one line (exact-size buffer: overreads are caught) */
    check_line((const char *)data, size);
    ovs_tsv t;
    ovs_err e;
    if (ovs_tsv_open(&t, fuzz_memfile(data, size), &e)) return 0;
    ovs_tsv_line l;
    while (ovs_tsv_next(&t, &l, &e) == 0 && l.ptr) {
        char *copy = malloc(l.len ? l.len : 1);
        memcpy(copy, l.ptr, l.len);
        check_line(copy, l.len);
        free(copy);
    }
    ovs_tsv_close(&t);
    return 0;
}
