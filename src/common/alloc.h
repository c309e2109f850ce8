/* alloc.h: the one allocation entry point.  Counts live bytes and the high-water mark
 * (reported by noodle-run), checks count * size overflow, and can be told to fail the
 * Nth allocation so that out-of-memory paths are tested (NOODLE_FAIL_ALLOC=N or
 * nd_alloc_fail_after).  Every function is Rank-local.  Failure returns NULL after
 * setting the error record to ND_ENOMEM; callers propagate it. */
#ifndef ND_ALLOC_H
#define ND_ALLOC_H

#include "nd.h"

void *nd_malloc(size_t size);
void *nd_calloc(size_t n, size_t size);
/* Resizes p (old size old_size, 0 when p is NULL) to new_size; on failure p is kept. */
void *nd_realloc(void *p, size_t old_size, size_t new_size);
void nd_free(void *p, size_t size);
char *nd_strdup(const char *s);
char *nd_strndup(const char *s, size_t n);
void nd_strfree(char *s);

/* Keeps freed heap memory for reuse instead of returning it to the kernel at once: arrays
 * of a loop (a slice per step, a temporary per operation) otherwise come back as fresh
 * pages, a page fault each 4 KiB, as glibc trims the heap top and maps blocks from 128 KiB
 * up anew (a 200x200 stencil loop: 626k faults in 5000 steps, benchmarks/RESULTS.md).
 * Blocks under 32 MiB come from the heap, up to 256 MiB of free heap top is kept, and the
 * heap grows 16 MiB beyond a request.  Unless the user set MALLOC_TRIM_THRESHOLD_,
 * MALLOC_MMAP_THRESHOLD_ or MALLOC_TOP_PAD_.  Call once, early (noodle-run's main). */
void nd_alloc_tune_heap(void);
size_t nd_alloc_live(void);
size_t nd_alloc_peak(void);
size_t nd_alloc_count(void);
/* The Nth allocation from now (1 = the next) fails; 0 turns injection off. */
void nd_alloc_fail_after(size_t n);
/* Sets a limit on live bytes (0 = none): an allocation beyond it fails. */
void nd_alloc_set_limit(size_t bytes);
size_t nd_alloc_limit(void);

/* Count-based helpers: the product is checked for overflow. */
#define ND_ALLOC_N(T, n) ((T *)nd_calloc((n), sizeof(T)))
/* Not zeroed: for work space that the callee writes before reading (a large block then
 * costs nothing for the pages it never touches, also when it comes from the cache of
 * freed blocks, which calloc would have to clear). */
#define ND_SCRATCH_N(T, n) ((T *)nd_malloc_n((n), sizeof(T)))
#define ND_REALLOC_N(T, p, oldn, newn)                                                   \
    ((T *)nd_realloc_n((p), (oldn), (newn), sizeof(T)))
#define ND_FREE_N(p, n) nd_free((p), (size_t)(n) * sizeof(*(p)))
void *nd_realloc_n(void *p, size_t oldn, size_t newn, size_t elem);
void *nd_malloc_n(size_t n, size_t elem);

#endif
