/* blacs.h: prototypes of the BLACS and ScaLAPACK tool routines the runtime builds its
 * grid and layouts on (spmd.c, dm.c): grid set-up, process coordinates, numroc_,
 * descinit_, Cpdgemr2d, PB_Ctop and pdtran_.  Debian ships no header for them.
 *
 * Fortran routines (numroc_, descinit_) take every argument by pointer; descriptors are
 * int[9] (32-bit, see docs/matrices.md).  The PBLAS and ScaLAPACK computations are
 * declared above this, in src/la/scalapack/scalapack.h.
 */
#ifndef ND_RUNTIME_BLACS_H
#define ND_RUNTIME_BLACS_H

#include <mpi.h>

/* BLACS (C interface). */
void Cblacs_pinfo(int *mypnum, int *nprocs);
void Cblacs_get(int icontxt, int what, int *val);
void Cblacs_gridinit(int *icontxt, const char *order, int nprow, int npcol);
int Csys2blacs_handle(MPI_Comm comm);
void Cblacs_pcoord(int icontxt, int pnum, int *prow, int *pcol);
/* PBLAS: gets (top "!") or sets the topology of broadcasts (op "B") or combines ("C")
 * along rows, columns or all ("R", "C", "A").  Process-global, not per context. */
char *PB_Ctop(int *icontxt, char *op, char *scope, char *top);
void Cblacs_gridinfo(int icontxt, int *nprow, int *npcol, int *myrow, int *mycol);
int Cblacs_pnum(int icontxt, int prow, int pcol);
void Cblacs_gridexit(int icontxt);
void Cblacs_exit(int notdone);

/* Tools. */
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld,
               int *info);
void Cpdgemr2d(int m, int n, double *a, int ia, int ja, int *desca, double *b, int ib,
               int jb, int *descb, int gcontext);
/* PBLAS (C, despite the name): C := beta C + alpha A.T, for nd_dm_transpose. */
void pdtran_(const int *m, const int *n, const double *alpha, const double *a, const int *ia,
             const int *ja, const int *desca, const double *beta, double *c, const int *ic,
             const int *jc, const int *descc);

#endif
