/* check_catalog.c: unit tests of src/catalog: store/load of every item kind, versions,
 * provenance and statistics, every MQL feature and parse-error position, index rebuild
 * (deleted, corrupt, stale), leftover temporary files, export, the mapped index (the
 * same rows as HDF5 reads, fallback on any doubt, growth past its capacity), the audit
 * log (its chain recomputed as documented, tampering, repair, adoption) and the
 * fast number formatting (the same text as nd_fmt_double).  Runs under MPI (any
 * rank count; the Makefile runs it as a singleton) without fork. */
#include "nd_check.h"
#include "common/strbuf.h"
#include "catalog/catalog.h"
#include "catalog/ixmap.h"
#include "catalog/mql.h"
#include "common/alloc.h"
#include "common/hash.h"
#include "runtime/arr.h"
#include "runtime/spmd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char catdir[256];
static nd_cat *cat;

/* A fresh catalog (rank 0 makes the directory name, everyone uses it). */
static void fresh(void)
{
    static int seq;
    if (nd_spmd_rank() == 0) {
        snprintf(catdir, sizeof catdir, "/tmp/nd_check_catalog.%ld.%d", (long)getpid(), seq);
        ck_assert_int_eq(nd_check_rmtree(catdir), 0);
    }
    seq++;
    MPI_Bcast(catdir, sizeof catdir, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (cat) nd_cat_close(cat);
    ck_assert_int_eq(nd_cat_open(catdir, MPI_COMM_WORLD, true, &cat), ND_OK);
}

static void sh(const char *fmt, const char *arg)
{
    if (nd_spmd_rank() != 0) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, fmt, catdir, arg);
    ck_assert_int_eq(system(cmd), 0);
}

static int64_t store_int(const char *name, int64_t v, const nd_cat_tag *tags, size_t ntags)
{
    nd_cat_prov p;
    nd_cat_prov_init(&p);
    nd_cat_item it = {.kind = ND_CAT_INT, .i = v};
    int64_t ver = -1;
    ck_assert_int_eq(nd_cat_store(cat, name, &it, tags, ntags, &p, &ver), ND_OK);
    return ver;
}

static int64_t store_float(const char *name, double v, const nd_cat_tag *tags, size_t ntags)
{
    nd_cat_prov p;
    nd_cat_prov_init(&p);
    nd_cat_item it = {.kind = ND_CAT_FLOAT, .f = v};
    int64_t ver = -1;
    ck_assert_int_eq(nd_cat_store(cat, name, &it, tags, ntags, &p, &ver), ND_OK);
    return ver;
}

static int64_t store_str(const char *name, const char *s, nd_cat_kind kind)
{
    nd_cat_prov p;
    nd_cat_prov_init(&p);
    nd_cat_item it = {.kind = kind, .s = (char *)s, .len = strlen(s)};
    int64_t ver = -1;
    ck_assert_int_eq(nd_cat_store(cat, name, &it, NULL, 0, &p, &ver), ND_OK);
    return ver;
}

/* Runs a query and renders it as "a|b;c|d" (strings bare, NULL as "~"). */
static nd_status q(const char *mql, char *out, size_t n)
{
    nd_cat_rows r;
    nd_status st = nd_cat_query(cat, mql, &r);
    out[0] = '\0';
    if (st != ND_OK) return st;
    size_t len = 0;
    for (size_t i = 0; i < r.nrows; i++)
        for (size_t c = 0; c < r.ncols; c++) {
            const nd_cat_cell *cell = nd_cat_rows_at(&r, i, c);
            char b[80];
            if (cell->type == ND_CAT_CINT) snprintf(b, sizeof b, "%lld", (long long)cell->i);
            else if (cell->type == ND_CAT_CFLOAT) nd_fmt_double(b, sizeof b, cell->f);
            else if (cell->type == ND_CAT_CSTR) snprintf(b, sizeof b, "%s", cell->s);
            else snprintf(b, sizeof b, "~");
            len += (size_t)snprintf(out + len, n - len, "%s%s", c ? "|" : (i ? ";" : ""), b);
            if (len >= n) len = n - 1;
        }
    nd_cat_rows_free(&r);
    return ND_OK;
}

#define QEQ(mql, expect)                                                                 \
    do {                                                                                 \
        char buf_[4096];                                                                 \
        ck_assert_msg(q((mql), buf_, sizeof buf_) == ND_OK, "%s: %s", (mql), nd_err_msg()); \
        ck_assert_str_eq(buf_, (expect));                                                \
    } while (0)

START_TEST(test_store_load_kinds)
{
    fresh();
    ck_assert_int_eq(store_int("i", -42, NULL, 0), 1);
    ck_assert_int_eq(store_float("f", 0.1, NULL, 0), 1);
    ck_assert_int_eq(store_str("s", "héllo, world", ND_CAT_STRING), 1);
    ck_assert_int_eq(store_str("j", "{\"a\": [1, 2]}", ND_CAT_JSON), 1);
    nd_cat_item it;
    int64_t v;
    ck_assert_int_eq(nd_cat_load(cat, "i", ND_CAT_LATEST, &it, &v), ND_OK);
    ck_assert_int_eq(it.kind, ND_CAT_INT);
    ck_assert_int_eq(it.i, -42);
    ck_assert_int_eq(v, 1);
    nd_cat_item_clear(&it);
    ck_assert_int_eq(nd_cat_load(cat, "f", ND_CAT_LATEST, &it, NULL), ND_OK);
    ck_assert_int_eq(it.kind, ND_CAT_FLOAT);
    ck_assert(it.f == 0.1);
    nd_cat_item_clear(&it);
    ck_assert_int_eq(nd_cat_load(cat, "s", ND_CAT_LATEST, &it, NULL), ND_OK);
    ck_assert_int_eq(it.kind, ND_CAT_STRING);
    ck_assert_str_eq(it.s, "héllo, world");
    ck_assert_uint_eq(it.len, strlen("héllo, world"));
    nd_cat_item_clear(&it);
    ck_assert_int_eq(nd_cat_load(cat, "j", ND_CAT_LATEST, &it, NULL), ND_OK);
    ck_assert_int_eq(it.kind, ND_CAT_JSON);
    ck_assert_str_eq(it.s, "{\"a\": [1, 2]}");
    nd_cat_item_clear(&it);

    /* A 3x2 matrix: values, shape and statistics. */
    double cm[6] = {1, -2, 3, 4, 5, -6}; /* column-major: [[1,4],[-2,5],[3,-6]] */
    nd_dm *A;
    ck_assert_int_eq(nd_dm_from_colmajor(3, 2, cm, &A), ND_OK);
    nd_cat_prov p;
    nd_cat_prov_init(&p);
    nd_cat_item mi = {.kind = ND_CAT_MATRIX, .m = A};
    ck_assert_int_eq(nd_cat_store(cat, "M", &mi, NULL, 0, &p, &v), ND_OK);
    ck_assert_int_eq(v, 1);
    nd_dm_free(A);
    ck_assert_int_eq(nd_cat_load(cat, "M", 1, &it, NULL), ND_OK);
    ck_assert_int_eq(it.kind, ND_CAT_MATRIX);
    ck_assert_int_eq(nd_dm_rows(it.m), 3);
    ck_assert_int_eq(nd_dm_cols(it.m), 2);
    double x;
    ck_assert_int_eq(nd_dm_get(it.m, 2, 1, &x), ND_OK);
    ck_assert(x == -6);
    ck_assert_int_eq(nd_dm_get(it.m, 0, 1, &x), ND_OK);
    ck_assert(x == 4);
    nd_cat_item_clear(&it);
    char expect[200], nrm[40];
    nd_fmt_double(nrm, sizeof nrm, sqrt(1 + 4 + 9 + 16 + 25 + 36));
    snprintf(expect, sizeof expect, "matrix|3|2|-6.0|5.0|0.8333333333333334|%s", nrm);
    QEQ("SELECT kind, rows, cols, min, max, mean, norm FROM results WHERE name = 'M'", expect);
    QEQ("SELECT name, kind, value, rows, norm FROM results WHERE kind != 'matrix'",
        "f|float|0.1|1|0.1;i|int|-42|1|42.0;j|json|~|~|~;s|string|héllo, world|~|~");

    /* The result file opens as a plain 2-D dataset, row-major, with dimension scales. */
    if (nd_spmd_rank() == 0 && access("/usr/bin/python3", X_OK) == 0 &&
        system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") == 0) {
        char cmd[600];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import h5py,sys; f=h5py.File('%s/results/M/v1.h5','r'); "
                 "d=f['data']; sys.exit(0 if d.shape==(3,2) and d[2,1]==-6 and d[0,1]==4 and "
                 "len(d.dims[0])==1 and f.attrs['name']=='M' and f.attrs['rows']==3 else 1)\"",
                 catdir);
        ck_assert_int_eq(system(cmd), 0);
    }

    /* Bad input. */
    ck_assert_int_eq(nd_cat_store(cat, "../x", &mi, NULL, 0, &p, &v), ND_EPROG);
    ck_assert_int_eq(nd_cat_store(cat, "", &mi, NULL, 0, &p, &v), ND_EPROG);
    ck_assert_int_eq(nd_cat_load(cat, "nothing", ND_CAT_LATEST, &it, NULL), ND_EPROG);
    ck_assert(strstr(nd_err_msg(), "no result named 'nothing'"));
    ck_assert_int_eq(nd_cat_load(cat, "i", 7, &it, NULL), ND_EPROG);
    nd_cat_item bad = {.kind = ND_CAT_STRING, .s = "a\0b", .len = 3};
    ck_assert_int_eq(nd_cat_store(cat, "z", &bad, NULL, 0, &p, &v), ND_EPROG);
    nd_cat_tag dup[2] = {{"k", {.type = ND_CAT_CINT, .i = 1}}, {"k", {.type = ND_CAT_CINT, .i = 2}}};
    nd_cat_item one = {.kind = ND_CAT_INT, .i = 1};
    ck_assert_int_eq(nd_cat_store(cat, "z", &one, dup, 2, &p, &v), ND_EPROG);
    nd_cat_tag nul[1] = {{"k", {.type = ND_CAT_NULL}}};
    ck_assert_int_eq(nd_cat_store(cat, "z", &one, nul, 1, &p, &v), ND_EPROG);
    /* Rejected stores leave no version behind. */
    ck_assert_int_eq(store_int("z", 5, NULL, 0), 1);
}
END_TEST

