/* state.c: the checkpoint's side of the VM's state (nd_vm_save, nd_vm_restore): a sink
 * that gathers the blob, numbers the matrices 0, 1, ... in the blob's order (the
 * dataset names /matrices/m<ref> of docs/checkpoint.md) and records the names of the
 * variables that hold them; and a source that hands each matrix read from the file back
 * once.  The blob's layout is the VM's (src/vm/save.c).
 */
#include "ckpt/ckpt_internal.h"

#include "common/alloc.h"

#include <string.h>

typedef struct gathered {
    nd_strbuf *blob;
    nd_strbuf *names;
    nd_dm **mats;     /* borrowed matrices, by ref */
    size_t nmats, cap;
} gathered;

static nd_status put_bytes(void *ctx, const void *bytes, size_t len)
{
    return nd_sb_append(((gathered *)ctx)->blob, bytes, len);
}

static nd_status put_matrix(void *ctx, nd_dm *A, const char *names, uint64_t *ref)
{
    gathered *g = ctx;
    if (g->nmats == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 16;
        nd_dm **n = ND_REALLOC_N(nd_dm *, g->mats, g->cap, ncap);
        if (!n) return ND_ENOMEM;
        g->mats = n;
        g->cap = ncap;
    }
    ND_TRY(nd_sb_append(g->names, names, strlen(names) + 1));
    g->mats[g->nmats] = A;
    *ref = g->nmats++;
    return ND_OK;
}

nd_status nd_ckpt_state_encode(const nd_vm *vm, nd_strbuf *out, nd_dm ***mats,
                               size_t *nmats, nd_strbuf *names)
{
    *mats = NULL;
    *nmats = 0;
    gathered g = {.blob = out, .names = names};
    nd_vm_sink sink = {.ctx = &g, .write = put_bytes, .matrix = put_matrix};
    nd_status st = nd_vm_save(vm, &sink);
    /* The caller frees the array with ND_FREE_N(*mats, *nmats): exact size. */
    if (st == ND_OK && g.nmats && g.nmats < g.cap) {
        nd_dm **n = ND_REALLOC_N(nd_dm *, g.mats, g.cap, g.nmats);
        if (n) g.mats = n, g.cap = g.nmats;
        else st = ND_ENOMEM;
    }
    if (st != ND_OK || !g.nmats) {
        if (g.mats) ND_FREE_N(g.mats, g.cap);
        return st;
    }
    *mats = g.mats;
    *nmats = g.nmats;
    return ND_OK;
}

typedef struct given {
    nd_dm **mats;     /* owned until taken (then NULL) */
    size_t nmats;
} given;

static nd_status take_matrix(void *ctx, uint64_t ref, nd_dm **A)
{
    given *g = ctx;
    if (ref >= g->nmats || !g->mats[ref])
        return nd_err_set(ND_EINVALID, "checkpoint state: bad matrix reference %llu",
                          (unsigned long long)ref);
    *A = g->mats[ref];
    g->mats[ref] = NULL;
    return ND_OK;
}

nd_status nd_ckpt_state_decode(nd_vm *vm, const void *blob, size_t len, nd_dm **mats,
                               size_t nmats)
{
    size_t nm = 0;
    nd_status st = nd_vm_state_nmats(blob, len, &nm);
    if (st == ND_OK && nm != nmats)
        st = nd_err_set(ND_EINVALID, "checkpoint state: %llu matrices expected, %zu given",
                        (unsigned long long)nm, nmats);
    given g = {mats, nmats};
    nd_vm_source src = {.ctx = &g, .matrix = take_matrix};
    if (st == ND_OK) st = nd_vm_restore(vm, blob, len, &src);
    for (size_t k = 0; k < nmats; k++)
        if (mats[k]) {
            nd_dm_free(mats[k]);
            mats[k] = NULL;
        }
    return st;
}
