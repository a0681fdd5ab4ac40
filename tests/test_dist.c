/* test_dist.c — the data-parallel layer: single-process identity, and with MPI a real
 * `mpirun -np 2` of this same binary checking all-reduce, all-gather and broadcast across ranks. */
#include <stdlib.h>

#include "tests/check.h"
#include "train/dist.h"

static int child_main(void) { /* runs under mpirun: every rank checks, rank 0 prints */
    ovs_dist d;
    ovs_err e = {0};
    if (ovs_dist_init(&d, &e)) { fprintf(stderr, "%s\n", e.msg); return 2; }
    int bad = 0;
    float v[3] = {(float)d.rank + 1, 10, (float)d.rank};
    ovs_dist_allreduce_sum(&d, v, 3, &e);
    if (v[0] != 3 || v[1] != 20 || v[2] != 1) bad |= 1;
    float mine[2] = {(float)d.rank, (float)d.rank * 2}, all[4];
    ovs_dist_allgather(&d, mine, all, 2, &e);
    if (all[0] != 0 || all[1] != 0 || all[2] != 1 || all[3] != 2) bad |= 2;
    char msg[8] = "";
    if (d.rank == 0) memcpy(msg, "rank0!", 7);
    ovs_dist_bcast(&d, msg, sizeof msg, &e);
    if (strcmp(msg, "rank0!")) bad |= 4;
    double s = 1;
    ovs_dist_allreduce_sum_d(&d, &s, 1, &e);
    if (s != 2) bad |= 8;
    float flag = (float)bad;
    ovs_dist_allreduce_sum(&d, &flag, 1, &e);
    if (d.rank == 0) printf("world=%d bad=%g\n", d.world, flag);
    ovs_dist_finalize(&d);
    return flag == 0 ? 0 : 1;
}

TEST(dist_single_process_is_identity) {
    ovs_dist d;
    ovs_err e = {0};
    CHECK_OK(ovs_dist_init(&d, &e), &e);
    CHECK_EQ_INT(d.world, 1);
    float a[2] = {1, 2}, b[2];
    CHECK_OK(ovs_dist_allreduce_sum(&d, a, 2, &e), &e);
    CHECK_OK(ovs_dist_allgather(&d, a, b, 2, &e), &e);
    CHECK(a[0] == 1 && b[1] == 2);
    ovs_dist_finalize(&d);
}

TEST(dist_mpirun_two_ranks_reduce_gather_broadcast) {
    if (!ovs_dist_have_mpi() || system("command -v mpirun >/dev/null 2>&1")) {
        printf("  (built without MPI: skipped)\n");
        return;
    }
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "OVS_DIST_CHILD=1 " CHECK_MPIRUN " -np 2 /proc/%d/exe > '%s' 2>&1",
             (int)getpid(), check_path("mpi.out"));
    int rc = system(cmd);
    char buf[512] = "";
    FILE *f = fopen(check_path("mpi.out"), "r");
    if (f) { size_t n = fread(buf, 1, sizeof buf - 1, f); buf[n] = 0; fclose(f); }
    CHECK_MSG(rc == 0 && strstr(buf, "world=2 bad=0"), "mpirun rc %d: %s", rc, buf);
}

int main(void) {
    if (getenv("OVS_DIST_CHILD")) return child_main();
    RUN(dist_single_process_is_identity);
    RUN(dist_mpirun_two_ranks_reduce_gather_broadcast);
    return check_done();
}
