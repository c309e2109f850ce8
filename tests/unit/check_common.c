/* check_common.c: unit tests of src/common (allocator, buffers, hashes, formatting). */
#include "nd_check.h"
#include "common/alloc.h"
#include "common/kv.h"
#include "common/hash.h"
#include "common/path.h"
#include "common/roots.h"
#include "common/strbuf.h"

#include <stdio.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(test_sha256_vectors)
{
    uint8_t out[32];
    char hex[65];
    nd_sha256_buf("abc", 3, out);
    nd_hex(out, 32, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    nd_sha256_buf("", 0, out);
    nd_hex(out, 32, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    nd_sha256_buf(m, strlen(m), out);
    nd_hex(out, 32, hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(test_crc32c_vector)
{
    /* The standard check value of CRC-32C over "123456789". */
    ck_assert_uint_eq(nd_crc32c(0, "123456789", 9), 0xE3069283u);
    /* Incremental use gives the same result. */
    uint32_t c = nd_crc32c(0, "1234", 4);
    ck_assert_uint_eq(nd_crc32c(c, "56789", 5), 0xE3069283u);
    ck_assert_uint_eq(nd_crc32c_table(0, "123456789", 9), 0xE3069283u);
    /* The instruction path (where the CPU has one) agrees with the table at every length
     * and alignment. */
    uint8_t buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= 300; n += 7)
            ck_assert_uint_eq(nd_crc32c(5, buf + off, n), nd_crc32c_table(5, buf + off, n));
    for (size_t n = 0; n <= 290; n += 13) {
        uint32_t three[3] = {1, 2, 3};
        nd_crc32c_3(buf, buf + 3, buf + 10, n, three);
        ck_assert_uint_eq(three[0], nd_crc32c_table(1, buf, n));
        ck_assert_uint_eq(three[1], nd_crc32c_table(2, buf + 3, n));
        ck_assert_uint_eq(three[2], nd_crc32c_table(3, buf + 10, n));
    }
}
END_TEST

START_TEST(test_xxh64_vectors)
{
    /* Values of the reference implementation (python3-xxhash 3.2.0), seeds 0 and 7. */
    uint8_t buf[768];
    for (int i = 0; i < 768; i++) buf[i] = (uint8_t)i;
    ck_assert_uint_eq(nd_xxh64("", 0, 0), UINT64_C(0xef46db3751d8e999));
    ck_assert_uint_eq(nd_xxh64("a", 1, 0), UINT64_C(0xd24ec4f1a98c6e5b));
    ck_assert_uint_eq(nd_xxh64("abc", 3, 0), UINT64_C(0x44bc2cf5ad770999));
    ck_assert_uint_eq(nd_xxh64(buf, 768, 0), UINT64_C(0x8e03c838c596036f));
    ck_assert_uint_eq(nd_xxh64("", 0, 7), UINT64_C(0x95f0626f6f0a4409));
    ck_assert_uint_eq(nd_xxh64("a", 1, 7), UINT64_C(0xdc6349d489e0f965));
    ck_assert_uint_eq(nd_xxh64("abc", 3, 7), UINT64_C(0x9e755206156676d7));
    ck_assert_uint_eq(nd_xxh64(buf, 768, 7), UINT64_C(0xb1e10f6c5294cd6b));
}
END_TEST

/* The obvious algorithm, as an oracle: binary search for the shortest %.*e that reads
 * back, then Python's layout (fixed for decimal exponents -4 .. 15). */
static void ref_fmt_double(char *buf, size_t size, double v)
{
    if (isnan(v) || isinf(v)) {
        snprintf(buf, size, "%s", isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
        return;
    }
    char sci[40];
    int lo = 1, hi = 17;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(sci, sizeof sci, "%.*e", mid - 1, v);
        if (strtod(sci, NULL) == v) hi = mid;
        else lo = mid + 1;
    }
    snprintf(sci, sizeof sci, "%.*e", lo - 1, v);
    int exp10 = atoi(strchr(sci, 'e') + 1);
    if (exp10 < -4 || exp10 >= 16) {
        snprintf(buf, size, "%s", sci);
        return;
    }
    int decimals = lo - 1 - exp10;
    snprintf(buf, size, "%.*f", decimals > 0 ? decimals : 0, v);
    if (!strchr(buf, '.')) strcat(buf, ".0");
}

/* nd_fmt_double (digits rounded from one printf) must print exactly what the oracle
 * prints, on awkward values and on 200,000 random ones. */
START_TEST(test_fmt_double_oracle)
{
    static const double special[] = {
        1.0, 0.1, 0.5, 1e-5, 1e-4, 9.9999e-5, 1e15, 1e16, 9.999999999999999e15, 1.5e15,
        123456.7, 1e300, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.3,
        2.0 / 3, 100.0, 1e22, 1e23, 0.000123, 1.2345678901234567e19, 9.5, 99.99999999999999,
        999999999999999.9, 0.0, -0.0, 1.0 / 0.0, -1.0 / 0.0, 0.0 / 0.0, 5e-5, 4.35, 0.15};
    char a[64], b[64];
    for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
        for (int sg = 0; sg < 2; sg++) {
            double v = sg ? -special[i] : special[i];
            nd_fmt_double(a, sizeof a, v);
            ref_fmt_double(b, sizeof b, v);
            ck_assert_msg(strcmp(a, b) == 0, "%.17g: %s vs %s", v, a, b);
        }
    }
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        switch (i % 5) {
        case 0: memcpy(&v, &x, sizeof v); break; /* any bit pattern */
        case 1: v = (double)(x >> 11) / 9007199254740992.0 * 10; break;
        case 2: v = (double)(int64_t)(x % 2000000) / 1000.0; break;
        case 3: v = ldexp((double)(x >> 11), (int)(x % 200) - 150); break;
        default: v = (double)(x % 100000) * pow(10, (double)((int)(x >> 40) % 40 - 20)); break;
        }
        nd_fmt_double(a, sizeof a, v);
        ref_fmt_double(b, sizeof b, v);
        ck_assert_msg(strcmp(a, b) == 0, "%.17g: %s vs %s", v, a, b);
    }
}
END_TEST

START_TEST(test_fmt_double)
{
    char b[40];
    struct { double v; const char *s; } cases[] = {
        {2.0, "2.0"}, {0.5, "0.5"}, {0.1, "0.1"}, {1e-6, "1e-06"}, {2500.0, "2500.0"},
        {1e300, "1e+300"}, {-1.25, "-1.25"}, {1.0 / 3.0, "0.3333333333333333"},
        {0.1 + 0.2, "0.30000000000000004"}, {1e15 + 0.25, "1000000000000000.2"},
        {INFINITY, "inf"}, {-INFINITY, "-inf"}, {NAN, "nan"}, {0.0, "0.0"},
    };
    for (size_t i = 0; i < ND_ARRAY_LEN(cases); i++) {
        nd_fmt_double(b, sizeof b, cases[i].v);
        ck_assert_str_eq(b, cases[i].s);
    }
}
END_TEST

START_TEST(test_parse_count)
{
    uint64_t v = 7;
    ck_assert(nd_parse_count("0", &v) && v == 0);
    ck_assert(nd_parse_count("42", &v) && v == 42);
    ck_assert(nd_parse_count("18446744073709551615", &v) && v == UINT64_MAX);
    const char *bad[] = {"", "-1", "+1", " 1", "1 ", "2x", "0x10", "1e3", "18446744073709551616"};
    for (size_t i = 0; i < ND_ARRAY_LEN(bad); i++) {
        v = 7;
        ck_assert_msg(!nd_parse_count(bad[i], &v) && v == 7, "'%s' was accepted", bad[i]);
    }
}
END_TEST

START_TEST(test_strbuf_le_roundtrip)
{
    nd_strbuf sb;
    nd_sb_init(&sb);
    ck_assert_int_eq(nd_sb_u32(&sb, 0x01020304u), ND_OK);
    ck_assert_int_eq(nd_sb_u64(&sb, UINT64_C(0x1122334455667788)), ND_OK);
    ck_assert_int_eq(nd_sb_f64(&sb, -2.5), ND_OK);
    ck_assert_int_eq((unsigned char)sb.data[0], 0x04);
    nd_reader r;
    nd_rd_init(&r, sb.data, sb.len);
    ck_assert_uint_eq(nd_rd_u32(&r), 0x01020304u);
    ck_assert(nd_rd_u64(&r) == UINT64_C(0x1122334455667788));
    ck_assert(nd_rd_f64(&r) == -2.5);
    ck_assert(!r.overrun);
    nd_rd_u8(&r);
    ck_assert(r.overrun);
    nd_sb_free(&sb);
}
END_TEST

/* nd_kv: insertion order, a later set replaces the value in place, lookups. */
START_TEST(test_kv_order_and_replace)
{
    nd_kv m;
    nd_kv_init(&m);
    ck_assert_int_eq(nd_kv_set(&m, "n", "1"), ND_OK);
    ck_assert_int_eq(nd_kv_set(&m, "eps", "1e-8"), ND_OK);
    ck_assert_int_eq(nd_kv_set(&m, "n", "2"), ND_OK);
    ck_assert_uint_eq(m.n, 2);
    ck_assert_str_eq(m.keys[0], "n");
    ck_assert_str_eq(m.vals[0], "2");
    ck_assert_str_eq(nd_kv_get(&m, "eps"), "1e-8");
    ck_assert_ptr_null(nd_kv_get(&m, "m"));
    for (int k = 0; k < 20; k++) { /* grows past the first capacity */
        char key[8];
        snprintf(key, sizeof key, "k%d", k);
        ck_assert_int_eq(nd_kv_set(&m, key, key), ND_OK);
    }
    ck_assert_uint_eq(m.n, 22);
    ck_assert_str_eq(nd_kv_get(&m, "k19"), "k19");

    /* A sorted copy (checkpoints compare parameters in HDF5's name order). */
    nd_kv s, t;
    nd_kv_init(&s);
    nd_kv_init(&t);
    ck_assert_int_eq(nd_kv_copy_sorted(&s, &m), ND_OK);
    ck_assert_uint_eq(s.n, 22);
    for (size_t i = 1; i < s.n; i++) ck_assert_int_lt(strcmp(s.keys[i - 1], s.keys[i]), 0);
    ck_assert_str_eq(s.keys[0], "eps");
    ck_assert_str_eq(s.keys[21], "n");
    ck_assert_str_eq(s.vals[21], "2");
    ck_assert(!nd_kv_equal(&s, &m));
    ck_assert_int_eq(nd_kv_copy_sorted(&t, &m), ND_OK);
    ck_assert(nd_kv_equal(&s, &t));
    ck_assert_int_eq(nd_kv_set(&t, "n", "3"), ND_OK);
    ck_assert(!nd_kv_equal(&s, &t));
    nd_kv_free(&s);
    nd_kv_free(&t);
    nd_kv_free(&m);
    ck_assert_uint_eq(m.n, 0);
}
END_TEST

START_TEST(test_alloc_accounting_and_injection)
{
    size_t live = nd_alloc_live();
    void *p = nd_malloc(1000);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(nd_alloc_live(), live + 1000);
    ck_assert_uint_ge(nd_alloc_peak(), live + 1000);
    nd_free(p, 1000);
    ck_assert_uint_eq(nd_alloc_live(), live);
    nd_alloc_fail_after(2);
    void *a = nd_malloc(8);
    ck_assert_ptr_nonnull(a);
    void *b = nd_malloc(8);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(nd_last_error.status, ND_ENOMEM);
    nd_alloc_fail_after(0);
    nd_free(a, 8);
    /* n * size overflow is refused, never wrapped. */
    ck_assert_ptr_null(nd_calloc(SIZE_MAX / 2, 4));
}
END_TEST

/* Program names: only ".noodle" is source, ".nbc" bytecode, and the bytecode name of a
 * source file. */
START_TEST(test_program_paths)
{
    ck_assert(nd_path_is_bytecode("p.nbc"));
    ck_assert(!nd_path_is_bytecode(".nbc"));
    ck_assert(nd_path_is_source("a/prog.noodle"));
    ck_assert(!nd_path_is_source("prog.nbc"));
    ck_assert(!nd_path_is_source("prog.noodle.txt"));
    static const char *const names[][2] = {
        {"prog.noodle", "prog.nbc"}, {"dir.v2/prog.noodle", "dir.v2/prog.nbc"},
        {"prog", "prog.nbc"}, {"prog.txt", "prog.txt.nbc"}};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char *out = nd_path_nbc_for(names[k][0]);
        ck_assert_str_eq(out, names[k][1]);
        nd_strfree(out);
    }
}
END_TEST

