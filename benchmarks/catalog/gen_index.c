/* gen_index.c: writes a synthetic catalog index (metadata rows only, no result files)
 * of N results for benchmarks/catalog/run.sh, and the same rows as CSV for sqlite3.
 * usage: gen_index CATALOG_DIR N OUT.csv.  Deterministic (fixed LCG seed).
 * Note: `noodle-mql --reindex` on this catalog would empty it (there are no files). */
#include "catalog/cat_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static uint64_t seed = 88172645463325252ull;
static double urand(void)
{
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(seed >> 11) / 9007199254740992.0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: gen_index CATALOG N OUT.csv\n");
        return 2;
    }
    long n = atol(argv[2]);
    mkdir(argv[1], 0777);
    char p[4096];
    snprintf(p, sizeof p, "%s/results", argv[1]);
    mkdir(p, 0777);
    snprintf(p, sizeof p, "%s/pending", argv[1]);
    mkdir(p, 0777);
    FILE *csv = fopen(argv[3], "w");
    if (!csv) return 1;
    nd_cat_index ix;
    nd_cat_index_init(&ix);
    static const char *const methods[] = {"lu", "qr", "chol", "svd"};
    for (long i = 0; i < n; i++) {
        nd_cat_row r;
        memset(&r, 0, sizeof r);
        char name[64], job[32], created[32], tags[128];
        snprintf(name, sizeof name, "result_%04ld", i % 1000);
        snprintf(job, sizeof job, "%ld", 100000 + i / 50);
        snprintf(created, sizeof created, "2026-%02ld-%02ldT%02ld:%02ld:00Z", 1 + (i / 9000) % 12,
                 1 + (i / 300) % 28, (i / 60) % 24, i % 60);
        long nn = 100 * (1 + (long)(urand() * 20));
        const char *m = methods[(int)(urand() * 4)];
        snprintf(tags, sizeof tags, "n%ci%ld%cmethod%cs%s%c", ND_CAT_TAG_SEP, nn, ND_CAT_ENT_SEP,
                 ND_CAT_TAG_SEP, m, ND_CAT_ENT_SEP);
        r.version = i / 1000 + 1;
        r.kind = ND_CAT_MATRIX;
        r.flags = ND_CAT_F_STATS;
        r.ranks = 1 + (i % 4);
        r.rows = nn, r.cols = 1;
        r.min = -urand(), r.max = urand(), r.mean = (r.min + r.max) / 2, r.norm = urand() * 10;
        nd_cat_index_str(&ix, name, strlen(name), &r.name);
        nd_cat_index_str(&ix, job, strlen(job), &r.job);
        nd_cat_index_str(&ix, created, strlen(created), &r.created);
        nd_cat_index_str(&ix, "bench", 5, &r.user);
        nd_cat_index_str(&ix, "node01", 6, &r.host);
        nd_cat_index_str(&ix, tags, strlen(tags), &r.tags);
        if (nd_cat_index_push(&ix, &r) != ND_OK) return 1;
        fprintf(csv, "%s,%" PRId64 ",matrix,%s,%s,bench,node01,%" PRId64 ",%" PRId64 ",1,%.17g,%.17g,%.17g,%.17g,%ld,%s\n",
                name, r.version, job, created, r.ranks, r.rows, r.min, r.max, r.mean, r.norm, nn, m);
    }
    fclose(csv);
    snprintf(p, sizeof p, "%s/index.h5", argv[1]);
    if (nd_cat_index_write(p, &ix) != ND_OK) {
        fprintf(stderr, "gen_index: %s\n", nd_err_msg());
        return 1;
    }
    nd_cat_index_free(&ix);
    return 0;
}
