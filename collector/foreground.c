/* foreground.c: queries someone waits for go first.
 *
 * On a small machine a command's answer and the dashboard's background passes
 * share the same cores, in the collector and in PostgreSQL: a 30-day overview
 * asked for while the dashboard computes every check's 7- and 30-day uptimes
 * took twice its time (docs/PERFORMANCE.md). Callers a user waits for mark
 * their query with pk_fg_enter/pk_fg_leave; background work that can wait
 * (the dashboard's refresh passes) calls pk_fg_wait_quiet before a costly part
 * and starts it only once no such query has run for a while, bounded so that
 * it is never starved: what it computes is late at most by max_us.
 *
 * One process-wide gauge: the collector's query paths (gRPC and HTTP) are one
 * set of cores and one database whatever listener a query came in on. */
#include "foreground.h"

#include <pthread.h>
#include <time.h>

#include "result.h"

/* A waiter looks at its stop flag at least this often. */
#define STOP_POLL_US INT64_C(100000)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t quiet_cond;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int running;
static uint64_t started;
static int64_t last_end_us; /* monotonic; 0: none yet */

static void init_cond(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&quiet_cond, &a);
    pthread_condattr_destroy(&a);
}

void pk_fg_enter(void)
{
    pthread_once(&once, init_cond);
    pthread_mutex_lock(&mu);
    running++;
    started++;
    pthread_mutex_unlock(&mu);
}

void pk_fg_leave(void)
{
    pthread_once(&once, init_cond);
    pthread_mutex_lock(&mu);
    if (running > 0)
        running--;
    last_end_us = pk_mono_us();
    pthread_cond_broadcast(&quiet_cond);
    pthread_mutex_unlock(&mu);
}

/* No foreground query runs and none ended in the last quiet_us. mu held. */
static int quiet_locked(int64_t now, int64_t quiet_us)
{
    return !running && (!last_end_us || now - last_end_us >= quiet_us);
}

int64_t pk_fg_wait_quiet(int64_t quiet_us, int64_t max_us, const atomic_int *stop)
{
    pthread_once(&once, init_cond);
    int64_t t0 = pk_mono_us();
    pthread_mutex_lock(&mu);
    for (;;) {
        int64_t now = pk_mono_us();
        if ((stop && atomic_load(stop)) || now - t0 >= max_us)
            break;
        if (quiet_locked(now, quiet_us))
            break;
        int64_t until = now + STOP_POLL_US;
        if (!running && last_end_us + quiet_us < until)
            until = last_end_us + quiet_us;
        if (t0 + max_us < until)
            until = t0 + max_us;
        struct timespec ts = {(time_t)(until / 1000000), (long)(until % 1000000) * 1000};
        pthread_cond_timedwait(&quiet_cond, &mu, &ts);
    }
    pthread_mutex_unlock(&mu);
    return pk_mono_us() - t0;
}

int pk_fg_quiet(int64_t quiet_us)
{
    pthread_mutex_lock(&mu);
    int quiet = quiet_locked(pk_mono_us(), quiet_us);
    pthread_mutex_unlock(&mu);
    return quiet;
}

int pk_fg_running(void)
{
    pthread_mutex_lock(&mu);
    int n = running;
    pthread_mutex_unlock(&mu);
    return n;
}

uint64_t pk_fg_started(void)
{
    pthread_mutex_lock(&mu);
    uint64_t n = started;
    pthread_mutex_unlock(&mu);
    return n;
}
