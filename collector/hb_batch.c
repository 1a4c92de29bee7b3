/* hb_batch.c: heartbeats buffered and stored in one statement per control job
 * (hb_batch.h). The buffer is an array of (probe id, figures) with an open
 * addressing index by probe id, so a probe that beats twice before the flush
 * overwrites its own entry; the flush job swaps the whole buffer out under the
 * mutex and runs the UPDATE without it. At most one flush job is queued. */
#include "hb_batch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

#define MAX_BATCH 65536 /* entries; past this a heartbeat waits for the next flush (dropped) */

struct batch {
    int64_t *ids;
    struct store_heartbeat *hbs;
    size_t n, cap;
    int32_t *index; /* open addressing: slot -> entry + 1, 0 empty; index_cap a power of two */
    size_t index_cap;
};

static struct {
    pthread_mutex_t mu;
    struct batch cur;
    int job_queued;
    atomic_ullong stored, statements;
} hb = {.mu = PTHREAD_MUTEX_INITIALIZER};

static size_t slot_of(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & (cap - 1);
}

static void batch_free(struct batch *b)
{
    free(b->ids);
    free(b->hbs);
    free(b->index);
    memset(b, 0, sizeof *b);
}

/* Rebuilds the index at twice the entries' capacity. -1 when out of memory. */
static int reindex(struct batch *b, size_t cap)
{
    int32_t *idx = calloc(cap, sizeof *idx);
    if (!idx)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        size_t k = slot_of(b->ids[i], cap);
        while (idx[k])
            k = (k + 1) & (cap - 1);
        idx[k] = (int32_t)i + 1;
    }
    free(b->index);
    b->index = idx;
    b->index_cap = cap;
    return 0;
}

/* Adds or overwrites probe_id's entry; mu held. -1 when full or out of memory. */
static int batch_put(struct batch *b, int64_t probe_id, const struct store_heartbeat *h)
{
    if (b->index_cap == 0 && reindex(b, 256) < 0)
        return -1;
    size_t k = slot_of(probe_id, b->index_cap);
    for (; b->index[k]; k = (k + 1) & (b->index_cap - 1)) {
        size_t i = (size_t)b->index[k] - 1;
        if (b->ids[i] == probe_id) {
            b->hbs[i] = *h;
            return 0;
        }
    }
    if (b->n >= MAX_BATCH)
        return -1;
    if (b->n + 1 > b->cap) {
        size_t cap = b->cap;
        int64_t *ids = pk_grow(b->ids, &cap, b->n + 1, sizeof *ids, MAX_BATCH);
        if (!ids)
            return -1;
        b->ids = ids;
        size_t cap2 = b->cap;
        struct store_heartbeat *hbs = pk_grow(b->hbs, &cap2, b->n + 1, sizeof *hbs, MAX_BATCH);
        if (!hbs)
            return -1;
        b->hbs = hbs;
        b->cap = cap < cap2 ? cap : cap2;
    }
    b->ids[b->n] = probe_id;
    b->hbs[b->n] = *h;
    b->index[k] = (int32_t)b->n + 1;
    b->n++;
    if (b->n * 2 > b->index_cap && reindex(b, b->index_cap * 2) < 0) {
        b->n--; /* keep the index's load under half */
        b->index[k] = 0;
        return -1;
    }
    return 0;
}

static void flush_job(struct store *store, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&hb.mu);
    struct batch b = hb.cur;
    memset(&hb.cur, 0, sizeof hb.cur);
    hb.job_queued = 0;
    pthread_mutex_unlock(&hb.mu);
    if (store && b.n) {
        char err[256], q[300];
        if (store_probe_heartbeats(store, b.ids, b.hbs, b.n, err, sizeof err) < 0)
            PK_DEBUG("rpc", "heartbeats not stored", "probes=%zu error=%s", b.n, pk_log_q(q, sizeof q, err));
        else {
            atomic_fetch_add(&hb.stored, b.n);
            atomic_fetch_add(&hb.statements, 1);
        }
    }
    batch_free(&b);
}

void hb_batch_add(struct ingest *in, int64_t probe_id, const struct store_heartbeat *h)
{
    pthread_mutex_lock(&hb.mu);
    int queue = 0;
    if (batch_put(&hb.cur, probe_id, h) == 0 && !hb.job_queued) {
        hb.job_queued = 1;
        queue = 1;
    }
    pthread_mutex_unlock(&hb.mu);
    if (queue && ingest_job(in, flush_job, NULL) < 0) {
        pthread_mutex_lock(&hb.mu);
        hb.job_queued = 0; /* the next heartbeat tries again */
        pthread_mutex_unlock(&hb.mu);
    }
}

void hb_batch_stats(uint64_t *heartbeats, uint64_t *statements)
{
    *heartbeats = atomic_load(&hb.stored);
    *statements = atomic_load(&hb.statements);
}
