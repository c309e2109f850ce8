/* query.c: nd_cat_query, the collective entry point of MQL.  Rank 0 maps the index
 * (ixmap.c) or, when that is not possible, loads it with HDF5 (rebuilding it if needed,
 * index.c), runs the query (mql.c) and broadcasts the rows, packed, to the other ranks.
 * Specified by docs/catalog.md "MQL".
 */
#include "catalog/ixmap.h"
#include "catalog/mql.h"

#include "common/alloc.h"

#include <string.h>

static size_t one_or(size_t n) { return n ? n : 1; }

/* ---- nd_cat_query -------------------------------------------------------------------- */

/* Serialized result set: ncols, nrows, names, cells (type, i, f bits, string offset), heap. */
static nd_status rows_pack(const nd_cat_rows *r, nd_strbuf *sb)
{
    ND_TRY(nd_sb_u64(sb, r->ncols));
    ND_TRY(nd_sb_u64(sb, r->nrows));
    ND_TRY(nd_sb_u64(sb, r->heap_len));
    for (size_t c = 0; c < r->ncols; c++) {
        ND_TRY(nd_sb_u32(sb, (uint32_t)strlen(r->colnames[c])));
        ND_TRY(nd_sb_puts(sb, r->colnames[c]));
    }
    for (size_t k = 0; k < r->nrows * r->ncols; k++) {
        const nd_cat_cell *c = nd_cat_rows_at(r, k / r->ncols, k % r->ncols);
        ND_TRY(nd_sb_u8(sb, (uint8_t)c->type));
        ND_TRY(nd_sb_u64(sb, (uint64_t)c->i));
        ND_TRY(nd_sb_f64(sb, c->f));
        ND_TRY(nd_sb_u64(sb, c->type == ND_CAT_CSTR ? (uint64_t)(c->s - r->heap) : 0));
    }
    if (r->heap_len) ND_TRY(nd_sb_append(sb, r->heap, r->heap_len));
    return ND_OK;
}

static nd_status rows_unpack(const char *buf, size_t len, nd_cat_rows *r)
{
    nd_reader rd;
    nd_rd_init(&rd, buf, len);
    memset(r, 0, sizeof *r);
    size_t ncols = nd_rd_u64(&rd), nrows = nd_rd_u64(&rd), hl = nd_rd_u64(&rd);
    if (rd.overrun || ncols > len || (ncols && nrows > len / ncols) || hl > len)
        return nd_err_set(ND_EINTERNAL, "query: bad result broadcast");
    r->colnames = ND_ALLOC_N(char *, ncols ? ncols : 1);
    r->cells = ND_ALLOC_N(nd_cat_cell, one_or(nrows * ncols));
    r->heap = hl ? nd_malloc(hl) : NULL;
    r->heap_len = hl;
    r->ncols = ncols;
    r->nrows = nrows;
    if (!r->colnames || !r->cells || (hl && !r->heap)) {
        nd_cat_rows_free(r);
        return ND_ENOMEM;
    }
    for (size_t c = 0; c < ncols; c++) {
        uint32_t n = nd_rd_u32(&rd);
        const uint8_t *p = nd_rd_bytes(&rd, n);
        r->colnames[c] = p ? nd_strndup((const char *)p, n) : NULL;
        if (!r->colnames[c]) {
            nd_cat_rows_free(r);
            return nd_err_set(ND_EINTERNAL, "query: bad result broadcast");
        }
    }
    for (size_t k = 0; k < nrows * ncols; k++) {
        nd_cat_cell *c = &r->cells[k];
        c->type = (nd_cat_ctype)nd_rd_u8(&rd);
        c->i = (int64_t)nd_rd_u64(&rd);
        c->f = nd_rd_f64(&rd);
        uint64_t off = nd_rd_u64(&rd);
        if (c->type == ND_CAT_CSTR) c->s = off < hl ? r->heap + off : "";
    }
    const uint8_t *h = nd_rd_bytes(&rd, hl);
    if (rd.overrun || (hl && !h)) {
        nd_cat_rows_free(r);
        return nd_err_set(ND_EINTERNAL, "query: bad result broadcast");
    }
    if (hl) memcpy(r->heap, h, hl);
    return ND_OK;
}

nd_status nd_cat_query(nd_cat *cat, const char *mql, nd_cat_rows *out)
{
    memset(out, 0, sizeof *out);
    nd_status st = ND_OK;
    if (cat->rank == 0) {
        nd_mql_query *q = NULL;
        nd_mql_diag d;
        st = nd_mql_parse(mql, &q, &d);
        nd_cat_index ix;
        nd_ixmap_result mapped = ND_IXMAP_FALLBACK;
        if (st == ND_OK) st = nd_cat_ixmap_open(cat->path, &ix, &mapped);
        if (st == ND_OK && mapped != ND_IXMAP_OK) st = nd_cat_index_init(&ix);
        if (st == ND_OK && mapped == ND_IXMAP_OK) {
            nd_ixmap_check chk;
            nd_cat_ixmap_check_start(&chk, &ix);
            st = nd_mql_exec(q, &ix, out);
            if (nd_cat_ixmap_check_end(&chk)) {
                /* damaged rows: the HDF5 path warns and rebuilds */
                if (st == ND_OK) nd_cat_rows_free(out);
                nd_cat_index_free(&ix);
                mapped = ND_IXMAP_FALLBACK;
                st = nd_cat_index_init(&ix);
                if (st != ND_OK) {
                    nd_mql_free(q);
                    return nd_cat_share_status(cat, st);
                }
            } else {
                nd_cat_index_free(&ix);
            }
        }
        if (st == ND_OK && mapped != ND_IXMAP_OK) {
            st = nd_cat_index_load(cat, &ix);
            if (st == ND_OK) st = nd_mql_exec(q, &ix, out);
            nd_cat_index_free(&ix);
        }
        nd_mql_free(q);
    }
    st = nd_cat_share_status(cat, st);
    if (st != ND_OK || cat->comm == MPI_COMM_NULL) return st;
    nd_strbuf sb;
    nd_sb_init(&sb);
    if (cat->rank == 0) st = rows_pack(out, &sb);
    st = nd_cat_share_status(cat, st);
    uint64_t len = sb.len;
    if (st == ND_OK) st = nd_cat_bcast(cat, &len, 1, MPI_UINT64_T);
    if (st == ND_OK && len > INT32_MAX) st = nd_err_set(ND_ENOMEM, "query: result too large");
    if (st == ND_OK && cat->rank != 0) st = nd_sb_reserve(&sb, (size_t)len);
    st = nd_spmd_agree_on(cat->comm, st);
    if (st != ND_OK) {
        nd_sb_free(&sb);
        nd_cat_rows_free(out);
        return st;
    }
    st = nd_cat_bcast(cat, sb.data, (int)len, MPI_BYTE);
    if (st == ND_OK && cat->rank != 0) st = rows_unpack(sb.data, (size_t)len, out);
    nd_sb_free(&sb);
    return st;
}
