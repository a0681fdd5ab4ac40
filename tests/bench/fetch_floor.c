/* fetch_floor.c — the floor for bench_fetch.sh: the image stage of `ovseg fetch` (decode, resize,
 * encode: ovs_fetch_image) over files already in memory, on T threads, with no network and no
 * database. Prints "FLOOR images N seconds S threads T".
 *   build/tests/bench/fetch_floor THREADS IMAGE_SIZE FILE... */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "ingest/fetch.h"
#include "util/fsutil.h"
#include "util/progress.h"

typedef struct job { char **data; size_t *len; int n; atomic_int next, ok; ovs_fetch_opts o; } job;

static void *run(void *arg) {
    job *j = arg;
    for (int i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        ovs_fetch_img r;
        ovs_fetch_image(&j->o, j->data[i], j->len[i], &r);
        if (r.reason == OVS_R_OK) atomic_fetch_add(&j->ok, 1);
        ovs_buf_free(&r.encoded);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: fetch_floor THREADS IMAGE_SIZE FILE...\n"); return 1; }
    int nth = atoi(argv[1]);
    job j = {0};
    ovs_fetch_defaults(&j.o);
    j.o.image_size = atoi(argv[2]);
    j.n = argc - 3;
    j.data = calloc((size_t)j.n, sizeof *j.data);
    j.len = calloc((size_t)j.n, sizeof *j.len);
    ovs_err e = {0};
    for (int i = 0; i < j.n; i++)
        if (ovs_read_file(argv[3 + i], &j.data[i], &j.len[i], &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
    pthread_t th[64];
    double t0 = ovs_now();
    for (int t = 0; t < nth; t++) pthread_create(&th[t], NULL, run, &j);
    for (int t = 0; t < nth; t++) pthread_join(th[t], NULL);
    double s = ovs_now() - t0;
    printf("FLOOR images %d seconds %.3f threads %d\n", atomic_load(&j.ok), s, nth);
    for (int i = 0; i < j.n; i++) free(j.data[i]);
    free(j.data);
    free(j.len);
    return 0;
}
