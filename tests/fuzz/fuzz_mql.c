/* fuzz_mql.c: libFuzzer harness for MQL.  Every input is parsed; a query that parses is
 * also executed over a small in-memory index (three rows with tags and params), so the
 * lexer, the parser, the error formatter and the evaluator all see fuzzed input.
 * Build (the nbc engineer's `make fuzz`): clang -fsanitize=fuzzer,address with
 * src/catalog/mql.c src/catalog/index.c src/catalog/result.c and libnd_common. */
#include "catalog/mql.h"
#include "common/alloc.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nd_cat_index ix;
static bool ready;

static void add_row(const char *name, int64_t version, double v, const char *tags, const char *params)
{
    nd_cat_row r;
    memset(&r, 0, sizeof r);
    r.version = version;
    r.kind = ND_CAT_FLOAT;
    r.flags = ND_CAT_F_VNUM | ND_CAT_F_STATS;
    r.value = r.min = r.max = r.mean = v;
    r.rows = r.cols = 1;
    nd_cat_index_str(&ix, name, strlen(name), &r.name);
    nd_cat_index_str(&ix, tags, strlen(tags), &r.tags);
    nd_cat_index_str(&ix, params, strlen(params), &r.params);
    nd_cat_index_push(&ix, &r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready) {
        nd_cat_index_init(&ix);
        add_row("a", 1, 1.5, "n\x1fi" "200\x1e" "m\x1fslu\x1e", "k\x1f" "3\x1e");
        add_row("a", 2, -2.0, "n\x1f" "f1e-3\x1e", "");
        add_row("b_x", 1, 0.0, "", "k\x1fword\x1e");
        ready = true;
    }
    char *q = nd_strndup((const char *)data, size); /* stops at an embedded NUL */
    if (!q) return 0;
    nd_mql_query *mq = NULL;
    nd_mql_diag d;
    if (nd_mql_parse(q, &mq, &d) == ND_OK) {
        nd_cat_rows rows;
        if (nd_mql_exec(mq, &ix, &rows) == ND_OK) nd_cat_rows_free(&rows);
        nd_mql_free(mq);
    }
    nd_free(q, size + 1);
    return 0;
}
