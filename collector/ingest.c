/* ingest.c: writer threads, the control thread and the upkeep thread behind ingest.h.
 * A probe's batches always go to the same writer, so they commit in sequence
 * order; a writer folds whatever is queued (up to group_results) into one
 * transaction, which is what makes ingest fast. A failed transaction is retried
 * with backoff until it commits or the collector stops: batches are only ever
 * acknowledged after commit, and never dropped while running. */
#include "ingest.h"
#include "incident_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "foreground.h"
#include "leader.h"
#include "result_pool.h"
#include "log.h"
#include "track_queue.h"

struct item {
    struct item *next;
    int64_t probe_id;
    struct pk_result *results;
    size_t n;
    ingest_done_fn done;
    void *ctx;
};

struct job {
    struct job *next;
    ingest_job_fn fn;
    void *ctx;
};

struct writer {
    struct ingest *in;
    int index;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct item *head, *tail;
    size_t queued;
};

struct ingest {
    char *conninfo;
    size_t queue_batches;
    size_t group_results;
    int retention_days, rollups_off, compact_interval_s, maintain_interval_s;
    int tracking_off;
    struct store_track_config track;
    struct track_queue *track_q; /* writers -> the tracker thread */
    atomic_int track_stop;       /* set once the writers are joined: drain, then exit */
    pthread_t tracker_thread;
    int n_writers;
    struct writer *writers;
    atomic_int stopping;
    atomic_int db_healthy;

    pthread_t control_thread;
    pthread_t upkeep_thread;
    pthread_mutex_t upkeep_mu;
    pthread_cond_t upkeep_cond;
    pthread_mutex_t job_mu;
    pthread_cond_t job_cond;
    struct job *job_head, *job_tail;
    size_t jobs_queued;

    pthread_mutex_t stats_mu;
    struct ingest_stats stats;
};

#define JOB_QUEUE_MAX 4096
/* Partial rollups of a minute are folded once the minute is this far behind
 * the clock, so late results within it land before the minute is compacted. */
