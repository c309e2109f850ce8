/* stats.c: rank-local time and flop accumulators (stats.h) behind noodle-run's summary.
 * Invariant: depth[k] counts the open regions of kind k; time is added only when the
 * outermost one closes, so nesting never counts a second twice within a kind.  The
 * clock is CLOCK_MONOTONIC (a vDSO call: cheap enough for every MPI call).
 * Specified by docs/config.md "Progress and summary".
 */
#include "runtime/stats.h"

#include <math.h>
#include <string.h>
#include <time.h>

static struct {
    nd_stats acc;
    unsigned depth[ND_STATS_NKINDS];
    double start[ND_STATS_NKINDS];
} S;

double nd_stats_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void nd_stats_begin(nd_stats_kind k)
{
    if ((unsigned)k >= ND_STATS_NKINDS) return;
    if (S.depth[k]++ == 0) S.start[k] = nd_stats_now();
}

void nd_stats_end(nd_stats_kind k)
{
    if ((unsigned)k >= ND_STATS_NKINDS || S.depth[k] == 0) return;
    if (--S.depth[k] == 0) {
        double dt = nd_stats_now() - S.start[k];
        if (dt > 0) S.acc.seconds[k] += dt;
        S.acc.calls[k]++;
    }
}

double nd_stats_flops_total(void) { return S.acc.flops; }

void nd_stats_add_flops(double flops)
{
    if (isfinite(flops) && flops > 0) S.acc.flops += flops;
}

void nd_stats_count_gathered(bool on_device)
{
    if (on_device) S.acc.gathered++;
    else S.acc.gather_fallbacks++;
}

void nd_stats_get(nd_stats *out)
{
    *out = S.acc;
}

void nd_stats_reset(void)
{
    memset(&S, 0, sizeof S);
}

/* ---- nominal flop counts (LAPACK Working Note 41 / Golub & Van Loan) ---- */

double nd_stats_flops_matmul(int64_t m, int64_t k, int64_t n)
{
    return 2.0 * (double)m * (double)k * (double)n;
}

double nd_stats_flops_solve(int64_t n, int64_t nrhs)
{
    double x = (double)n;
    return 2.0 * x * x * x / 3.0 + 2.0 * x * x * (double)nrhs;
}

double nd_stats_flops_inv(int64_t n)
{
    double x = (double)n;
    return 2.0 * x * x * x;
}

double nd_stats_flops_det(int64_t n)
{
    double x = (double)n;
    return 2.0 * x * x * x / 3.0;
}

double nd_stats_flops_cholesky(int64_t n)
{
    double x = (double)n;
    return x * x * x / 3.0;
}

double nd_stats_flops_qr(int64_t m, int64_t n)
{
    double a = (double)(m > n ? m : n), b = (double)(m > n ? n : m);
    return 2.0 * a * b * b - 2.0 * b * b * b / 3.0;
}

double nd_stats_flops_eigh(int64_t n)
{
    double x = (double)n;
    return 4.0 * x * x * x;
}

double nd_stats_flops_svd(int64_t m, int64_t n)
{
    double a = (double)(m > n ? m : n), b = (double)(m > n ? n : m);
    return 14.0 * a * b * b + 8.0 * b * b * b;
}