/* Arrays keep their shape through store and load; MQL's shape column ("4x5x6") is set for
 * every array, rows and cols for 2-D ones only; an index rebuilt from the files agrees,
 * and a matrix file without a shape attribute (from before arrays) gets "RxC". */
static nd_dm *mk_arr(int nd, const int64_t *shape)
{
    int64_t N = 1;
    for (int k = 0; k < nd; k++) N *= shape[k];
    double *v = ND_ALLOC_N(double, (size_t)N);
    for (int64_t f = 0; f < N; f++) v[f] = (double)(f % 1009) - 0.5 * (double)(f % 7);
    nd_dm *A;
    ck_assert_int_eq(nd_arr_from_rowmajor(nd, shape, v, &A), ND_OK);
    ND_FREE_N(v, (size_t)N);
    return A;
}

static void check_arr(const nd_dm *A, int nd, const int64_t *shape)
{
    ck_assert_int_eq(nd_arr_ndim(A), nd);
    int64_t N = 1;
    for (int k = 0; k < nd; k++) {
        ck_assert_int_eq(nd_arr_shape(A)[k], shape[k]);
        N *= shape[k];
    }
    double *v;
    ck_assert_int_eq(nd_arr_to_rowmajor(A, &v), ND_OK);
    for (int64_t f = 0; f < N; f++) ck_assert(v[f] == (double)(f % 1009) - 0.5 * (double)(f % 7));
    ND_FREE_N(v, (size_t)N);
}

START_TEST(test_store_load_arrays)
{
    fresh();
    static const int64_t s3[3] = {3, 40, 70}, s1[1] = {10007}, s2[2] = {5, 3};
    const struct {
        const char *name;
        int nd;
        const int64_t *shape;
    } cases[] = {{"arr3", 3, s3}, {"arr1", 1, s1}, {"arr2", 2, s2}};
    for (int c = 0; c < 3; c++) {
        nd_dm *A = mk_arr(cases[c].nd, cases[c].shape);
        nd_cat_prov p;
        nd_cat_prov_init(&p);
        nd_cat_item mi = {.kind = ND_CAT_MATRIX, .m = A};
        int64_t v;
        ck_assert_int_eq(nd_cat_store(cat, cases[c].name, &mi, NULL, 0, &p, &v), ND_OK);
        nd_dm_free(A);
        nd_cat_item it;
        ck_assert_int_eq(nd_cat_load(cat, cases[c].name, ND_CAT_LATEST, &it, NULL), ND_OK);
        ck_assert_int_eq(it.kind, ND_CAT_MATRIX);
        check_arr(it.m, cases[c].nd, cases[c].shape);
        nd_cat_item_clear(&it);
    }
    for (int pass = 0; pass < 2; pass++) {
        QEQ("SELECT name, kind, shape, rows, cols FROM results ORDER BY name",
            "arr1|matrix|10007|~|~;arr2|matrix|5x3|5|3;arr3|matrix|3x40x70|~|~");
        QEQ("SELECT name, min, max FROM results WHERE shape = '3x40x70'", "arr3|-3.0|1008.0");
        QEQ("SELECT name FROM results WHERE shape LIKE '%x%x%' OR rows = 5 ORDER BY name",
            "arr2;arr3");
        QEQ("SELECT name FROM results WHERE rows IS NULL AND shape IS NOT NULL ORDER BY name",
            "arr1;arr3");
        size_t n; /* the second pass: an index rebuilt from the result files */
        ck_assert_int_eq(nd_cat_reindex(cat, &n), ND_OK);
        if (nd_spmd_rank() == 0) ck_assert_uint_eq(n, 3); /* counted on rank 0 */
    }
    /* The files as h5py sees them: datasets of the shape, one dimension scale per axis. */
    if (nd_spmd_rank() == 0 && access("/usr/bin/python3", X_OK) == 0 &&
        system("/usr/bin/python3 -c 'import h5py' 2>/dev/null") == 0) {
        char cmd[900];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import h5py,sys; r='%s/results/'; "
                 "a=h5py.File(r+'arr3/v1.h5','r'); b=h5py.File(r+'arr1/v1.h5','r'); "
                 "ok=a['data'].shape==(3,40,70) and a['data'][1,2,3]==(1*2800+2*70+3)%%1009-0.5*((1*2800+2*70+3)%%7) "
                 "and a.attrs['shape']=='3x40x70' and 'rows' not in a.attrs and len(a['data'].dims[2])==1 "
                 "and b['data'].shape==(10007,) and b['data'][10006]==10006%%1009-0.5*(10006%%7); "
                 "sys.exit(0 if ok else 1)\"",
                 catdir);
        ck_assert_msg(system(cmd) == 0, "h5py does not see the arrays' shapes");
        /* A matrix file from before arrays: no shape attribute. */
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import h5py; f=h5py.File('%s/results/arr2/v1.h5','r+'); "
                 "del f.attrs['shape']\"",
                 catdir);
        ck_assert_int_eq(system(cmd), 0);
        /* the edit broke its checksum: the writer's seal again, as an older Noodle's
         * valid file */
        snprintf(cmd, sizeof cmd, "%s/results/arr2/v1.h5", catdir);
        ck_assert_int_eq(nd_cat_sum_verify(MPI_COMM_NULL, cmd), ND_EINVALID);
        ck_assert_int_eq(nd_cat_sum_seal(MPI_COMM_NULL, cmd), ND_OK);
    }
    ck_assert_int_eq(nd_spmd_barrier(), ND_OK);
    size_t n;
    ck_assert_int_eq(nd_cat_reindex(cat, &n), ND_OK);
    QEQ("SELECT name, shape, rows, cols FROM results WHERE name = 'arr2'", "arr2|5x3|5|3");
    /* CSV: a 1-D array one value per line (numpy.savetxt); 3-D has no CSV form. */
    char out[400];
    snprintf(out, sizeof out, "%s/a1.csv", catdir);
    ck_assert_int_eq(nd_cat_export(cat, "arr1", out), ND_OK);
    if (nd_spmd_rank() == 0) {
        FILE *f = fopen(out, "r");
        char text[64] = "";
        size_t got = fread(text, 1, 20, f);
        fclose(f);
        text[got] = '\0';
        ck_assert_str_eq(text, "0.0\n0.5\n1.0\n1.5\n2.0\n");
    }
    snprintf(out, sizeof out, "%s/a3.csv", catdir);
    ck_assert_int_eq(nd_cat_export(cat, "arr3", out), ND_EINVALID);
    ck_assert(strstr(nd_err_msg(), "a 3-D array has no CSV form") != NULL);
}
END_TEST

START_TEST(test_versions_provenance)
{
    fresh();
    for (int k = 1; k <= 3; k++) ck_assert_int_eq(store_int("r", k * 10, NULL, 0), k);
    ck_assert_int_eq(store_int("other", 1, NULL, 0), 1);
    nd_cat_item it;
    int64_t v;
    ck_assert_int_eq(nd_cat_load(cat, "r", ND_CAT_LATEST, &it, &v), ND_OK);
    ck_assert_int_eq(v, 3);
    ck_assert_int_eq(it.i, 30);
    ck_assert_int_eq(nd_cat_load(cat, "r", 2, &it, &v), ND_OK);
    ck_assert_int_eq(it.i, 20);

    nd_cat_prov p;
    nd_cat_prov_init(&p);
    snprintf(p.job, sizeof p.job, "4242");
    snprintf(p.program_hash, sizeof p.program_hash, "abcdef");
    snprintf(p.created, sizeof p.created, "2026-01-02T03:04:05Z");
    p.restarts = 2;
    nd_kv params;
    nd_kv_init(&params);
    ck_assert_int_eq(nd_kv_set(&params, "n", "200"), ND_OK);
    ck_assert_int_eq(nd_kv_set(&params, "method", "lu"), ND_OK);
    p.params = &params;
    nd_cat_item x = {.kind = ND_CAT_FLOAT, .f = 2.5};
    ck_assert_int_eq(nd_cat_store(cat, "r", &x, NULL, 0, &p, &v), ND_OK);
    ck_assert_int_eq(v, 4);
    char expect[300];
    snprintf(expect, sizeof expect, "4|4242|2|abcdef|2026-01-02T03:04:05Z|%s|%s|%d|200|lu", p.user,
             p.host, nd_spmd_size());
    QEQ("SELECT version, job, restarts, hash, created, user, host, ranks, params.n, params.method "
        "FROM results WHERE job = '4242'", expect);
    QEQ("SELECT version FROM results WHERE params.n = 200", "4");
    QEQ("SELECT version FROM results WHERE params.n > 100 AND params.method = 'lu'", "4");
    QEQ("SELECT name, version FROM latest", "other|1;r|4");
    QEQ("SELECT name, version FROM latest WHERE name = 'r' AND version < 4", "");
    QEQ("SELECT created FROM results WHERE name = 'r' ORDER BY version DESC LIMIT 1",
        "2026-01-02T03:04:05Z");
    nd_kv_free(&params);
}
END_TEST

