/* fuzz_url.c — fuzz target: URL checks. The input is a URL: ingest's validation of the url field
 * (scheme, length, host, control characters), fetch's host:port key for the per-host cap (libcurl's
 * URL parser), and queueing it in a real transfer set (http/https only), freed without any network
 * traffic. It includes ingest/http.c to reach host_key (the code under test, unchanged). */
#include "ingest/http.c"
#include "ingest/tsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ovs_http *h;
    ovs_err e;
    if (!h) {
        ovs_http_opts o = {.max_inflight = 4, .per_host = 2, .timeout_ms = 1000, .max_bytes = 1 << 20,
                           .max_pixels = 1000000, .user_agent = "ovseg-fuzz"};
        if (ovs_http_new(&h, &o, &e)) abort();
    }
    char *line = malloc(size + 3);
    memcpy(line, "c\t", 2);
    memcpy(line + 2, data, size);
    ovs_tsv_fields f;
    int rej = ovs_tsv_check(line, size + 2, 1, &f);
    line[size + 2] = 0;
    char *url = line + 2;
    if (strlen(url) == size) { /* no NUL inside: a C string as the database hands it to fetch */
        char *key = host_key(url);
        if (!key) abort();
        free(key);
        if (rej == OVS_REJ_NONE && ovs_http_add(h, url, NULL, &e) == 0 && ovs_http_pending(h) > 64) {
            ovs_http_free(h); /* aborts the queued transfers: no network step ever ran */
            h = NULL;
        }
    }
    free(line);
    return 0;
}