#define COMPACT_BOUND_US (2 * INT64_C(60000000))
#define STOP_DEADLINE_S 10
/* Compaction starts once no query someone waits for has run for this long, waiting at most the second. */
#define COMPACT_QUIET_US INT64_C(500000)
#define COMPACT_YIELD_MAX_US INT64_C(10000000)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Opens a connection, retrying with backoff while running. NULL only when stopping. */
static struct store *connect_retrying(struct ingest *in, const char *who)
{
    int backoff_ms = 100;
    int logged = 0;
    while (!atomic_load(&in->stopping)) {
        char err[512];
        struct store *s = store_open(in->conninfo, err, sizeof err);
        if (s) {
            if (logged)
                PK_INFO("ingest", "database reachable again", "thread=%s", who);
            atomic_store(&in->db_healthy, 1);
            return s;
        }
        atomic_store(&in->db_healthy, 0);
        if (!logged) {
            char q[600];
            PK_WARN("ingest", "database unreachable; retrying", "thread=%s error=%s", who,
                    pk_log_q(q, sizeof q, err));
            logged = 1;
        }
        sleep_ms(backoff_ms);
        backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
    }
    return NULL;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void finish_items(struct item *list, int ok, struct store_batch *batches)
{
    size_t i = 0;
    for (struct item *it = list, *next; it; it = next, i++) {
        next = it->next;
        it->done(it->ctx, ok, ok ? batches[i].committed_seq : 0, ok ? batches[i].n_inserted : 0);
        pk_results_free(it->results, it->n);
        free(it);
    }
}

static void add_track_stats(struct ingest *in, const struct store_track_stats *ts)
{
    pthread_mutex_lock(&in->stats_mu);
    in->stats.track_checks_folded += ts->checks_folded;
    in->stats.track_rounds_folded += ts->rounds_folded;
    in->stats.track_errors += ts->errors;
    pthread_mutex_unlock(&in->stats_mu);
}

/* The tracker thread folds what a group committed (track_queue merges the
 * checks' spans while it is busy); a group that cannot be queued is folded by
 * its checks' next batches or the deadline pass. */
static void track_group(struct ingest *in, const struct store_batch *b, size_t n, const char *who)
{
    if (in->tracking_off)
        return;
    if (track_queue_add(in->track_q, b, n) < 0) {
        PK_WARN("ingest", "round tracking: out of memory queueing a group", "thread=%s", who);
        pthread_mutex_lock(&in->stats_mu);
        in->stats.track_errors++;
        pthread_mutex_unlock(&in->stats_mu);
    }
}

/* While results keep coming, folds start at most this often: the spans of the
 * groups committed meanwhile merge, so a busy stream costs one fold per check
 * per period instead of one per commit (a round still folds well within the
 * 2 s its incident may take to open). */
#define TRACK_COALESCE_US 250000

/* Sleeps what is left of the period since the last fold that had work. */
static void track_pace(int64_t last_fold_us)
{
    int64_t wait = last_fold_us + TRACK_COALESCE_US - now_us();
    if (last_fold_us <= 0 || wait <= 0)
        return;
    if (wait > TRACK_COALESCE_US)
        wait = TRACK_COALESCE_US;
    struct timespec ts = {0, (long)(wait * 1000)};
    nanosleep(&ts, NULL);
}

/* The tracker thread: folds the queued spans, and twice a second decides the
 * global rounds whose deadline passed (docs/ANALYTICS.md, "The tracker"). */
static void *tracker_main(void *arg)
{
    struct ingest *in = arg;
    (void)pthread_setname_np(pthread_self(), "pk-tracker"); /* for top -H and perf --sort comm */
    struct store *store = NULL;
    int64_t next_due = 0, last_fold = 0;
    for (;;) {
        int stopping = atomic_load(&in->track_stop);
        if (!stopping)
            track_pace(last_fold);
        struct store_track_span *spans = NULL;
        size_t n = track_queue_take(in->track_q, stopping ? 0 : 500, &spans);
        last_fold = n ? now_us() : 0;
        if (!store && (n || !stopping))
            store = connect_retrying(in, "tracker");
        char err[512], q[600];
        struct store_track_stats ts = {0};
        int failed = n && (!store || store_track_spans(store, spans, n, &in->track, now_us(), &ts, err,
                                                       sizeof err) < 0);
        if (failed && store)
            PK_WARN("ingest", "round tracking failed", "checks=%zu error=%s", n, pk_log_q(q, sizeof q, err));
        /* Without a database the spans go back in and are folded once it answers again. */
        int down = failed && (!store || store_ping(store) != 0);
        if (down && !stopping)
            (void)track_queue_put_back(in->track_q, spans, n);
        free(spans);
        track_queue_done(in->track_q);
        if (store && !down && now_us() >= next_due) {
            next_due = now_us() + 500000;
            if (store_track_due(store, &in->track, now_us(), &ts, err, sizeof err) < 0) {
                PK_WARN("ingest", "round deadline pass failed; will retry", "error=%s", pk_log_q(q, sizeof q, err));
                down = store_ping(store) != 0;
            }
            if (!down && incident_metrics_refresh(store, now_us(), err, sizeof err) < 0)
                PK_WARN("ingest", "incident counts for /metrics failed", "error=%s", pk_log_q(q, sizeof q, err));
        }
        add_track_stats(in, &ts);
        if (store && down) {
            store_close(store);
            store = NULL;
        }
        if (stopping && !n)
            break;
    }
    if (store)
        store_close(store);
    return NULL;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct ingest *in = w->in;
    char name[32];
    snprintf(name, sizeof name, "pk-writer-%d", w->index % 100);
    (void)pthread_setname_np(pthread_self(), name);
    snprintf(name, sizeof name, "writer-%d", w->index);
    struct store *store = NULL;
    struct store_batch *batches = NULL;
    size_t batches_cap = 0;
    time_t stop_deadline = 0;

    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (!w->head && !atomic_load(&in->stopping))
            pthread_cond_wait(&w->cond, &w->mu);
        if (!w->head) {
            pthread_mutex_unlock(&w->mu);
            break;
        }
        /* Take a group: whole batches, until group_results would be exceeded. */
        struct item *group = w->head, *last = w->head;
        size_t n_items = 1, n_results = group->n;
        while (last->next && n_results + last->next->n <= in->group_results) {
            last = last->next;
            n_items++;
            n_results += last->n;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->queued -= n_items;
        pthread_mutex_unlock(&w->mu);

        struct store_batch *nb = pk_grow(batches, &batches_cap, n_items, sizeof *nb, 0);
        if (!nb) {
            PK_ERROR("ingest", "out of memory; abandoning group", "thread=%s batches=%zu", name, n_items);
            finish_items(group, 0, NULL);
            continue;
        }
        batches = nb;
        size_t i = 0;
        for (struct item *it = group; it; it = it->next, i++) {
            batches[i] = (struct store_batch){.probe_id = it->probe_id, .results = it->results, .n_results = it->n};
        }

        int backoff_ms = 50;
        int data_failures = 0;
        for (;;) {
            if (!store) {
                store = connect_retrying(in, name);
                if (store)
                    store_set_rollups(store, !in->rollups_off);
            }
            if (store) {
                char err[512];
                if (store_write_batches(store, batches, n_items, err, sizeof err) == 0) {
                    atomic_store(&in->db_healthy, 1);
                    track_group(in, batches, n_items, name);
                    size_t inserted = 0;
                    for (size_t k = 0; k < n_items; k++)
                        inserted += batches[k].n_inserted;
                    pthread_mutex_lock(&in->stats_mu);
                    in->stats.transactions++;
                    in->stats.batches_committed += n_items;
                    in->stats.results_committed += inserted;
                    in->stats.results_duplicate += n_results - inserted;
                    pthread_mutex_unlock(&in->stats_mu);
                    finish_items(group, 1, batches);
                    group = NULL;
                    break;
                }
                char q[600];
                PK_WARN("ingest", "batch write failed; will retry", "thread=%s batches=%zu results=%zu error=%s",
                        name, n_items, n_results, pk_log_q(q, sizeof q, err));
                pthread_mutex_lock(&in->stats_mu);
                in->stats.write_errors++;
                pthread_mutex_unlock(&in->stats_mu);
                if (store_ping(store) != 0) {
                    atomic_store(&in->db_healthy, 0);
                    store_close(store);
                    store = NULL;
                } else if (++data_failures >= 3) {
                    /* The database answers but refuses this data: retrying cannot help, and
                     * holding the group would stall every probe of this writer. */
                    PK_ERROR("ingest", "database refuses this group; rejecting it", "thread=%s batches=%zu", name,
                             n_items);
                    break;
                }
            }
            if (atomic_load(&in->stopping)) {
                if (!stop_deadline)
                    stop_deadline = time(NULL) + STOP_DEADLINE_S;
                if (!store || time(NULL) >= stop_deadline)
                    break;
            }
            sleep_ms(backoff_ms);
            backoff_ms = backoff_ms * 2 > 2000 ? 2000 : backoff_ms * 2;
        }
        if (group) {
            PK_WARN("ingest", "batches not written; their probes will resend them", "thread=%s batches=%zu",
                    name, n_items);
            finish_items(group, 0, NULL);
        }
    }
    free(batches);
    if (store)
        store_close(store);
    return NULL;
}

/* Partitions ahead and retention (with the writers' round_cells), and rollup
 * compaction, each on its timer.
 * A failure is logged and retried at the next period. */
static void upkeep(struct ingest *in, struct store *store, time_t *next_maintain, time_t *next_compact)
{
    time_t now = time(NULL);
    char err[512], q[600];
    if (now >= *next_maintain) {
        int created = 0, dropped = 0;
        *next_maintain = now + in->maintain_interval_s;
        if (store_maintain_partitions(store, now_us(), STORE_PARTITIONS_AHEAD_DAYS, in->retention_days, &created,
                                      &dropped, err, sizeof err) < 0)
            PK_WARN("ingest", "partition upkeep failed; will retry", "error=%s", pk_log_q(q, sizeof q, err));
        else if (created || dropped)
            PK_INFO("ingest", "partitions maintained", "created=%d dropped=%d retention_days=%d", created, dropped,
                    in->retention_days);
        if (store_round_cells_prune(store, now_us(), err, sizeof err) < 0)
            PK_WARN("ingest", "round_cells upkeep failed; will retry", "error=%s", pk_log_q(q, sizeof q, err));
    }
    if (now >= *next_compact) {
        uint64_t folded = 0;
        /* Seconds at 1,000 checks when a day closes, a fraction of one
         * otherwise: after the queries someone waits for (foreground.c). */
        int64_t waited = pk_fg_wait_quiet(COMPACT_QUIET_US, COMPACT_YIELD_MAX_US, &in->stopping);
        now = time(NULL);
        *next_compact = now + in->compact_interval_s;
        int64_t at = now_us();
        int rc = store_rollup_compact(store, at, COMPACT_BOUND_US, &folded, err, sizeof err);
        double took = (double)(now_us() - at) / 1e6;
        if (rc < 0)
            PK_WARN("ingest", "rollup compaction failed; will retry", "error=%s", pk_log_q(q, sizeof q, err));
        else if (took >= 1.0) /* a day closing (its rows written once), a backlog after an outage */
            PK_INFO("ingest", "rollups compacted", "partial_rows=%llu seconds=%.3f", (unsigned long long)folded, took);
        else if (folded)
            PK_DEBUG("ingest", "rollups compacted", "partial_rows=%llu seconds=%.3f waited_ms=%.0f",
                     (unsigned long long)folded, took, (double)waited / 1000.0);
        /* The cutoff store_rollup_compact used: minutes before it are folded now. */
        const int64_t minute = INT64_C(60000000);
        int64_t until = at / minute * minute - COMPACT_BOUND_US / minute * minute;
        pthread_mutex_lock(&in->stats_mu);
        if (rc < 0)
            in->stats.rollup_compaction_errors++;
        else {
            in->stats.rollup_compactions++;
            in->stats.rollup_compaction_seconds += took;
            if (took > in->stats.rollup_compaction_max_seconds)
                in->stats.rollup_compaction_max_seconds = took;
            if (until > in->stats.rollup_compacted_until_us)
                in->stats.rollup_compacted_until_us = until;
        }
        pthread_mutex_unlock(&in->stats_mu);
    }
}

static void *control_main(void *arg)
{
    struct ingest *in = arg;
    (void)pthread_setname_np(pthread_self(), "pk-control");
    struct store *store = NULL;
    int backoff_s = 0;
    time_t next_ping = 0;
    for (;;) {
        pthread_mutex_lock(&in->job_mu);
        while (!in->job_head && !atomic_load(&in->stopping)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            if (pthread_cond_timedwait(&in->job_cond, &in->job_mu, &until) == ETIMEDOUT)
                break;
        }
        struct job *job = in->job_head;
        if (job) {
            in->job_head = job->next;
            if (!in->job_head)
                in->job_tail = NULL;
            in->jobs_queued--;
        }
        pthread_mutex_unlock(&in->job_mu);
        if (!job && atomic_load(&in->stopping))
            break;

        time_t now = time(NULL);
        if (!store && now >= next_ping) {
            char err[512];
            store = store_open(in->conninfo, err, sizeof err);
            if (!store) {
                atomic_store(&in->db_healthy, 0);
                backoff_s = backoff_s ? (backoff_s * 2 > 5 ? 5 : backoff_s * 2) : 1;
                next_ping = now + backoff_s;
            } else {
                backoff_s = 0;
            }
        } else if (store && now >= next_ping) {
            int ok = store_ping(store) == 0;
            atomic_store(&in->db_healthy, ok);
            next_ping = now + 1;
        }
        if (job) {
            job->fn(store, job->ctx);
            free(job);
        }
    }
    if (store)
        store_close(store);
    return NULL;
}

/* The leader's storage upkeep (partitions, retention, round_cells, compaction:
 * once per installation) on a thread and connection of its own. On the
 * control thread, a query or a probe's registration queued behind it waited
 * for it: the first report after a start waited 4 s for a retention pass,
 * and a day's close or a backlog after an outage takes seconds too. */
static void *upkeep_main(void *arg)
{
    struct ingest *in = arg;
    (void)pthread_setname_np(pthread_self(), "pk-upkeep");
    struct store *store = NULL;
    time_t next_maintain = 0, next_compact = 0, next_ping = 0;
    while (!atomic_load(&in->stopping)) {
        if (leader_holds()) {
            if (store && time(NULL) >= next_ping) { /* a connection lost meanwhile is opened again */
                next_ping = time(NULL) + 1;
                if (store_ping(store) < 0) {
                    store_close(store);
                    store = NULL;
                }
            }
            if (!store)
                store = connect_retrying(in, "upkeep");
            if (store && !atomic_load(&in->stopping))
                upkeep(in, store, &next_maintain, &next_compact);
        }
        pthread_mutex_lock(&in->upkeep_mu);
        if (!atomic_load(&in->stopping)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            (void)pthread_cond_timedwait(&in->upkeep_cond, &in->upkeep_mu, &until);
        }
        pthread_mutex_unlock(&in->upkeep_mu);
    }
    if (store)
        store_close(store);
    return NULL;
}

struct ingest *ingest_start(const struct ingest_config *cfg, char *err, size_t errlen)
{
    if (!cfg->conninfo || !cfg->conninfo[0]) {
        snprintf(err, errlen, "no database given (use --db or PICKET_DB_URL)");
        return NULL;
    }
    struct ingest *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    in->conninfo = strdup(cfg->conninfo);
    in->n_writers = cfg->writers > 0 ? cfg->writers : 2;
    in->queue_batches = cfg->queue_batches ? cfg->queue_batches : 64;
    in->group_results = cfg->group_results ? cfg->group_results : 20000;
    in->retention_days = cfg->retention_days > 0 ? cfg->retention_days : 90;
    in->rollups_off = cfg->rollups_off;
    in->tracking_off = cfg->tracking_off;
    in->track_q = in->tracking_off ? NULL : track_queue_new();
    if (!in->tracking_off && !in->track_q) {
        snprintf(err, errlen, "out of memory");
        free(in->conninfo);
        free(in);
        return NULL;
    }
    in->track = cfg->track;
    if (in->track.open_after < 1)
        in->track.open_after = 3;
    if (in->track.close_after < 1)
        in->track.close_after = 3;
    if (in->track.deadline_us <= 0)
        in->track.deadline_us = 5000000;
    in->compact_interval_s = cfg->compact_interval_s > 0 ? cfg->compact_interval_s : 30;
    in->maintain_interval_s = cfg->maintain_interval_s > 0 ? cfg->maintain_interval_s : 3600;
    atomic_init(&in->stopping, 0);
    atomic_init(&in->db_healthy, 0);
    atomic_init(&in->track_stop, 0);
    pthread_mutex_init(&in->job_mu, NULL);
    pthread_cond_init(&in->job_cond, NULL);
    pthread_mutex_init(&in->upkeep_mu, NULL);
    pthread_cond_init(&in->upkeep_cond, NULL);
    pthread_mutex_init(&in->stats_mu, NULL);
    in->writers = calloc((size_t)in->n_writers, sizeof *in->writers);
    if (!in->conninfo || !in->writers) {
        snprintf(err, errlen, "out of memory");
        free(in->conninfo);
        free(in->writers);
        free(in);
        return NULL;
    }
    /* Probe the database once so a bad URL is reported at start, not in a retry loop. */
    struct store *probe_conn = store_open(in->conninfo, err, errlen);
    if (probe_conn) {
        atomic_store(&in->db_healthy, 1);
        store_close(probe_conn);
    } else {
        char q[600];
        PK_WARN("ingest", "database unreachable at start; will keep trying", "error=%s", pk_log_q(q, sizeof q, err));
    }
    for (int i = 0; i < in->n_writers; i++) {
        struct writer *w = &in->writers[i];
        w->in = in;
        w->index = i;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cond, NULL);
        pthread_create(&w->thread, NULL, writer_main, w);
    }
    pthread_create(&in->control_thread, NULL, control_main, in);
    pthread_create(&in->upkeep_thread, NULL, upkeep_main, in);
    if (!in->tracking_off)
        pthread_create(&in->tracker_thread, NULL, tracker_main, in);
    return in;
}