/* A catalog for the MQL tests: six results with tags of both types. */
static void mql_fixture(void)
{
    fresh();
    nd_cat_tag t1[] = {{"n", {.type = ND_CAT_CINT, .i = 100}}, {"method", {.type = ND_CAT_CSTR, .s = "lu"}}};
    nd_cat_tag t2[] = {{"n", {.type = ND_CAT_CINT, .i = 200}}, {"method", {.type = ND_CAT_CSTR, .s = "qr"}}};
    nd_cat_tag t3[] = {{"n", {.type = ND_CAT_CFLOAT, .f = 200.0}}, {"eps", {.type = ND_CAT_CFLOAT, .f = 1e-9}}};
    nd_cat_tag t4[] = {{"n", {.type = ND_CAT_CSTR, .s = "200"}}};
    store_int("alpha", 1, t1, 2);          /* alpha@1 value 1 */
    store_float("alpha", 2.5, t2, 2);      /* alpha@2 */
    store_float("beta", -3.0, t3, 2);      /* beta@1 */
    store_int("beta_2", 7, t4, 1);         /* beta_2@1: n is a string */
    store_str("gamma", "it's", ND_CAT_STRING); /* no tags */
    store_int("gamma", 4, NULL, 0);        /* gamma@2 */
}

START_TEST(test_mql_features)
{
    mql_fixture();
    /* comparisons, typed */
    QEQ("SELECT name, version FROM results WHERE tags.n = 200", "alpha|2;beta|1");
    QEQ("SELECT name FROM results WHERE tags.n = '200'", "beta_2");
    QEQ("SELECT name, version FROM results WHERE tags.n != 200", "alpha|1");
    QEQ("SELECT name, version FROM results WHERE tags.n <> 100", "alpha|2;beta|1");
    QEQ("SELECT name FROM results WHERE value < 0", "beta");
    QEQ("SELECT name, version FROM results WHERE value <= 1", "alpha|1;beta|1");
    QEQ("SELECT name, version FROM results WHERE value > 2.5", "beta_2|1;gamma|2");
    QEQ("SELECT name, version FROM results WHERE value >= 2.5", "alpha|2;beta_2|1;gamma|2");
    QEQ("SELECT name FROM results WHERE value = 'it''s'", "gamma");
    QEQ("SELECT name FROM results WHERE 1e-9 = tags.eps", "beta");
    QEQ("SELECT name FROM results WHERE tags.eps < -1", "");
    /* logic, NOT, parentheses; NULL never matches, NOT of unknown is unknown */
    QEQ("SELECT name, version FROM results WHERE tags.method = 'lu' OR tags.method = 'qr'", "alpha|1;alpha|2");
    QEQ("SELECT name, version FROM results WHERE NOT tags.method = 'lu'", "alpha|2");
    QEQ("SELECT name, version FROM results WHERE name = 'gamma' AND (version = 1 OR value = 4)",
        "gamma|1;gamma|2");
    QEQ("SELECT name, version FROM results WHERE name = 'gamma' AND version = 1 OR value = 4", "gamma|1;gamma|2");
    QEQ("SELECT name FROM results WHERE NOT (name LIKE 'a%' OR name LIKE 'b%')", "gamma;gamma");
    QEQ("SELECT name FROM results WHERE NOT tags.n = 100 AND tags.n IS NOT NULL", "alpha;beta");
}
END_TEST

START_TEST(test_mql_more)
{
    mql_fixture();
    QEQ("SELECT name FROM latest WHERE name LIKE 'beta%'", "beta;beta_2");
    QEQ("SELECT name FROM latest WHERE name LIKE 'b_ta'", "beta");
    QEQ("SELECT name FROM latest WHERE name LIKE '%a_2'", "beta_2");
    QEQ("SELECT name FROM latest WHERE name NOT LIKE '%a%'", "");
    QEQ("SELECT name FROM latest WHERE name LIKE '%'", "alpha;beta;beta_2;gamma");
    /* the whole int64 range can be written, its minimum included */
    QEQ("SELECT name FROM latest WHERE version > -9223372036854775808", "alpha;beta;beta_2;gamma");
    QEQ("SELECT name FROM latest WHERE version < 9223372036854775807 AND version = 1", "beta;beta_2");
    QEQ("SELECT name FROM latest WHERE value LIKE '%'", "");
    /* IN */
    QEQ("SELECT name, version FROM results WHERE tags.n IN (100, 'x')", "alpha|1");
    QEQ("SELECT name FROM latest WHERE name IN ('beta', 'gamma')", "beta;gamma");
    QEQ("SELECT name FROM latest WHERE name NOT IN ('beta', 'gamma')", "alpha;beta_2");
    QEQ("SELECT name, version FROM results WHERE tags.n NOT IN (100)", "alpha|2;beta|1");
    /* IS NULL */
    QEQ("SELECT name, version FROM results WHERE tags.n IS NULL", "gamma|1;gamma|2");
    QEQ("SELECT name, version FROM results WHERE rows IS NULL", "gamma|1");
    QEQ("SELECT name FROM latest WHERE tags.eps IS NOT NULL", "beta");
    /* ORDER BY, several keys, NULLs last ascending, LIMIT */
    QEQ("SELECT name, version FROM results ORDER BY value DESC LIMIT 2", "gamma|1;beta_2|1");
    QEQ("SELECT name, version FROM results ORDER BY value ASC", "beta|1;alpha|1;alpha|2;gamma|2;beta_2|1;gamma|1");
    QEQ("SELECT version, name FROM results ORDER BY version DESC, name DESC LIMIT 3", "2|gamma;2|alpha;1|gamma");
    QEQ("SELECT name FROM results ORDER BY tags.method, name LIMIT 3", "alpha;alpha;beta");
    QEQ("SELECT name FROM results LIMIT 0", "");
    /* case-insensitive keywords and columns, comments, semicolon */
    QEQ("select NAME from LATEST where Name = 'beta' -- a comment\n;", "beta");
    /* SELECT *: fixed columns, then tags and params */
    nd_cat_rows r;
    ck_assert_int_eq(nd_cat_query(cat, "SELECT * FROM results WHERE name = 'beta'", &r), ND_OK);
    ck_assert_uint_eq(r.nrows, 1);
    ck_assert_str_eq(r.colnames[0], "name");
    ck_assert_str_eq(r.colnames[r.ncols - 2], "tags.n");
    ck_assert_str_eq(r.colnames[r.ncols - 1], "tags.eps");
    ck_assert_int_eq(nd_cat_rows_at(&r, 0, r.ncols - 1)->type, ND_CAT_CFLOAT);
    nd_cat_rows_free(&r);
    QEQ("SELECT tags.\"n\" FROM results WHERE name = 'beta_2'", "200");
}
END_TEST

typedef struct err_case {
    const char *q;
    int line, col;
    const char *msg;
} err_case;

