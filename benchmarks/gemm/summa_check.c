/* summa_check.c: checks Noodle's SUMMA product (src/la/scalapack/summa.c) against
 * ScaLAPACK's pdgemm on ragged shapes, for the grid and block size given on the command
 * line.  Built and run by benchmarks/gemm/check.sh (1x1 ... 4x1 grids, NB 1/3/64).
 *
 * Usage: mpirun -n R summa_check ROWS COLS NB   -> "ok ..." on rank 0, exit 0; else exit 1.
 * Per element |summa - pdgemm| <= 4 k eps sum_l |a_il| |b_lj| (both are dgemm-rounded),
 * two SUMMA runs must agree bit for bit, and nd_la_matmul must equal the SUMMA result.
 */
#include "common/alloc.h"
#include "la/la.h"
#include "la/scalapack/scalapack.h"
#include "la/scalapack/summa.h"
#include "runtime/spmd.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fails;

static void fail(const char *what, int m, int k, int n)
{
    if (nd_spmd_rank() == 0) printf("FAIL %s at %dx%d @ %dx%d\n", what, m, k, k, n);
    fails++;
}

static double *gather(const nd_dm *X)
{
    double *d = NULL;
    if (nd_dm_to_colmajor(X, &d) != ND_OK) {
        fprintf(stderr, "gather failed: %s\n", nd_err_msg());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return d;
}

static void check_shape(int m, int k, int n, int seed)
{
    nd_dm *A = NULL, *B = NULL, *C1 = NULL, *C2 = NULL, *C3 = NULL, *C4 = NULL;
    if (nd_dm_rand(m, k, seed, true, &A) || nd_dm_rand(k, n, seed + 1, true, &B) ||
        nd_dm_alloc(m, n, &C1) || nd_dm_alloc(m, n, &C2) || nd_dm_alloc(m, n, &C3)) {
        fprintf(stderr, "alloc failed\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    bool used = false;
    if (nd_la_summa(A, B, C1, &used) != ND_OK || !used) fail("summa ran", m, k, n);
    used = false;
    if (nd_la_summa(A, B, C3, &used) != ND_OK || !used) fail("summa ran twice", m, k, n);
    if (nd_la_matmul(A, B, &C4) != ND_OK) fail("matmul", m, k, n);
    double one = 1.0, zero = 0.0;
    int i1 = 1;
    pdgemm_("N", "N", &m, &n, &k, &one, A->a, &i1, &i1, A->desc, B->a, &i1, &i1, B->desc, &zero,
            C2->a, &i1, &i1, C2->desc, 1, 1);
    double *a = gather(A), *b = gather(B), *c1 = gather(C1), *c2 = gather(C2), *c3 = gather(C3);
    double *c4 = C4 ? gather(C4) : NULL;
    size_t mn = (size_t)m * n;
    if (memcmp(c1, c3, mn * sizeof *c1) != 0) fail("determinism (summa twice)", m, k, n);
    if (!c4 || memcmp(c1, c4, mn * sizeof *c1) != 0) fail("matmul == summa", m, k, n);
    double worst = 0.0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double bound = 0.0;
            for (int l = 0; l < k; l++) bound += fabs(a[i + (size_t)l * m]) * fabs(b[l + (size_t)j * k]);
            double d = fabs(c1[i + (size_t)j * m] - c2[i + (size_t)j * m]);
            double tol = 4.0 * k * DBL_EPSILON * bound;
            if (d > tol || isnan(c1[i + (size_t)j * m])) {
                if (d > worst) worst = d;
            }
        }
    if (worst > 0.0) fail("summa vs pdgemm (rounding bound)", m, k, n);
    nd_free(a, (size_t)m * k * sizeof *a);
    nd_free(b, (size_t)k * n * sizeof *b);
    nd_free(c1, mn * sizeof *c1);
    nd_free(c2, mn * sizeof *c2);
    nd_free(c3, mn * sizeof *c3);
    if (c4) nd_free(c4, mn * sizeof *c4);
    nd_dm_free(A), nd_dm_free(B), nd_dm_free(C1), nd_dm_free(C2), nd_dm_free(C3);
    nd_dm_free(C4);
}

int main(int argc, char **argv)
{
    if (nd_spmd_init(&argc, &argv) != ND_OK || argc < 4) {
        fprintf(stderr, "usage: summa_check ROWS COLS NB\n");
        return 2;
    }
    nd_spmd_opts o = {.block_size = atoi(argv[3]), .grid_rows = atoi(argv[1]),
                      .grid_cols = atoi(argv[2]), .check_collectives = true};
    if (nd_spmd_configure(&o) != ND_OK) {
        fprintf(stderr, "configure: %s\n", nd_err_msg());
        return 2;
    }
    static const int shapes[][3] = {
        {1, 1, 1},    {7, 5, 130},  {130, 5, 7},  {5, 130, 7},   {1, 300, 1}, {300, 1, 300},
        {64, 64, 64}, {65, 63, 66}, {129, 257, 130}, {200, 1100, 90}, {513, 700, 257},
    };
    int ns = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < ns; s++) check_shape(shapes[s][0], shapes[s][1], shapes[s][2], 10 + s);
    /* shape mismatch stays a uniform program error */
    nd_dm *A = NULL, *B = NULL, *C = NULL;
    if (nd_dm_zeros(2, 3, &A) || nd_dm_zeros(2, 3, &B)) return 1;
    if (nd_la_matmul(A, B, &C) != ND_EPROG || C || strcmp(nd_err_msg(), "shape mismatch: 2x3 @ 2x3"))
        fail("shape mismatch error", 2, 3, 3);
    nd_dm_free(A), nd_dm_free(B);
    int pr, pc;
    nd_spmd_grid(&pr, &pc, NULL, NULL);
    int total = fails;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, nd_spmd_comm());
    if (nd_spmd_rank() == 0)
        printf("%s: grid %dx%d, NB %s, %d shapes\n", total ? "FAIL" : "ok", pr, pc, argv[3],
               ns);
    nd_spmd_finalize(0);
    return total ? 1 : 0;
}
