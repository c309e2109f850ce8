/* object.c: heap objects (strings, lists, maps, matrices) and the cycle collector.
 *
 * Reference counting frees everything that is not part of a cycle at once.  Cycles can
 * only pass through containers (lists and maps), so the collector looks at those only,
 * using trial deletion (CPython's scheme): subtract the references containers hold to
 * each other; what still has a count above zero is referenced from outside (registers,
 * globals, constants, C locals) and keeps everything it reaches alive; the rest is
 * garbage.  No roots are scanned.  Spec: docs/vm.md "Refcounting and cycles".
 */
#include "vm/object.h"

#include "common/alloc.h"
#include "common/hash.h"
#include "runtime/dm.h"

#include <string.h>

/* Two sentinel-headed lists: every live container is on `containers`; a collection
 * moves the tentatively unreachable ones to `unreachable`. */
static nd_obj containers = {.gcprev = &containers, .gcnext = &containers};
static size_t n_containers, n_pending, n_runs, gc_every = ND_GC_EVERY;

static void link_tail(nd_obj *head, nd_obj *o)
{
    o->gcprev = head->gcprev;
    o->gcnext = head;
    head->gcprev->gcnext = o;
    head->gcprev = o;
}

static void unlink_obj(nd_obj *o)
{
    o->gcprev->gcnext = o->gcnext;
    o->gcnext->gcprev = o->gcprev;
    o->gcprev = o->gcnext = NULL;
}

static void init_header(nd_obj *o, nd_type t)
{
    o->rc = 1;
    o->type = (uint8_t)t;
    o->gcflags = 0;
    o->gcrefs = 0;
    o->gcprev = o->gcnext = NULL;
}

static void track(nd_obj *o)
{
    link_tail(&containers, o);
    n_containers++;
    n_pending++;
}

/* ---- strings ---- */

nd_str *nd_str_new(const char *s, size_t len)
{
    if (len > UINT32_MAX - 1) {
        nd_err_set(ND_EPROG, "string too long (%zu bytes)", len);
        return NULL;
    }
    nd_str *str = nd_malloc(sizeof(nd_str) + len + 1);
    if (!str) return NULL;
    init_header(&str->h, ND_T_STR);
    str->len = (uint32_t)len;
    if (len) memcpy(str->data, s, len);
    str->data[len] = '\0';
    str->hash_ = 0;
    return str;
}

nd_str *nd_str_cat(const nd_str *a, const nd_str *b)
{
    size_t len = (size_t)a->len + b->len;
    if (len > UINT32_MAX - 1) {
        nd_err_set(ND_EPROG, "string too long (%zu bytes)", len);
        return NULL;
    }
    nd_str *str = nd_malloc(sizeof(nd_str) + len + 1);
    if (!str) return NULL;
    init_header(&str->h, ND_T_STR);
    str->len = (uint32_t)len;
    memcpy(str->data, a->data, a->len);
    memcpy(str->data + a->len, b->data, b->len);
    str->data[len] = '\0';
    str->hash_ = 0;
    return str;
}

uint64_t nd_str_hash_slow(nd_str *s)
{
    uint64_t h = nd_hash_bytes(s->data, s->len);
    s->hash_ = h ? h : 1;
    return s->hash_;
}

bool nd_str_eq(const nd_str *a, const nd_str *b)
{
    if (a == b) return true;
    if (a->len != b->len) return false;
    if (a->hash_ && b->hash_ && a->hash_ != b->hash_) return false;
    return memcmp(a->data, b->data, a->len) == 0;
}

nd_status nd_str_value(const char *s, size_t len, nd_value *out)
{
    nd_str *str = nd_str_new(s, len);
    if (!str) return nd_last_error.status;
    *out = ND_OBJ(ND_T_STR, str);
    return ND_OK;
}

/* ---- lists ---- */

nd_list *nd_list_new(size_t cap)
{
    nd_list *l = nd_malloc(sizeof(nd_list));
    if (!l) return NULL;
    init_header(&l->h, ND_T_LIST);
    l->len = 0;
    l->cap = cap;
    l->items = NULL;
    if (cap) {
        l->items = ND_ALLOC_N(nd_value, cap);
        if (!l->items) {
            nd_free(l, sizeof(nd_list));
            return NULL;
        }
    }
    track(&l->h);
    return l;
}

nd_status nd_list_push(nd_list *l, nd_value v)
{
    if (l->len == l->cap) {
        size_t ncap = l->cap < 4 ? 4 : l->cap * 2;
        nd_value *items = ND_REALLOC_N(nd_value, l->items, l->cap, ncap);
        if (!items) return ND_ENOMEM;
        l->items = items;
        l->cap = ncap;
    }
    nd_val_incref(v);
    l->items[l->len++] = v;
    return ND_OK;
}

/* ---- maps ---- */

