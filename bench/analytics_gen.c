/* analytics_gen.c: picket-bench-analytics, the data generator and timed query of
 * bench/run_analytics_scale (docs/PERFORMANCE.md). `generate` stores synthetic results
 * (CHECKS checks x one probe per region, one result per check per probe per
 * minute, DAYS days ending at a UTC midnight) through store_write_batches, the
 * collector's own ingest code, so raw rows AND partial rollups are exactly what
 * the collector would write, then folds them with store_rollup_compact.
 * `query` times store_rollup_query over the window (per check, all regions) and
 * prints one line per check: name, results, ok, p95 of total_us. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollup.h"
#include "rounds.h"
#include "store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: picket-bench-analytics generate --db URL --checks N --regions R --days D --end-us T "
               "[--every-minutes M]\n"
               "       picket-bench-analytics query --db URL --since-us T --until-us T [--repeat K]\n"
               "       picket-bench-analytics compact --db URL\n"
               "generate stores one result per check per probe (one per region) per minute (every M\n"
               "minutes, M dividing 60: the checks' interval) for D days\n"
               "ending at T (a UTC midnight, in microseconds) through the collector's store code,\n"
               "then compacts the rollups. query times store_rollup_query per check over [since, until)\n"
               "(K runs; prints the fastest and the median) and prints: check results ok p95_us.\n"
               "compact folds every partial rollup (store_rollup_compact, as the collector's control\n"
               "thread does, with no lateness bound) and prints: entries=N seconds=S entries_per_sec=R.\n");
}

static int generate(struct store *s, int checks, int regions, int days, int64_t end_us, int every)
{
    char err[1024];
    int64_t start_us = end_us - (int64_t)days * ROLLUP_DAY_US;
    int created = 0;
    if (store_make_partitions(s, start_us, end_us, &created, err, sizeof err) < 0) {
        fprintf(stderr, "picket-bench-analytics: %s\n", err);
        return 1;
    }
    int64_t *probe_ids = calloc((size_t)regions, sizeof *probe_ids);
    uint64_t *seqs = calloc((size_t)regions, sizeof *seqs);
    /* Whole hours of results per transaction, about 60,000 results each (one
     * hour at 1,000 checks, six at 100 checks and one region): small checks
     * counts would otherwise pay a transaction, a tracker fold and a COPY start
     * per few thousand results. Hours divide a day, so compaction stays daily. */
    size_t per_hour = (size_t)checks * (size_t)(60 / every); /* results of one probe in one hour */
    int hours = (int)(60000 / (per_hour * (size_t)regions));
    hours = hours < 1 ? 1 : hours > 24 ? 24 : hours;
    while (24 % hours)
        hours--;
    size_t per_probe = per_hour * (size_t)hours;
    struct pk_result *rs = calloc(per_probe * (size_t)regions, sizeof *rs);
    struct store_batch *batches = calloc((size_t)regions, sizeof *batches);
    if (!probe_ids || !seqs || !rs || !batches) {
        fprintf(stderr, "picket-bench-analytics: out of memory\n");
        return 1;
    }
    for (int p = 0; p < regions; p++) {
        char name[64], region[64];
        snprintf(name, sizeof name, "scale-probe-%d", p);
        snprintf(region, sizeof region, "region-%d", p);
        struct store_probe_info info = {name, region, NULL, 0, "bench"};
        if (store_upsert_probe(s, &info, &probe_ids[p], &seqs[p], err, sizeof err) < 0) {
            fprintf(stderr, "picket-bench-analytics: %s\n", err);
            return 1;
        }
    }
    /* Every check registered at its interval, as a probe's Register does, so the tracker
     * keeps its rounds and incidents as the collector would. */
    char(*names)[32] = calloc((size_t)checks, sizeof *names);
    struct store_check_info *infos = calloc((size_t)checks, sizeof *infos);
    if (!names || !infos) {
        fprintf(stderr, "picket-bench-analytics: out of memory\n");
        return 1;
    }
    for (int c = 0; c < checks; c++) {
        snprintf(names[c], sizeof names[c], "scale-check-%04d", c);
        infos[c] = (struct store_check_info){.name = names[c], .type = "http", .target = "http://127.0.0.1/",
                                             .interval_ms = every * 60000, .service = ""};
    }
    for (int p = 0; p < regions; p++)
        if (store_set_probe_checks(s, probe_ids[p], infos, (size_t)checks, err, sizeof err) < 0) {
            fprintf(stderr, "picket-bench-analytics: %s\n", err);
            return 1;
        }
    const struct store_track_config track = {3, 3, 0, 0};
    struct store_track_stats track_stats = {0};
    double t0 = now_s(), compact_s = 0;
    uint64_t stored = 0, folded_total = 0;
    for (int64_t hour = start_us; hour < end_us; hour += hours * ROLLUP_HOUR_US) {
        for (int p = 0; p < regions; p++) {
            struct pk_result *base = rs + (size_t)p * per_probe;
            size_t k = 0;
            for (int m = 0; m < 60 * hours; m += every)
                for (int c = 0; c < checks; c++, k++) {
                    struct pk_result *r = &base[k];
                    memset(r, 0, sizeof *r);
                    r->seq = ++seqs[p];
                    snprintf(r->check_name, sizeof r->check_name, "scale-check-%04d", c);
                    memcpy(r->check_type, "http", 5);
                    int64_t t = hour + m * ROLLUP_MINUTE_US;
                    /* the check's round on its own grid (the probe's spread), started up to 50 ms later */
                    r->scheduled_at_us = t + pk_round_spread_us(names[c], every * 60000);
                    r->started_at_us = r->scheduled_at_us + (int64_t)(mix((uint64_t)c * 7919u + (uint64_t)p) % 50000);
                    uint64_t h = mix((uint64_t)t ^ ((uint64_t)c << 20) ^ ((uint64_t)p << 40));
                    /* each check has its own median (20..220 ms) and region offset; a
                     * lognormal-like spread; 0.5% failed (half without latency), 1% degraded */
                    double median_ms = 20.0 + (double)(mix((uint64_t)c) % 200) + 15.0 * p;
                    double u = (double)(h % 1000000) / 1e6;
                    double z = (u - 0.5) * 3.0 + ((h >> 20) % 1000 < 20 ? 2.5 : 0.0);
                    r->total_us = (int64_t)(median_ms * 1000.0 * exp(0.5 * z));
                    uint64_t o = (h >> 40) % 1000;
                    r->outcome = o < 5 ? PK_OUTCOME_FAILED : o < 15 ? PK_OUTCOME_DEGRADED : PK_OUTCOME_OK;
                    if (o < 3)
                        r->total_us = -1;
                    r->dns_us = r->connect_us = r->tls_us = r->ttfb_us = -1;
                    r->status_code = r->outcome == PK_OUTCOME_FAILED ? 503 : 200;
                }
            batches[p] = (struct store_batch){.probe_id = probe_ids[p], .results = base, .n_results = k};
        }
        if (store_write_batches(s, batches, (size_t)regions, err, sizeof err) < 0 ||
            store_track_batches(s, batches, (size_t)regions, &track, wall_us(), &track_stats, err, sizeof err) < 0) {
            fprintf(stderr, "picket-bench-analytics: %s\n", err);
            return 1;
        }
        stored += per_probe * (size_t)regions;
        if ((hour - start_us + hours * ROLLUP_HOUR_US) % ROLLUP_DAY_US == 0) {
            double c0 = now_s();
            uint64_t folded = 0;
            /* At the data's time, as a collector running then would: the last two
             * minutes wait for the next day's pass, which also closes the day
             * (its day rows written once, rollup_days.c). At the wall clock's,
             * every day would be closed before its data came, and each of its
             * minutes merged into its day rows as a late result. */
            int64_t data_now = hour + hours * ROLLUP_HOUR_US, wall = wall_us();
            if (store_rollup_compact(s, data_now < wall ? data_now : wall, 2 * ROLLUP_MINUTE_US, &folded, err,
                                     sizeof err) < 0) {
                fprintf(stderr, "picket-bench-analytics: %s\n", err);
                return 1;
            }
            compact_s += now_s() - c0;
            folded_total += folded;
            /* The collector's upkeep (ingest.c) prunes the tracker's cells older than
             * 36 hours; so does this, at the data's time, so the database looks like
             * one a collector kept (1,000 checks leave 4.3 M rows a day). Not counted
             * as compaction time. */
            if (store_round_cells_prune(s, data_now < wall ? data_now : wall, err, sizeof err) < 0) {
                fprintf(stderr, "picket-bench-analytics: %s\n", err);
                return 1;
            }
            fprintf(stderr, "picket-bench-analytics: day %" PRId64 " of %d: %" PRIu64 " results, %.1f s\n",
                    (hour - start_us) / ROLLUP_DAY_US + 1, days, stored, now_s() - t0);
        }
    }
    printf("generated results=%" PRIu64 " partial_rows_folded=%" PRIu64 " seconds=%.1f compact_seconds=%.1f "
           "tracked_rounds=%" PRIu64 "\n",
           stored, folded_total, now_s() - t0, compact_s, track_stats.rounds_folded);
    free(names);
    free(infos);
    free(probe_ids);
    free(seqs);
    free(rs);
    free(batches);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int query(struct store *s, int64_t since, int64_t until, int repeat)
{
    char err[1024];
    struct store_rollup_filter f = {.since_us = since, .until_us = until, .group = STORE_ROLLUP_BY_CHECK};
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    double *ms = calloc((size_t)repeat, sizeof *ms);
    if (!ms)
        return 1;
    for (int i = 0; i < repeat; i++) {
        free(rows);
        rows = NULL;
        double t0 = now_s();
        if (store_rollup_query(s, &f, &rows, &n, err, sizeof err) < 0) {
            fprintf(stderr, "picket-bench-analytics: %s\n", err);
            return 1;
        }
        /* the answer itself is part of the timed work: availability and p95 */
        for (size_t k = 0; k < n; k++)
            (void)pk_hist_quantile(&rows[k].hist, 0.95);
        ms[i] = (now_s() - t0) * 1000.0;
    }
    qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
    printf("query_ms_min=%.2f query_ms_median=%.2f rows=%zu\n", ms[0], ms[repeat / 2], n);
    for (size_t k = 0; k < n; k++)
        printf("%s %" PRIu64 " %" PRIu64 " %.1f\n", rows[k].check_name,
               rows[k].ok + rows[k].degraded + rows[k].failed + rows[k].unknown, rows[k].ok,
               pk_hist_quantile(&rows[k].hist, 0.95));
    free(rows);
    free(ms);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1], *db = NULL;
    long long checks = 1000, regions = 3, days = 30, end_us = 0, since = 0, until = 0, repeat = 5, every = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        char *end;
        long long x = strtoll(v, &end, 10);
        if (strcmp(k, "--db") == 0) {
            db = v;
            continue;
        }
        if (*end || !*v) {
            fprintf(stderr, "picket-bench-analytics: %s needs a number, got '%s'\n", k, v);
            return 2;
        }
        if (strcmp(k, "--checks") == 0)
            checks = x;
        else if (strcmp(k, "--regions") == 0)
            regions = x;
        else if (strcmp(k, "--days") == 0)
            days = x;
        else if (strcmp(k, "--end-us") == 0)
            end_us = x;
        else if (strcmp(k, "--since-us") == 0)
            since = x;
        else if (strcmp(k, "--until-us") == 0)
            until = x;
        else if (strcmp(k, "--repeat") == 0)
            repeat = x;
        else if (strcmp(k, "--every-minutes") == 0)
            every = x;
        else {
            fprintf(stderr, "picket-bench-analytics: unknown option %s\n", k);
            usage(stderr);
            return 2;
        }
    }
    if (!db || checks < 1 || checks > 100000 || regions < 1 || regions > 64 || days < 1 || days > 400 ||
        repeat < 1 || repeat > 1000 || every < 1 || every > 60 || 60 % every) {
        usage(stderr);
        return 2;
    }
    char err[1024];
    struct store *s = store_open(db, err, sizeof err);
    if (!s) {
        fprintf(stderr, "picket-bench-analytics: %s\n", err);
        return 1;
    }
    int rc;
    if (strcmp(cmd, "generate") == 0) {
        if (end_us <= 0 || end_us % ROLLUP_DAY_US != 0) {
            fprintf(stderr, "picket-bench-analytics: --end-us must be a UTC midnight in microseconds\n");
            rc = 2;
        } else {
            rc = generate(s, (int)checks, (int)regions, (int)days, end_us, (int)every);
        }
    } else if (strcmp(cmd, "compact") == 0) {
        uint64_t folded = 0;
        double t0 = now_s();
        rc = store_rollup_compact(s, wall_us() + ROLLUP_DAY_US, 0, &folded, err, sizeof err) < 0;
        double dt = now_s() - t0;
        if (rc)
            fprintf(stderr, "picket-bench-analytics: %s\n", err);
        else
            printf("entries=%" PRIu64 " seconds=%.3f entries_per_sec=%.0f\n", folded, dt, dt > 0 ? folded / dt : 0.0);
    } else if (strcmp(cmd, "query") == 0) {
        rc = query(s, since, until, (int)repeat);
    } else {
        usage(stderr);
        rc = 2;
    }
    store_close(s);
    return rc;
}
