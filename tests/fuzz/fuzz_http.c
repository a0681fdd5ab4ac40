/* fuzz_http.c — fuzz target: the response handling of fetch's HTTP layer, without a network:
 * the input is a response head (lines up to a blank line: status lines of a redirect chain,
 * X-Robots-Tag and other headers) fed line by line to the header callback, then a body fed in
 * chunks to the early image checks (content sniffing, pixel cap from the image header).
 * It includes ingest/http.c to reach its static callbacks (the code under test, unchanged). */
#include "ingest/http.c"

static void feed_header(req *r, const uint8_t *p, size_t n) {
    char *line = malloc(n ? n : 1); /* exact size, as curl hands it: overreads are caught */
    memcpy(line, p, n);
    size_t got = on_header(line, 1, n, r);
    if (got != n && got != 0) abort();
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ovs_http h;
    h.o.max_pixels = 1000000;
    h.o.max_bytes = 1 << 20;
    h.o.allow_noai = size & 1;
    snprintf(h.ua_token, sizeof h.ua_token, "ovseg");
    req r;
    memset(&r, 0, sizeof r);
    r.h = &h;
    r.next_info = 64;
    size_t i = 0;
    while (i < size) { /* header lines, each with its line end */
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - (data + i)) + 1 : size - i;
        feed_header(&r, data + i, n);
        i += n;
        if (n <= 2 && (data[i - n] == '\r' || data[i - n] == '\n')) break; /* end of the head */
    }
    if (r.abort_reason == OVS_R_NOAI && (h.o.allow_noai || !r.noai)) abort();
    size_t chunk = 1 + (size % 97);
    while (i < size) { /* the body, in chunks, as on_body does after the byte cap */
        size_t n = size - i < chunk ? size - i : chunk;
        if (ovs_buf_append(&r.body, (const char *)data + i, n)) abort();
        i += n;
        if (check_body_start(&r)) {
            if (r.abort_reason != OVS_R_NOT_IMAGE && r.abort_reason != OVS_R_TOO_LARGE) abort();
            break;
        }
    }
    free(r.body.data);
    return 0;
}
