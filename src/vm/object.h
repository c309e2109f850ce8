/* object.h: reference-counted heap objects of the VM (str, list, map, matrix) and the
 * synchronous cycle collector over containers (docs/vm.md "Objects").
 *
 * Invariants: every nd_obj starts with the common header; rc counts every reference
 * held by a value slot (register, global, constant, container item, C local that owns
 * it).  Lists and maps are "containers": they sit on one doubly-linked list that the
 * cycle collector walks (trial deletion, as in CPython).  Strings are immutable and
 * carry their hash, computed once (on first use).  All functions are Rank-local.
 */
#ifndef ND_VM_OBJECT_H
#define ND_VM_OBJECT_H

#include "common/nd.h"
#include "vm/value.h"

#include <stddef.h>
#include <stdint.h>

typedef struct nd_dm nd_dm;

/* Collector bits in nd_obj.gcflags. */
#define ND_GC_REACHABLE 1u /* set during a collection: reachable from outside */
#define ND_GC_VISITING 2u  /* set while printing, to cut cycles */
#define ND_GC_TENTATIVE 4u /* set during a collection: maybe unreachable */

struct nd_obj {
    uint32_t rc;
    uint8_t type;    /* nd_type: ND_T_STR .. ND_T_MATRIX */
    uint8_t gcflags;
    uint16_t pad_;
    int64_t gcrefs;  /* containers only: scratch count of the collector */
    nd_obj *gcprev, *gcnext; /* containers only: the collector's list */
};

/* The hash is computed once, on first use (map keys, equality), not at creation:
 * strings built by concatenation in a loop are rarely keys, and hashing every
 * intermediate string made string building quadratic-ish in practice.  0 = not yet. */
typedef struct nd_str {
    nd_obj h;
    uint32_t len;
    uint64_t hash_;  /* use nd_str_hash() */
    char data[];     /* len bytes and a NUL */
} nd_str;

uint64_t nd_str_hash_slow(nd_str *s);
static inline uint64_t nd_str_hash(const nd_str *s)
{
    return s->hash_ ? s->hash_ : nd_str_hash_slow((nd_str *)s);
}

typedef struct nd_list {
    nd_obj h;
    size_t len, cap;
    nd_value *items;
} nd_list;

typedef struct nd_map_entry {
    nd_str *key;     /* owned reference */
    nd_value val;    /* owned reference */
} nd_map_entry;

/* Insertion-ordered: entries[] in insertion order (no deletion in the language), plus
 * an open-addressing index of entry positions (power-of-two size, at most half full). */
typedef struct nd_map {
    nd_obj h;
    size_t len, cap;
    nd_map_entry *entries;
    uint32_t *index; /* entry positions; UINT32_MAX = empty */
    size_t index_cap;
} nd_map;

typedef struct nd_matrix {
    nd_obj h;
    nd_dm *dm;       /* owned: freed with nd_dm_free */
} nd_matrix;

#define ND_AS_STR(v) ((nd_str *)(v).as.o)
#define ND_AS_LIST(v) ((nd_list *)(v).as.o)
#define ND_AS_MAP(v) ((nd_map *)(v).as.o)
#define ND_AS_MATRIX(v) ((nd_matrix *)(v).as.o)
#define ND_OBJ(t, p) ((nd_value){.type = (t), .as.o = (nd_obj *)(p)})

/* Frees an object whose rc reached zero (releases what it holds). */
void nd_obj_free(nd_obj *o);

static inline void nd_val_incref(nd_value v)
{
    if (ND_IS_OBJ(v)) v.as.o->rc++;
}

static inline void nd_val_decref(nd_value v)
{
    if (ND_IS_OBJ(v) && --v.as.o->rc == 0) nd_obj_free(v.as.o);
}

/* Stores v (already owned by the caller) in *slot and releases the old value. */
static inline void nd_val_set(nd_value *slot, nd_value v)
{
    nd_value old = *slot;
    *slot = v;
    nd_val_decref(old);
}

/* Constructors: each returns a new reference (rc 1), or NULL with ND_ENOMEM set. */
nd_str *nd_str_new(const char *s, size_t len);
nd_str *nd_str_cat(const nd_str *a, const nd_str *b);
nd_list *nd_list_new(size_t cap);
nd_map *nd_map_new(size_t cap);
/* Takes ownership of dm (freed on failure). */
nd_matrix *nd_matrix_new(nd_dm *dm);
/* Convenience: a value holding a new string, or status ND_ENOMEM. */
nd_status nd_str_value(const char *s, size_t len, nd_value *out);
nd_status nd_matrix_value(nd_dm *dm, nd_value *out);

bool nd_str_eq(const nd_str *a, const nd_str *b);

/* Appends v (takes a new reference to it; v stays owned by the caller). */
nd_status nd_list_push(nd_list *l, nd_value v);
/* Looks up key; returns a borrowed pointer to the value slot or NULL. */
nd_value *nd_map_get(const nd_map *m, const nd_str *key);
/* Sets m[key] = v: takes new references to key and v (the caller keeps its own). */
nd_status nd_map_set(nd_map *m, nd_str *key, nd_value v);

/* The cycle collector.  Counts container allocations; nd_gc_maybe collects when
 * ND_GC_EVERY of them happened since the last collection (a count equal on every rank,
 * never bytes or time).  Collection is synchronous and safe whenever every live
 * container's rc is exact (between instructions).  Returns the number freed. */
#define ND_GC_EVERY 10000u
size_t nd_gc_collect(void);
void nd_gc_maybe(void);
/* Containers allocated since the last collection, containers alive, collections run. */
size_t nd_gc_pending(void);
size_t nd_gc_live(void);
size_t nd_gc_runs(void);
/* Changes the trigger (0 restores ND_GC_EVERY); for tests. */
void nd_gc_set_every(size_t n);

#endif
