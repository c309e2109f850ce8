/* la.h: linear algebra on the runtime's distributed matrices (the nd_la_ module), the
 * layer between the VM and the runtime: the product, solve, inv, det and the
 * factorizations, each behind one front end (la.c) that checks shapes and runs the
 * ScaLAPACK backend or a device backend (backend.h).  Algorithms: docs/matrices.md;
 * the device paths: docs/gpu.md.
 *
 * Every function is Collective.  Errors the program can cause (shape, singular, not
 * positive definite) are ND_EPROG with a message naming the builtin and no source
 * position (the VM adds it), on every rank.  Inputs are borrowed; each nd_dm ** output
 * is a new matrix for the caller (nd_dm_free), NULL on failure.  Results do not depend
 * on the number of ranks beyond rounding; vector signs follow docs/matrices.md.
 */
#ifndef ND_LA_H
#define ND_LA_H

#include "runtime/dm.h"

/* A @ B; "shape mismatch: 2x3 @ 2x3" unless A's columns are B's rows. */
nd_status nd_la_matmul(const nd_dm *A, const nd_dm *B, nd_dm **out);
/* numpy's tensordot(A, B, axes=k) on n-d arrays (runtime/arr.h): contracts the last k
 * axes of A with the first k of B (shapes must agree there: "tensordot: shape mismatch:
 * 2x3 and 4 (...)"), as one nd_la_matmul of A read as (free of A)-by-(contracted) and B
 * as (contracted)-by-(free of B) (tensordot.c).  The result has A's free dimensions then
 * B's; with none (a full contraction) *scalar gets the value and *out is NULL. */
nd_status nd_la_tensordot(const nd_dm *A, const nd_dm *B, int k, nd_dm **out,
                          double *scalar);
/* Square-only functions on a non-square A: "solve: matrix must be square (2x3)" (the
 * function's name first).  Singular: "singular matrix"; cholesky of a non-SPD matrix:
 * "matrix is not positive definite". */
/* X with A @ X = B; B's rows must be A's ("shape mismatch: solve(2x2, 3x1)"). */
nd_status nd_la_solve(const nd_dm *A, const nd_dm *B, nd_dm **X);
nd_status nd_la_inv(const nd_dm *A, nd_dm **out);
/* det of a singular matrix is 0.0, not an error. */
nd_status nd_la_det(const nd_dm *A, double *out);
/* Lower triangular L with A = L @ L.T (reads A's lower triangle). */
nd_status nd_la_cholesky(const nd_dm *A, nd_dm **L);
/* Reduced QR: m >= n gives Q m-by-n, R n-by-n (m < n: Q m-by-m, R m-by-n). */
nd_status nd_la_qr(const nd_dm *A, nd_dm **Q, nd_dm **R);
/* Symmetric eigenproblem: w ascending (n-by-1), V with the largest-magnitude entry of
 * each column positive. */
nd_status nd_la_eigh(const nd_dm *A, nd_dm **w, nd_dm **V);
/* Reduced SVD, k = min(m, n): U m-by-k, s k-by-1 descending, V n-by-k; the columns of
 * U are signed so that the largest-magnitude entry is positive (V follows). */
nd_status nd_la_svd(const nd_dm *A, nd_dm **U, nd_dm **s, nd_dm **V);

/* Collective, after nd_spmd_configure and before any matrix exists: starts the GPU
 * backend.  Picks a device per rank by node-local rank and sets up cuBLAS, cuSOLVER and
 * the collectives: NCCL, or with mpi_comm MPI through host memory.  Without a device for
 * every rank (none, or without mpi_comm more ranks on a node than devices: NCCL needs
 * one device per rank): required gives ND_EUSAGE on every rank; otherwise *active stays
 * false.  Rank 0 prints one line saying which backend runs and why: at verbosity 1
 * (info) or more, except "no CUDA device was found", which needs 2 (debug).  Defined
 * only where configure found CUDA (ND_HAVE_CUDA), in noodle-run alone
 * (src/la/cuda/loader.c). */
nd_status nd_la_gpu_start(bool required, bool mpi_comm, int verbosity, bool *active);

#endif
