/* pdgemm_bench.c: a direct C driver of ScaLAPACK's pdgemm (no Noodle code), to choose
 * the default block size and to compare Noodle's matmul against.
 *
 * Usage: mpirun -n P pdgemm_bench N NB [REPS]   -> prints "N NB P GFLOP/s seconds"
 * (median of REPS timed runs after one warm-up; C = A @ B, all N-by-N, near-square grid).
 */
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

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 3) {
        if (rank == 0) fprintf(stderr, "usage: pdgemm_bench N NB [REPS]\n");
        MPI_Finalize();
        return 2;
    }
    int n = atoi(argv[1]), nb = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 3;
    int pr = 1;
    for (int d = 1; d * d <= size; d++)
        if (size % d == 0) pr = d;
    int pc = size / pr, ctx, myr, myc, zero = 0, one = 1, info;
    Cblacs_get(-1, 0, &ctx);
    Cblacs_gridinit(&ctx, "Row", pr, pc);
    Cblacs_gridinfo(ctx, &pr, &pc, &myr, &myc);
    int ml = numroc_(&n, &nb, &myr, &zero, &pr), nl = numroc_(&n, &nb, &myc, &zero, &pc);
    int lld = ml > 1 ? ml : 1, desc[9];
    descinit_(desc, &n, &n, &nb, &nb, &zero, &zero, &ctx, &lld, &info);
    size_t cnt = (size_t)lld * (nl > 0 ? nl : 1);
    double *a = malloc(cnt * sizeof *a), *b = malloc(cnt * sizeof *b), *c = malloc(cnt * sizeof *c);
    for (size_t k = 0; k < cnt; k++) a[k] = b[k] = (double)(k % 17) / 17.0, c[k] = 0;
    double alpha = 1.0, beta = 0.0, *t = malloc((size_t)(reps + 1) * sizeof *t);
    for (int r = 0; r <= reps; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        pdgemm_("N", "N", &n, &n, &n, &alpha, a, &one, &one, desc, b, &one, &one, desc, &beta,
                c, &one, &one, desc);
        MPI_Barrier(MPI_COMM_WORLD);
        t[r] = MPI_Wtime() - t0;
    }
    qsort(t + 1, (size_t)reps, sizeof *t, cmp);
    double med = t[1 + reps / 2];
    if (rank == 0)
        printf("%d %d %d %.1f %.3f\n", n, nb, size, 2.0 * n * (double)n * n / med / 1e9, med);
    free(a), free(b), free(c), free(t);
    Cblacs_gridexit(ctx);
    MPI_Finalize();
    return 0;
}