START_TEST(test_mql_errors)
{
    static const err_case cases[] = {
        {"", 1, 1, "expected SELECT"},
        {"SELEC name FROM results", 1, 1, "expected SELECT"},
        {"SELECT FROM results", 1, 8, "expected a column name"},
        {"SELECT name, FROM results", 1, 14, "expected a column name"},
        {"SELECT nme FROM results", 1, 8, "unknown column 'nme'"},
        {"SELECT name results", 1, 13, "expected ',' or FROM"},
        {"SELECT name FROM tables", 1, 18, "expected 'results' or 'latest'"},
        {"SELECT name FROM results WHERE", 1, 31, "expected a column name or a value"},
        {"SELECT name FROM results WHERE name", 1, 36, "expected a comparison"},
        {"SELECT name FROM results WHERE name = 'x", 1, 39, "unterminated string"},
        {"SELECT name FROM results WHERE (name = 'x'", 1, 43, "expected ')'"},
        {"SELECT name FROM results WHERE name = 5", 1, 39, "cannot compare a string with a number"},
        {"SELECT name FROM results WHERE version = 'a'", 1, 42, "cannot compare a number with a string"},
        {"SELECT name FROM results WHERE version LIKE 'a'", 1, 32, "LIKE needs a string"},
        {"SELECT name FROM results WHERE name LIKE 5", 1, 42, "expected a pattern"},
        {"SELECT name FROM results WHERE name IN ()", 1, 41, "expected a value"},
        {"SELECT name FROM results WHERE name IN ('a' 'b')", 1, 45, "expected ',' or ')'"},
        {"SELECT name FROM results WHERE name IS 5", 1, 40, "expected NULL or NOT NULL"},
        {"SELECT name FROM results WHERE name NOT = 'a'", 1, 41, "expected LIKE or IN"},
        {"SELECT name FROM results ORDER name", 1, 32, "expected BY"},
        {"SELECT name FROM results LIMIT -1", 1, 32, "expected a non-negative integer"},
        {"SELECT name FROM results LIMIT 5 extra", 1, 34, "expected the end of the query"},
        {"SELECT tags.) FROM results", 1, 13, "expected a tag name"},
        {"SELECT tags FROM results", 1, 13, "expected '.'"},
        {"SELECT name FROM results WHERE version = 99999999999999999999", 1, 42, "integer out of range"},
        {"SELECT name FROM results WHERE version = 9223372036854775808", 1, 42, "integer out of range"},
        {"SELECT name FROM results WHERE version = -9223372036854775809", 1, 43, "integer out of range"},
        {"SELECT name FROM results LIMIT 9223372036854775808", 1, 32, "expected a non-negative integer"},
        {"SELECT name FROM results WHERE version = 1e", 1, 43, "malformed number"},
        {"SELECT name FROM results WHERE name # 'a'", 1, 37, "unexpected character '#'"},
        {"SELECT name\nFROM results\nWHERE name = = 'a'", 3, 14, "expected a column name or a value"},
        {"SELECT name FROM results WHERE name = \"x\"", 1, 39,
         "expected a column name or a value (a string takes single quotes: 'x')"},
    };
    for (size_t k = 0; k < ND_ARRAY_LEN(cases); k++) {
        nd_mql_query *qq = NULL;
        nd_mql_diag d;
        nd_status st = nd_mql_parse(cases[k].q, &qq, &d);
        ck_assert_msg(st == ND_EPROG, "query %zu parsed: %s", k, cases[k].q);
        ck_assert_ptr_null(qq);
        ck_assert_msg(d.line == cases[k].line && d.col == cases[k].col && strstr(d.msg, cases[k].msg),
                      "query %zu '%s': got %d:%d '%s'", k, cases[k].q, d.line, d.col, d.msg);
    }
    /* The full message: position, the query line and a caret under the column. */
    fresh();
    char buf[64];
    ck_assert_int_eq(q("SELECT name FROM results WHERE 1 = ", buf, sizeof buf), ND_EPROG);
    ck_assert_str_eq(nd_err_msg(), "mql:1:36: error: expected a column name or a value\n"
                                   "SELECT name FROM results WHERE 1 = \n"
                                   "                                   ^");
    /* Deep nesting is an error, not a stack overflow. */
    char deep[2100];
    size_t n = (size_t)snprintf(deep, sizeof deep, "SELECT name FROM results WHERE ");
    for (int k = 0; k < 500; k++) deep[n++] = '(';
    deep[n] = '\0';
    nd_mql_query *qq;
    nd_mql_diag d;
    ck_assert_int_eq(nd_mql_parse(deep, &qq, &d), ND_EPROG);
    ck_assert(strstr(d.msg, "nested too deeply"));
    /* A numeric key glued to tags. is a key (the grammar's INT), a spaced .5 a number. */
    ck_assert_int_eq(nd_mql_parse("SELECT tags.1, params.2 FROM results WHERE tags.1 = .5", &qq, &d),
                     ND_OK);
    nd_mql_free(qq);
    /* So is a long flat chain (eval recurses once per AND/OR): 3990 terms parse, 4010
     * are refused. */
    for (int terms = 3990; terms <= 4010; terms += 20) {
        nd_strbuf sb;
        nd_sb_init(&sb);
        nd_sb_puts(&sb, "SELECT name FROM results WHERE version = 1");
        for (int k = 1; k < terms; k++) nd_sb_puts(&sb, " OR version = 2");
        nd_status st = nd_mql_parse(sb.data, &qq, &d);
        if (terms < 4000) {
            ck_assert_int_eq(st, ND_OK);
            nd_mql_free(qq);
        } else {
            ck_assert_int_eq(st, ND_EPROG);
            ck_assert_msg(strstr(d.msg, "condition too long: more than 4000 terms"), "%s", d.msg);
        }
        nd_sb_free(&sb);
    }
}
END_TEST

START_TEST(test_reindex_and_recovery)
{
    mql_fixture();
    /* Deleted index: rebuilt on the next query. */
    sh("rm %s/index.h5%s", "");
    QEQ("SELECT name, version FROM latest", "alpha|2;beta|1;beta_2|1;gamma|2");
    ck_assert_int_eq(access(catdir, F_OK), 0);
    /* Garbage index: rebuilt too. */
    sh("echo garbage > %s/index.h5%s", "");
    QEQ("SELECT name FROM latest WHERE version = 2", "alpha;gamma");
    /* Explicit reindex. */
    size_t n = 0;
    ck_assert_int_eq(nd_cat_reindex(cat, &n), ND_OK);
    if (nd_spmd_rank() == 0) ck_assert_uint_eq(n, 6);
    QEQ("SELECT name FROM results WHERE tags.method = 'qr'", "alpha");
    /* Opening for reading needs a catalog: a plain directory stays untouched, a missing
     * path is not created. */
    char plain[300], want[400];
    snprintf(plain, sizeof plain, "%s/plain", catdir);
    sh("mkdir %s/plain%s", "");
    nd_cat *other = NULL;
    ck_assert_int_eq(nd_cat_open(plain, MPI_COMM_WORLD, false, &other), ND_EUSAGE);
    snprintf(want, sizeof want, "%s is not a catalog (it has no results/ directory)", plain);
    ck_assert_str_eq(nd_err_msg(), want);
    sh("test -z \"$(ls -A %s/plain)\"%s", "");
    sh("rmdir %s/plain%s", "");
    ck_assert_int_eq(nd_cat_open(plain, MPI_COMM_WORLD, false, &other), ND_EUSAGE);
    ck_assert(access(plain, F_OK) != 0);
}
END_TEST

START_TEST(test_recovery_more)
{
    mql_fixture();
    size_t n = 0;
    sh("echo garbage > %s/index.h5%s", "");
    QEQ("SELECT name, version FROM latest", "alpha|2;beta|1;beta_2|1;gamma|2");
    /* A committed result the index missed (writer died after the rename): the pending
     * marker it left makes the next reader rebuild. */
    sh("cp %s/results/beta/v1.h5 /tmp/nd_cat_saved.h5%s", "");
    store_float("beta", 9.0, NULL, 0);
    sh("touch %s/pending/beta.v2%s", "");
    sh("cp %s/index.h5 /tmp/nd_cat_idx_saved.h5%s", "");
    QEQ("SELECT name, version FROM latest WHERE name = 'beta'", "beta|2");
    /* A leftover temporary file of a dead writer is ignored, then removed by reindex. */
    sh("cp /tmp/nd_cat_saved.h5 %s/results/beta/v3.h5.tmp.nohost.999999%s", "");
    sh("cp /tmp/nd_cat_saved.h5 %s/results/beta/v4.h5.tmp.nohost.999998%s", "");
    sh("touch -d '2 days ago' %s/results/beta/v4.h5.tmp.nohost.999998%s", "");
    QEQ("SELECT name, version FROM latest WHERE name = 'beta'", "beta|2");
    nd_cat_item it;
    int64_t v;
    ck_assert_int_eq(nd_cat_load(cat, "beta", ND_CAT_LATEST, &it, &v), ND_OK);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(nd_cat_reindex(cat, &n), ND_OK);
    if (nd_spmd_rank() == 0) {
        ck_assert_uint_eq(n, 7);
        char p[400];
        snprintf(p, sizeof p, "%s/results/beta/v3.h5.tmp.nohost.999999", catdir);
        ck_assert_int_eq(access(p, F_OK), 0); /* another host's writer may still be alive */
        snprintf(p, sizeof p, "%s/results/beta/v4.h5.tmp.nohost.999998", catdir);
        ck_assert_int_ne(access(p, F_OK), 0); /* but not for two days */
    }
    /* The version after a claimed-but-never-committed one skips it. */
    sh("touch %s/results/beta/v3.claim%s", "");
    ck_assert_int_eq(store_int("beta", 1, NULL, 0), 4);
    /* A corrupt result file is left out of the rebuilt index (with a warning); the
     * others stay queryable, and the file stays where it is. */
    QEQ("SELECT count(*) FROM results WHERE name = 'gamma'", "2");
    sh("echo broken > %s/results/gamma/v1.h5%s", "");
    sh("rm %s/index.h5%s", "");
    QEQ("SELECT name, version FROM results WHERE name = 'gamma'", "gamma|2");
    QEQ("SELECT name, version FROM latest WHERE name = 'beta'", "beta|4");
    ck_assert_int_eq(nd_cat_reindex(cat, &n), ND_OK);
    if (nd_spmd_rank() == 0) ck_assert_uint_eq(n, 7);
}
END_TEST