/* io.roots (common/roots.h) over a scratch tree:
 *   T/root/{in.txt, sub/}       T/outside/secret      T/root2/ (a prefix of no root)
 *   T/root/out_dir  -> T/outside            T/root/out_file -> T/outside/secret
 *   T/root/in_dir   -> sub (relative)       T/root/loop -> loop
 *   T/root/dangling_out -> T/outside/new    T/root/dangling_in -> sub/new
 *   T/rootlink -> T/root                    */
static char T[ND_ROOTS_PATH_MAX];

static const char *at(const char *rel)
{
    static char buf[4][ND_ROOTS_PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    int n = snprintf(buf[k], sizeof buf[k], "%s/%s", T, rel);
    ck_assert(n > 0 && (size_t)n < sizeof buf[k]);
    return buf[k];
}

/* path is allowed, and checked by the canonical name T/want. */
static void allowed(const nd_roots *r, const char *path, const char *want)
{
    char canon[ND_ROOTS_PATH_MAX] = "";
    nd_status st = nd_roots_check(r, path, canon);
    ck_assert_msg(st == ND_OK, "'%s' refused: %s", path, nd_last_error.msg);
    if (want) ck_assert_str_eq(canon, at(want));
}

/* path is refused; the message holds `says`. */
static void refused(const nd_roots *r, const char *path, const char *says)
{
    char canon[ND_ROOTS_PATH_MAX] = "untouched";
    nd_status st = nd_roots_check(r, path, canon);
    ck_assert_msg(st == ND_EPROG, "'%s' allowed (as '%s')", path, canon);
    ck_assert_str_eq(canon, "untouched");
    ck_assert_msg(strstr(nd_last_error.msg, says), "'%s': message '%s' lacks '%s'", path,
                  nd_last_error.msg, says);
}

START_TEST(test_io_roots)
{
    char tmpl[] = "/tmp/nd-roots.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    ck_assert_ptr_nonnull(realpath(tmpl, T)); /* /tmp itself may be a link */
    const char *dirs[] = {"root", "root/sub", "outside", "root2"};
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++)
        ck_assert_int_eq(mkdir(at(dirs[k]), 0755), 0);
    const char *files[] = {"root/in.txt", "outside/secret", "root2/f"};
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        FILE *f = fopen(at(files[k]), "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
    }
    ck_assert_int_eq(symlink(at("outside"), at("root/out_dir")), 0);
    ck_assert_int_eq(symlink(at("outside/secret"), at("root/out_file")), 0);
    ck_assert_int_eq(symlink("sub", at("root/in_dir")), 0);
    ck_assert_int_eq(symlink("loop", at("root/loop")), 0);
    ck_assert_int_eq(symlink(at("outside/new"), at("root/dangling_out")), 0);
    ck_assert_int_eq(symlink("sub/new", at("root/dangling_in")), 0);
    ck_assert_int_eq(symlink(at("root"), at("rootlink")), 0);

    /* Off: anything goes. */
    nd_roots r;
    nd_roots_init(&r);
    ck_assert_int_eq(nd_roots_check(&r, "/etc/passwd", NULL), ND_OK);

    /* The root given with a trailing slash. */
    char list[2 * ND_ROOTS_PATH_MAX];
    snprintf(list, sizeof list, "%s/", at("root"));
    ck_assert_int_eq(nd_roots_parse(&r, list), ND_OK);
    ck_assert(r.on);
    allowed(&r, at("root"), "root");
    allowed(&r, at("root/in.txt"), "root/in.txt");
    allowed(&r, at("root/new.h5"), "root/new.h5");          /* to be created */
    allowed(&r, at("root/sub/../in.txt"), "root/in.txt");
    allowed(&r, at("root/in_dir/x.h5"), "root/sub/x.h5");   /* a link that stays inside */
    allowed(&r, at("root/dangling_in"), "root/sub/new");    /* created through the link */
    allowed(&r, at("root/nodir/x.h5"), "root/nodir/x.h5");  /* the open fails, not the check */
    char msg[3 * ND_ROOTS_PATH_MAX];
    snprintf(msg, sizeof msg, "'%s' is outside io.roots (%s)", at("root/../outside/secret"),
             list);
    refused(&r, at("root/../outside/secret"), msg);
    refused(&r, at("root/.."), "is outside");
    refused(&r, at("root/out_dir/secret"), "is outside");   /* a link to a directory outside */
    refused(&r, at("root/out_dir/created"), "is outside");
    refused(&r, at("root/out_file"), "is outside");         /* a link to a file outside */
    refused(&r, at("root/dangling_out"), "is outside");     /* would create outside */
    refused(&r, at("root2/f"), "is outside");               /* "root" is a prefix of the name */
    refused(&r, at("root/nodir/../../outside/x"), "cannot be checked");
    refused(&r, at("root/loop"), "cannot be checked");
    refused(&r, at("root/in.txt/x"), "cannot be checked");  /* below a file */
    refused(&r, "", "cannot be checked");
    refused(&r, "/etc/passwd", "is outside io.roots");

    /* Relative paths start in the working directory. */
    char cwd[ND_ROOTS_PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(at("root/sub")), 0);
    allowed(&r, "../in.txt", "root/in.txt");
    allowed(&r, "./new.csv", "root/sub/new.csv");
    allowed(&r, ".", "root/sub");
    refused(&r, "../../outside/secret", "is outside");
    refused(&r, "../out_dir", "is outside");
    nd_roots_free(&r);

    /* A root that is a link to a directory: names through either spelling. */
    nd_roots_init(&r);
    ck_assert_int_eq(nd_roots_parse(&r, at("rootlink")), ND_OK);
    allowed(&r, at("root/in.txt"), "root/in.txt");
    allowed(&r, at("rootlink/sub/x"), "root/sub/x");
    refused(&r, at("rootlink/../outside/secret"), "is outside");
    nd_roots_free(&r);

    /* Several roots, empty entries skipped; a missing one or none is a config error. */
    nd_roots_init(&r);
    snprintf(list, sizeof list, "%s::%s", at("root2"), at("outside"));
    ck_assert_int_eq(nd_roots_parse(&r, list), ND_OK);
    ck_assert_uint_eq(r.n, 2);
    allowed(&r, at("outside/secret"), "outside/secret");
    refused(&r, at("root/in.txt"), "is outside");
    nd_roots_free(&r);
    nd_roots_init(&r);
    ck_assert_int_eq(nd_roots_parse(&r, at("nope")), ND_EUSAGE);
    snprintf(msg, sizeof msg, "io.roots: '%s' does not exist", at("nope"));
    ck_assert_str_eq(nd_last_error.msg, msg);
    nd_roots_free(&r);
    nd_roots_init(&r);
    ck_assert_int_eq(nd_roots_parse(&r, at("root/in.txt")), ND_EUSAGE);
    ck_assert(strstr(nd_last_error.msg, "is not a directory"));
    nd_roots_free(&r);
    nd_roots_init(&r);
    ck_assert_int_eq(nd_roots_parse(&r, "::"), ND_EUSAGE);
    nd_roots_free(&r);

    /* require_signed without io.roots: the working directory, the checkpoint and catalog
     * directories, even before they exist (nothing is created). */
    nd_roots_init(&r);
    ck_assert_int_eq(nd_roots_setup(&r, NULL, false, "ck", "cat"), ND_OK);
    ck_assert(!r.on);
    ck_assert_int_eq(nd_roots_setup(&r, "", true, at("outside/ckpts"), "../cat"), ND_OK);
    ck_assert(r.on);
    ck_assert_uint_eq(r.n, 3);
    allowed(&r, "x.h5", "root/sub/x.h5");
    allowed(&r, at("outside/ckpts/prog/ckpt-1.h5"), "outside/ckpts/prog/ckpt-1.h5");
    allowed(&r, at("root/cat/results"), "root/cat/results");
    refused(&r, at("outside/secret"), "is outside");
    refused(&r, at("root/in.txt"), "is outside");
    struct stat sb;
    ck_assert_int_ne(stat(at("outside/ckpts"), &sb), 0);
    ck_assert_int_ne(stat(at("root/cat"), &sb), 0);
    nd_roots_free(&r);
    /* io.roots wins over the defaults. */
    nd_roots_init(&r);
    ck_assert_int_eq(nd_roots_setup(&r, at("outside"), true, "ck", "cat"), ND_OK);
    ck_assert_uint_eq(r.n, 1);
    refused(&r, "x.h5", "is outside");
    nd_roots_free(&r);

    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(nd_check_rmtree(T), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("common");
    const TTest *tc_tests[] = {
        test_sha256_vectors, test_crc32c_vector, test_xxh64_vectors, test_fmt_double, test_fmt_double_oracle,
        test_parse_count, test_program_paths, test_strbuf_le_roundtrip,
        test_alloc_accounting_and_injection, test_kv_order_and_replace, test_io_roots, NULL};
    nd_check_tcase(s, "core", 0, tc_tests);
    int failed = nd_check_run(s, 0);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
