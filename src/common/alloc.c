/* alloc.c: counting allocator with overflow checks and failure injection (alloc.h).
 * The only file that calls malloc/realloc/free directly. */
#include "alloc.h"

#include "strbuf.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t live_bytes, peak_bytes, n_allocs, fail_at, limit_bytes;
static int env_checked;

static int should_fail(size_t size)
{
    if (!env_checked) {
        const char *e = getenv("NOODLE_FAIL_ALLOC");
        env_checked = 1;
        if (e && *e) {
            /* A test hook, but a mistyped one must not pass for "no failure". */
            uint64_t n = 0;
            if (!nd_parse_count(e, &n)) {
                fprintf(stderr, "noodle: NOODLE_FAIL_ALLOC=%s: expected a count (0: off)\n", e);
                exit(2);
            }
            if (n) fail_at = n_allocs + (size_t)n;
        }
    }
    n_allocs++;
    if (fail_at && n_allocs == fail_at) return 1;
    if (limit_bytes && live_bytes + size > limit_bytes) return 1;
    return 0;
}

static void *oom(size_t size)
{
    nd_err_set(ND_ENOMEM, "out of memory (allocating %zu bytes)", size);
    return NULL;
}

static void account(size_t add, size_t sub)
{
    live_bytes = live_bytes + add - sub;
    if (live_bytes > peak_bytes) peak_bytes = live_bytes;
}

/* Blocks this large come from a fresh mmap (glibc), and touching them first costs a page
 * fault per 4 KiB page, ~14 us each on these VMs: 0.12 s for a 32 MiB matrix copy, as
 * much as an LU of it (benchmarks/RESULTS.md, "solve at 1 rank").  Transparent huge
 * pages cut that 512-fold; they are asked for by madvise (the kernels here run THP in
 * madvise mode).  A hint: failure changes nothing. */
#define HUGE_FROM ((size_t)4 << 20)

static void want_huge_pages(void *p, size_t size)
{
#ifdef MADV_HUGEPAGE
    if (size < HUGE_FROM) return;
    uintptr_t a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, end = (uintptr_t)p + size;
    (void)madvise((void *)a, (size_t)(end - a) & ~(size_t)4095, MADV_HUGEPAGE);
#else
    (void)p;
    (void)size;
#endif
}

/* Freed blocks of HUGE_FROM bytes and more are kept (up to CACHE_SLOTS, CACHE_MAX bytes
 * together, and an eighth of the memory limit when one is set) for the next allocation
 * of exactly that size: a loop that makes a new matrix each iteration would otherwise
 * pay munmap, mmap and first-touch page faults every time (about 10 % of a 2048x2048
 * product at 2 ranks, benchmarks/RESULTS.md).  Cached blocks are not live: they do not
 * count in nd_alloc_live or against the limit.  Off under AddressSanitizer, which must
 * see every free. */
#if defined(__SANITIZE_ADDRESS__)
#define CACHE_SLOTS 0
#else
#define CACHE_SLOTS 4
#endif
#define CACHE_MAX ((size_t)512 << 20)

static struct {
    void *p;
    size_t size;
} cache[CACHE_SLOTS > 0 ? CACHE_SLOTS : 1];
static size_t cache_bytes;
static unsigned cache_next;

static void *cache_take(size_t size)
{
    for (int k = 0; k < CACHE_SLOTS; k++)
        if (cache[k].p && cache[k].size == size) {
            void *p = cache[k].p;
            cache[k].p = NULL;
            cache_bytes -= size;
            return p;
        }
    return NULL;
}