START_TEST(test_export)
{
    fresh();
    double cm[4] = {1, 3, 2, 4.5};
    nd_dm *A;
    ck_assert_int_eq(nd_dm_from_colmajor(2, 2, cm, &A), ND_OK);
    nd_cat_prov p;
    nd_cat_prov_init(&p);
    nd_cat_item mi = {.kind = ND_CAT_MATRIX, .m = A};
    int64_t v;
    ck_assert_int_eq(nd_cat_store(cat, "m", &mi, NULL, 0, &p, &v), ND_OK);
    nd_dm_free(A);
    store_str("s", "a \"quoted\", text", ND_CAT_STRING);
    char out[400];
    snprintf(out, sizeof out, "%s/m.csv", catdir);
    ck_assert_int_eq(nd_cat_export(cat, "m@1", out), ND_OK);
    if (nd_spmd_rank() == 0) {
        FILE *f = fopen(out, "r");
        char text[200] = "";
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = '\0';
        ck_assert_str_eq(text, "1.0,2.0\n3.0,4.5\n");
    }
    snprintf(out, sizeof out, "%s/s.csv", catdir);
    ck_assert_int_eq(nd_cat_export(cat, "s", out), ND_OK);
    if (nd_spmd_rank() == 0) {
        FILE *f = fopen(out, "r");
        char text[200] = "";
        size_t got = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[got] = '\0';
        ck_assert_str_eq(text, "\"a \"\"quoted\"\", text\"\n");
    }
    snprintf(out, sizeof out, "%s/m.h5", catdir);
    ck_assert_int_eq(nd_cat_export(cat, "m", out), ND_OK);
    ck_assert_int_eq(nd_cat_export(cat, "m@2", out), ND_EPROG);
    ck_assert_int_eq(nd_cat_export(cat, "m@x", out), ND_EPROG);
    ck_assert_int_eq(nd_cat_export(cat, "m", "/tmp/x.txt"), ND_EUSAGE);
}
END_TEST

/* ---- aggregates, GROUP BY, DISTINCT, HAVING (an index built in memory) ---------------- */

/* Appends a row to ix: value is "i:N", "f:X", "s:TEXT" or "" (none); norm < 0: no
 * statistics; tags encoded as the index stores them (KEY \x1f TYPE VALUE \x1e). */
static void add_row(nd_cat_index *ix, const char *name, int64_t version, const char *value,
                    double norm, const char *tags)
{
    nd_cat_row r;
    memset(&r, 0, sizeof r);
    r.version = version;
    r.kind = ND_CAT_INT;
    if (value[0] == 'i') r.flags |= ND_CAT_F_VNUM | ND_CAT_F_VINT, r.ivalue = atoll(value + 2);
    else if (value[0] == 'f') r.flags |= ND_CAT_F_VNUM, r.value = atof(value + 2), r.kind = ND_CAT_FLOAT;
    else if (value[0] == 's') r.kind = ND_CAT_STRING, r.flags |= ND_CAT_F_VSTR;
    else r.kind = ND_CAT_MATRIX;
    if (norm >= 0) r.flags |= ND_CAT_F_STATS, r.norm = norm, r.rows = r.cols = 1;
    char enc[200];
    size_t n = 0;
    for (const char *p = tags; *p; p++) enc[n++] = *p == '=' ? '\x1f' : *p == ';' ? '\x1e' : *p;
    enc[n] = '\0';
    ck_assert_int_eq(nd_cat_index_str(ix, name, strlen(name), &r.name), ND_OK);
    if (value[0] == 's') ck_assert_int_eq(nd_cat_index_str(ix, value + 2, strlen(value + 2), &r.svalue), ND_OK);
    ck_assert_int_eq(nd_cat_index_str(ix, enc, n, &r.tags), ND_OK);
    ck_assert_int_eq(nd_cat_index_push(ix, &r), ND_OK);
}

/* Eight rows: tags.n of three types and missing, tags.m missing in two, value of every
 * kind, norm only for the matrices d@1 and d@2.  reversed: the same rows backwards. */
static void agg_fixture(nd_cat_index *ix, bool reversed)
{
    static const struct {
        const char *name;
        int64_t version;
        const char *value;
        double norm;
        const char *tags;
    } rows[] = {
        {"a", 1, "i:1", -1, "n=i10;m=slu;"}, {"a", 2, "f:2.5", -1, "n=i20;m=sqr;"},
        {"b", 1, "f:-3.0", -1, "n=f20.0;m=slu;"}, {"b", 2, "i:7", -1, "n=s20;m=slu;"},
        {"c", 1, "s:x", -1, ""}, {"c", 2, "i:4", -1, "n=i10;"},
        {"d", 1, "", 2.0, "m=sqr;"}, {"d", 2, "", 4.0, "m=sqr;n=i30;"},
    };
    ck_assert_int_eq(nd_cat_index_init(ix), ND_OK);
    size_t n = ND_ARRAY_LEN(rows);
    for (size_t k = 0; k < n; k++) {
        size_t j = reversed ? n - 1 - k : k;
        add_row(ix, rows[j].name, rows[j].version, rows[j].value, rows[j].norm, rows[j].tags);
    }
}

/* Runs mql over ix; renders the rows as q() does and the warnings into warn (may be NULL). */
static nd_status mq(const nd_cat_index *ix, const char *mql, char *out, size_t n, char *warn, size_t wn)
{
    nd_mql_query *qq = NULL;
    nd_mql_diag d;
    out[0] = '\0';
    if (warn) warn[0] = '\0';
    nd_status st = nd_mql_parse(mql, &qq, &d);
    nd_cat_rows r;
    if (st == ND_OK) st = nd_mql_exec(qq, ix, &r);
    nd_mql_free(qq);
    if (st != ND_OK) return st;
    size_t len = 0;
    for (size_t i = 0; i < r.nrows; i++)
        for (size_t c = 0; c < r.ncols; c++) {
            const nd_cat_cell *cell = nd_cat_rows_at(&r, i, c);
            char b[80];
            if (cell->type == ND_CAT_CINT) snprintf(b, sizeof b, "%lld", (long long)cell->i);
            else if (cell->type == ND_CAT_CFLOAT) nd_fmt_double(b, sizeof b, cell->f);
            else if (cell->type == ND_CAT_CSTR) snprintf(b, sizeof b, "%s", cell->s);
            else snprintf(b, sizeof b, "~");
            len += (size_t)snprintf(out + len, n - len, "%s%s", c ? "|" : (i ? ";" : ""), b);
            if (len >= n) len = n - 1;
        }
    if (warn) snprintf(warn, wn, "%s", r.warnings ? r.warnings : "");
    nd_cat_rows_free(&r);
    return ND_OK;
}

typedef struct agg_case {
    const char *q, *expect, *warn;
} agg_case;

