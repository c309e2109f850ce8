/* kv.c: nd_kv, the ordered string map (kv.h). */
#include "common/kv.h"

#include "common/alloc.h"

#include <stdlib.h>
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
    if (m->slots) ND_FREE_N(m->slots, m->nslots);
    nd_kv_init(m);
}

static size_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29));
}

/* The slot of key: where it is, or the empty slot where it would go. */
static size_t find_slot(const nd_kv *m, const char *key)
{
    size_t mask = m->nslots - 1, i = hash(key) & mask;
    while (m->slots[i] && strcmp(m->keys[m->slots[i] - 1], key) != 0) i = (i + 1) & mask;
    return i;
}

/* Rebuilds the index with room for `want` keys at a load of at most 1/2. */
static nd_status reindex(nd_kv *m, size_t want)
{
    size_t ns = 16;
    while (ns < 2 * want) ns *= 2;
    uint32_t *sl = ND_ALLOC_N(uint32_t, ns);
    if (!sl) return ND_ENOMEM;
    if (m->slots) ND_FREE_N(m->slots, m->nslots);
    m->slots = sl, m->nslots = ns;
    for (size_t k = 0; k < m->n; k++) m->slots[find_slot(m, m->keys[k])] = (uint32_t)(k + 1);
    return ND_OK;
}

const char *nd_kv_get(const nd_kv *m, const char *key)
{
    if (!m->n) return NULL;
    uint32_t s = m->slots[find_slot(m, key)];
    return s ? m->vals[s - 1] : NULL;
}

nd_status nd_kv_set(nd_kv *m, const char *key, const char *val)
{
    if (m->n >= UINT32_MAX - 1) return nd_err_set(ND_ENOMEM, "too many keys");
    if (2 * (m->n + 1) > m->nslots && reindex(m, m->n + 1) != ND_OK) return ND_ENOMEM;
    char *v = nd_strdup(val);
    if (!v) return ND_ENOMEM;
    size_t slot = find_slot(m, key);
    if (m->slots[slot]) {
        size_t i = m->slots[slot] - 1;
        nd_strfree(m->vals[i]);
        m->vals[i] = v;
        return ND_OK;
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
    m->slots[slot] = (uint32_t)m->n;
    return ND_OK;
oom:
    nd_strfree(v);
    return ND_ENOMEM;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

nd_status nd_kv_copy_sorted(nd_kv *dst, const nd_kv *src)
{
    if (!src->n) return ND_OK;
    char **ks = ND_ALLOC_N(char *, src->n);
    if (!ks) return ND_ENOMEM;
    memcpy(ks, src->keys, src->n * sizeof *ks);
    qsort(ks, src->n, sizeof *ks, by_str);
    nd_status st = ND_OK;
    for (size_t i = 0; st == ND_OK && i < src->n; i++) st = nd_kv_set(dst, ks[i], nd_kv_get(src, ks[i]));
    ND_FREE_N(ks, src->n);
    return st;
}

bool nd_kv_equal(const nd_kv *a, const nd_kv *b)
{
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->keys[i], b->keys[i]) != 0 || strcmp(a->vals[i], b->vals[i]) != 0)
            return false;
    return true;
}
