/* leader.c: the election behind leader.h. One thread with one database
 * connection used for nothing else: once a second it either tries to take the
 * leader lock (pg_try_advisory_lock, never waits) or, while it leads, checks
 * that its session still holds it. A failed check or a broken connection is a
 * loss of leadership at once (the work stops before another collector can have
 * taken over, since PostgreSQL frees the lock only when the session ends); the
 * connection is then reopened and the thread competes again. Leadership is a
 * flag the control and alert threads read before each round of work. */
#include "leader.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "result.h"
#include "store.h"

#define POLL_MS 1000
#define RECONNECT_MS 2000

static struct {
    atomic_int started, leader, stopping;
    atomic_ullong became, lost;
    char *conninfo;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
} el = {.mu = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

/* Sleeps ms, or less when stopping. */
static void pause_ms(int ms)
{
    struct timespec until = pk_realtime_after_ms(ms);
    pthread_mutex_lock(&el.mu);
    while (!atomic_load(&el.stopping))
        if (pthread_cond_timedwait(&el.cond, &el.mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&el.mu);
}

static void set_leader(int on, const char *why)
{
    if (atomic_exchange(&el.leader, on) == on)
        return;
    if (on) {
        atomic_fetch_add(&el.became, 1);
        PK_INFO("leader", "this collector is the leader", "runs=partitions,retention,compaction,alerts");
    } else {
        atomic_fetch_add(&el.lost, 1);
        PK_WARN("leader", "leadership lost", "reason=%s", why);
    }
}

/* One round on the connection: take the lock or check it is still ours. -1 when
 * the connection is no good. */
static int round_on(struct store *s)
{
    char err[512], q[600];
    int rc = atomic_load(&el.leader) ? store_leader_held(s, err, sizeof err) : store_leader_try(s, err, sizeof err);
    if (rc < 0) {
        PK_WARN("leader", "leader lock query failed", "error=%s", pk_log_q(q, sizeof q, err));
        return -1;
    }
    if (rc == 0 && atomic_load(&el.leader)) {
        set_leader(0, "lock_not_held");
        return -1; /* start over on a fresh session */
    }
    if (rc == 1)
        set_leader(1, NULL);
    return 0;
}

static void *leader_main(void *arg)
{
    (void)pthread_setname_np(pthread_self(), "pk-leader");
    (void)arg;
    struct store *s = NULL;
    int logged = 0;
    while (!atomic_load(&el.stopping)) {
        if (!s) {
            char err[512], q[600];
            s = store_open(el.conninfo, err, sizeof err);
            if (!s) {
                if (!logged++)
                    PK_WARN("leader", "database unreachable; retrying", "error=%s", pk_log_q(q, sizeof q, err));
                pause_ms(RECONNECT_MS);
                continue;
            }
            logged = 0;
        }
        if (round_on(s) < 0) {
            set_leader(0, "connection_lost");
            store_close(s);
            s = NULL;
            continue;
        }
        pause_ms(POLL_MS);
    }
    set_leader(0, "stopping");
    if (s)
        store_close(s); /* ends the session: the lock is free for the others */
    return NULL;
}

int leader_start(const char *conninfo, char *err, size_t errlen)
{
    if (atomic_load(&el.started)) {
        snprintf(err, errlen, "leader election already started in this process");
        return -1;
    }
    el.conninfo = strdup(conninfo);
    if (!el.conninfo) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    atomic_store(&el.stopping, 0);
    atomic_store(&el.leader, 0);
    atomic_store(&el.started, 1);
    if (pthread_create(&el.thread, NULL, leader_main, NULL) != 0) {
        atomic_store(&el.started, 0);
        free(el.conninfo);
        el.conninfo = NULL;
        snprintf(err, errlen, "cannot start the leader election thread");
        return -1;
    }
    return 0;
}

void leader_stop(void)
{
    if (!atomic_load(&el.started))
        return;
    pthread_mutex_lock(&el.mu);
    atomic_store(&el.stopping, 1);
    pthread_cond_broadcast(&el.cond);
    pthread_mutex_unlock(&el.mu);
    pthread_join(el.thread, NULL);
    free(el.conninfo);
    el.conninfo = NULL;
}

int leader_holds(void)
{
    if (!atomic_load(&el.started))
        return 1;
    return atomic_load(&el.leader) && !atomic_load(&el.stopping);
}

void leader_get_stats(struct leader_stats *out)
{
    out->electing = atomic_load(&el.started);
    out->leader = leader_holds();
    out->became_leader = atomic_load(&el.became);
    out->lost = atomic_load(&el.lost);
}