START_TEST(test_mql_aggregates)
{
    static const agg_case cases[] = {
        /* each aggregate; NULLs skipped except by count(*) */
        {"SELECT count(*), count(tags.n), count(tags.m), count(norm) FROM results", "8|6|6|2", ""},
        {"SELECT min(value), max(value), sum(value), avg(value) FROM results", "-3.0|x|11.5|2.3",
         "mql: warning: sum(value) skipped 1 string value\nmql: warning: avg(value) skipped 1 string value\n"},
        {"SELECT sum(version), avg(version), min(norm), max(norm), avg(norm) FROM results", "12|1.5|2.0|4.0|3.0", ""},
        {"select COUNT(*), Max(name) from LATEST", "4|d", ""},
        /* GROUP BY tags: int 20 and float 20.0 are one group (shown as the int), the
         * string '20' another; NULL is a group; keys ascending, NULL last */
        {"SELECT tags.n, count(*) FROM results GROUP BY tags.n", "10|2;20|2;30|1;20|1;~|2", ""},
        {"SELECT tags.m, count(*) FROM results GROUP BY tags.m", "lu|3;qr|3;~|2", ""},
        {"SELECT tags.m, count(*) FROM latest GROUP BY tags.m", "lu|1;qr|2;~|1", ""},
        {"SELECT name, sum(tags.n) FROM results GROUP BY name", "a|30;b|20.0;c|10;d|30",
         "mql: warning: sum(tags.n) skipped 1 string value\n"},
        {"SELECT name, tags.m, count(*) FROM results GROUP BY tags.m, name", "a|lu|1;b|lu|2;a|qr|1;d|qr|2;c|~|2", ""},
        /* ORDER BY an aggregate (by alias too), DESC, LIMIT */
        {"SELECT tags.m, count(*) AS n FROM results GROUP BY tags.m ORDER BY n DESC, tags.m DESC", "qr|3;lu|3;~|2", ""},
        {"SELECT tags.m FROM results GROUP BY tags.m ORDER BY count(*), tags.m LIMIT 2", "~;lu", ""},
        {"SELECT name FROM results GROUP BY name ORDER BY max(value) DESC", "d;c;b;a", ""},
        {"SELECT name, count(*) FROM results GROUP BY name ORDER BY name DESC LIMIT 2", "d|2;c|2", ""},
        {"SELECT name FROM results GROUP BY name LIMIT 0", "", ""},
        /* HAVING over aggregates and grouped columns */
        {"SELECT name FROM results GROUP BY name HAVING max(version) = 2 AND min(value) < 0", "b", ""},
        {"SELECT name, count(*), count(norm), max(norm) FROM results GROUP BY name HAVING count(norm) = 0",
         "a|2|0|~;b|2|0|~;c|2|0|~", ""},
        {"SELECT name FROM results GROUP BY name HAVING name LIKE '%c%' OR sum(version) > 100", "c", ""},
        {"SELECT count(*) FROM results HAVING count(*) > 100", "", ""},
        /* WHERE before grouping; empty input */
        {"SELECT tags.m, count(*) FROM results WHERE value > 0 GROUP BY tags.m", "lu|2;qr|1;~|1", ""},
        {"SELECT count(*), sum(version), min(name), avg(norm) FROM results WHERE version > 5", "0|~|~|~", ""},
        {"SELECT name, count(*) FROM results WHERE version > 5 GROUP BY name", "", ""},
        /* DISTINCT */
        {"SELECT DISTINCT tags.m FROM results", "lu;qr;~", ""},
        {"SELECT DISTINCT name, tags.m FROM latest", "a|qr;b|lu;c|~;d|qr", ""},
        {"SELECT DISTINCT tags.m FROM results ORDER BY tags.m DESC LIMIT 2", "~;qr", ""},
        {"SELECT DISTINCT count(*) FROM results GROUP BY name", "2", ""},
        {"SELECT DISTINCT name FROM results WHERE version = 1", "a;b;c;d", ""},
    };
    nd_cat_index fw, bw;
    agg_fixture(&fw, false);
    agg_fixture(&bw, true);
    for (size_t k = 0; k < ND_ARRAY_LEN(cases); k++) {
        char got[512], warn[512];
        for (int rev = 0; rev < 2; rev++) { /* the order rows are met changes nothing */
            nd_status st = mq(rev ? &bw : &fw, cases[k].q, got, sizeof got, warn, sizeof warn);
            ck_assert_msg(st == ND_OK, "%s: %s", cases[k].q, nd_err_msg());
            ck_assert_msg(strcmp(got, cases[k].expect) == 0, "%s%s: got '%s', want '%s'", cases[k].q,
                          rev ? " (reversed)" : "", got, cases[k].expect);
            ck_assert_msg(strcmp(warn, cases[k].warn) == 0, "%s: warnings '%s'", cases[k].q, warn);
        }
    }
    /* Output column names: the call as written in lower case, or the alias. */
    nd_mql_query *qq;
    nd_mql_diag d;
    nd_cat_rows r;
    ck_assert_int_eq(nd_mql_parse("SELECT COUNT(*), avg(norm), tags.m, max(tags.n) AS top, count(tags.n) AS \"n n\" "
                                  "FROM results GROUP BY tags.m", &qq, &d), ND_OK);
    ck_assert_int_eq(nd_mql_exec(qq, &fw, &r), ND_OK);
    ck_assert_uint_eq(r.ncols, 5);
    ck_assert_str_eq(r.colnames[0], "count(*)");
    ck_assert_str_eq(r.colnames[1], "avg(norm)");
    ck_assert_str_eq(r.colnames[2], "tags.m");
    ck_assert_str_eq(r.colnames[3], "top");
    ck_assert_str_eq(r.colnames[4], "n n");
    ck_assert_int_eq(nd_cat_rows_at(&r, 0, 0)->type, ND_CAT_CINT);
    nd_cat_rows_free(&r);
    nd_mql_free(qq);
    nd_cat_index_free(&fw);
    nd_cat_index_free(&bw);
    /* A sum of ints that overflows int64 is a float; avg of ints is a float. */
    nd_cat_index big;
    ck_assert_int_eq(nd_cat_index_init(&big), ND_OK);
    add_row(&big, "x", 1, "i:9223372036854775807", -1, "");
    add_row(&big, "x", 2, "i:9223372036854775807", -1, "");
    add_row(&big, "x", 3, "i:-9223372036854775807", -1, "");
    char got[256];
    ck_assert_int_eq(mq(&big, "SELECT sum(value), avg(value) FROM results WHERE version < 3", got, sizeof got, NULL, 0), ND_OK);
    ck_assert_str_eq(got, "1.8446744073709552e+19|9.223372036854776e+18");
    ck_assert_int_eq(mq(&big, "SELECT sum(value) FROM results", got, sizeof got, NULL, 0), ND_OK);
    ck_assert_str_eq(got, "9223372036854775807"); /* exact: the overflow in between is undone */
    nd_cat_index_free(&big);
}
END_TEST

START_TEST(test_mql_mismatch_warning)
{
    nd_cat_index ix;
    agg_fixture(&ix, false);
    char got[256], warn[512];
    /* tags.n is a number in five rows and a string in one */
    ck_assert_int_eq(mq(&ix, "SELECT name FROM results WHERE tags.n = '20'", got, sizeof got, warn, sizeof warn), ND_OK);
    ck_assert_str_eq(got, "b");
    ck_assert_str_eq(warn, "mql: warning: tags.n is a number in 5 rows, compared with a string\n");
    ck_assert_int_eq(mq(&ix, "SELECT name, version FROM results WHERE tags.n = 10", got, sizeof got, warn, sizeof warn), ND_OK);
    ck_assert_str_eq(got, "a|1;c|2");
    ck_assert_str_eq(warn, "mql: warning: tags.n is a string in 1 row, compared with a number\n");
    /* one warning per tag and type, however many comparisons and rows */
    ck_assert_int_eq(mq(&ix, "SELECT name FROM results WHERE tags.m = 5 OR tags.m IN (6, 7) OR tags.m > 1",
                        got, sizeof got, warn, sizeof warn), ND_OK);
    ck_assert_str_eq(got, "");
    ck_assert_str_eq(warn, "mql: warning: tags.m is a string in 6 rows, compared with a number\n");
    ck_assert_int_eq(mq(&ix, "SELECT count(*) FROM latest WHERE tags.n LIKE '2%'", got, sizeof got, warn, sizeof warn), ND_OK);
    ck_assert_str_eq(got, "1");
    ck_assert_str_eq(warn, "mql: warning: tags.n is a number in 3 rows, compared with a string\n");
    /* no warning: literals of both types, a matching type, NULLs */
    ck_assert_int_eq(mq(&ix, "SELECT name FROM results WHERE tags.n IN (10, '20')", got, sizeof got, warn, sizeof warn), ND_OK);
    ck_assert_str_eq(warn, "");
    ck_assert_int_eq(mq(&ix, "SELECT name FROM results WHERE tags.m = 'lu' AND tags.x = 1", got, sizeof got, warn, sizeof warn), ND_OK);
    ck_assert_str_eq(warn, "");
    nd_cat_index_free(&ix);
    /* Through nd_cat_query: the warning reaches rank 0's rows. */
    mql_fixture();
    nd_cat_rows r;
    ck_assert_int_eq(nd_cat_query(cat, "SELECT name FROM results WHERE tags.n = '200'", &r), ND_OK);
    ck_assert_uint_eq(r.nrows, 1);
    if (nd_spmd_rank() == 0)
        ck_assert_str_eq(r.warnings, "mql: warning: tags.n is a number in 3 rows, compared with a string\n");
    else
        ck_assert_ptr_null(r.warnings);
    nd_cat_rows_free(&r);
}
END_TEST

