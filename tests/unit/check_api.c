/* check_api.c: the installed embedding API (include/noodle/noodle.h), linked against the
 * shared libnoodle exactly as an outside program would be: only its exported symbols. */
#include "nd_check.h"
#include "ac_config.h"
#include "noodle/noodle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(test_version)
{
    ck_assert_str_eq(nd_version(), PACKAGE_VERSION);
}
END_TEST

START_TEST(test_compile_ok_and_errors)
{
    char src[128], out[128], bad[128];
    snprintf(src, sizeof src, "%s/ok.noodle", dir);
    snprintf(out, sizeof out, "%s/ok.nbc", dir);
    snprintf(bad, sizeof bad, "%s/bad.noodle", dir);
    write_file(src, "let x = 2\nprint(x * 3)\n");
    write_file(bad, "print(undeclared)\n");
    ck_assert_int_eq(noodle_compile_file(src, out, 1), 0);
    FILE *f = fopen(out, "rb");
    ck_assert_ptr_nonnull(f);
    char magic[8];
    ck_assert_uint_eq(fread(magic, 1, 8, f), 8);
    fclose(f);
    ck_assert(memcmp(magic, "NOODLEBC", 8) == 0);
    ck_assert_int_eq(noodle_compile_file(bad, out, 0), 1);
    ck_assert_int_eq(noodle_compile_file("/nonexistent/x.noodle", out, 1), 2);
    ck_assert_int_eq(noodle_compile_file(src, "/nonexistent/dir/x.nbc", 1), 3);
}
END_TEST

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/nd-api-XXXXXX");
    if (!mkdtemp(dir)) return EXIT_FAILURE;
    Suite *s = suite_create("api");
    const TTest *tc_tests[] = {test_version, test_compile_ok_and_errors, NULL};
    nd_check_tcase(s, "embedding", 0, tc_tests);
    int failed = nd_check_run(s, 0);
    if (nd_check_rmtree(dir) != 0) failed++;
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
