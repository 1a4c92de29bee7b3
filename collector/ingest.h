/* ingest.h: the collector's database side. Writer threads, each with its own
 * PostgreSQL connection and its own bounded queue, store result batches; a control
 * thread runs short database jobs (register, status queries, heartbeats) and
 * watches database health. Nothing here knows about gRPC: callers hand in plain
 * callbacks, which run on the ingest threads. */
#ifndef PK_INGEST_H
#define PK_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct ingest;

struct ingest_config {
    const char *conninfo;
    int writers;               /* writer threads, default 2 */
    size_t queue_batches;      /* batches queued per writer before "full", default 64 */
    size_t group_results;      /* most results folded into one transaction, default 20000 */
    /* Storage upkeep on its own thread (docs/ANALYTICS.md "Storage and rollups"). */
    int retention_days;        /* raw partitions and minute rollups older are dropped; default 90 */
    int rollups_off;           /* 1: writers store no partial rollups (benchmarks) */
    int compact_interval_s;    /* rollup compaction period, default 30 */
    int maintain_interval_s;   /* partition upkeep period, default 3600 (and once at start) */
    /* Round states and incidents as results arrive (docs/ANALYTICS.md, "The tracker"). */
    int tracking_off;               /* 1: no tracking (benchmarks) */
    struct store_track_config track; /* N, M 0 -> 3; quorum 0 -> a majority; deadline 0 -> 5 s */
};

/* Called on a writer thread once the batch is committed (ok=1) or abandoned at
 * shutdown (ok=0). committed_seq is the probe's stored high-water mark. */
typedef void (*ingest_done_fn)(void *ctx, int ok, uint64_t committed_seq, size_t n_inserted);

/* Called on the control thread. store is NULL when the database is unreachable:
 * the job must still answer its caller. */
typedef void (*ingest_job_fn)(struct store *store, void *ctx);

/* Starts the threads; each opens its connection (and retries in the background if
 * the database is down). NULL + err when the config is unusable. */
struct ingest *ingest_start(const struct ingest_config *cfg, char *err, size_t errlen);

/* Queues a batch for the writer that owns probe_id (so a probe's batches commit in
 * order). Takes ownership of `results` (from pk_results_alloc(n), result_pool.h).
 * Never blocks. Returns 0 when there is room for more, 1 when the writer's queue
 * is at or over its bound: the caller must stop reading from its stream until one
 * of its batches is done. */
int ingest_submit(struct ingest *in, int64_t probe_id, struct pk_result *results, size_t n, ingest_done_fn done,
                  void *ctx);

/* Queues a control job. -1 when the control queue is full (caller answers busy). */
int ingest_job(struct ingest *in, ingest_job_fn fn, void *ctx);

/* 1 when the last database contact succeeded. Cheap; any thread. */
int ingest_db_healthy(const struct ingest *in);

struct ingest_stats {
    uint64_t batches_committed;
    uint64_t results_committed;
    uint64_t results_duplicate;
    uint64_t transactions;
    uint64_t write_errors;
    size_t queued_batches;
    /* Rollup compaction by this process (upkeep thread); for /metrics. */
    int rollups_on;
    int64_t rollup_compacted_until_us; /* every partial row before it is folded; 0: not yet */
    uint64_t rollup_compactions, rollup_compaction_errors;
    double rollup_compaction_seconds, rollup_compaction_max_seconds; /* committed rounds: total, longest */
    /* The tracker (writers after commit, and the deadline pass). */
    int tracking_on;
    uint64_t track_checks_folded, track_rounds_folded, track_errors;
    size_t track_pending; /* checks queued or being folded: 0 when the tracker has caught up */
};
void ingest_get_stats(struct ingest *in, struct ingest_stats *out);

/* Tells the threads the collector is stopping: a write that keeps failing is
 * given up after a deadline instead of retried forever. Returns at once. */
void ingest_request_stop(struct ingest *in);

/* Finishes what is queued (bounded by a deadline: batches still unwritten then
 * are handed back with ok=0), runs pending jobs, joins the threads, frees. */
void ingest_stop(struct ingest *in);

#endif
