/* heap_trim.c: keeps the collector's heap from holding memory it no longer
 * uses. With thousands of probes connected, gRPC allocates and frees per
 * connection and per message from many threads; glibc gives each thread
 * contention its own arena (up to 8 per core) and returns to the kernel only
 * the free space at the very top of each, so the resident size crept up under
 * load and stayed up after probes left (bench/run_probes_scale, docs/SCALING.md).
 * A thread wakes every period (10 s in the collector) and reads the heap
 * (mallinfo2) and the resident size. It calls malloc_trim(0), which releases
 * every whole free page inside every arena (madvise), not only the top, when
 * more than a threshold lies free in the heap and, after the first trim, when
 * the resident bytes not in use (RSS less the heap in use) have grown by that
 * threshold since the last one: a heap whose free pages are already given back
 * is not walked again. That is glibc: elsewhere this file compiles to no-ops.
 * Capping the arenas (M_ARENA_MAX 2) was tried and left out: no gain at idle,
 * and on 2 oversubscribed cores a descheduled thread holding one of two arena
 * locks may stall all the others. A trim walks every free chunk with each
 * arena locked (5-34 ms on a 1.1 GB heap at 10,000 probes), and the pages it
 * gives back that the heap needs again are faulted back in: once a minute held
 * RSS flat under load, 70-75 MB above idle at 10,000 probes; every 10 s held
 * it about 50 MB lower (docs/PERFORMANCE.md, "Many probes on one collector").
 * The figures (in use, free, trims, bytes given back, time spent) go to
 * /metrics. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "heap_trim.h"

#include "pk_error.h"
#include "result.h"
#include "result_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int running, stopping;
static int period;
static size_t threshold;
static atomic_ullong trims, released, trim_us;
/* Resident bytes not in use right after the last trim; -1 before the first.
 * The trim thread's own. */
static long slack_after = -1;

static long rss_bytes(void)
{
    long pages = 0, size_pages;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &size_pages, &pages) != 2)
            pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

/* One look at the heap; trims when enough lies free and, after the first
 * trim, when that much more is resident without being in use. */
static void tick(void)
{
#if defined(__GLIBC__)
    struct mallinfo2 mi = mallinfo2();
    if (mi.fordblks < threshold)
        return;
    long in_use = (long)(mi.uordblks + mi.hblkhd);
    long before = rss_bytes();
    if (slack_after >= 0 && before - in_use - slack_after < (long)threshold)
        return;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    malloc_trim(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long after = rss_bytes();
    slack_after = after - in_use;
    atomic_fetch_add(&trims, 1);
    long long us = (long long)(t1.tv_sec - t0.tv_sec) * 1000000LL + (t1.tv_nsec - t0.tv_nsec) / 1000;
    atomic_fetch_add(&trim_us, (unsigned long long)(us > 0 ? us : 0));
    if (before > after)
        atomic_fetch_add(&released, (unsigned long long)(before - after));
#endif
}

static void *run(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "pk-heap-trim");
    (void)arg;
    pthread_mutex_lock(&mu);
    while (!stopping) {
        struct timespec until = pk_realtime_after_ms(period);
        int rc = 0;
        while (!stopping && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&cv, &mu, &until);
        if (stopping)
            break;
        pthread_mutex_unlock(&mu);
        (void)pk_results_pool_trim_idle(); /* batch arrays kept while ingest was busy */
        tick();
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int heap_trim_start(int period_ms, size_t free_bytes, char *err, size_t errlen)
{
    if (period_ms <= 0)
        return pk_fail(err, errlen, "heap trim period must be positive (got %d ms)", period_ms);
    pthread_mutex_lock(&mu);
    int already = running;
    if (!already) {
        period = period_ms;
        threshold = free_bytes;
        stopping = 0;
    }
    pthread_mutex_unlock(&mu);
    if (already)
        return 0;
#if defined(__GLIBC__)
    /* Free memory goes back on this timer, not at each free: glibc otherwise
     * trims an arena's top (or unmaps a block over its mmap threshold) as soon
     * as it is freed, and a report's row buffers (tens of MB, allocated and
     * freed once per report) were faulted in afresh every time: about a fifth
     * of a report's CPU (docs/PERFORMANCE.md, "Commands at scale"). Blocks up
     * to 32 MB (glibc's largest threshold) come from the arenas. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    int rc = pthread_create(&thread, NULL, run, NULL);
    if (rc != 0)
        return pk_fail(err, errlen, "cannot start the heap trim thread: %s", strerror(rc));
    pthread_mutex_lock(&mu);
    running = 1;
    pthread_mutex_unlock(&mu);
    return 0;
}

void heap_trim_stop(void)
{
    pthread_mutex_lock(&mu);
    int was = running;
    stopping = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    if (!was)
        return;
    pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    running = 0;
    pthread_mutex_unlock(&mu);
}

size_t heap_trim_metrics(char *buf, size_t size)
{
    if (size == 0)
        return 0;
    double in_use = 0, free_b = 0, mapped = 0;
#if defined(__GLIBC__)
    struct mallinfo2 mi = mallinfo2();
    in_use = (double)mi.uordblks;
    free_b = (double)mi.fordblks;
    mapped = (double)mi.hblkhd;
#endif
    int n = snprintf(buf, size,
                     "# HELP picket_collector_heap_bytes The malloc heap: bytes in use, free inside the heap, and "
                     "in separate mappings.\n"
                     "# TYPE picket_collector_heap_bytes gauge\n"
                     "picket_collector_heap_bytes{state=\"in_use\"} %.0f\n"
                     "picket_collector_heap_bytes{state=\"free\"} %.0f\n"
                     "picket_collector_heap_bytes{state=\"mapped\"} %.0f\n"
                     "# HELP picket_collector_heap_trims_total Times free heap pages were given back to the "
                     "kernel.\n"
                     "# TYPE picket_collector_heap_trims_total counter\n"
                     "picket_collector_heap_trims_total %llu\n"
                     "# HELP picket_collector_heap_released_bytes_total Resident bytes given back by those trims.\n"
                     "# TYPE picket_collector_heap_released_bytes_total counter\n"
                     "picket_collector_heap_released_bytes_total %llu\n"
                     "# HELP picket_collector_heap_trim_seconds_total Time spent in those trims (malloc locked).\n"
                     "# TYPE picket_collector_heap_trim_seconds_total counter\n"
                     "picket_collector_heap_trim_seconds_total %.6f\n",
                     in_use, free_b, mapped, (unsigned long long)atomic_load(&trims),
                     (unsigned long long)atomic_load(&released), (double)atomic_load(&trim_us) / 1e6);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}
