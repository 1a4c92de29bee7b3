/* result_pool.c: reused arrays for decoded batches (result_pool.h). Arrays of
 * more than POOL_MIN results come in power-of-two capacities; a freed one goes
 * on its capacity's free list while the pool holds under POOL_MAX_BYTES, else
 * back to malloc. One mutex: a lookup is a few instructions, next to the
 * thousands of results an array holds. Never holds more than POOL_MAX_BYTES
 * (two writers give back a group of up to 20 batches each at once, while 100
 * probes keep at least one batch each in flight), and gives it all back once a period
 * passes without a batch array taken (pk_results_pool_trim_idle). It also counts
 * the bytes of every array handed out and not yet given back
 * (pk_results_live_bytes), which the collector's streams use to stop reading
 * while that much decoded data waits for the writers. */
#include "result_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define POOL_MIN 32                          /* smaller batches: plain malloc */
#define POOL_CLASSES 16                      /* capacities 64 .. 2^21 */
#define POOL_PER_CLASS 128                   /* arrays kept per capacity */
#define POOL_MAX_BYTES (size_t)(128u << 20)  /* about 117 arrays of 1,024 results */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pk_result *pool_free[POOL_CLASSES][POOL_PER_CLASS];
static size_t pool_n[POOL_CLASSES];
static size_t pool_bytes;
static size_t pool_taken; /* arrays of a pooled size taken since the last trim_idle */
static atomic_size_t live_bytes; /* handed out by pk_results_alloc, not yet freed */

/* The capacity class of an array of n > POOL_MIN results: capacity 64 << c;
 * -1 beyond the largest. */
static int class_of(size_t n)
{
    size_t cap = 2 * POOL_MIN;
    for (int c = 0; c < POOL_CLASSES; c++, cap <<= 1)
        if (n <= cap)
            return c;
    return -1;
}

static size_t class_bytes(int c)
{
    return ((size_t)2 * POOL_MIN << c) * sizeof(struct pk_result);
}

/* The bytes an array of n results occupies, as alloc and free count it. */
static size_t array_bytes(size_t n)
{
    int c = n > POOL_MIN ? class_of(n) : -1;
    return c < 0 ? (n ? n : 1) * sizeof(struct pk_result) : class_bytes(c);
}

/* A new array (not from the pool) is about to be written whole by its decoder:
 * its pages are mapped in one call (MADV_POPULATE_WRITE, Linux 5.14) instead of
 * one page fault each, which was most of the completion-queue thread's kernel
 * time while the pool fills (docs/PERFORMANCE.md). Only arrays of 256 kB and
 * more; an older kernel refuses the advice and the faults happen as before. */
#define POPULATE_MIN_BYTES (256u * 1024)

static void populate(void *p, size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
    long page = sysconf(_SC_PAGESIZE);
    if (bytes < POPULATE_MIN_BYTES || page <= 0)
        return;
    uintptr_t start = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t end = ((uintptr_t)p + bytes) & ~((uintptr_t)page - 1);
    if (end > start)
        (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)bytes;
#endif
}

struct pk_result *pk_results_alloc(size_t n)
{
    int c = n > POOL_MIN ? class_of(n) : -1;
    if (c < 0) {
        struct pk_result *p = malloc(array_bytes(n));
        if (p)
            atomic_fetch_add(&live_bytes, array_bytes(n));
        return p;
    }
    struct pk_result *v = NULL;
    pthread_mutex_lock(&pool_mu);
    pool_taken++;
    if (pool_n[c] > 0) {
        v = pool_free[c][--pool_n[c]];
        pool_bytes -= class_bytes(c);
    }
    pthread_mutex_unlock(&pool_mu);
    if (!v && (v = malloc(class_bytes(c))) != NULL)
        populate(v, class_bytes(c));
    if (v)
        atomic_fetch_add(&live_bytes, class_bytes(c));
    return v;
}

void pk_results_free(struct pk_result *v, size_t n)
{
    int c = n > POOL_MIN ? class_of(n) : -1;
    if (v)
        atomic_fetch_sub(&live_bytes, array_bytes(n));
    if (!v || c < 0) {
        free(v);
        return;
    }
    int kept = 0;
    pthread_mutex_lock(&pool_mu);
    if (pool_n[c] < POOL_PER_CLASS && pool_bytes + class_bytes(c) <= POOL_MAX_BYTES) {
        pool_free[c][pool_n[c]++] = v;
        pool_bytes += class_bytes(c);
        kept = 1;
    }
    pthread_mutex_unlock(&pool_mu);
    if (!kept)
        free(v);
}

void pk_results_pool_drain(void)
{
    pthread_mutex_lock(&pool_mu);
    for (int c = 0; c < POOL_CLASSES; c++) {
        while (pool_n[c] > 0)
            free(pool_free[c][--pool_n[c]]);
    }
    pool_bytes = 0;
    pthread_mutex_unlock(&pool_mu);
}

int pk_results_pool_trim_idle(void)
{
    pthread_mutex_lock(&pool_mu);
    int idle = pool_taken == 0 && pool_bytes > 0;
    pool_taken = 0;
    pthread_mutex_unlock(&pool_mu);
    if (idle)
        pk_results_pool_drain();
    return idle;
}

size_t pk_results_pool_bytes(void)
{
    pthread_mutex_lock(&pool_mu);
    size_t b = pool_bytes;
    pthread_mutex_unlock(&pool_mu);
    return b;
}

size_t pk_results_live_bytes(void)
{
    return atomic_load(&live_bytes);
}
