/* csv.c: readcsv and writecsv (csv.h).  Rank 0 reads or writes the text; the values
 * reach the array (or come from it) through nd_arr_deposit / nd_arr_fetch in pieces, in
 * which the other ranks take part with no elements of their own. */
#include "runtime/csv.h"

#include "common/alloc.h"
#include "common/outfile.h"
#include "runtime/arr.h"
#include "runtime/spmd.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing ---------------------------------------------------------------------- */

static void put_value(FILE *f, double v)
{
    if (isnan(v)) fputs("nan", f);
    else if (isinf(v)) fputs(v > 0 ? "inf" : "-inf", f);
    else fprintf(f, "%.17g", v);
}

nd_status nd_csv_write(const char *path, const nd_dm *A, const char *header)
{
    int nd = nd_arr_ndim(A);
    ND_CHECK(nd <= 2, ND_EPROG, "writecsv: a 1-D or 2-D array, not %d-D", nd);
    const int64_t *shape = nd_arr_shape(A);
    int64_t rows = shape[0], cols = nd == 2 ? shape[1] : 1;
    bool root = nd_spmd_rank() == 0;
    nd_outfile o = {.fd = -1};
    FILE *f = NULL;
    nd_status st = ND_OK;
    if (root) { /* common/outfile.h: a temporary file renamed over path, or a device itself */
        st = nd_out_open(path, &o);
        if (st == ND_OK && !(f = fdopen(o.fd, "w"))) {
            st = nd_err_set(ND_EIO, "writecsv: cannot write '%s': %s", path, strerror(errno));
            nd_out_close(&o, false);
        } else if (st != ND_OK) {
            st = nd_err_set(ND_EIO, "writecsv: %s", nd_err_msg()); /* a run-time error: exit 1 */
        } else if (header) {
            fprintf(f, "%s\n", header);
        }
    }
    st = nd_spmd_agree(st);
    /* rounds of whole rows, the same count on every rank */
    int64_t per = (int64_t)nd_arr_piece_elems() / cols;
    if (per < 1) per = 1;
    size_t cap = (size_t)(per * cols);
    int64_t *flats = NULL;
    double *vals = NULL;
    if (st == ND_OK && root) {
        flats = ND_SCRATCH_N(int64_t, cap);
        vals = ND_SCRATCH_N(double, cap);
        if (!flats || !vals) st = ND_ENOMEM;
    }
    st = nd_spmd_agree(st);
    for (int64_t r0 = 0; r0 < rows && st == ND_OK; r0 += per) {
        int64_t r1 = r0 + per < rows ? r0 + per : rows;
        size_t n = root ? (size_t)((r1 - r0) * cols) : 0;
        for (size_t k = 0; k < n; k++) flats[k] = r0 * cols + (int64_t)k;
        st = nd_arr_fetch(A, n, flats, vals);
        for (int64_t r = r0; st == ND_OK && root && r < r1; r++) {
            for (int64_t c = 0; c < cols; c++) {
                if (c) fputc(',', f);
                put_value(f, vals[(r - r0) * cols + c]);
            }
            fputc('\n', f);
        }
        if (st == ND_OK && root && ferror(f))
            st = nd_err_set(ND_EIO, "writecsv: cannot write '%s': %s", path, strerror(errno));
        st = nd_spmd_agree(st);
    }
    if (root) {
        if (f && (fflush(f) != 0 || (o.tmp && fsync(fileno(f)) != 0)) && st == ND_OK)
            st = nd_err_set(ND_EIO, "writecsv: cannot write '%s': %s", path, strerror(errno));
        if (f && fclose(f) != 0 && st == ND_OK)
            st = nd_err_set(ND_EIO, "writecsv: cannot write '%s': %s", path, strerror(errno));
        if (f) {
            o.fd = -1; /* closed with f */
            nd_status cst = nd_out_close(&o, st == ND_OK);
            if (st == ND_OK && cst != ND_OK) st = nd_err_set(cst, "writecsv: %s", nd_err_msg());
        }
        if (flats) ND_FREE_N(flats, cap);
        if (vals) ND_FREE_N(vals, cap);
    }
    return nd_spmd_agree(st);
}

/* ---- reading ---------------------------------------------------------------------- */

typedef struct parsed {
    double *v;
    size_t n, cap;
    int64_t rows, cols;
    long cols_line; /* the line that set cols */
} parsed;

static bool push(parsed *p, double x)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 1024;
        double *v = nd_realloc_n(p->v, p->cap, cap, sizeof *v);
        if (!v) return false;
        p->v = v, p->cap = cap;
    }
    p->v[p->n++] = x;
    return true;
}

/* Whether s[0..len) (spaces around allowed) is a number; *x its value. */
static bool number(const char *s, size_t len, double *x)
{
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t')) len--;
    if (len == 0 || len > 400) return false;
    char buf[401], *end;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    *x = strtod(buf, &end);
    return end == buf + len; /* out of range: the infinity or the tiny number strtod gives */
}

