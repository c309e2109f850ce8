/* check_stats.c: the run-statistics accumulators (src/runtime/stats.h): nesting within a
 * kind counts once, kinds overlap, unmatched or unknown calls are ignored, bad flop
 * values are ignored, and the nominal flop formulas.  No MPI; no timing assertions
 * beyond "some time passed" on a clock the test itself watched advance.
 */
#include "nd_check.h"
#include "runtime/stats.h"

#include <math.h>
#include <stdlib.h>

/* Spins until the stats clock has visibly advanced. */
static void tick(void)
{
    double t0 = nd_stats_now();
    while (nd_stats_now() <= t0) {
    }
}

START_TEST(test_region_accumulates)
{
    nd_stats_reset();
    nd_stats s;
    nd_stats_get(&s);
    for (int k = 0; k < ND_STATS_NKINDS; k++) {
        ck_assert(s.seconds[k] == 0.0);
        ck_assert_uint_eq(s.calls[k], 0);
    }
    ck_assert(s.flops == 0.0);
    double t0 = nd_stats_now();
    nd_stats_begin(ND_STATS_COMM);
    tick();
    nd_stats_end(ND_STATS_COMM);
    double outside = nd_stats_now() - t0;
    nd_stats_get(&s);
    ck_assert(s.seconds[ND_STATS_COMM] > 0.0);
    ck_assert(s.seconds[ND_STATS_COMM] <= outside);
    ck_assert_uint_eq(s.calls[ND_STATS_COMM], 1);
    ck_assert(s.seconds[ND_STATS_LA] == 0.0);
    ck_assert(s.seconds[ND_STATS_IO] == 0.0);
}
END_TEST

START_TEST(test_nesting_counts_once)
{
    nd_stats_reset();
    double t0 = nd_stats_now();
    nd_stats_begin(ND_STATS_LA);
    tick();
    nd_stats_begin(ND_STATS_LA);
    tick();
    nd_stats_end(ND_STATS_LA);
    nd_stats s;
    nd_stats_get(&s);
    /* The inner end closed nothing: no time and no call yet. */
    ck_assert(s.seconds[ND_STATS_LA] == 0.0);
    ck_assert_uint_eq(s.calls[ND_STATS_LA], 0);
    tick();
    nd_stats_end(ND_STATS_LA);
    double outside = nd_stats_now() - t0;
    nd_stats_get(&s);
    ck_assert_uint_eq(s.calls[ND_STATS_LA], 1);
    ck_assert(s.seconds[ND_STATS_LA] > 0.0);
    /* Counted once: never more than the wall time around both regions. */
    ck_assert(s.seconds[ND_STATS_LA] <= outside);
}
END_TEST

START_TEST(test_kinds_overlap)
{
    nd_stats_reset();
    nd_stats_begin(ND_STATS_LA);
    nd_stats_begin(ND_STATS_COMM);
    tick();
    nd_stats_end(ND_STATS_COMM);
    nd_stats_begin(ND_STATS_IO);
    tick();
    nd_stats_end(ND_STATS_IO);
    nd_stats_end(ND_STATS_LA);
    nd_stats s;
    nd_stats_get(&s);
    ck_assert_uint_eq(s.calls[ND_STATS_LA], 1);
    ck_assert_uint_eq(s.calls[ND_STATS_COMM], 1);
    ck_assert_uint_eq(s.calls[ND_STATS_IO], 1);
    /* Communication inside linear algebra counts in both. */
    ck_assert(s.seconds[ND_STATS_COMM] > 0.0);
    ck_assert(s.seconds[ND_STATS_LA] >= s.seconds[ND_STATS_COMM]);
}
END_TEST

START_TEST(test_bad_calls_ignored)
{
    nd_stats_reset();
    nd_stats_end(ND_STATS_IO); /* no open region */
    nd_stats_begin((nd_stats_kind)ND_STATS_NKINDS);
    nd_stats_end((nd_stats_kind)ND_STATS_NKINDS);
    nd_stats_begin((nd_stats_kind)-1);
    nd_stats_end((nd_stats_kind)-1);
    nd_stats s;
    nd_stats_get(&s);
    for (int k = 0; k < ND_STATS_NKINDS; k++) {
        ck_assert_uint_eq(s.calls[k], 0);
        ck_assert(s.seconds[k] == 0.0);
    }
    /* The stray end did not drive the depth negative: the next region still counts. */
    nd_stats_begin(ND_STATS_IO);
    tick();
    nd_stats_end(ND_STATS_IO);
    nd_stats_get(&s);
    ck_assert_uint_eq(s.calls[ND_STATS_IO], 1);
    ck_assert(s.seconds[ND_STATS_IO] > 0.0);
}
END_TEST

START_TEST(test_flops)
{
    nd_stats_reset();
    nd_stats_add_flops(2.0);
    nd_stats_add_flops(-5.0);
    nd_stats_add_flops(NAN);
    nd_stats_add_flops(INFINITY);
    nd_stats_add_flops(0.0);
    nd_stats_add_flops(1e9);
    nd_stats s;
    nd_stats_get(&s);
    ck_assert(s.flops == 1e9 + 2.0);
    nd_stats_reset();
    nd_stats_get(&s);
    ck_assert(s.flops == 0.0);
}
END_TEST

START_TEST(test_reset_forgets_open_regions)
{
    nd_stats_reset();
    nd_stats_begin(ND_STATS_LA);
    nd_stats_begin(ND_STATS_LA);
    nd_stats_reset();
    nd_stats_begin(ND_STATS_LA);
    nd_stats_end(ND_STATS_LA);
    nd_stats s;
    nd_stats_get(&s);
    ck_assert_uint_eq(s.calls[ND_STATS_LA], 1);
}
END_TEST

START_TEST(test_flop_formulas)
{
    ck_assert_double_eq(nd_stats_flops_matmul(2, 3, 4), 48.0);
    ck_assert_double_eq(nd_stats_flops_solve(3, 1), 36.0);
    ck_assert_double_eq(nd_stats_flops_solve(3, 0), 18.0);
    ck_assert_double_eq(nd_stats_flops_inv(3), 54.0);
    ck_assert_double_eq(nd_stats_flops_det(3), 18.0);
    ck_assert_double_eq(nd_stats_flops_cholesky(3), 9.0);
    ck_assert_double_eq_tol(nd_stats_flops_qr(4, 2), 32.0 - 16.0 / 3.0, 1e-12);
    ck_assert_double_eq(nd_stats_flops_qr(4, 2), nd_stats_flops_qr(2, 4));
    ck_assert_double_eq(nd_stats_flops_eigh(2), 32.0);
    ck_assert_double_eq(nd_stats_flops_svd(3, 2), 232.0);
    ck_assert_double_eq(nd_stats_flops_svd(2, 3), 232.0);
    ck_assert_double_eq(nd_stats_flops_matmul(1, 1, 1), 2.0);
    /* Large shapes stay finite and exact enough (no integer overflow). */
    double big = nd_stats_flops_matmul(INT64_C(1) << 40, INT64_C(1) << 40, INT64_C(1) << 40);
    ck_assert(isfinite(big));
    ck_assert_double_eq(big, ldexp(1.0, 121));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    const TTest *tc_tests[] = {
        test_region_accumulates, test_nesting_counts_once, test_kinds_overlap,
        test_bad_calls_ignored, test_flops, test_reset_forgets_open_regions,
        test_flop_formulas, NULL};
    nd_check_tcase(s, "core", 0, tc_tests);
    int failed = nd_check_run(s, 0);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
