/* nd_check.h: what the Check suites of tests/unit share: building a test case from a
 * list, running a suite (forked, or in this process for the SPMD suites, whose tests
 * are collective and cannot fork), and removing a scratch directory.  Header-only:
 * each suite is one program. */
#ifndef ND_CHECK_H
#define ND_CHECK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    ND_CHECK_NOFORK = 1, /* run in this process (MPI suites) */
    ND_CHECK_QUIET = 2   /* print nothing (the SPMD suites' ranks other than 0) */
};

/* Adds a test case called name, with a timeout in seconds (0: Check's default), holding
 * the tests of the NULL-terminated list. */
static inline TCase *nd_check_tcase(Suite *s, const char *name, double timeout,
                                    const TTest *const *tests)
{
    TCase *tc = tcase_create(name);
    if (timeout > 0) tcase_set_timeout(tc, timeout);
    for (; *tests; tests++) tcase_add_test(tc, *tests);
    suite_add_tcase(s, tc);
    return tc;
}

/* Runs s (and frees it); returns the number of failed tests. */
static inline int nd_check_run(Suite *s, unsigned flags)
{
    SRunner *sr = srunner_create(s);
    if (flags & ND_CHECK_NOFORK) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, flags & ND_CHECK_QUIET ? CK_SILENT : CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

/* Removes dir (a scratch directory of ours: no quote in its name) and everything
 * below it; 0 or -1. */
static inline int nd_check_rmtree(const char *dir)
{
    char cmd[4200];
    int n = snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return n > 0 && (size_t)n < sizeof cmd && system(cmd) == 0 ? 0 : -1;
}

#endif