/* Rank 0: one line (no newline) into p; header: this may be the header line. */
static nd_status parse_line(const char *path, long lineno, const char *s, size_t len,
                            parsed *p, bool *header)
{
    int64_t fields = 0, numeric = 0;
    size_t start = 0, mark = p->n;
    for (size_t k = 0; k <= len; k++) {
        if (k < len && s[k] != ',') continue;
        double x;
        bool ok = number(s + start, k - start, &x);
        if (ok) numeric++;
        if (!ok && !*header) {
            bool blank = true;
            for (size_t q = start; q < k; q++) blank = blank && (s[q] == ' ' || s[q] == '\t');
            if (blank)
                return nd_err_set(ND_EIO, "readcsv: %s:%ld:%zu: an empty field (field %lld)", path,
                                  lineno, start + 1, (long long)fields + 1);
            return nd_err_set(ND_EIO, "readcsv: %s:%ld:%zu: '%.*s' is not a number (field %lld)",
                              path, lineno, start + 1, (int)(k - start > 40 ? 40 : k - start),
                              s + start, (long long)fields + 1);
        }
        if (ok && !push(p, x)) return ND_ENOMEM;
        fields++;
        start = k + 1;
    }
    if (*header) {
        *header = false;
        if (numeric == 0) { /* a header: nothing of it is kept */
            p->n = mark;
            return ND_OK;
        }
        if (numeric < fields) { /* some numbers: a data line with a bad field */
            p->n = mark;
            return parse_line(path, lineno, s, len, p, header);
        }
    }
    if (p->rows == 0) {
        p->cols = fields, p->cols_line = lineno;
    } else if (fields != p->cols) {
        return nd_err_set(ND_EIO, "readcsv: %s:%ld: %lld fields, but line %ld has %lld", path,
                          lineno, (long long)fields, p->cols_line, (long long)p->cols);
    }
    p->rows++;
    return ND_OK;
}

static nd_status parse_file(const char *path, bool nofollow, parsed *p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
    if (!f) {
        int e = errno;
        if (fd >= 0) close(fd);
        return nd_err_set(ND_EIO, "readcsv: cannot open '%s': %s", path, strerror(e));
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    bool header = true;
    nd_status st = ND_OK;
    while (st == ND_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        bool blank = true;
        for (ssize_t k = 0; k < len && blank; k++) blank = line[k] == ' ' || line[k] == '\t';
        if (blank) continue;
        if ((size_t)len != strlen(line) && memchr(line, 0, (size_t)len))
            st = nd_err_set(ND_EIO, "readcsv: %s:%ld: a NUL byte (not a text file)", path, lineno);
        else st = parse_line(path, lineno, line, (size_t)len, p, &header);
    }
    if (st == ND_OK && ferror(f))
        st = nd_err_set(ND_EIO, "readcsv: cannot read '%s': %s", path, strerror(errno));
    if (st == ND_OK && p->rows == 0) st = nd_err_set(ND_EIO, "readcsv: '%s' holds no numbers", path);
    free(line); /* getline's buffer comes from libc */
    fclose(f);
    return st;
}

nd_status nd_csv_read(const char *path, bool nofollow, nd_dm **out)
{
    *out = NULL;
    bool root = nd_spmd_rank() == 0;
    parsed p = {0};
    nd_status st = root ? parse_file(path, nofollow, &p) : ND_OK;
    st = nd_spmd_agree(st);
    int64_t dims[2] = {p.rows, p.cols};
    if (st == ND_OK) st = nd_spmd_bcast(dims, sizeof dims, 0);
    nd_dm *A = NULL;
    if (st == ND_OK) st = nd_arr_alloc(2, dims, &A);
    /* rank 0 deposits the values in pieces */
    size_t total = (size_t)(dims[0] * dims[1]), piece = nd_arr_piece_elems();
    int64_t *flats = NULL;
    if (st == ND_OK && root) {
        flats = ND_SCRATCH_N(int64_t, piece);
        if (!flats) st = ND_ENOMEM;
    }
    st = nd_spmd_agree(st);
    for (size_t f0 = 0; st == ND_OK && f0 < total; f0 += piece) {
        size_t n = root ? (total - f0 < piece ? total - f0 : piece) : 0;
        for (size_t k = 0; k < n; k++) flats[k] = (int64_t)(f0 + k);
        st = nd_arr_deposit(A, n, flats, root ? p.v + f0 : NULL);
    }
    if (flats) ND_FREE_N(flats, piece);
    if (p.v) ND_FREE_N(p.v, p.cap);
    if (st != ND_OK) {
        nd_dm_free(A);
        return st;
    }
    *out = A;
    return ND_OK;
}
