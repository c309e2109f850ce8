/* kv.h: nd_kv, Noodle's one key/value type: string keys to string values in insertion
 * order (MPI-IO hints, job parameters, a job spec's environment and config overrides).
 *
 * Invariant: keys are unique; setting an existing key replaces its value and keeps its
 * position (so "a later --param wins").  Keys and values are owned copies.  Lookups go
 * through a hash index, so that a hostile input of many keys (100,000 MPI-IO hints or job
 * parameters) costs linear time, not quadratic.  All functions are Rank-local.
 */
#ifndef ND_KV_H
#define ND_KV_H

#include "common/nd.h"

typedef struct nd_kv {
    size_t n, cap;
    char **keys, **vals; /* owned, n of each */
    uint32_t *slots;     /* open addressing: 0 empty, else index + 1; nslots a power of 2 */
    size_t nslots;
} nd_kv;

void nd_kv_init(nd_kv *m);
void nd_kv_free(nd_kv *m);
/* Adds or replaces key (copies both strings).  ND_ENOMEM leaves m unchanged. */
nd_status nd_kv_set(nd_kv *m, const char *key, const char *val);
/* Returns the value of key (borrowed), or NULL. */
const char *nd_kv_get(const nd_kv *m, const char *key);
/* *dst (initialized, empty) := the entries of src sorted by key (strcmp order). */
nd_status nd_kv_copy_sorted(nd_kv *dst, const nd_kv *src);
/* Whether a and b hold the same entries in the same order. */
bool nd_kv_equal(const nd_kv *a, const nd_kv *b);

#endif
