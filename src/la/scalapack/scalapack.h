/* scalapack.h: prototypes of the PBLAS and ScaLAPACK routines the ScaLAPACK backend calls
 * (the BLACS and descriptor tools the runtime needs are in runtime/blacs.h).
 *
 * Debian ships no header for them.  Fortran routines take every argument by pointer and
 * one hidden length per CHARACTER argument (passed as 1 at the end); the PBLAS routines
 * (pdgemm_) are C and ignore the extra arguments.  Descriptors are int[9]
 * (32-bit, see docs/matrices.md).
 */
#ifndef ND_LA_SCALAPACK_H
#define ND_LA_SCALAPACK_H

#include "runtime/blacs.h"

#include <stddef.h>

/* PBLAS. */
void pdgemm_(const char *transa, const char *transb, const int *m, const int *n,
             const int *k, const double *alpha, const double *a, const int *ia,
             const int *ja, const int *desca, const double *b, const int *ib, const int *jb,
             const int *descb, const double *beta, double *c, const int *ic, const int *jc,
             const int *descc, size_t la, size_t lb);


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
