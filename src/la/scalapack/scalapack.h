/* scalapack.h: private prototypes of the BLACS, PBLAS and ScaLAPACK routines Noodle calls.
 *
 * Debian ships no header for them.  Fortran routines take every argument by pointer and
 * one hidden length per CHARACTER argument (passed as 1 at the end); the PBLAS routines
 * (pdgemm_, pdtran_) are C and ignore the extra arguments.  Descriptors are int[9]
 * (32-bit, see docs/matrices.md).
 */
#ifndef ND_LA_SCALAPACK_H
#define ND_LA_SCALAPACK_H

#include <mpi.h>
#include <stddef.h>

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

/* PBLAS. */
void pdgemm_(const char *transa, const char *transb, const int *m, const int *n,
             const int *k, const double *alpha, const double *a, const int *ia,
             const int *ja, const int *desca, const double *b, const int *ib, const int *jb,
             const int *descb, const double *beta, double *c, const int *ic, const int *jc,
             const int *descc, size_t la, size_t lb);
void pdtran_(const int *m, const int *n, const double *alpha, const double *a, const int *ia,
             const int *ja, const int *desca, const double *beta, double *c, const int *ic,
             const int *jc, const int *descc);

/* ScaLAPACK. */
void pdgesv_(const int *n, const int *nrhs, double *a, const int *ia, const int *ja,
             const int *desca, int *ipiv, double *b, const int *ib, const int *jb,
             const int *descb, int *info);
void pdgetrf_(const int *m, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, int *ipiv, int *info);
void pdgetri_(const int *n, double *a, const int *ia, const int *ja, const int *desca,
              const int *ipiv, double *work, const int *lwork, int *iwork,
              const int *liwork, int *info);
void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, int *info, size_t luplo);
void pdgeqrf_(const int *m, const int *n, double *a, const int *ia, const int *ja,
              const int *desca, double *tau, double *work, const int *lwork, int *info);
void pdorgqr_(const int *m, const int *n, const int *k, double *a, const int *ia,
              const int *ja, const int *desca, const double *tau, double *work,
              const int *lwork, int *info);
void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *ia,
              const int *ja, const int *desca, double *w, double *z, const int *iz,
              const int *jz, const int *descz, double *work, const int *lwork, int *iwork,
              const int *liwork, int *info, size_t ljobz, size_t luplo);
void pdgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
              const int *ia, const int *ja, const int *desca, double *s, double *u,
              const int *iu, const int *ju, const int *descu, double *vt, const int *ivt,
              const int *jvt, const int *descvt, double *work, const int *lwork, int *info,
              size_t ljobu, size_t ljobvt);

#endif
