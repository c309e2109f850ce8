/* kv.c: nd_kv, the ordered string map (kv.h). */
#include "common/kv.h"

#include "common/alloc.h"

#include <string.h>

void nd_kv_init(nd_kv *m) { memset(m, 0, sizeof *m); }

void nd_kv_free(nd_kv *m)
{
    for (size_t i = 0; i < m->n; i++) {
        nd_strfree(m->keys[i]);
        nd_strfree(m->vals[i]);
    }
    ND_FREE_N(m->keys, m->cap);
    ND_FREE_N(m->vals, m->cap);
    nd_kv_init(m);
}

const char *nd_kv_get(const nd_kv *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) return m->vals[i];
    return NULL;
}

nd_status nd_kv_set(nd_kv *m, const char *key, const char *val)
{
    char *v = nd_strdup(val);
    if (!v) return ND_ENOMEM;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->keys[i], key) == 0) {
            nd_strfree(m->vals[i]);
            m->vals[i] = v;
            return ND_OK;
        }
    }
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 4;
        char **nk = ND_ALLOC_N(char *, ncap), **nv = ND_ALLOC_N(char *, ncap);
        if (!nk || !nv) {
            ND_FREE_N(nk, nk ? ncap : 0);
            ND_FREE_N(nv, nv ? ncap : 0);
            goto oom;
        }
        if (m->n) {
            memcpy(nk, m->keys, m->n * sizeof *nk);
            memcpy(nv, m->vals, m->n * sizeof *nv);
        }
        ND_FREE_N(m->keys, m->cap);
        ND_FREE_N(m->vals, m->cap);
        m->keys = nk, m->vals = nv, m->cap = ncap;
    }
    m->keys[m->n] = nd_strdup(key);
    if (!m->keys[m->n]) goto oom;
    m->vals[m->n++] = v;
    return ND_OK;
oom:
    nd_strfree(v);
    return ND_ENOMEM;
}

nd_status nd_kv_copy_sorted(nd_kv *dst, const nd_kv *src)
{
    /* Selection by the next larger key: these maps hold a handful of entries. */
    const char *last = NULL;
    for (size_t done = 0; done < src->n; done++) {
        size_t best = src->n;
        for (size_t i = 0; i < src->n; i++)
            if ((!last || strcmp(src->keys[i], last) > 0) &&
                (best == src->n || strcmp(src->keys[i], src->keys[best]) < 0))
                best = i;
        ND_TRY(nd_kv_set(dst, src->keys[best], src->vals[best]));
        last = src->keys[best];
    }
    return ND_OK;
}

bool nd_kv_equal(const nd_kv *a, const nd_kv *b)
{
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->keys[i], b->keys[i]) != 0 || strcmp(a->vals[i], b->vals[i]) != 0)
            return false;
    return true;
}
