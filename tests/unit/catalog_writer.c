/* catalog_writer: a helper for tests/unit/catalog_concurrent.sh.  Stores N results into a
 * catalog without MPI (serial catalog handle), alternating between a name shared by all
 * writers and one of its own, and prints "committed NAME VERSION" (flushed) after each
 * store returns, so that the test knows which results must survive a kill -9. */
#include "catalog/catalog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: catalog_writer CATALOG ID N\n");
        return 2;
    }
    int id = atoi(argv[2]), n = atoi(argv[3]);
    nd_cat *cat;
    if (nd_cat_open(argv[1], MPI_COMM_NULL, true, &cat) != ND_OK) {
        fprintf(stderr, "catalog_writer: %s\n", nd_err_msg());
        return 1;
    }
    nd_cat_prov prov;
    nd_cat_prov_init(&prov);
    char own[32], label[32];
    snprintf(own, sizeof own, "w%d", id);
    for (int k = 0; k < n; k++) {
        const char *name = k % 2 ? own : "shared";
        nd_cat_item it = {.kind = ND_CAT_INT, .i = (int64_t)id * 1000 + k};
        if (k % 3 == 1) it = (nd_cat_item){.kind = ND_CAT_FLOAT, .f = id + k / 100.0};
        snprintf(label, sizeof label, "writer %d", id);
        if (k % 3 == 2) it = (nd_cat_item){.kind = ND_CAT_STRING, .s = label, .len = strlen(label)};
        nd_cat_tag tags[2] = {{"writer", {.type = ND_CAT_CINT, .i = id}},
                              {"k", {.type = ND_CAT_CINT, .i = k}}};
        int64_t v;
        if (nd_cat_store(cat, name, &it, tags, 2, &prov, &v) != ND_OK) {
            fprintf(stderr, "catalog_writer: %s\n", nd_err_msg());
            return 1;
        }
        printf("committed %s %lld %d %d\n", name, (long long)v, id, k);
        fflush(stdout);
    }
    nd_cat_close(cat);
    return 0;
}