int ingest_submit(struct ingest *in, int64_t probe_id, struct pk_result *results, size_t n, ingest_done_fn done,
                  void *ctx)
{
    struct item *it = calloc(1, sizeof *it);
    if (!it) {
        pk_results_free(results, n);
        done(ctx, 0, 0, 0);
        return 1;
    }
    it->probe_id = probe_id;
    it->results = results;
    it->n = n;
    it->done = done;
    it->ctx = ctx;
    struct writer *w = &in->writers[(uint64_t)probe_id % (uint64_t)in->n_writers];
    pthread_mutex_lock(&w->mu);
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->queued++;
    int full = w->queued >= in->queue_batches;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
    return full;
}

int ingest_job(struct ingest *in, ingest_job_fn fn, void *ctx)
{
    struct job *job = calloc(1, sizeof *job);
    if (!job)
        return -1;
    job->fn = fn;
    job->ctx = ctx;
    pthread_mutex_lock(&in->job_mu);
    if (in->jobs_queued >= JOB_QUEUE_MAX) {
        pthread_mutex_unlock(&in->job_mu);
        free(job);
        return -1;
    }
    if (in->job_tail)
        in->job_tail->next = job;
    else
        in->job_head = job;
    in->job_tail = job;
    in->jobs_queued++;
    pthread_cond_signal(&in->job_cond);
    pthread_mutex_unlock(&in->job_mu);
    return 0;
}

