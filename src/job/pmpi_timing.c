/* pmpi_timing.c: communication time for the run summary by PMPI interposition.  Each
 * MPI data-movement or synchronisation call below is timed into ND_STATS_COMM and
 * forwarded to its PMPI_ twin.  Linked into the noodle-run executable only, which
 * exports the MPI_* symbols (-Wl,--export-dynamic-symbol), so that the calls made by
 * ScaLAPACK/BLACS and parallel HDF5 from their shared libraries resolve here too.
 * Set-up calls (communicator, datatype, info management) are not timed.  Rank-local
 * and single-threaded, like the stats module; docs/config.md "Progress and summary".
 */
#include "runtime/stats.h"

#include <mpi.h>

#define TIMED(call)                                                                      \
    do {                                                                                 \
        nd_stats_begin(ND_STATS_COMM);                                                   \
        int rc_ = (call);                                                                \
        nd_stats_end(ND_STATS_COMM);                                                     \
        return rc_;                                                                      \
    } while (0)

/* ---- point to point ---- */

int MPI_Send(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
    TIMED(PMPI_Send(buf, count, dt, dest, tag, comm));
}

int MPI_Rsend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
    TIMED(PMPI_Rsend(buf, count, dt, dest, tag, comm));
}

int MPI_Ssend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm)
{
    TIMED(PMPI_Ssend(buf, count, dt, dest, tag, comm));
}

int MPI_Recv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
             MPI_Status *status)
{
    TIMED(PMPI_Recv(buf, count, dt, src, tag, comm, status));
}

int MPI_Isend(const void *buf, int count, MPI_Datatype dt, int dest, int tag, MPI_Comm comm,
              MPI_Request *req)
{
    TIMED(PMPI_Isend(buf, count, dt, dest, tag, comm, req));
}

int MPI_Irecv(void *buf, int count, MPI_Datatype dt, int src, int tag, MPI_Comm comm,
              MPI_Request *req)
{
    TIMED(PMPI_Irecv(buf, count, dt, src, tag, comm, req));
}

int MPI_Sendrecv(const void *sbuf, int scount, MPI_Datatype sdt, int dest, int stag,
                 void *rbuf, int rcount, MPI_Datatype rdt, int src, int rtag, MPI_Comm comm,
                 MPI_Status *status)
{
    TIMED(PMPI_Sendrecv(sbuf, scount, sdt, dest, stag, rbuf, rcount, rdt, src, rtag, comm,
                        status));
}

int MPI_Probe(int src, int tag, MPI_Comm comm, MPI_Status *status)
{
    TIMED(PMPI_Probe(src, tag, comm, status));
}

int MPI_Mprobe(int src, int tag, MPI_Comm comm, MPI_Message *msg, MPI_Status *status)
{
    TIMED(PMPI_Mprobe(src, tag, comm, msg, status));
}

int MPI_Imrecv(void *buf, int count, MPI_Datatype dt, MPI_Message *msg, MPI_Request *req)
{
    TIMED(PMPI_Imrecv(buf, count, dt, msg, req));
}

/* ---- completion ---- */

int MPI_Wait(MPI_Request *req, MPI_Status *status)
{
    TIMED(PMPI_Wait(req, status));
}

int MPI_Waitall(int n, MPI_Request reqs[], MPI_Status statuses[])
{
    TIMED(PMPI_Waitall(n, reqs, statuses));
}

int MPI_Waitany(int n, MPI_Request reqs[], int *index, MPI_Status *status)
{
    TIMED(PMPI_Waitany(n, reqs, index, status));
}

int MPI_Test(MPI_Request *req, int *flag, MPI_Status *status)
{
    TIMED(PMPI_Test(req, flag, status));
}

int MPI_Testall(int n, MPI_Request reqs[], int *flag, MPI_Status statuses[])
{
    TIMED(PMPI_Testall(n, reqs, flag, statuses));
}

/* ---- collectives ---- */

int MPI_Barrier(MPI_Comm comm)
{
    TIMED(PMPI_Barrier(comm));
}

int MPI_Bcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm)
{
    TIMED(PMPI_Bcast(buf, count, dt, root, comm));
}

int MPI_Reduce(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op, int root,
               MPI_Comm comm)
{
    TIMED(PMPI_Reduce(sbuf, rbuf, count, dt, op, root, comm));
}

int MPI_Allreduce(const void *sbuf, void *rbuf, int count, MPI_Datatype dt, MPI_Op op,
                  MPI_Comm comm)
{
    TIMED(PMPI_Allreduce(sbuf, rbuf, count, dt, op, comm));
}

int MPI_Gather(const void *sbuf, int scount, MPI_Datatype sdt, void *rbuf, int rcount,
               MPI_Datatype rdt, int root, MPI_Comm comm)
{
    TIMED(PMPI_Gather(sbuf, scount, sdt, rbuf, rcount, rdt, root, comm));
}

int MPI_Gatherv(const void *sbuf, int scount, MPI_Datatype sdt, void *rbuf,
                const int rcounts[], const int displs[], MPI_Datatype rdt, int root,
                MPI_Comm comm)
{
    TIMED(PMPI_Gatherv(sbuf, scount, sdt, rbuf, rcounts, displs, rdt, root, comm));
}

int MPI_Scatter(const void *sbuf, int scount, MPI_Datatype sdt, void *rbuf, int rcount,
                MPI_Datatype rdt, int root, MPI_Comm comm)
{
    TIMED(PMPI_Scatter(sbuf, scount, sdt, rbuf, rcount, rdt, root, comm));
}

int MPI_Scatterv(const void *sbuf, const int scounts[], const int displs[], MPI_Datatype sdt,
                 void *rbuf, int rcount, MPI_Datatype rdt, int root, MPI_Comm comm)
{
    TIMED(PMPI_Scatterv(sbuf, scounts, displs, sdt, rbuf, rcount, rdt, root, comm));
}

int MPI_Allgather(const void *sbuf, int scount, MPI_Datatype sdt, void *rbuf, int rcount,
                  MPI_Datatype rdt, MPI_Comm comm)
{
    TIMED(PMPI_Allgather(sbuf, scount, sdt, rbuf, rcount, rdt, comm));
}

int MPI_Allgatherv(const void *sbuf, int scount, MPI_Datatype sdt, void *rbuf,
                   const int rcounts[], const int displs[], MPI_Datatype rdt, MPI_Comm comm)
{
    TIMED(PMPI_Allgatherv(sbuf, scount, sdt, rbuf, rcounts, displs, rdt, comm));
}

int MPI_Alltoall(const void *sbuf, int scount, MPI_Datatype sdt, void *rbuf, int rcount,
                 MPI_Datatype rdt, MPI_Comm comm)
{
    TIMED(PMPI_Alltoall(sbuf, scount, sdt, rbuf, rcount, rdt, comm));
}

int MPI_Alltoallv(const void *sbuf, const int scounts[], const int sdispls[],
                  MPI_Datatype sdt, void *rbuf, const int rcounts[], const int rdispls[],
                  MPI_Datatype rdt, MPI_Comm comm)
{
    TIMED(PMPI_Alltoallv(sbuf, scounts, sdispls, sdt, rbuf, rcounts, rdispls, rdt, comm));
}
