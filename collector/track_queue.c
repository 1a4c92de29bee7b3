/* track_queue.c: the spans behind track_queue.h: an array of (check name, first
 * and last round time) with an open-addressing index by name (fnv1a), both
 * swapped out whole by the tracker thread. Writers only hold the mutex for the
 * merge of one group. */
#include "track_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "result.h"

struct track_queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct store_track_span *spans;
    size_t n, cap;
    size_t *index; /* slot -> span + 1; 0 empty */
    size_t busy;   /* spans taken and not yet done */
    size_t index_cap;
};

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

struct track_queue *track_queue_new(void)
{
    struct track_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cond, NULL);
    return q;
}

void track_queue_free(struct track_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cond);
    free(q->spans);
    free(q->index);
    free(q);
}

static int reindex(struct track_queue *q, size_t cap)
{
    size_t *ix = calloc(cap, sizeof *ix);
    if (!ix)
        return -1;
    for (size_t i = 0; i < q->n; i++) {
        size_t s = (size_t)hash_name(q->spans[i].check) & (cap - 1);
        while (ix[s])
            s = (s + 1) & (cap - 1);
        ix[s] = i + 1;
    }
    free(q->index);
    q->index = ix;
    q->index_cap = cap;
    return 0;
}

/* Merges one result's check and time; -1 out of memory. */
static int merge(struct track_queue *q, const char *check, int64_t t)
{
    if ((q->n + 1) * 2 > q->index_cap && reindex(q, q->index_cap ? q->index_cap * 2 : 64) < 0)
        return -1;
    size_t s = (size_t)hash_name(check) & (q->index_cap - 1);
    while (q->index[s]) {
        struct store_track_span *sp = &q->spans[q->index[s] - 1];
        if (strcmp(sp->check, check) == 0) {
            sp->t_min = t < sp->t_min ? t : sp->t_min;
            sp->t_max = t > sp->t_max ? t : sp->t_max;
            return 0;
        }
        s = (s + 1) & (q->index_cap - 1);
    }
    struct store_track_span *v = pk_grow(q->spans, &q->cap, q->n + 1, sizeof *v, 0);
    if (!v)
        return -1;
    q->spans = v;
    struct store_track_span *sp = &v[q->n++];
    pk_strlcpy(sp->check, check, sizeof sp->check);
    sp->t_min = sp->t_max = t;
    q->index[s] = q->n;
    return 0;
}

int track_queue_add(struct track_queue *q, const struct store_batch *b, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < n && rc == 0; i++)
        for (size_t k = 0; k < b[i].n_results && rc == 0; k++) {
            const struct pk_result *r = &b[i].results[k];
            rc = merge(q, r->check_name, r->scheduled_at_us > 0 ? r->scheduled_at_us : r->started_at_us);
        }
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

size_t track_queue_take(struct track_queue *q, int wait_ms, struct store_track_span **out)
{
    pthread_mutex_lock(&q->mu);
    if (!q->n && wait_ms > 0) {
        struct timespec until = pk_realtime_after_ms(wait_ms);
        pthread_cond_timedwait(&q->cond, &q->mu, &until);
    }
    size_t n = q->n;
    q->busy = n;
    *out = n ? q->spans : NULL;
    if (n) {
        q->spans = NULL;
        q->n = q->cap = 0;
        memset(q->index, 0, q->index_cap * sizeof *q->index);
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

void track_queue_wake(struct track_queue *q)
{
    pthread_mutex_lock(&q->mu);
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mu);
}

size_t track_queue_size(struct track_queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n + q->busy;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void track_queue_done(struct track_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->busy = 0;
    pthread_mutex_unlock(&q->mu);
}

int track_queue_put_back(struct track_queue *q, const struct store_track_span *spans, size_t n)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = merge(q, spans[i].check, spans[i].t_min);
        if (rc == 0)
            rc = merge(q, spans[i].check, spans[i].t_max);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}
