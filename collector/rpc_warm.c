/* rpc_warm.c: one report at start, to fill what every report reuses.
 *
 * A report over all checks judges each check against its baseline, learned
 * from 29 days of hourly summaries (rpc_baseline_filter's span). Reports keep
 * the summaries (rpc_baseline_cache.c) and the verdicts learned from them
 * (rpc_baseline.c) in memory, and after that read only the hours that changed
 * and learn again only when a check's inputs did, but the first report after
 * a start did all of it: at 1,000 checks about 350 ms of reads and 200 ms of
 * learning in an 800-900 ms first call. This thread runs the default report
 * (every check, the last 24 hours) once, right after the start, on a
 * connection of its own, and throws the answer away. A report that comes
 * while it runs does its own work, as before.
 *
 * Then the same report for each region, one after the other, each waiting
 * until no user's query has run for a moment: a region's baselines are the
 * region's own hourly rows (rpc_region_hours_read), about 700,000 at 1,000
 * checks over 29 days, which a first `picketctl report --region R` after a
 * start read in 1.3 s with the rows in the page cache and 5 s from disk (at
 * the default --timeout). Regions are filled only while the baseline cache
 * keeps room for them (half its bound: each region costs about what every
 * region's entries cost); a report for a region being filled waits for that
 * fill rather than reading the same rows again (rpc_baseline_cache.c).
 *
 * Before all that, the tables those reports read are read ahead into the
 * kernel's page cache (store_prefetch, --prefetch-mb): after a reboot the
 * reports' index scans read them one block at a time (a 30-day report at 1,000
 * checks took 1.0-2.1 s, 0.55 s with the pages cached; docs/PERFORMANCE.md,
 * "Read ahead at start"). */
#include "rpc_warm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "foreground.h"
#include "log.h"
#include "picket/v1/picket.pb-c.h"
#include "result.h"
#include "rpc_baseline_cache.h"
#include "rpc_query.h"
#include "store.h"

#define WARM_DEADLINE_US INT64_C(5000000)
/* A region's fill from disk may take longer than a command's default timeout;
 * a stop during one waits at most this. */
#define WARM_REGION_DEADLINE_US INT64_C(20000000)

/* After the default report, the other windows the dashboard shows (its 7
 * and 30-day uptimes) and operators ask for: a report's trend over 30 days
 * reads its hours (check_hour_days) and the closed days' rows, which the 24-hour
 * report does not, and a first 30-day report after a start took 1.5 s where a
 * second took 0.6 s (docs/PERFORMANCE.md). */
static const struct {
    int64_t span_us;
    const char *what;
} warm_spans[] = {
    {30 * INT64_C(86400000000), "one report, every check, 30 d"},
    {7 * INT64_C(86400000000), "one report, every check, 7 d"},
};

static pthread_t thread;
static int started;
static atomic_int stop;
static char *conninfo_copy;
static int64_t prefetch_bytes;

/* The reports' tables into the kernel's page cache (store_prefetch), logged. */
static void prefetch(struct store *st)
{
    char err[512];
    struct store_prefetch_stats ps;
    int64_t t0 = pk_now_us();
    if (prefetch_bytes <= 0)
        return;
    if (store_prefetch(st, prefetch_bytes, &ps, err, sizeof err) < 0)
        PK_INFO("collector", "tables not read ahead", "reason=\"%s\"", err);
    else if (!ps.installed)
        PK_INFO("collector", "tables not read ahead",
                "reason=\"no pg_prewarm in the database (picket-collector migrate installs it when its role may)\"");
    else {
        char q[600];
        PK_INFO("collector", "tables read ahead",
                "relations=%d mb=%.1f skipped=%d skipped_mb=%.1f failed=%d ms=%.0f last_refusal=%s", ps.relations,
                (double)ps.bytes / 1048576.0, ps.skipped, (double)ps.skipped_bytes / 1048576.0, ps.failed,
                (double)(pk_now_us() - t0) / 1000.0, pk_log_q(q, sizeof q, ps.failed ? err : ""));
    }
}

/* One report over [until - span_us, until) (span 0: the default 24 hours)
 * for region (NULL: every region), bounded by deadline_us; the answer thrown
 * away. Logged with what: 0, or -1. */
