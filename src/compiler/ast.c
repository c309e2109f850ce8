/* ast.c: the arena that owns the syntax tree and the compiler's temporary strings.
 * Chunks are never moved, so pointers into the arena stay valid until nd_arena_free.
 * Specified by the data layout in ast.h. */
#include "compiler/ast.h"

#include "common/alloc.h"

#include <string.h>

#define CHUNK_MIN 16384

struct nd_arena_chunk {
    struct nd_arena_chunk *next;
    size_t size, used;
    max_align_t data[];
};

void *nd_arena_alloc(nd_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    nd_arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = nd_malloc(sizeof *c + size);
        if (!c) {
            a->failed = true;
            return NULL;
        }
        c->size = size;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *nd_arena_strndup(nd_arena *a, const char *s, size_t n)
{
    char *p = nd_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void nd_arena_free(nd_arena *a)
{
    nd_arena_chunk *c = a->head;
    while (c) {
        nd_arena_chunk *next = c->next;
        nd_free(c, sizeof *c + c->size);
        c = next;
    }
    a->head = NULL;
}

bool nd_pvec_push(nd_arena *a, nd_pvec *pv, void *p)
{
    if (pv->n == pv->cap) {
        int ncap = pv->cap ? pv->cap * 2 : 8;
        void **nv = nd_arena_alloc(a, (size_t)ncap * sizeof *nv);
        if (!nv) return false;
        if (pv->n) memcpy(nv, pv->v, (size_t)pv->n * sizeof *nv);
        pv->v = nv;
        pv->cap = ncap;
    }
    pv->v[pv->n++] = p;
    return true;
}
