/* dist.h — data-parallel communication for `mpirun -np K ovseg train`: rank/world, all-reduce,
 * all-gather, broadcast. Built on MPI when ovseg was compiled with OpenMPI (OVS_HAVE_MPI; the
 * Makefile detects it), otherwise every call is the single-process identity, so plain
 * `ovseg train` behaves the same either way. */
#ifndef OVS_DIST_H
#define OVS_DIST_H

#include <stddef.h>

#include "util/err.h"

typedef struct ovs_dist {
    int rank, world;
    int mpi;        /* 1 when MPI was initialised by ovs_dist_init */
} ovs_dist;

/* Initialises MPI when the process was started by mpirun (else rank 0 of 1). */
int ovs_dist_init(ovs_dist *d, ovs_err *e);
void ovs_dist_finalize(ovs_dist *d);
int ovs_dist_have_mpi(void); /* compiled with MPI support */

/* In-place sum over ranks of n floats (also used for BatchNorm statistics). */
int ovs_dist_allreduce_sum(ovs_dist *d, float *buf, size_t n, ovs_err *e);
/* Same for doubles (loss sums, counters). */
int ovs_dist_allreduce_sum_d(ovs_dist *d, double *buf, size_t n, ovs_err *e);
/* recv[world * n] = concatenation of every rank's send[n], in rank order. */
int ovs_dist_allgather(ovs_dist *d, const float *send, float *recv, size_t n, ovs_err *e);
/* Rank 0's buf[n bytes] to all ranks. */
int ovs_dist_bcast(ovs_dist *d, void *buf, size_t n, ovs_err *e);
int ovs_dist_barrier(ovs_dist *d, ovs_err *e);

#endif