START_TEST(test_mql_aggregate_errors)
{
    static const err_case cases[] = {
        {"SELECT name FROM results WHERE count(*) > 1", 1, 32, "aggregate functions are not allowed in WHERE"},
        {"SELECT name FROM results WHERE max(norm) > 1", 1, 32, "aggregate functions are not allowed in WHERE"},
        {"SELECT name, count(*) FROM results", 1, 8, "name must appear in GROUP BY or be used in an aggregate"},
        {"SELECT tags.m, norm FROM results GROUP BY tags.m", 1, 16, "norm must appear in GROUP BY"},
        {"SELECT foo(norm) FROM results", 1, 8, "unknown function 'foo'"},
        {"SELECT name FROM results WHERE lower(name) = 'a'", 1, 32, "unknown function 'lower'"},
        {"SELECT sum(*) FROM results", 1, 12, "only count takes '*' (sum needs a column)"},
        {"SELECT count() FROM results", 1, 14, "expected a column name or '*'"},
        {"SELECT count(* FROM results", 1, 16, "expected ')'"},
        {"SELECT count(count(*)) FROM results", 1, 14, "aggregate functions cannot be nested"},
        {"SELECT count(*) FROM results GROUP BY count(*)", 1, 39, "not allowed in GROUP BY"},
        {"SELECT * FROM results GROUP BY name", 1, 8, "SELECT * cannot be used with GROUP BY"},
        {"SELECT name FROM results GROUP BY name HAVING norm > 1", 1, 47, "norm must appear in GROUP BY"},
        {"SELECT name FROM results GROUP BY name ORDER BY version", 1, 49, "version must appear in GROUP BY"},
        {"SELECT DISTINCT name FROM results ORDER BY version", 1, 44, "version is not in the SELECT list"},
        {"SELECT name FROM results GROUP BY name HAVING count(*) = 'a'", 1, 58, "cannot compare a number with a string"},
        {"SELECT sum(name) FROM results", 1, 12, "sum needs numbers, and name is a string"},
        {"SELECT name AS FROM results", 1, 16, "expected a name after AS"},
        {"SELECT name FROM results GROUP name", 1, 32, "expected BY after GROUP"},
        {"SELECT name FROM results GROUP BY name name", 1, 40, "expected ',', HAVING, ORDER BY, LIMIT"},
    };
    for (size_t k = 0; k < ND_ARRAY_LEN(cases); k++) {
        nd_mql_query *qq = NULL;
        nd_mql_diag d;
        nd_status st = nd_mql_parse(cases[k].q, &qq, &d);
        ck_assert_msg(st == ND_EPROG, "query %zu parsed: %s", k, cases[k].q);
        ck_assert_ptr_null(qq);
        ck_assert_msg(d.line == cases[k].line && d.col == cases[k].col && strstr(d.msg, cases[k].msg),
                      "query %zu '%s': got %d:%d '%s'", k, cases[k].q, d.line, d.col, d.msg);
    }
    /* The message as the user sees it. */
    ck_assert_int_eq(nd_mql_format_error("SELECT name, count(*) FROM results",
                                         &(nd_mql_diag){1, 8, "name must appear in GROUP BY or be used in an aggregate function"}),
                     ND_EPROG);
    ck_assert_str_eq(nd_err_msg(), "mql:1:8: error: name must appear in GROUP BY or be used in an aggregate function\n"
                                   "SELECT name, count(*) FROM results\n"
                                   "       ^");
}
END_TEST

static void read_text(const char *path, char *text, size_t n)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t got = fread(text, 1, n - 1, f);
    fclose(f);
    text[got] = '\0';
}

START_TEST(test_export_json)
{
    fresh();
    store_str("j", "[1, 2.5, {\"a\": \"b\"}]", ND_CAT_JSON);
    store_str("s", "say \"hi\"\n", ND_CAT_STRING);
    store_int("i", -7, NULL, 0);
    store_float("f", 0.1, NULL, 0);
    double cm[2] = {1, 2};
    nd_dm *A;
    ck_assert_int_eq(nd_dm_from_colmajor(2, 1, cm, &A), ND_OK);
    nd_cat_prov p;
    nd_cat_prov_init(&p);
    nd_cat_item mi = {.kind = ND_CAT_MATRIX, .m = A};
    int64_t v;
    ck_assert_int_eq(nd_cat_store(cat, "m", &mi, NULL, 0, &p, &v), ND_OK);
    nd_dm_free(A);
    static const struct {
        const char *spec, *text;
    } cases[] = {
        {"j", "[1, 2.5, {\"a\": \"b\"}]\n"}, {"j@1", "[1, 2.5, {\"a\": \"b\"}]\n"},
        {"s", "\"say \\\"hi\\\"\\n\"\n"}, {"i", "-7\n"}, {"f", "0.1\n"},
    };
    char out[400], text[200];
    for (size_t k = 0; k < ND_ARRAY_LEN(cases); k++) {
        snprintf(out, sizeof out, "%s/x%zu.json", catdir, k);
        ck_assert_msg(nd_cat_export_json(cat, cases[k].spec, out) == ND_OK, "%s: %s", cases[k].spec, nd_err_msg());
        if (nd_spmd_rank() == 0) {
            read_text(out, text, sizeof text);
            ck_assert_str_eq(text, cases[k].text);
        }
    }
    snprintf(out, sizeof out, "%s/m.json", catdir);
    ck_assert_int_eq(nd_cat_export_json(cat, "m", out), ND_EINVALID);
    ck_assert(strstr(nd_err_msg(), "m@1: a matrix has no JSON form") != NULL);
    ck_assert(access(out, F_OK) != 0);
    ck_assert_int_eq(nd_cat_export_json(cat, "nope", out), ND_EPROG);
    ck_assert_int_eq(nd_cat_export_json(cat, "j@2", out), ND_EPROG);
    /* The same list to .csv: the JSON text as one quoted field. */
    snprintf(out, sizeof out, "%s/j.csv", catdir);
    ck_assert_int_eq(nd_cat_export(cat, "j", out), ND_OK);
    if (nd_spmd_rank() == 0) {
        read_text(out, text, sizeof text);
        ck_assert_str_eq(text, "\"[1, 2.5, {\"\"a\"\": \"\"b\"\"}]\"\n");
    }
}
END_TEST

/* Rank 0: maps the index; ND_IXMAP_OK or not; on OK checks it against the HDF5 load. */
static bool map_matches_hdf5(void)
{
    nd_cat_index m, h;
    nd_ixmap_result res;
    ck_assert_int_eq(nd_cat_ixmap_open(catdir, &m, &res), ND_OK);
    if (res != ND_IXMAP_OK) return false;
    ck_assert_int_eq(nd_cat_index_init(&h), ND_OK);
    ck_assert_int_eq(nd_cat_index_load(cat, &h), ND_OK);
    ck_assert_uint_eq(m.nrows, h.nrows);
    ck_assert_uint_eq(m.heap.len, h.heap.len);
    ck_assert(memcmp(m.rows, h.rows, m.nrows * sizeof *m.rows) == 0);
    ck_assert(memcmp(m.heap.data, h.heap.data, m.heap.len) == 0);
    nd_cat_index_free(&h);
    nd_cat_ixmap_close(&m);
    return true;
}

static void flip_byte(long off)
{
    char path[400];
    snprintf(path, sizeof path, "%s/index.h5", catdir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_ne(c, EOF);
    ck_assert_int_eq(fseek(f, off, SEEK_SET), 0);
    fputc(c ^ 0x40, f);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_index_map)
{
    mql_fixture();
    if (nd_spmd_rank() == 0) {
        ck_assert(map_matches_hdf5());
        /* A writer's pending marker: not mapped (the HDF5 path rebuilds). */
        sh("touch %s/pending/alpha.v9%s", "");
        nd_cat_index m;
        nd_ixmap_result res;
        ck_assert_int_eq(nd_cat_ixmap_open(catdir, &m, &res), ND_OK);
        ck_assert_int_eq(res, ND_IXMAP_FALLBACK);
        sh("rm %s/pending/alpha.v9%s", "");
        ck_assert(map_matches_hdf5());
        /* A damaged header (checksum), then a damaged magic: not mapped, still queryable. */
        flip_byte(20);
        ck_assert(!map_matches_hdf5());
        sh("cp %s/index.h5 /tmp/nd_cat_idx_saved.h5%s", "");
        flip_byte(0);
        ck_assert(!map_matches_hdf5());
        /* Garbage or no index: not mapped. */
        sh("echo garbage > %s/index.h5%s", "");
        ck_assert(!map_matches_hdf5());
        sh("rm %s/index.h5%s", "");
        ck_assert_int_eq(nd_cat_ixmap_open(catdir, &m, &res), ND_OK);
        ck_assert_int_eq(res, ND_IXMAP_FALLBACK);
        /* Missing catalog: a usage error, as for nd_cat_open. */
        ck_assert_int_eq(nd_cat_ixmap_open("/nonexistent/nd_cat", &m, &res), ND_EUSAGE);
    }
    QEQ("SELECT name, version FROM latest", "alpha|2;beta|1;beta_2|1;gamma|2");
    if (nd_spmd_rank() == 0) ck_assert(map_matches_hdf5()); /* the rebuilt index maps */
    /* Growth: long tags overflow the heap's spare capacity (64 KiB + a quarter), so the
     * index is rewritten larger while the rows stay appendable and mappable. */
    static char big[2001];
    memset(big, 'x', sizeof big - 1);
    nd_cat_tag t[] = {{"blob", {.type = ND_CAT_CSTR, .s = big}}};
    for (int k = 0; k < 40; k++) store_int("grow", k, t, 1);
    if (nd_spmd_rank() == 0) ck_assert(map_matches_hdf5());
    QEQ("SELECT name, version, value FROM latest WHERE name = 'grow'", "grow|40|39");
    QEQ("SELECT version FROM results WHERE name = 'grow' AND value >= 38 ORDER BY version DESC", "40;39");
}
END_TEST

/* ---- the audit log -------------------------------------------------------------------- */

static char audit_buf[1 << 16];

/* Rank 0: the whole audit log into audit_buf; its length. */
static size_t audit_read(void)
{
    char p[300];
    snprintf(p, sizeof p, "%s/audit.log", catdir);
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(audit_buf, 1, sizeof audit_buf - 1, f);
    fclose(f);
    audit_buf[n] = '\0';
    return n;
}

static void audit_write(const char *text, size_t n)
{
    char p[300];
    snprintf(p, sizeof p, "%s/audit.log", catdir);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, n, f), n);
    fclose(f);
}

