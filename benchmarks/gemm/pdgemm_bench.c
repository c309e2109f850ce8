/* pdgemm_bench.c: a direct C driver of ScaLAPACK (no Noodle code), the reference that
 * benchmarks/gemm/run.sh compares Noodle's `@`, `solve` and `eigh` against, and the
 * single-core dgemm rate of the node.
 *
 * Usage: mpirun -n P pdgemm_bench N NB [REPS] [OP]
 *   OP gemm (default): pdgemm C = A @ B, N-by-N;  gesv: pdgesv, A N-by-N, one right-hand
 *   side;  syevd: pdsyevd with vectors;  dgemm: every rank runs cblas_dgemm on its own
 *   N-by-N matrices at the same time (no MPI inside the timing; the node's aggregate).
 * Prints "direct OP N P t1 t2 ..." (seconds of REPS timed runs after one warm-up; for
 * dgemm the slowest rank of each run).  Near-square grid, Noodle's layout (docs/matrices.md).
 */
#include <cblas.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void Cblacs_get(int icontxt, int what, int *val);
void Cblacs_gridinit(int *icontxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int icontxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int icontxt);
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);
void pdgemm_(const char *ta, const char *tb, const int *m, const int *n, const int *k,
             const double *alpha, const double *a, const int *ia, const int *ja,
             const int *desca, const double *b, const int *ib, const int *jb, const int *descb,
             const double *beta, double *c, const int *ic, const int *jc, const int *descc);
void pdgesv_(const int *n, const int *nrhs, double *a, const int *ia, const int *ja,
             const int *desca, int *ipiv, double *b, const int *ib, const int *jb,
             const int *descb, int *info);
void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *ia,
              const int *ja, const int *desca, double *w, double *z, const int *iz,
              const int *jz, const int *descz, double *work, const int *lwork, int *iwork,
              const int *liwork, int *info);

/* A uniform value in [0, 1) from the global index (any grid gives the same matrix). */
static double val(long long i, long long j, int seed)
{
    unsigned long long z = (unsigned long long)(i * 1000003LL + j) * 0x9E3779B97F4A7C15ULL;
    z ^= (unsigned long long)seed * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3) {
        if (rank == 0) fprintf(stderr, "usage: pdgemm_bench N NB [REPS] [gemm|gesv|syevd|dgemm]\n");
        MPI_Finalize();
        return 2;
    }
    int n = atoi(argv[1]), nb = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 3;
    const char *op = argc > 4 ? argv[4] : "gemm";
    double *t = calloc((size_t)reps + 1, sizeof *t);
    if (strcmp(op, "dgemm") == 0) {
        size_t cnt = (size_t)n * n;
        double *a = malloc(cnt * sizeof *a), *b = malloc(cnt * sizeof *b), *c = calloc(cnt, sizeof *c);
        for (size_t k = 0; k < cnt; k++) a[k] = val((long long)k, rank, 1), b[k] = val((long long)k, rank, 2);
        for (int r = 0; r <= reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, b, n, 0.0, c, n);
            double dt = MPI_Wtime() - t0;
            MPI_Reduce(&dt, &t[r], 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
        }
        free(a), free(b), free(c);
    } else {
        int pr = 1;
        for (int d = 1; d * d <= size; d++)
            if (size % d == 0) pr = d;
        int pc = size / pr, ctx, myr, myc, zero = 0, one = 1, info;
        Cblacs_get(-1, 0, &ctx);
        Cblacs_gridinit(&ctx, "Row", pr, pc);
        Cblacs_gridinfo(ctx, &pr, &pc, &myr, &myc);
        int ml = numroc_(&n, &nb, &myr, &zero, &pr), nl = numroc_(&n, &nb, &myc, &zero, &pc);
        int nl1 = numroc_(&one, &nb, &myc, &zero, &pc);
        int lld = ml > 1 ? ml : 1, desc[9], desc1[9];
        descinit_(desc, &n, &n, &nb, &nb, &zero, &zero, &ctx, &lld, &info);
        descinit_(desc1, &n, &one, &nb, &nb, &zero, &zero, &ctx, &lld, &info);
        size_t cnt = (size_t)lld * (nl > 0 ? nl : 1), cnt1 = (size_t)lld * (nl1 > 0 ? nl1 : 1);
        double *a = malloc(cnt * sizeof *a), *b = malloc(cnt * sizeof *b), *c = calloc(cnt, sizeof *c);
        double *f = malloc(cnt * sizeof *f), *x = malloc(cnt1 * sizeof *x), *w = malloc((size_t)n * sizeof *w);
        int *ipiv = malloc(((size_t)ml + nb) * sizeof *ipiv);
        for (int lj = 0; lj < nl; lj++)
            for (int li = 0; li < ml; li++) {
                long long gi = (long long)(li / nb * pr + myr) * nb + li % nb;
                long long gj = (long long)(lj / nb * pc + myc) * nb + lj % nb;
                double v = val(gi, gj, 1);
                if (strcmp(op, "gesv") == 0 && gi == gj) v += n;  /* well conditioned */
                if (strcmp(op, "syevd") == 0) v += val(gj, gi, 1); /* symmetric */
                a[li + (size_t)lj * lld] = v;
                b[li + (size_t)lj * lld] = val(gi, gj, 2);
            }
        double alpha = 1.0, beta = 0.0, *work = NULL;
        int lwork = 0, liwork = 0, *iwork = NULL;
        if (strcmp(op, "syevd") == 0) {
            double wq;
            int iq, q = -1;
            pdsyevd_("V", "L", &n, f, &one, &one, desc, w, c, &one, &one, desc, &wq, &q, &iq, &q, &info);
            lwork = (int)(wq * 1.1) + 1024 + 2 * (ml * nl + 8 * n), liwork = iq + 1024 + 7 * n;
            work = malloc((size_t)lwork * sizeof *work), iwork = malloc((size_t)liwork * sizeof *iwork);
        }
        for (int r = 0; r <= reps; r++) {
            memcpy(f, a, cnt * sizeof *f);   /* the routines overwrite their inputs */
            memcpy(x, b, cnt1 * sizeof *x);
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (strcmp(op, "gesv") == 0)
                pdgesv_(&n, &one, f, &one, &one, desc, ipiv, x, &one, &one, desc1, &info);
            else if (strcmp(op, "syevd") == 0)
                pdsyevd_("V", "L", &n, f, &one, &one, desc, w, c, &one, &one, desc, work, &lwork,
                         iwork, &liwork, &info);
            else
                pdgemm_("N", "N", &n, &n, &n, &alpha, a, &one, &one, desc, b, &one, &one, desc,
                        &beta, c, &one, &one, desc);
            MPI_Barrier(MPI_COMM_WORLD);
            t[r] = MPI_Wtime() - t0;
        }
        free(a), free(b), free(c), free(f), free(x), free(w), free(ipiv), free(work), free(iwork);
        Cblacs_gridexit(ctx);
    }
    if (rank == 0) {
        printf("direct %s %d %d", op, n, size);
        for (int r = 1; r <= reps; r++) printf(" %.4f", t[r]);
        printf("\n");
    }
    free(t);
    MPI_Finalize();
    return 0;
}
