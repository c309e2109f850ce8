/* summa.h: the SUMMA matrix product behind nd_la_matmul (src/la/scalapack/summa.c).
 * Private to the ScaLAPACK backend.  Algorithm and panel width: docs/matrices.md.
 */
#ifndef ND_LA_SUMMA_H
#define ND_LA_SUMMA_H

#include "runtime/dm_layout.h"

/* Collective.  C := A @ B for matrices of the current grid with one block size
 * (A m-by-k, B k-by-n, C m-by-n, all nb == A->nb).  C is overwritten.  Returns
 * ND_OK, ND_ENOMEM (uniform: the buffers are agreed on before any data moves) or
 * ND_EMPI.  *used is false (and nothing is touched) when SUMMA does
 * not apply (block sizes differ, or a panel would exceed MPI's int counts); the caller
 * then uses pdgemm. */
nd_status nd_la_summa(const nd_dm *A, const nd_dm *B, nd_dm *C, bool *used);

/* Rank-local, replicated: the panel width (columns of A, rows of B per step) that
 * nd_la_summa uses for these shapes on this grid, or 0 when SUMMA does not apply. */
int nd_la_summa_panel(const nd_dm *A, const nd_dm *B);

#endif