/* Collective: --verify-audit's work; ok: whether it must pass; expect: a piece of its
 * report (rank 0) and, when failing, of its message. */
static void audit_verify(bool ok, const char *expect)
{
    nd_strbuf rep;
    nd_sb_init(&rep);
    nd_status st = nd_cat_verify_audit(cat, &rep);
    ck_assert_msg(ok ? st == ND_OK : st == ND_EINVALID, "verify: %d %s", (int)st, rep.data ? rep.data : "");
    if (nd_spmd_rank() == 0 && expect) {
        ck_assert_msg(rep.data && strstr(rep.data, expect), "'%s' not in '%s'", expect, rep.data ? rep.data : "");
        if (!ok) ck_assert_msg(strstr(nd_err_msg(), expect), "%s", nd_err_msg());
    }
    nd_sb_free(&rep);
}

/* The chain as docs/catalog.md specifies it, recomputed here: each line is CONTENT, a
 * space, and the hex SHA-256 of the previous line's hash (64 zeros first) and CONTENT. */
static size_t audit_chain_ok(const char *log)
{
    char prev[65];
    memset(prev, '0', 64);
    prev[64] = '\0';
    size_t n = 0;
    for (const char *l = log; *l; n++) {
        const char *nl = strchr(l, '\n');
        ck_assert_ptr_nonnull(nl);
        ck_assert_int_ge(nl - l, 66);
        const char *h = nl - 64;
        ck_assert_int_eq(h[-1], ' ');
        nd_sha256 s;
        uint8_t d[32];
        char hex[65];
        nd_sha256_init(&s);
        nd_sha256_update(&s, prev, 64);
        nd_sha256_update(&s, l, (size_t)(h - 1 - l));
        nd_sha256_final(&s, d);
        nd_hex(d, 32, hex);
        ck_assert_int_eq(memcmp(hex, h, 64), 0);
        memcpy(prev, hex, 65);
        l = nl + 1;
    }
    return n;
}

/* The start of line k (1-based) of audit_buf. */
static char *audit_line(size_t k)
{
    char *l = audit_buf;
    for (size_t i = 1; i < k && l; i++) {
        l = strchr(l, '\n');
        if (l) l++;
    }
    ck_assert_ptr_nonnull(l);
    return l;
}

START_TEST(test_audit_chain)
{
    fresh();
    bool r0 = nd_spmd_rank() == 0;
    store_int("a", 1, NULL, 0);
    nd_cat_prov p;
    nd_cat_prov_init(&p);
    snprintf(p.job, sizeof p.job, "job 7%%");
    snprintf(p.program_hash, sizeof p.program_hash, "abc123");
    p.signer = "Alice Example <alice@example.org>";
    nd_cat_item it = {.kind = ND_CAT_FLOAT, .f = 2.5};
    int64_t ver;
    ck_assert_int_eq(nd_cat_store(cat, "b", &it, NULL, 0, &p, &ver), ND_OK);
    p.signer = "-";
    ck_assert_int_eq(nd_cat_store(cat, "a", &it, NULL, 0, &p, &ver), ND_OK);
    char uid[40];
    snprintf(uid, sizeof uid, " uid=%ld ", (long)geteuid());
    size_t n = 0;
    if (r0) {
        n = audit_read();
        ck_assert_uint_eq(audit_chain_ok(audit_buf), 3);
        /* one entry per store in commit order; empty fields "-", others escaped */
        ck_assert_ptr_nonnull(strstr(audit_line(1), " store a@1 user="));
        ck_assert_ptr_nonnull(strstr(audit_line(1), uid));
        ck_assert_ptr_nonnull(strstr(audit_line(1), " signer=- sum="));
        ck_assert_ptr_nonnull(strstr(audit_line(2), " store b@1 "));
        ck_assert_ptr_nonnull(strstr(audit_line(2), " job=job%207%25 program=abc123 "
                                     "signer=Alice%20Example%20<alice@example.org> sum="));
        ck_assert_ptr_nonnull(strstr(audit_line(3), " store a@2 "));
        ck_assert_ptr_nonnull(strstr(audit_line(3), " signer=%2D sum="));
        ck_assert(strncmp(audit_line(2), "2 ", 2) == 0 && audit_line(2)[21] == 'Z');
    }
    audit_verify(true, "audit: OK: 3 entries (3 stores, 0 adopted, 0 aborted), 3 result files");

    /* one byte of entry 2 changed; the entry removed; the log cut inside its last line */
    static char saved[sizeof audit_buf];
    size_t off3 = 0;
    if (r0) {
        memcpy(saved, audit_buf, n + 1);
        off3 = (size_t)(audit_line(3) - audit_buf);
        strstr(audit_line(2), "b@1")[0] = 'a';
        audit_write(audit_buf, n);
    }
    audit_verify(false, "line 2: hash mismatch");
    if (r0) {
        char *l2 = audit_line(2), *l3 = audit_line(3);
        memmove(l2, l3, strlen(l3) + 1);
        audit_write(audit_buf, strlen(audit_buf));
    }
    audit_verify(false, "line 2: entry number 3 where 2 was expected");
    if (r0) audit_write(saved, n - 10);
    audit_verify(false, "line 3: truncated");
    /* the last entry removed: its result is not in the log */
    if (r0) audit_write(saved, off3);
    audit_verify(false, "results/a/v2.h5: not in the audit log");
    /* a result file swapped for another: its checksum is not the logged one */
    if (r0) audit_write(saved, n);
    sh("cp %s/results/a/v2.h5 %s.swap", "/tmp/nd_cat_saved.h5");
    sh("cp %s/results/b/v1.h5 /tmp/nd_cat_saved.h5.b%s", "");
    sh("cp /tmp/nd_cat_saved.h5.b %s/results/a/v2.h5%s", "");
    audit_verify(false, "results/a/v2.h5: its checksum");
    sh("cp /tmp/nd_cat_saved.h5.swap %s/results/a/v2.h5%s", "");
    audit_verify(true, "3 entries");

    /* A writer that died while appending (a partial line) or between its entry and its
     * rename (an entry without its file): the next store cuts the first and logs an
     * abort for the second. */
    if (r0) {
        char p2[300];
        snprintf(p2, sizeof p2, "%s/audit.log", catdir);
        FILE *f = fopen(p2, "ab");
        ck_assert_ptr_nonnull(f);
        fputs("4 2026-01-01T00:00:00Z sto", f);
        fclose(f);
    }
    audit_verify(false, "line 4: truncated");
    store_int("c", 3, NULL, 0);
    sh("rm %s/results/c/v1.h5%s", "");
    audit_verify(true, "note: ");
    store_int("c", 4, NULL, 0);
    if (r0) {
        n = audit_read();
        ck_assert_uint_eq(audit_chain_ok(audit_buf), 6);
        ck_assert_ptr_nonnull(strstr(audit_line(4), " store c@1 "));
        ck_assert_ptr_nonnull(strstr(audit_line(5), " abort c@1 "));
        ck_assert_ptr_nonnull(strstr(audit_line(6), " store c@2 "));
    }
    audit_verify(true, "6 entries (5 stores, 0 adopted, 1 aborted), 4 result files");
    /* A catalog from before audit logs: results without a log are an error until the
     * next store starts the log with one adopt entry per result. */
    sh("rm %s/audit.log%s", "");
    audit_verify(false, "missing or empty: 4 result files are in no audit log");
    store_int("d", 5, NULL, 0);
    if (r0) {
        audit_read();
        ck_assert_uint_eq(audit_chain_ok(audit_buf), 5);
        ck_assert_ptr_nonnull(strstr(audit_line(1), " adopt a@1 "));
        ck_assert_ptr_nonnull(strstr(audit_line(4), " adopt c@2 "));
        ck_assert_ptr_nonnull(strstr(audit_line(5), " store d@1 "));
    }
    audit_verify(true, "5 entries (1 stores, 4 adopted, 0 aborted), 5 result files");
}
END_TEST

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (nd_spmd_init(&argc, &argv) != ND_OK) return 1;
    Suite *s = suite_create("catalog");
    const TTest *tc_tests[] = {
        test_store_load_kinds, test_store_load_arrays, test_versions_provenance, test_mql_features, test_mql_more,
        test_mql_errors, test_reindex_and_recovery, test_recovery_more, test_export,
        test_index_map, test_mql_aggregates, test_mql_mismatch_warning, test_mql_aggregate_errors,
        test_export_json, test_audit_chain, NULL};
    nd_check_tcase(s, "core", 120, tc_tests);
    /* Only rank 0 prints the summary; every rank counts its failures. */
    int failed = nd_check_run(s, ND_CHECK_NOFORK | (nd_spmd_rank() == 0 ? 0 : ND_CHECK_QUIET));
    if (cat) nd_cat_close(cat);
    if (nd_spmd_rank() == 0 && catdir[0]) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf /tmp/nd_check_catalog.%ld.* /tmp/nd_cat_saved.h5* /tmp/nd_cat_idx_saved.h5",
                 (long)getpid());
        if (system(cmd) != 0) failed++;
    }
    nd_spmd_finalize(0);
    return failed ? 1 : 0;
}
