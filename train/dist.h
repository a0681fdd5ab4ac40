/* dist.h — data-parallel communication for `mpirun -np K ovseg train`: rank/world, all-reduce,
 * all-gather, broadcast. Built on MPI when ovseg was compiled with OpenMPI (OVS_HAVE_MPI; the
 * Makefile detects it), otherwise every call is the single-process identity, so plain
 * `ovseg train` behaves the same either way. */
#ifndef OVS_DIST_H
#define OVS_DIST_H

#include <stddef.h>

#include "train/model.h"
#include "util/err.h"

enum { OVS_DIST_MAXREQ = 64, OVS_DIST_MAXRANGE = 8 };

typedef struct ovs_dist {
    int rank, world;
    int mpi;        /* 1 when MPI was initialised by ovs_dist_init */
    /* the gradient sum of the current step (ovs_dist_grads_begin .. _end) */
    float *gbuf;
    size_t gn, bucket;
    size_t ranges[OVS_DIST_MAXRANGE][2]; /* started early: [off, n] */
    int nranges, nreq, grc;
    void *req;      /* MPI_Request[OVS_DIST_MAXREQ] */
    ovs_err gerr;
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
/* recv[world * n bytes] = every rank's send[n bytes], in rank order. */
int ovs_dist_allgather_bytes(ovs_dist *d, const void *send, void *recv, size_t n, ovs_err *e);

/* The gradient sum over ranks, in place, in buckets of `bucket` floats (0: 4M) of MPI_Allreduce.
 * With 2 ranks every rank gets the same bits (float addition commutes); OpenMPI's algorithms for
 * more ranks also deliver one result to all, which the training loop checks at every checkpoint
 * (and repairs by broadcasting rank 0's state). */
int ovs_dist_allreduce_grads(ovs_dist *d, float *buf, size_t n, size_t bucket, ovs_err *e);
/* The gradient sum of a step, overlapped with the backward: _begin before the step; the model's
 * collective (ovs_dist_collective) then starts non-blocking sums (MPI_Iallreduce, buckets of 4M
 * floats) of the ranges it reports final during the backward; _end sums the rest and waits for
 * all. Same result as ovs_dist_allreduce_grads. Identity without MPI or with one rank. */
void ovs_dist_grads_begin(ovs_dist *d, float *buf, size_t n);
int ovs_dist_grads_end(ovs_dist *d, ovs_err *e);

/* Rank 0's buf[n floats] to all ranks (any n). */
int ovs_dist_bcast_floats(ovs_dist *d, float *buf, size_t n, ovs_err *e);

/* Ends every rank of the job at once (after an error on this rank: the others may be waiting in a
 * collective). Returns only without MPI. */
void ovs_dist_abort(ovs_dist *d, int code);

/* The model's collectives (model.h) on this communicator. */
void ovs_dist_collective(ovs_dist *d, ovs_collective *c);

#endif