static size_t probe_start(const nd_map *m, uint64_t hash)
{
    /* FNV's low bits are weak for keys that differ in a few digits: mix (fmix64). */
    hash ^= hash >> 33;
    hash *= UINT64_C(0xff51afd7ed558ccd);
    hash ^= hash >> 33;
    return (size_t)hash & (m->index_cap - 1);
}

static nd_status rebuild_index(nd_map *m, size_t icap)
{
    uint32_t *idx = ND_ALLOC_N(uint32_t, icap);
    if (!idx) return ND_ENOMEM;
    memset(idx, 0xff, icap * sizeof(uint32_t));
    if (m->index) ND_FREE_N(m->index, m->index_cap);
    m->index = idx;
    m->index_cap = icap;
    for (size_t e = 0; e < m->len; e++) {
        size_t k = probe_start(m, nd_str_hash(m->entries[e].key));
        while (idx[k] != UINT32_MAX) k = (k + 1) & (icap - 1);
        idx[k] = (uint32_t)e;
    }
    return ND_OK;
}

nd_map *nd_map_new(size_t cap)
{
    nd_map *m = nd_malloc(sizeof(nd_map));
    if (!m) return NULL;
    init_header(&m->h, ND_T_MAP);
    m->len = 0;
    m->cap = 0;
    m->entries = NULL;
    m->index = NULL;
    m->index_cap = 0;
    if (cap) {
        m->entries = ND_ALLOC_N(nd_map_entry, cap);
        if (!m->entries) {
            nd_free(m, sizeof(nd_map));
            return NULL;
        }
        m->cap = cap;
    }
    track(&m->h);
    return m;
}

nd_value *nd_map_get(const nd_map *m, const nd_str *key)
{
    if (m->index_cap == 0) {
        /* Small maps have no index: a linear scan is faster than hashing. */
        for (size_t e = 0; e < m->len; e++)
            if (nd_str_eq(m->entries[e].key, key)) return &m->entries[e].val;
        return NULL;
    }
    size_t k = probe_start(m, nd_str_hash(key));
    for (;;) {
        uint32_t e = m->index[k];
        if (e == UINT32_MAX) return NULL;
        if (nd_str_eq(m->entries[e].key, key)) return &m->entries[e].val;
        k = (k + 1) & (m->index_cap - 1);
    }
}

#define SMALL_MAP 8

nd_status nd_map_set(nd_map *m, nd_str *key, nd_value v)
{
    nd_value *slot = nd_map_get(m, key);
    if (slot) {
        nd_val_incref(v);
        nd_val_set(slot, v);
        return ND_OK;
    }
    if (m->len >= UINT32_MAX - 1) return nd_err_set(ND_EPROG, "map too large");
    if (m->len == m->cap) {
        size_t ncap = m->cap < 4 ? 4 : m->cap * 2;
        nd_map_entry *en = ND_REALLOC_N(nd_map_entry, m->entries, m->cap, ncap);
        if (!en) return ND_ENOMEM;
        m->entries = en;
        m->cap = ncap;
    }
    size_t need = m->len + 1;
    if (need > SMALL_MAP && need * 2 > m->index_cap) {
        size_t icap = m->index_cap ? m->index_cap * 2 : 32;
        while (need * 2 > icap) icap *= 2;
        ND_TRY(rebuild_index(m, icap));
    }
    size_t e = m->len++;
    key->h.rc++;
    nd_val_incref(v);
    m->entries[e].key = key;
    m->entries[e].val = v;
    if (m->index) {
        size_t k = probe_start(m, nd_str_hash(key));
        while (m->index[k] != UINT32_MAX) k = (k + 1) & (m->index_cap - 1);
        m->index[k] = (uint32_t)e;
    }
    return ND_OK;
}

/* ---- matrices ---- */

nd_matrix *nd_matrix_new(nd_dm *dm)
{
    nd_matrix *mt = nd_malloc(sizeof(nd_matrix));
    if (!mt) {
        nd_dm_free(dm);
        return NULL;
    }
    init_header(&mt->h, ND_T_MATRIX);
    mt->dm = dm;
    return mt;
}

nd_status nd_matrix_value(nd_dm *dm, nd_value *out)
{
    nd_matrix *mt = nd_matrix_new(dm);
    if (!mt) return ND_ENOMEM;
    *out = ND_OBJ(ND_T_MATRIX, mt);
    return ND_OK;
}

/* ---- freeing ---- */

/* Releases what a container holds, leaving it empty (used by free and by the
 * collector, which clears garbage before freeing it). */
static void clear_container(nd_obj *o)
{
    if (o->type == ND_T_LIST) {
        nd_list *l = (nd_list *)o;
        size_t n = l->len;
        nd_value *items = l->items;
        l->len = 0;
        for (size_t k = 0; k < n; k++) nd_val_decref(items[k]);
    } else {
        nd_map *m = (nd_map *)o;
        size_t n = m->len;
        m->len = 0;
        for (size_t k = 0; k < n; k++) {
            nd_str *key = m->entries[k].key;
            if (--key->h.rc == 0) nd_obj_free(&key->h);
            nd_val_decref(m->entries[k].val);
        }
    }
}

