/* dm_h5.h: additions to dm.h's parallel HDF5 I/O for the checkpoint module: the same
 * transfers, also returning a checksum of the values computed while they pass through
 * the staging buffers (no extra pass over the matrix, one 16-byte all-reduce).
 * Implemented in dm_h5.c; docs/matrices.md "HDF5", docs/checkpoint.md "Checksums".
 */
#ifndef ND_DM_H5_H
#define ND_DM_H5_H

#include "runtime/dm.h"

/* With b(i, j) the IEEE-754 bits of element (i, j) of an m-by-n matrix as a uint64 and
 * all arithmetic mod 2^64:  add = sum b(i, j),  mix = sum b(i, j) * (2 (i n + j) + 1).
 * Exact integer sums: identical for any rank count, grid, block size and file layout;
 * any single changed element changes add, a swap of two different elements changes mix. */
typedef struct nd_dm_h5sum {
    uint64_t add, mix;
} nd_dm_h5sum;

/* Collective: nd_dm_h5write_loc / nd_dm_h5read_loc, and *sum (identical on every rank)
 * of the values written / read.  On failure *sum is unspecified. */
nd_status nd_dm_h5write_sum(int64_t loc_id, const char *dataset, const nd_dm *A,
                            nd_dm_h5sum *sum);
nd_status nd_dm_h5read_sum(int64_t loc_id, const char *dataset, nd_dm **out,
                           nd_dm_h5sum *sum);

/* Collective: opens path with the MPI-IO driver (*fid: its hid_t); create: make it if
 * missing (rank 0 looks, so every rank takes the same branch).  Failures are ND_EIO on
 * every rank. */
nd_status nd_h5_open_file(const char *path, bool create, int64_t *fid);
/* Collective: closes fid; returns st, or ND_EIO if st was ND_OK and the close failed,
 * agreed over the ranks. */
nd_status nd_h5_close_file(int64_t fid, const char *path, nd_status st);
/* Collective: ND_EIO (uniform, naming path and `what`) when the filesystem of path has
 * not `bytes` and some slack free, so a full disk fails before MPI-IO writes. */
nd_status nd_h5_check_room(const char *path, uint64_t bytes, const char *what);

#endif
