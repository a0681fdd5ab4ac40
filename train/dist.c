/* dist.c — MPI wrappers for data-parallel training (see dist.h); identity without MPI. */
#include "train/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int coll_sum(void *ctx, double *buf, size_t n, ovs_err *e) { return ovs_dist_allreduce_sum_d(ctx, buf, n, e); }
static int coll_gather(void *ctx, const float *send, float *recv, size_t n, ovs_err *e) {
    return ovs_dist_allgather(ctx, send, recv, n, e);
}

static void coll_ready(void *ctx, size_t off, size_t n);

void ovs_dist_collective(ovs_dist *d, ovs_collective *c) {
    *c = (ovs_collective){.ctx = d, .rank = d->rank, .world = d->world, .sum = coll_sum, .gather = coll_gather};
    if (d->mpi && d->world > 1) c->ready = coll_ready;
}

#ifdef OVS_HAVE_MPI
#include <mpi.h>
#include <signal.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int ovs_dist_have_mpi(void) { return 1; }

static int launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static int mpi_fail(ovs_err *e, int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return ovs_errf(e, OVS_EINTERNAL, "MPI %s failed: %s (a rank may have died)", what, msg);
}

/* A rank dies with the process that started it (mpirun, or orted on another host). OpenMPI puts
 * every rank in a process group of its own, so kill -9 of mpirun (or of its group) would otherwise
 * leave the ranks training on, and writing checkpoints beside the next job in the same run folder. */
static int die_with_launcher(ovs_err *e) {
#ifdef __linux__
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return ovs_errno(e, OVS_EINTERNAL, "prctl(PR_SET_PDEATHSIG)");
    if (getppid() != parent) return ovs_errf(e, OVS_EINTERNAL, "the process that started this rank (mpirun) is gone");
#else
    (void)e;
#endif
    return 0;
}

int ovs_dist_init(ovs_dist *d, ovs_err *e) {
    memset(d, 0, sizeof *d);
    d->world = 1;
    if (!launched_by_mpirun()) return 0;
    if (die_with_launcher(e)) return OVS_EINTERNAL;
    int provided, rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail(e, rc, "init");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->world);
    d->mpi = 1;
    return 0;
}

void ovs_dist_finalize(ovs_dist *d) {
    if (d->mpi) MPI_Finalize();
    d->mpi = 0;
    free(d->req);
    d->req = NULL;
}