void nd_obj_free(nd_obj *o)
{
    switch ((nd_type)o->type) {
    case ND_T_STR:
        nd_free(o, sizeof(nd_str) + ((nd_str *)o)->len + 1);
        break;
    case ND_T_LIST: {
        nd_list *l = (nd_list *)o;
        unlink_obj(o);
        n_containers--;
        clear_container(o);
        if (l->items) ND_FREE_N(l->items, l->cap);
        nd_free(l, sizeof(nd_list));
        break;
    }
    case ND_T_MAP: {
        nd_map *m = (nd_map *)o;
        unlink_obj(o);
        n_containers--;
        clear_container(o);
        if (m->entries) ND_FREE_N(m->entries, m->cap);
        if (m->index) ND_FREE_N(m->index, m->index_cap);
        nd_free(m, sizeof(nd_map));
        break;
    }
    case ND_T_MATRIX:
        nd_dm_free(((nd_matrix *)o)->dm);
        nd_free(o, sizeof(nd_matrix));
        break;
    default:
        ND_ASSERT(!"nd_obj_free: not a heap object");
    }
}

/* ---- the cycle collector ---- */

typedef void (*visit_fn)(nd_obj *child, nd_obj *unreachable);

static void traverse(nd_obj *o, visit_fn fn, nd_obj *arg)
{
    if (o->type == ND_T_LIST) {
        nd_list *l = (nd_list *)o;
        for (size_t k = 0; k < l->len; k++) {
            nd_value v = l->items[k];
            if (v.type == ND_T_LIST || v.type == ND_T_MAP) fn(v.as.o, arg);
        }
    } else {
        nd_map *m = (nd_map *)o;
        for (size_t k = 0; k < m->len; k++) {
            nd_value v = m->entries[k].val;
            if (v.type == ND_T_LIST || v.type == ND_T_MAP) fn(v.as.o, arg);
        }
    }
}

static void subtract_internal(nd_obj *child, nd_obj *unused)
{
    ND_UNUSED(unused);
    child->gcrefs--;
}

/* child is reachable from a reachable container: if it was already moved to the
 * unreachable list, move it back to the tail of `containers` (the scan will reach it);
 * if the scan has not reached it yet, make sure it counts as reachable when it does. */
static void rescue(nd_obj *child, nd_obj *unused)
{
    ND_UNUSED(unused);
    if (child->gcflags & ND_GC_TENTATIVE) {
        child->gcflags &= (uint8_t)~ND_GC_TENTATIVE;
        unlink_obj(child);
        link_tail(&containers, child);
        child->gcrefs = 1;
    } else if (child->gcrefs <= 0) {
        child->gcrefs = 1;
    }
}

size_t nd_gc_collect(void)
{
    nd_obj unreachable = {.gcprev = &unreachable, .gcnext = &unreachable};
    n_pending = 0;
    n_runs++;
    for (nd_obj *o = containers.gcnext; o != &containers; o = o->gcnext) {
        o->gcrefs = (int64_t)o->rc;
        o->gcflags &= (uint8_t)~ND_GC_TENTATIVE;
    }
    for (nd_obj *o = containers.gcnext; o != &containers; o = o->gcnext)
        traverse(o, subtract_internal, NULL);
    /* Scan in order; objects rescued later are appended and scanned in turn. */
    nd_obj *o = containers.gcnext;
    while (o != &containers) {
        nd_obj *next = o->gcnext;
        if (o->gcrefs > 0) {
            traverse(o, rescue, NULL);
            next = o->gcnext; /* rescue may have appended after o */
        } else {
            unlink_obj(o);
            link_tail(&unreachable, o);
            o->gcflags |= ND_GC_TENTATIVE;
        }
        o = next;
    }
    /* Everything left on `unreachable` is garbage: hold it, empty it, release it. */
    size_t freed = 0;
    for (nd_obj *g = unreachable.gcnext; g != &unreachable; g = g->gcnext) {
        g->rc++;
        g->gcflags &= (uint8_t)~ND_GC_TENTATIVE;
        freed++;
    }
    for (nd_obj *g = unreachable.gcnext; g != &unreachable; g = g->gcnext)
        clear_container(g);
    while (unreachable.gcnext != &unreachable) {
        nd_obj *g = unreachable.gcnext;
        /* Every internal reference is gone, so ours is the last one. */
        ND_ASSERT(g->rc == 1);
        g->rc = 0;
        nd_obj_free(g);
    }
    return freed;
}

void nd_gc_maybe(void)
{
    if (n_pending >= gc_every) nd_gc_collect();
}

size_t nd_gc_pending(void) { return n_pending; }
size_t nd_gc_live(void) { return n_containers; }
size_t nd_gc_runs(void) { return n_runs; }

void nd_gc_set_every(size_t n)
{
    gc_every = n ? n : ND_GC_EVERY;
}