int ingest_db_healthy(const struct ingest *in) { return atomic_load(&((struct ingest *)in)->db_healthy); }

void ingest_get_stats(struct ingest *in, struct ingest_stats *out)
{
    pthread_mutex_lock(&in->stats_mu);
    *out = in->stats;
    pthread_mutex_unlock(&in->stats_mu);
    out->rollups_on = !in->rollups_off;
    out->tracking_on = !in->tracking_off;
    out->track_pending = in->tracking_off ? 0 : track_queue_size(in->track_q);
    out->queued_batches = 0;
    for (int i = 0; i < in->n_writers; i++) {
        pthread_mutex_lock(&in->writers[i].mu);
        out->queued_batches += in->writers[i].queued;
        pthread_mutex_unlock(&in->writers[i].mu);
    }
}

void ingest_request_stop(struct ingest *in) { atomic_store(&in->stopping, 1); }

void ingest_stop(struct ingest *in)
{
    if (!in)
        return;
    atomic_store(&in->stopping, 1);
    for (int i = 0; i < in->n_writers; i++) {
        pthread_mutex_lock(&in->writers[i].mu);
        pthread_cond_broadcast(&in->writers[i].cond);
        pthread_mutex_unlock(&in->writers[i].mu);
    }
    pthread_mutex_lock(&in->job_mu);
    pthread_cond_broadcast(&in->job_cond);
    pthread_mutex_unlock(&in->job_mu);
    pthread_mutex_lock(&in->upkeep_mu);
    pthread_cond_broadcast(&in->upkeep_cond);
    pthread_mutex_unlock(&in->upkeep_mu);
    for (int i = 0; i < in->n_writers; i++) {
        pthread_join(in->writers[i].thread, NULL);
        pthread_mutex_destroy(&in->writers[i].mu);
        pthread_cond_destroy(&in->writers[i].cond);
    }
    pthread_join(in->control_thread, NULL);
    pthread_join(in->upkeep_thread, NULL);
    if (!in->tracking_off) {
        atomic_store(&in->track_stop, 1);
        track_queue_wake(in->track_q);
        pthread_join(in->tracker_thread, NULL);
        track_queue_free(in->track_q);
    }
    pthread_mutex_destroy(&in->job_mu);
    pthread_cond_destroy(&in->job_cond);
    pthread_mutex_destroy(&in->upkeep_mu);
    pthread_cond_destroy(&in->upkeep_cond);
    pthread_mutex_destroy(&in->stats_mu);
    free(in->writers);
    free(in->conninfo);
    free(in);
}
