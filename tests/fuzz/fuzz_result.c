/* fuzz_result.c: libFuzzer harness for catalog result files (docs/catalog.md "Result
 * files"): any bytes placed as results/r/v1.h5 of a catalog go through what reads such
 * files without a job: the index rebuild (checksum, then HDF5 attributes and small
 * values), a query over the rebuilt index, and --export to .csv and .json.  The seeds
 * (tests/fuzz/corpus_result) are real result files of every kind, so mutations start
 * from files HDF5 accepts; a file whose checksum fails must be refused before HDF5 opens
 * it (HDF5 crashed on damaged files), so this must never crash or leak.  Runs without
 * MPI_Init, as noodle-mql-full does (serial catalog handle). */
#include "catalog/catalog.h"
#include "common/alloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], file[128], csv[128], json[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/nd_fuzz_result.XXXXXX");
    if (!mkdtemp(dir)) abort();
    char p[128];
    snprintf(p, sizeof p, "%s/results", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/results/r", dir);
    mkdir(p, 0700);
    snprintf(file, sizeof file, "%s/results/r/v1.h5", dir);
    snprintf(csv, sizeof csv, "%s/out.csv", dir);
    snprintf(json, sizeof json, "%s/out.json", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) setup();
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) abort();
    close(fd);
    nd_cat *cat = NULL;
    if (nd_cat_open(dir, MPI_COMM_NULL, false, &cat) != ND_OK) abort();
    size_t n = 0;
    if (nd_cat_reindex(cat, &n) != ND_OK) abort(); /* a bad file is left out, not an error */
    nd_cat_rows rows;
    if (nd_cat_query(cat, "SELECT * FROM results", &rows) != ND_OK) abort();
    if (rows.nrows != n) abort();
    nd_cat_rows_free(&rows);
    nd_status st = nd_cat_export(cat, "r@1", csv);
    if (st != ND_OK && st != ND_EINVALID && st != ND_EPROG) abort();
    st = nd_cat_export_json(cat, "r@1", json);
    if (st != ND_OK && st != ND_EINVALID && st != ND_EPROG) abort();
    unlink(csv);
    unlink(json);
    nd_cat_close(cat);
    return 0;
}