static int warm_one(struct store *st, int64_t until, int64_t span_us, const char *region, int64_t deadline_us,
                    const char *what)
{
    char err[512];
    int64_t t0 = pk_now_us();
    if (atomic_load(&stop) || store_set_deadline(st, t0 + deadline_us, err, sizeof err) < 0)
        return -1;
    Picket__V1__QueryWindow w = PICKET__V1__QUERY_WINDOW__INIT;
    w.until_us = until;
    w.since_us = span_us ? until - span_us : 0;
    w.region = (char *)region;
    Picket__V1__ReportRequest rr = PICKET__V1__REPORT_REQUEST__INIT;
    rr.window = &w;
    ProtobufCMessage *resp = NULL;
    struct rpc_query_arena *arena = NULL;
    int rc = rpc_query_run(st, RQ_REPORT, &rr.base, t0, &resp, &arena, err, sizeof err);
    if (rc < 0)
        PK_INFO("collector", "caches not filled at start", "by=\"%s\" region=\"%s\" reason=\"%s\"", what,
                region ? region : "", err);
    else
        PK_INFO("collector", "caches filled", "by=\"%s\" region=\"%s\" ms=%.0f", what, region ? region : "",
                (double)(pk_now_us() - t0) / 1000.0);
    rpc_query_arena_free(arena);
    return rc;
}

/* One report for each region (the window of the first report), while the
 * baseline cache has room for another region's entries. */
static void warm_regions(struct store *st, int64_t until)
{
    char err[512], **regions = NULL;
    size_t n = 0, bytes, entries;
    uint64_t evicted;
    if (store_region_names(st, &regions, &n, err, sizeof err) < 0) {
        PK_INFO("collector", "regions' caches not filled at start", "reason=\"%s\"", err);
        return;
    }
    rpc_baseline_cache_size(&bytes, &entries, &evicted);
    const size_t per_region = bytes; /* every region's entries: about one region's too */
    for (size_t i = 0; i < n && per_region > 0 && !atomic_load(&stop); i++) {
        rpc_baseline_cache_size(&bytes, &entries, &evicted);
        if (bytes + per_region > rpc_baseline_cache_limit() / 2) {
            PK_INFO("collector", "regions' caches not all filled at start", "filled=%zu regions=%zu "
                    "reason=\"the baseline cache's bound (--baseline-cache-mb) leaves no room\"", i, n);
            break;
        }
        pk_fg_wait_quiet(200000, 10000000, &stop); /* users' queries first */
        if (warm_one(st, until, 0, regions[i], WARM_REGION_DEADLINE_US, "one report, every check, 24 h") < 0 &&
            atomic_load(&stop))
            break;
    }
    free(regions);
}

static void *warm_main(void *arg)
{
    (void)arg;
    (void)pthread_setname_np(pthread_self(), "pk-warm");
    char err[512];
    int64_t t0 = pk_now_us();
    struct store *st = store_open(conninfo_copy, err, sizeof err);
    if (!st) {
        PK_INFO("collector", "caches not filled at start", "reason=\"%s\"", err);
        return NULL;
    }
    prefetch(st);
    /* each bounded like a command with the default --timeout: a stop waits at most that */
    warm_one(st, t0, 0, NULL, WARM_DEADLINE_US, "one report, every check, 24 h");
    /* the dashboard's and operators' other windows: their trends' hours */
    for (size_t k = 0; k < sizeof warm_spans / sizeof warm_spans[0] && !atomic_load(&stop); k++) {
        pk_fg_wait_quiet(200000, 10000000, &stop);
        warm_one(st, pk_now_us(), warm_spans[k].span_us, NULL, WARM_DEADLINE_US, warm_spans[k].what);
    }
    warm_regions(st, t0);
    store_close(st);
    return NULL;
}

void rpc_warm_start(const char *conninfo, int64_t prefetch_limit_bytes)
{
    if (started || !(conninfo_copy = strdup(conninfo ? conninfo : "")))
        return;
    atomic_store(&stop, 0);
    prefetch_bytes = prefetch_limit_bytes;
    started = pthread_create(&thread, NULL, warm_main, NULL) == 0;
    if (!started) {
        free(conninfo_copy);
        conninfo_copy = NULL;
    }
}

void rpc_warm_stop(void)
{
    if (!started)
        return;
    atomic_store(&stop, 1);
    pthread_join(thread, NULL);
    started = 0;
    free(conninfo_copy);
    conninfo_copy = NULL;
}