void ovs_dist_abort(ovs_dist *d, int code) {
    if (d->mpi && d->world > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int ovs_dist_allgather_bytes(ovs_dist *d, const void *send, void *recv, size_t n, ovs_err *e) {
    if (!d->mpi || d->world == 1) {
        if (recv != send) memmove(recv, send, n);
        return 0;
    }
    int rc = MPI_Allgather(send, (int)n, MPI_BYTE, recv, (int)n, MPI_BYTE, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(e, rc, "all-gather");
}

int ovs_dist_allreduce_grads(ovs_dist *d, float *buf, size_t n, size_t bucket, ovs_err *e) {
    if (!d->mpi || d->world == 1) return 0;
    if (!bucket) bucket = (size_t)1 << 22;
    for (size_t off = 0; off < n; off += bucket) {
        size_t len = n - off < bucket ? n - off : bucket;
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(e, rc, "gradient all-reduce");
    }
    return 0;
}

void ovs_dist_grads_begin(ovs_dist *d, float *buf, size_t n) {
    d->gbuf = buf, d->gn = n, d->nranges = d->nreq = d->grc = 0, d->bucket = (size_t)1 << 22;
    if (d->mpi && d->world > 1 && !d->req && !(d->req = malloc(sizeof(MPI_Request) * OVS_DIST_MAXREQ)))
        d->grc = ovs_errf(&d->gerr, OVS_EINTERNAL, "gradient all-reduce: out of memory");
}

/* Starts the sum of [off, off + n) in buckets, unless the request list is full (then _end sums it). */
static void coll_ready(void *ctx, size_t off, size_t n) {
    ovs_dist *d = ctx;
    MPI_Request *req = d->req;
    if (!d->gbuf || !req || !d->bucket || d->grc || off + n > d->gn || d->nranges == OVS_DIST_MAXRANGE) return;
    size_t nb = (n + d->bucket - 1) / d->bucket;
    if (d->nreq + (int)nb > OVS_DIST_MAXREQ) return;
    for (size_t o = off; o < off + n; o += d->bucket) {
        size_t len = off + n - o < d->bucket ? off + n - o : d->bucket;
        int rc = MPI_Iallreduce(MPI_IN_PLACE, d->gbuf + o, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req[d->nreq]);
        if (rc != MPI_SUCCESS) {
            d->grc = mpi_fail(&d->gerr, rc, "gradient all-reduce");
            return;
        }
        d->nreq++;
    }
    d->ranges[d->nranges][0] = off, d->ranges[d->nranges][1] = n, d->nranges++;
    int flag;
    MPI_Testall(d->nreq, req, &flag, MPI_STATUSES_IGNORE); /* progress */
}

int ovs_dist_grads_end(ovs_dist *d, ovs_err *e) {
    if (!d->mpi || d->world == 1) return 0;
    if (d->grc) {
        *e = d->gerr;
        return d->grc;
    }
    /* the gaps between the ranges already started, in order */
    size_t at = 0;
    int rc = 0;
    while (at < d->gn && !rc) {
        size_t next = d->gn, skip = 0;
        for (int i = 0; i < d->nranges; i++)
            if (d->ranges[i][0] >= at && d->ranges[i][0] < next) next = d->ranges[i][0], skip = d->ranges[i][1];
        if (next > at) rc = ovs_dist_allreduce_grads(d, d->gbuf + at, next - at, 0, e);
        at = next + skip;
    }
    if (d->nreq) {
        int w = MPI_Waitall(d->nreq, d->req, MPI_STATUSES_IGNORE);
        if (w != MPI_SUCCESS && !rc) rc = mpi_fail(e, w, "gradient all-reduce");
    }
    d->gbuf = NULL, d->nranges = d->nreq = 0;
    return rc;
}

int ovs_dist_bcast_floats(ovs_dist *d, float *buf, size_t n, ovs_err *e) {
    if (!d->mpi || d->world == 1) return 0;
    for (size_t off = 0, step = (size_t)1 << 28; off < n; off += step) {
        size_t len = n - off < step ? n - off : step;
        int rc = MPI_Bcast(buf + off, (int)len, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(e, rc, "broadcast");
    }
    return 0;
}

int ovs_dist_allreduce_sum(ovs_dist *d, float *buf, size_t n, ovs_err *e) {
    if (!d->mpi || d->world == 1) return 0;
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(e, rc, "all-reduce");
}

int ovs_dist_allreduce_sum_d(ovs_dist *d, double *buf, size_t n, ovs_err *e) {
    if (!d->mpi || d->world == 1) return 0;
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(e, rc, "all-reduce");
}

int ovs_dist_allgather(ovs_dist *d, const float *send, float *recv, size_t n, ovs_err *e) {
    if (!d->mpi || d->world == 1) {
        if (recv != send) memmove(recv, send, n * sizeof(float));
        return 0;
    }
    int rc = MPI_Allgather(send, (int)n, MPI_FLOAT, recv, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(e, rc, "all-gather");
}

int ovs_dist_bcast(ovs_dist *d, void *buf, size_t n, ovs_err *e) {
    if (!d->mpi || d->world == 1) return 0;
    int rc = MPI_Bcast(buf, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(e, rc, "broadcast");
}

int ovs_dist_barrier(ovs_dist *d, ovs_err *e) {
    if (!d->mpi || d->world == 1) return 0;
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(e, rc, "barrier");
}

#else /* no MPI: one process */

int ovs_dist_have_mpi(void) { return 0; }

int ovs_dist_init(ovs_dist *d, ovs_err *e) {
    memset(d, 0, sizeof *d);
    d->world = 1;
    /* started by mpirun with K > 1: K copies would each train alone into the same run folder */
    const char *k = getenv("OMPI_COMM_WORLD_SIZE");
    if (!k) k = getenv("PMI_SIZE");
    if (k && atoi(k) > 1)
        return ovs_errf(e, OVS_EUSER, "started by mpirun with %d ranks, but this ovseg was built without MPI "
                        "(install libopenmpi-dev and rebuild)", atoi(k));
    return 0;
}

void ovs_dist_finalize(ovs_dist *d) { (void)d; }
void ovs_dist_abort(ovs_dist *d, int code) { (void)d, (void)code; }
int ovs_dist_allreduce_grads(ovs_dist *d, float *buf, size_t n, size_t bucket, ovs_err *e) {
    (void)d, (void)buf, (void)n, (void)bucket, (void)e;
    return 0;
}
int ovs_dist_bcast_floats(ovs_dist *d, float *buf, size_t n, ovs_err *e) { (void)d, (void)buf, (void)n, (void)e; return 0; }
void ovs_dist_grads_begin(ovs_dist *d, float *buf, size_t n) { (void)d, (void)buf, (void)n; }
int ovs_dist_grads_end(ovs_dist *d, ovs_err *e) { (void)d, (void)e; return 0; }
static void coll_ready(void *ctx, size_t off, size_t n) { (void)ctx, (void)off, (void)n; }
int ovs_dist_allgather_bytes(ovs_dist *d, const void *send, void *recv, size_t n, ovs_err *e) {
    (void)d, (void)e;
    if (recv != send) memmove(recv, send, n);
    return 0;
}

int ovs_dist_allreduce_sum(ovs_dist *d, float *buf, size_t n, ovs_err *e) { (void)d, (void)buf, (void)n, (void)e; return 0; }
int ovs_dist_allreduce_sum_d(ovs_dist *d, double *buf, size_t n, ovs_err *e) { (void)d, (void)buf, (void)n, (void)e; return 0; }

int ovs_dist_allgather(ovs_dist *d, const float *send, float *recv, size_t n, ovs_err *e) {
    (void)d, (void)e;
    if (recv != send) memmove(recv, send, n * sizeof(float));
    return 0;
}

int ovs_dist_bcast(ovs_dist *d, void *buf, size_t n, ovs_err *e) { (void)d, (void)buf, (void)n, (void)e; return 0; }
int ovs_dist_barrier(ovs_dist *d, ovs_err *e) { (void)d, (void)e; return 0; }

#endif
