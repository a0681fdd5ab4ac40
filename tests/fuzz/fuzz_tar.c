/* fuzz_tar.c — fuzz target: the loader's tar reader (ustar/pax/GNU headers, sample grouping,
 * member reads by offset) on an arbitrary shard file. Refused names must never come out. */
#include <stdint.h>
#include <string.h>

#include "shards/tarread.h"
#include "tests/fuzz/fuzz_memfile.h"

static void check_name(const char *n) {
    if (n[0] == '/') abort();
    for (const char *p = n; (p = strstr(p, "..")); p += 2)
        if ((p == n || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_memfile(data, size);
    ovs_tarr r;
    ovs_err e;
    ovs_buf b = {0};
    if (ovs_tarr_open(&r, path, &e)) return 0;
    ovs_tar_sample s;
    int got, samples = 0;
    while ((got = ovs_tarr_next_sample(&r, &s, &e)) == OVS_TAR_GOT && samples++ < 10000) {
        for (int i = 0; i < s.n; i++) {
            check_name(s.m[i].name);
            if (s.m[i].data_off < 0 || s.m[i].size < 0 || s.m[i].data_off + s.m[i].size > (int64_t)size) abort();
            if (ovs_tar_read_data(r.fd, path, &s.m[i], &b, &e) == 0 && b.len != (size_t)s.m[i].size) abort();
            ovs_tar_member m;
            ovs_tar_read_member_at(r.fd, path, s.m[i].header_off, (int64_t)size, &m, &b, &e);
        }
        char key[256];
        if (s.n) ovs_tar_split_name(s.m[0].name, key, sizeof key);
        ovs_tar_sample_find(&s, "jpg");
    }
    ovs_tarr_close(&r);
    /* a member read at an arbitrary offset (samples.member_offset comes from the database) */
    if (size >= 8 && ovs_tarr_open(&r, path, &e) == 0) {
        int64_t off;
        memcpy(&off, data, 8);
        ovs_tar_member m;
        ovs_tar_read_member_at(r.fd, path, off % ((int64_t)size + 1), (int64_t)size, &m, &b, &e);
        ovs_tarr_close(&r);
    }
    free(b.data);
    return 0;
}