/* Keeps p (size bytes) or frees it; evicts round robin to make room. */
static void cache_put(void *p, size_t size)
{
    size_t cap = CACHE_MAX;
    if (limit_bytes && limit_bytes / 8 < cap) cap = limit_bytes / 8;
    /* The size comes from the caller: a block is only kept when malloc confirms it holds
     * that many bytes, so a wrong size can never hand out a short block. */
    if (CACHE_SLOTS == 0 || size < HUGE_FROM || size > cap || malloc_usable_size(p) < size) {
        free(p);
        return;
    }
    for (int tries = 0; tries <= CACHE_SLOTS; tries++) {
        int free_slot = -1;
        for (int k = 0; k < CACHE_SLOTS && free_slot < 0; k++)
            if (!cache[k].p) free_slot = k;
        if (free_slot >= 0 && cache_bytes + size <= cap) {
            cache[free_slot].p = p;
            cache[free_slot].size = size;
            cache_bytes += size;
            return;
        }
        unsigned k = cache_next++ % (CACHE_SLOTS > 0 ? CACHE_SLOTS : 1);
        if (cache[k].p) {
            free(cache[k].p);
            cache_bytes -= cache[k].size;
            cache[k].p = NULL;
        }
    }
    free(p);
}

void nd_alloc_tune_heap(void)
{
#ifdef M_TRIM_THRESHOLD
    /* A user's own MALLOC_*_ settings win (glibc read them at start-up). */
    if (getenv("MALLOC_TRIM_THRESHOLD_") || getenv("MALLOC_MMAP_THRESHOLD_") ||
        getenv("MALLOC_TOP_PAD_"))
        return;
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20); /* glibc's upper bound on 64-bit */
    (void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
    (void)mallopt(M_TOP_PAD, 16 << 20);
#endif
}

void *nd_malloc(size_t size)
{
    if (size == 0) size = 1;
    if (should_fail(size)) return oom(size);
    void *p = size >= HUGE_FROM ? cache_take(size) : NULL;
    if (p) {
        account(size, 0);
        return p;
    }
    p = malloc(size);
    if (!p) return oom(size);
    want_huge_pages(p, size);
    account(size, 0);
    return p;
}

void *nd_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size) return oom(SIZE_MAX);
    size_t total = n * size;
    if (total == 0) total = 1;
    if (should_fail(total)) return oom(total);
    void *p = total >= HUGE_FROM ? cache_take(total) : NULL;
    if (p) {
        memset(p, 0, total); /* warm pages: cheaper than faulting in fresh ones */
        account(total, 0);
        return p;
    }
    p = calloc(1, total);
    if (!p) return oom(total);
    want_huge_pages(p, total);
    account(total, 0);
    return p;
}

void *nd_realloc(void *p, size_t old_size, size_t new_size)
{
    if (new_size == 0) new_size = 1;
    if (!p) old_size = 0;
    if (should_fail(new_size > old_size ? new_size - old_size : 0)) return oom(new_size);
    void *q = realloc(p, new_size);
    if (!q) return oom(new_size);
    want_huge_pages(q, new_size);
    account(new_size, old_size ? old_size : 0);
    return q;
}

void *nd_malloc_n(size_t n, size_t elem)
{
    if (elem && n > SIZE_MAX / elem) return oom(SIZE_MAX);
    return nd_malloc(n * elem);
}

void *nd_realloc_n(void *p, size_t oldn, size_t newn, size_t elem)
{
    if (elem && newn > SIZE_MAX / elem) return oom(SIZE_MAX);
    return nd_realloc(p, oldn * elem, newn * elem);
}

void nd_free(void *p, size_t size)
{
    if (!p) return;
    if (size == 0) size = 1;
    cache_put(p, size);
    account(0, size);
}

char *nd_strndup(const char *s, size_t n)
{
    char *d = nd_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *nd_strdup(const char *s) { return nd_strndup(s, strlen(s)); }

void nd_strfree(char *s)
{
    if (s) nd_free(s, strlen(s) + 1);
}

size_t nd_alloc_live(void) { return live_bytes; }
size_t nd_alloc_peak(void) { return peak_bytes; }
size_t nd_alloc_count(void) { return n_allocs; }
void nd_alloc_fail_after(size_t n) { env_checked = 1; fail_at = n ? n_allocs + n : 0; }
void nd_alloc_set_limit(size_t bytes) { limit_bytes = bytes; }
size_t nd_alloc_limit(void) { return limit_bytes; }
