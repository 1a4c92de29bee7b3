/* test_store_rollups.c: partitions and rollups of collector/store/ against
 * a real PostgreSQL (PICKET_TEST_PG_URL from tests/integration/pgharness.py; the
 * test FAILS without it). Known results go through store_write_batches; counts
 * and quantiles from store_rollup_query are compared with answers computed here
 * from the same results (counts exact, quantiles within 1% of the exact value at
 * that rank), before and after compaction, with late results and across day
 * and hour edges. Partitions are checked through psql, not through the store.
 * rollup-backfill is checked the same way, on results inserted into `results`
 * directly (no rollups) and on days whose rollups came from live ingest. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrations.h"
#include "rollup.h"
#include "pgtest.h"
#include "store.h"
#include "store/store_int.h" /* st_compact_fold_slice */

#define MIN ROLLUP_MINUTE_US
#define HOUR ROLLUP_HOUR_US
#define DAY ROLLUP_DAY_US



static struct store *S;

/* rollup_partial as it was before migration 011, empty. */
#define OLD_PARTIALS_SQL                                                                                            \
    "DROP TABLE rollup_partial; CREATE TABLE rollup_partial (check_id bigint NOT NULL, probe_id bigint NOT NULL, "  \
    "minute timestamptz NOT NULL, ok bigint NOT NULL, degraded bigint NOT NULL, failed bigint NOT NULL, "           \
    "unknown bigint NOT NULL, hist bytea NOT NULL); CREATE INDEX rollup_partial_minute_idx ON rollup_partial (minute)"

static int setup(void **state)
{
    (void)state;
    S = pgt_open_store();
    return S ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    store_close(S);
    return 0;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


/* Every result the test stored, to compute exact answers from. */
struct fed {
    int probe; /* index into probe_ids */
    int check; /* index into check names */
    int64_t t, total_us;
    int outcome;
};
#define MAX_FED 200000
static struct fed fed[MAX_FED];
static size_t n_fed;
static int64_t probe_ids[3];
static const char *const probe_names[3] = {"roll-eu-1", "roll-eu-2", "roll-us-1"};
static const char *const probe_regions[3] = {"eu", "eu", "us"};
static const char *const check_names[2] = {"roll-api", "roll-web"};
static uint64_t next_seq[3];
static uint64_t rng = 7;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The results fed before t (what the closed days of the day levels hold). */
static int64_t fed_before(int64_t t)
{
    int64_t n = 0;
    for (size_t i = 0; i < n_fed; i++)
        n += fed[i].t < t;
    return n;
}

/* The end of the closed days (migration 042). */
static int64_t days_mark(void)
{
    return pgt_sql_int("SELECT (extract(epoch FROM upto) * 1000000)::bigint FROM rollup_watermark WHERE name = 'days'");
}

/* Stores n results for probe p at times from t0 every step (checks alternate),
 * in groups of `group` results per store_write_batches call. */
static void feed(int p, int64_t t0, int64_t step, size_t n, size_t group)
{
    char err[512];
    struct pk_result *rs = calloc(group, sizeof *rs);
    assert_non_null(rs);
    for (size_t done = 0; done < n;) {
        size_t k = n - done < group ? n - done : group;
        for (size_t i = 0; i < k; i++) {
            struct pk_result *r = &rs[i];
            memset(r, 0, sizeof *r);
            r->seq = ++next_seq[p];
            int check = (int)(r->seq % 2);
            pk_strlcpy(r->check_name, check_names[check], sizeof r->check_name);
            pk_strlcpy(r->check_type, "http", sizeof r->check_type);
            r->started_at_us = t0 + (int64_t)(done + i) * step;
            uint64_t x = rnd() % 100;
            r->outcome = x < 85 ? PK_OUTCOME_OK : x < 92 ? PK_OUTCOME_DEGRADED : x < 98 ? PK_OUTCOME_FAILED
                                                                                         : PK_OUTCOME_UNKNOWN;
            /* lognormal-ish latencies, some results without one */
            r->total_us = r->outcome == PK_OUTCOME_FAILED && x % 2 ? -1
                                                                   : (int64_t)(1000.0 * exp((double)(rnd() % 4000) / 1000.0)) +
                                                                         (p + 1) * 100;
            r->dns_us = r->connect_us = r->tls_us = r->ttfb_us = -1;
            assert_true(n_fed < MAX_FED);
            fed[n_fed++] = (struct fed){p, check, r->started_at_us, r->total_us, r->outcome};
        }
        struct store_batch b = {.probe_id = probe_ids[p], .results = rs, .n_results = k};
        if (store_write_batches(S, &b, 1, err, sizeof err) != 0)
            fail_msg("write: %s", err);
        assert_int_equal(b.n_inserted, k);
        done += k;
    }
    free(rs);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Compares every row of a query with the exact answer from fed[]. */
static void verify(const struct store_rollup_filter *f, size_t want_rows)
{
    char err[512];
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    if (store_rollup_query(S, f, &rows, &n, err, sizeof err) != 0)
        fail_msg("query: %s", err);
    int64_t since = rollup_floor(f->since_us, MIN), until = rollup_floor(f->until_us, MIN);
    int64_t bucket = f->bucket_us ? f->bucket_us : until - since;
    int64_t *vals = malloc(MAX_FED * sizeof *vals);
    assert_non_null(vals);
    size_t groups_seen = 0;
    for (size_t i = 0; i < n; i++) {
        const struct store_rollup_row *row = &rows[i];
        uint64_t counts[5] = {0, 0, 0, 0, 0};
        size_t nv = 0;
        for (size_t j = 0; j < n_fed; j++) {
            const struct fed *x = &fed[j];
            int64_t t = rollup_floor(x->t, MIN);
            /* aligned series: a bucket ends at the next multiple of its width (the first is clipped) */
            int64_t end = (f->align ? row->bucket_start_us - row->bucket_start_us % bucket : row->bucket_start_us) +
                          bucket;
            if (t < row->bucket_start_us || t >= end || t >= until || t < since)
                continue;
            if (strcmp(check_names[x->check], row->check_name) != 0)
                continue;
            const char *group = f->group == STORE_ROLLUP_BY_REGION  ? probe_regions[x->probe]
                                : f->group == STORE_ROLLUP_BY_CHECK ? "*"
                                                                    : probe_names[x->probe];
            if (strcmp(group, row->group) != 0)
                continue;
            if (f->probe && strcmp(f->probe, probe_names[x->probe]) != 0)
                continue;
            counts[x->outcome]++;
            if (x->total_us >= 0 && (x->outcome == PK_OUTCOME_OK || x->outcome == PK_OUTCOME_DEGRADED))
                vals[nv++] = x->total_us; /* latency is over successes only */
        }
        assert_int_equal(row->ok, counts[PK_OUTCOME_OK]);
        assert_int_equal(row->degraded, counts[PK_OUTCOME_DEGRADED]);
        assert_int_equal(row->failed, counts[PK_OUTCOME_FAILED]);
        assert_int_equal(row->unknown, counts[PK_OUTCOME_UNKNOWN]);
        assert_int_equal(row->hist.count, nv);
        assert_true(row->ok + row->degraded + row->failed + row->unknown > 0);
        qsort(vals, nv, sizeof *vals, cmp_i64);
        const double qs[] = {0.0, 0.5, 0.9, 0.95, 0.99, 1.0};
        for (size_t k = 0; k < sizeof qs / sizeof qs[0] && nv > 0; k++) {
            size_t rank = (size_t)ceil(qs[k] * (double)nv);
            if (rank < 1)
                rank = 1;
            double exact = (double)vals[rank - 1], got = pk_hist_quantile(&row->hist, qs[k]);
            if (fabs(got - exact) > 0.01 * exact)
                fail_msg("%s/%s q%.2f: %.1f, exact %.1f", row->check_name, row->group, qs[k], got, exact);
        }
        groups_seen++;
    }
    /* and no (check, group, bucket) with results is missing */
    if (want_rows)
        assert_int_equal(n, want_rows);
    assert_int_equal(groups_seen, n);
    free(vals);
    free(rows);
}

static void partitions_and_default(void **state)
{
    (void)state;
    char err[512];
    int created = 0, dropped = 0;
    int64_t now = now_us();
    assert_int_equal(store_maintain_partitions(S, now, 3, 30, &created, &dropped, err, sizeof err), 0);
    assert_true(created >= 5); /* yesterday, today, 3 ahead */
    int64_t parts = pgt_sql_int("SELECT count(*) FROM pg_inherits WHERE inhparent = 'results'::regclass");
    assert_int_equal(parts, created + 1); /* + results_default */
    /* again: nothing new */
    assert_int_equal(store_maintain_partitions(S, now, 3, 30, &created, &dropped, err, sizeof err), 0);
    assert_int_equal(created, 0);
    assert_int_equal(dropped, 0);

    /* A result 10 days old has no partition: it goes to results_default, is not lost,
     * and the next upkeep gives its day a partition and moves it there. */
    probe_ids[0] = pgt_register_probe(S, probe_names[0], probe_regions[0]);
    int64_t old = rollup_floor(now, DAY) - 10 * DAY + 5 * HOUR;
    size_t before = n_fed;
    feed(0, old, MIN, 4, 4);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results_default"), 4);
    assert_int_equal(store_maintain_partitions(S, now, 3, 30, &created, &dropped, err, sizeof err), 0);
    assert_int_equal(created, 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results_default"), 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results WHERE started_at < now() - interval '9 days'"), 4);
    /* Retention 5 days drops that partition (and its rows) but keeps the recent ones. */
    assert_int_equal(store_maintain_partitions(S, now, 3, 5, &created, &dropped, err, sizeof err), 0);
    assert_int_equal(dropped, 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results WHERE started_at < now() - interval '9 days'"), 0);
    n_fed = before; /* they are gone from the raw table; the rollup tests below use recent windows */
    /* their partial rollups are still there; compaction folds them (old minute rollups go with retention) */
    uint64_t folded = 0;
    assert_int_equal(store_rollup_compact(S, now, 2 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(folded, 4);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_partial"), 0);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day"), 4);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_check_day"), 4);
    pgt_sql(err, sizeof err, "TRUNCATE rollup_minute, rollup_hour, rollup_day, rollup_check_day, rollup_check_hour");
}

static void rollups_match_exact_answers(void **state)
{
    (void)state;
    char err[512];
    int64_t now = now_us();
    /* Step 7 checks where a closed day's hour rows lie on disk. An autovacuum of
     * rollup_hour while the test runs (a slow CI machine stretches it past the
     * launcher's visit) records free space in earlier pages, which the clustering
     * insert may then fill out of order (one fresh-clone CI run failed so): the
     * placement of rows by the free-space map is not what is tested here. */
    pgt_sql(err, sizeof err, "ALTER TABLE rollup_hour SET (autovacuum_enabled = false)");
    for (int p = 0; p < 3; p++)
        probe_ids[p] = pgt_register_probe(S, probe_names[p], probe_regions[p]);
    /* Three days ending two hours ago, one result per 20 s per probe, two checks:
     * crosses day and hour edges; groups of 700 so minutes get several partial rows. */
    int64_t start = rollup_floor(now, DAY) - 2 * DAY - 90 * MIN + 17 * 1000000;
    size_t per_probe = (size_t)((now - 2 * HOUR - start) / (20 * 1000000));
    for (int p = 0; p < 3; p++)
        feed(p, start + p * 3000000, 20 * 1000000, per_probe, 700);

    struct store_rollup_filter f = {.since_us = start - 5 * MIN, .until_us = now + MIN};
    /* 1. nothing compacted yet: everything comes from partial rows */
    verify(&f, 2 * 3);
    uint64_t folded = 0;
    /* compacted in the smallest slices: a slice per (check, probe), so that a
     * check's day row and its check-hour summaries are merged across slices */
    st_compact_fold_slice = 1;
    assert_int_equal(store_rollup_compact(S, now, 2 * MIN, &folded, err, sizeof err), 0);
    st_compact_fold_slice = 512;
    assert_true(folded > 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_partial"), 0);
    /* a second run finds nothing and changes nothing (idempotent) */
    int64_t day_sum = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day");
    assert_int_equal(store_rollup_compact(S, now, 2 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(folded, 0);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day"), day_sum);
    /* the day levels hold the closed days, those before the day of the compaction's cutoff */
    int64_t mark = days_mark();
    assert_int_equal(mark, rollup_floor(rollup_floor(now, MIN) - 2 * MIN + 5 * MIN, DAY)); /* closed 5 min early */
    assert_int_equal(day_sum, fed_before(mark));
    /* each closed day's rows were written once, all in one transaction, and the
     * open day has none (rollup_days.c) */
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM (SELECT day FROM rollup_day GROUP BY day "
                                 "HAVING count(DISTINCT xmin::text) > 1) d"),
                     0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM (SELECT day FROM rollup_check_day GROUP BY day "
                                 "HAVING count(DISTINCT xmin::text) > 1) d"),
                     0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_day WHERE day >= "
                                 "(SELECT upto FROM rollup_watermark WHERE name = 'days')"),
                     0);
    /* levels agree: every level holds every result once */
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_hour"), (int64_t)n_fed);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_minute"), (int64_t)n_fed);
    /* the day rows merged over probes hold, per check and day, what the per-probe day rows add up to */
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_check_day"),
                     pgt_sql_int("SELECT count(DISTINCT (check_id, day)) FROM rollup_day"));
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_check_day c JOIN (SELECT check_id, day, sum(ok) ok, "
                             "sum(failed) failed, sum(ok + degraded + failed + unknown) n FROM rollup_day "
                             "GROUP BY 1, 2) d USING (check_id, day) WHERE c.ok = d.ok AND c.failed = d.failed "
                             "AND c.ok + c.degraded + c.failed + c.unknown = d.n"),
                     pgt_sql_int("SELECT count(*) FROM rollup_check_day"));
    /* the check-hour summaries, written slice by slice, hold what the hour rows add up to */
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_check_hour"),
                     pgt_sql_int("SELECT count(DISTINCT (check_id, hour)) FROM rollup_hour"));
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_check_hour c JOIN (SELECT check_id, hour, sum(ok) ok, "
                                 "sum(failed) failed, sum(ok + degraded + failed + unknown) n FROM rollup_hour "
                                 "GROUP BY 1, 2) h USING (check_id, hour) WHERE c.ok = h.ok AND c.failed = h.failed "
                                 "AND c.ok + c.degraded + c.failed + c.unknown = h.n"),
                     pgt_sql_int("SELECT count(*) FROM rollup_check_hour"));
    /* an installation upgraded to 010 with day rows already stored: migrate merges them in */
    char snapshot[4096], again[4096];
    pgt_sql(snapshot, sizeof snapshot, "SELECT md5(string_agg(check_id || ' ' || day || ' ' || ok || ' ' || degraded || "
                                   "' ' || failed || ' ' || unknown || ' ' || md5(hist), ',' ORDER BY check_id, day)) "
                                   "FROM rollup_check_day");
    /* (011 comes after 010: it runs again too, over an empty partial table of the old shape) */
    /* (so do the migrations after 011: each must be safe to run again) */
    pgt_sql(err, sizeof err, "DROP TABLE rollup_check_day; " OLD_PARTIALS_SQL "; DELETE FROM picket_schema WHERE version >= 10");
    int applied = 0;
    assert_int_equal(store_migrate(S, &applied, err, sizeof err), 0);
    int from_10 = 0; /* 010 and every later migration run again */
    for (size_t i = 0; i < pk_migrations_count; i++)
        from_10 += pk_migrations[i].version >= 10;
    assert_int_equal(applied, from_10);
    pgt_sql(again, sizeof again, "SELECT md5(string_agg(check_id || ' ' || day || ' ' || ok || ' ' || degraded || "
                             "' ' || failed || ' ' || unknown || ' ' || md5(hist), ',' ORDER BY check_id, day)) "
                             "FROM rollup_check_day");
    assert_string_equal(again, snapshot);

    /* 2. after compaction: the whole span (days + hours + minutes), per probe and per region */
    verify(&f, 2 * 3);
    f.group = STORE_ROLLUP_BY_REGION;
    verify(&f, 2 * 2);
    f.group = STORE_ROLLUP_BY_CHECK;
    verify(&f, 2);
    f.group = STORE_ROLLUP_BY_REGION;
    /* odd edges: 10:17 of the first day to 03:05 of the third */
    f.since_us = rollup_floor(start, DAY) + DAY + 10 * HOUR + 17 * MIN;
    f.until_us = rollup_floor(start, DAY) + 2 * DAY + 3 * HOUR + 5 * MIN + 59 * 1000000; /* truncated to :05 */
    verify(&f, 2 * 2);
    /* one check, one probe */
    f.group = STORE_ROLLUP_BY_PROBE;
    f.check = "roll-web";
    f.probe = "roll-eu-2";
    verify(&f, 1);
    f.check = NULL;
    f.probe = NULL;
    f.region = "us";
    verify(&f, 2);
    f.region = NULL;

    /* 3. late results: an hour that is long compacted gets more results; they are
     * in the answer at once (partial rows) and after the next compaction. */
    int64_t late_t = rollup_floor(start, DAY) + DAY + 10 * HOUR + 20 * MIN + 5 * 1000000;
    feed(1, late_t, 1000000, 30, 30);
    verify(&f, 2 * 3);
    assert_int_equal(store_rollup_compact(S, now_us(), 2 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(folded, 2); /* 2 checks x 1 probe x 1 minute */
    verify(&f, 2 * 3);
    /* a late result of a closed day is merged into its day rows */
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day"), fed_before(mark));
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_check_day"),
                     fed_before(mark));
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_hour"), (int64_t)n_fed);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_minute"), (int64_t)n_fed);
    /* whole days over all probes (read from rollup_check_day) after the late results */
    f.group = STORE_ROLLUP_BY_CHECK;
    f.since_us = rollup_floor(start, DAY);
    f.until_us = rollup_floor(now, DAY);
    verify(&f, 2);
    f.region = NULL;

    /* 4. a series: hourly buckets over the odd window, per region */
    f.group = STORE_ROLLUP_BY_REGION;
    f.bucket_us = HOUR;
    verify(&f, 0);
    f.bucket_us = 7 * MIN; /* buckets that cut hours */
    f.since_us = late_t - 3 * HOUR;
    f.until_us = late_t + 2 * HOUR;
    verify(&f, 0);
    /* aligned series: on the UTC grid of the width, the first and last clipped to the window */
    f.align = 1;
    f.bucket_us = 2 * HOUR;
    verify(&f, 0);
    f.bucket_us = DAY;
    f.since_us = rollup_floor(start, DAY) + DAY + 10 * HOUR + 17 * MIN;
    f.until_us = rollup_floor(now, MIN);
    verify(&f, 0);
    {
        struct store_rollup_row *rows = NULL;
        size_t n = 0;
        assert_int_equal(store_rollup_query(S, &f, &rows, &n, err, sizeof err), 0);
        assert_true(n > 0);
        assert_int_equal(rows[0].bucket_start_us, f.since_us); /* the first bucket's clipped start */
        for (size_t i = 0; i < n; i++)
            assert_true(rows[i].bucket_start_us == f.since_us || rows[i].bucket_start_us % DAY == 0);
        free(rows);
    }
    f.align = 0;

    /* a caller's deadline: statements after it fail and name it; cleared, the query runs */
    assert_int_equal(store_set_deadline(S, now_us() - 1000, err, sizeof err), -1);
    assert_non_null(strstr(err, "deadline"));
    assert_int_equal(store_set_deadline(S, now_us() + 200000, err, sizeof err), 0);
    usleep(300000);
    {
        struct store_rollup_row *rows = NULL;
        size_t n = 0;
        assert_int_equal(store_rollup_query(S, &f, &rows, &n, err, sizeof err), -1);
        assert_non_null(strstr(err, "deadline"));
        assert_int_equal(store_set_deadline(S, 0, err, sizeof err), 0);
        assert_int_equal(store_rollup_query(S, &f, &rows, &n, err, sizeof err), 0);
        free(rows);
    }

    /* errors name the input */
    struct store_rollup_row *rows = NULL;
    size_t n = 0;
    struct store_rollup_filter bad = {.since_us = start, .until_us = now, .check = "no-such-check"};
    assert_int_equal(store_rollup_query(S, &bad, &rows, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "no-such-check"));
    bad.check = NULL;
    bad.bucket_us = 90 * 1000000;
    assert_int_equal(store_rollup_query(S, &bad, &rows, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "whole number of minutes"));

    /* 5. upgrade to 011 with partial rows of the old shape (one per check, probe and
     * minute) waiting: migrate packs them, readers count them at once, and the
     * compaction folds every one. Copies of 50 stored minute rows stand in for them. */
    int64_t minute_sum = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_minute");
    pgt_sql(err, sizeof err,
        OLD_PARTIALS_SQL "; DELETE FROM picket_schema WHERE version >= 11; "
        "INSERT INTO rollup_partial SELECT * FROM rollup_minute ORDER BY minute, probe_id, check_id LIMIT 50");
    int64_t old_sum = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_partial");
    assert_true(old_sum > 0);
    struct store_rollup_filter all = {.since_us = start - DAY, .until_us = now + MIN, .group = STORE_ROLLUP_BY_CHECK};
    assert_int_equal(store_migrate(S, &applied, err, sizeof err), 0);
    assert_int_equal(applied, from_10 - 1); /* 011 and every later migration */
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM pg_class WHERE relname = 'rollup_partial_v1'"), 0);
    assert_true(pgt_sql_int("SELECT count(*) FROM rollup_partial") < 50); /* packed per (probe, minute) */
    assert_int_equal(store_rollup_query(S, &all, &rows, &n, err, sizeof err), 0);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += rows[i].ok + rows[i].degraded + rows[i].failed + rows[i].unknown;
    free(rows);
    assert_int_equal(total, (uint64_t)n_fed + (uint64_t)old_sum);
    assert_int_equal(store_rollup_compact(S, now_us(), 2 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(folded, 50);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_minute"), minute_sum + old_sum);

    /* 6. a stored minute that the watermark calls new (as if a backfill had written
     * it): the COPY of new minutes meets its key, is undone to its savepoint, and
     * the rows are merged instead; nothing is lost or counted twice. */
    pgt_sql(err, sizeof err, "UPDATE rollup_watermark SET upto = 'epoch' WHERE name = 'compact'");
    int64_t minute_before = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_minute");
    int64_t day_before = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day");
    size_t fed_before = n_fed;
    feed(1, late_t + 7 * 1000000, 1000000, 10, 10);
    /* one check while its minute has packed partial rows (entries of both checks) */
    for (int c = 0; c < 2; c++) {
        struct store_rollup_filter one = {.since_us = late_t - HOUR, .until_us = late_t + HOUR,
                                          .group = STORE_ROLLUP_BY_PROBE, .check = check_names[c]};
        verify(&one, 3);
    }
    assert_int_equal(store_rollup_compact(S, now_us(), 2 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(folded, 2);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_minute"),
                     minute_before + (int64_t)(n_fed - fed_before));
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day"),
                     day_before + (int64_t)(n_fed - fed_before));
    assert_true(pgt_sql_int("SELECT count(*) FROM rollup_watermark WHERE name = 'compact' "
                            "AND upto > now() - interval '10 minutes'") == 1);

    /* 7. A day not closed (a past day, whole, made open again by moving the mark
     * back, as if the compaction had not passed its end; a past day, so that the
     * test's answers do not depend on the time of day it runs at): a window that
     * holds it whole reads it from its hours, whatever rows rollup_day holds for
     * it (here its own, made wrong); a trend's daily points are told it is not
     * whole. When it closes, its rows are built from its hours in place of those. */
    int64_t open = rollup_floor(now, DAY) - 2 * DAY;
    pgt_sql(err, sizeof err, "UPDATE rollup_watermark SET upto = to_timestamp(%lld / 1000000.0) WHERE name = 'days'",
            (long long)open);
    assert_int_equal(days_mark(), open);
    pgt_sql(err, sizeof err, "UPDATE rollup_day SET ok = ok + 1000 WHERE day = to_timestamp(%lld / 1000000.0)",
            (long long)open);
    feed(0, open + 30 * 1000000, 1000000, 20, 20);
    struct store_rollup_filter whole = {.since_us = open, .until_us = open + DAY, .group = STORE_ROLLUP_BY_REGION};
    verify(&whole, 0);
    whole.group = STORE_ROLLUP_BY_CHECK;
    verify(&whole, 2);
    {
        struct store_check_hour *days = NULL;
        size_t nd = 0;
        int partial = 0;
        const char *const both[] = {check_names[0], check_names[1]};
        assert_int_equal(store_check_days_p95(S, both, 2, open - DAY, open + DAY, &days, &nd, &partial, err,
                                              sizeof err),
                         0);
        assert_int_equal(partial, 1);
        free(days);
        assert_int_equal(store_check_days_p95(S, both, 2, open - DAY, open, &days, &nd, &partial, err, sizeof err),
                         0);
        assert_int_equal(partial, 0);
        assert_int_equal(nd, 2); /* the closed day before, one row per check */
        free(days);
    }
    /* closed five minutes before its end (the compaction's cutoff at 23:57): its
     * last minutes come later, are counted from partial rows until compacted,
     * and are then merged into its rows as late results */
    assert_int_equal(store_rollup_compact(S, open + DAY - MIN, 2 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(days_mark(), open + DAY);
    /* its hour rows were moved together by check (rollup_days.c, cluster_hours):
     * in the table's order they are by check, probe and hour, but for a jump
     * or two: when the page being filled is full, PostgreSQL may hand the next
     * row a page before it whose dead rows were pruned meanwhile (the free
     * space map learns of it then), and the rows go on from there in order
     * (seen once in CI). Rows in no order at all would break it at most rows. */
    int64_t hour_rows = pgt_sql_int("SELECT count(*) FROM rollup_hour WHERE hour >= to_timestamp(%lld / 1000000.0) "
                                    "AND hour < to_timestamp(%lld / 1000000.0)",
                                    (long long)open, (long long)(open + DAY));
    assert_true(hour_rows >= 100); /* 144: 2 checks x 3 probes x 24 hours */
    assert_true(pgt_sql_int("SELECT count(*) FROM (SELECT ctid, lag(ctid) OVER (ORDER BY check_id, probe_id, "
                            "hour) AS prev FROM rollup_hour WHERE hour >= to_timestamp(%lld / 1000000.0) AND "
                            "hour < to_timestamp(%lld / 1000000.0)) x WHERE ctid < prev",
                            (long long)open, (long long)(open + DAY)) <= 2);
    feed(0, open + DAY - 2 * MIN + 5 * 1000000, 1000000, 10, 10);
    verify(&whole, 2);
    assert_int_equal(store_rollup_compact(S, now_us(), 2 * MIN, &folded, err, sizeof err), 0);
    assert_true(days_mark() > open + DAY); /* the days after it closed again, from their hours */
    /* the day levels hold what the hours of the closed days hold (the results
     * fed and step 5's copies), the wrong counts replaced */
    int64_t closed_sum = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_hour "
                                     "WHERE hour < (SELECT upto FROM rollup_watermark WHERE name = 'days')");
    assert_true(closed_sum > 0);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day"), closed_sum);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_check_day"), closed_sum);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_hour"),
                     (int64_t)n_fed + old_sum);
    verify(&whole, 2);
    whole.group = STORE_ROLLUP_BY_REGION;
    verify(&whole, 0);
    /* 9. A read whose pipeline fails in the middle (its statements go out at
     * once, rollup_query.c's read_pipelined; the hour level's table is gone):
     * the error names it, and the same store then answers exactly. */
    struct store_rollup_filter ragged = {.since_us = open + 97 * MIN, .until_us = open + DAY - 133 * MIN,
                                         .group = STORE_ROLLUP_BY_REGION};
    verify(&ragged, 0);
    pgt_sql(err, sizeof err, "ALTER TABLE rollup_hour RENAME TO rollup_hour_away");
    struct store_rollup_row *got = NULL;
    size_t n_got = 0;
    assert_int_equal(store_rollup_query(S, &ragged, &got, &n_got, err, sizeof err), -1);
    assert_non_null(strstr(err, "rollup_hour"));
    free(got);
    /* and a reader of another kind right after it */
    const char *const one[] = {check_names[0]};
    const int64_t k0 = 0, k1 = 10;
    struct store_round_count_row *counts = NULL;
    size_t n_counts = 0;
    if (store_round_counts_read_many(S, one, &k0, &k1, 1, &counts, &n_counts, err, sizeof err) != 0)
        fail_msg("the store after a failed pipelined read: %s", err);
    free(counts);
    pgt_sql(err, sizeof err, "ALTER TABLE rollup_hour_away RENAME TO rollup_hour");
    verify(&ragged, 0);
    verify(&whole, 0);
}

static void rollups_off_writes_none(void **state)
{
    (void)state;
    char err[512];
    int64_t partial = pgt_sql_int("SELECT count(*) FROM rollup_partial");
    int64_t results = pgt_sql_int("SELECT count(*) FROM results");
    store_set_rollups(S, 0);
    size_t before = n_fed;
    feed(2, now_us() - HOUR, 1000000, 50, 50);
    store_set_rollups(S, 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results"), results + 50);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_partial"), partial);
    n_fed = before;
    (void)err;
}

/* The rollup rows of every level, as one digest (for "a second backfill changes nothing"). */
static void rollup_digest(char *out, size_t size)
{
    pgt_sql(out, size,
        "SELECT md5(coalesce((SELECT string_agg(concat_ws(',', check_id, probe_id, minute, ok, degraded, failed, "
        "unknown, encode(hist, 'hex')), ';' ORDER BY check_id, probe_id, minute) FROM rollup_minute), '') || "
        "coalesce((SELECT string_agg(concat_ws(',', check_id, probe_id, hour, ok, degraded, failed, unknown, "
        "encode(hist, 'hex')), ';' ORDER BY check_id, probe_id, hour) FROM rollup_hour), '') || "
        "coalesce((SELECT string_agg(concat_ws(',', check_id, probe_id, day, ok, degraded, failed, unknown, "
        "encode(hist, 'hex')), ';' ORDER BY check_id, probe_id, day) FROM rollup_day), ''))");
}

static void run_backfill(int64_t since, int64_t until, struct store_backfill_day *total)
{
    char err[512];
    if (store_rollup_backfill(S, since, until, NULL, NULL, total, err, sizeof err) != 0)
        fail_msg("backfill: %s", err);
}

/* rollup-backfill: raw results inserted straight into `results` (no rollups,
 * as after an upgrade from before migration 005 or a restore of results only)
 * get exact rollups; days whose rollups came from live ingest (compacted, and
 * partial rows not yet compacted) are rebuilt without counting anything twice;
 * a second run leaves every rollup row byte for byte the same; a day that has
 * rollups but no raw results any more is left alone. */
static void backfill_from_raw(void **state)
{
    (void)state;
    char err[512], before[64], after[64];
    int64_t now = now_us();
    /* The rollups-off test's results are not in fed[]: they go. */
    pgt_sql(err, sizeof err, "DELETE FROM results WHERE started_at > now() - interval '110 minutes'");
    /* Live results minutes ago: partial rows, not compacted yet. */
    feed(1, now - 30 * MIN, 1000000, 120, 40);
    assert_true(pgt_sql_int("SELECT count(*) FROM rollup_partial") > 0);

    /* Raw results five days back, straight into results: i = 0..2879, one per
     * 15 s from 03:00:07, on roll-api from roll-eu-1; outcome and latency from i. */
    int64_t d0 = rollup_floor(now, DAY) - 5 * DAY;
    int64_t t0 = d0 + 3 * HOUR + 7 * 1000000;
    const int n_raw = 2880;
    pgt_sql(err, sizeof err,
        "INSERT INTO results (probe_id, seq, check_id, started_at, outcome, error_class, total_us) "
        "SELECT %lld, 1000000 + i, (SELECT id FROM checks WHERE name = 'roll-api'), "
        "to_timestamp(%lld / 1000000.0) + i * interval '15 seconds', "
        "CASE WHEN i %% 20 = 0 THEN 3 WHEN i %% 20 = 1 THEN 2 WHEN i %% 50 = 2 THEN 4 ELSE 1 END, 0, "
        "CASE WHEN i %% 40 = 0 THEN NULL ELSE 1000 + (i * 7919) %% 200000 + (i %% 7) * 300000 END "
        "FROM generate_series(0, %d) i",
        (long long)probe_ids[0], (long long)t0, n_raw - 1);
    for (int i = 0; i < n_raw; i++) {
        int outcome = i % 20 == 0 ? PK_OUTCOME_FAILED : i % 20 == 1 ? PK_OUTCOME_DEGRADED
                      : i % 50 == 2 ? PK_OUTCOME_UNKNOWN : PK_OUTCOME_OK;
        int64_t total = i % 40 == 0 ? -1 : 1000 + ((int64_t)i * 7919) % 200000 + (i % 7) * 300000;
        assert_true(n_fed < MAX_FED);
        fed[n_fed++] = (struct fed){0, 0, t0 + (int64_t)i * 15 * 1000000, total, outcome};
    }
    struct store_rollup_filter raw = {.since_us = d0, .until_us = d0 + DAY, .group = STORE_ROLLUP_BY_PROBE};
    struct store_rollup_row *rows = NULL;
    size_t n = 99;
    assert_int_equal(store_rollup_query(S, &raw, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 0); /* "no data" before the backfill */
    free(rows);
    struct store_rollup_coverage cov;
    assert_int_equal(store_rollup_coverage(S, &cov, err, sizeof err), 0);
    assert_true(cov.has_results && cov.has_rollups && cov.results_before_rollups);
    assert_int_equal(cov.oldest_result_day_us, d0);

    /* A day long past retention: its day rollup stays, having no raw results. */
    int64_t old_day = rollup_floor(now, DAY) - 20 * DAY;
    pgt_sql(err, sizeof err,
        "INSERT INTO rollup_day SELECT check_id, probe_id, to_timestamp(%lld / 1000000.0), ok, degraded, failed, "
        "unknown, hist FROM rollup_day ORDER BY day LIMIT 1",
        (long long)old_day);
    int64_t old_sum = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day WHERE day = "
                              "to_timestamp(%lld / 1000000.0)", (long long)old_day);

    struct store_backfill_day total;
    run_backfill(old_day, now + MIN, &total);
    int64_t days_in_window = (rollup_floor(now + MIN, DAY) - old_day) / DAY + 1;
    assert_int_equal(total.days + total.days_skipped, days_in_window);
    assert_true(total.days >= 4); /* d0, and the three days of live results */
    assert_int_equal(total.results, (uint64_t)n_fed);
    assert_true(total.partials_replaced > 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM rollup_partial"), 0);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day WHERE day = "
                             "to_timestamp(%lld / 1000000.0)", (long long)old_day), old_sum);
    pgt_sql(err, sizeof err, "DELETE FROM rollup_day WHERE day = to_timestamp(%lld / 1000000.0); "
                         "DELETE FROM rollup_check_day WHERE day = to_timestamp(%lld / 1000000.0)",
        (long long)old_day, (long long)old_day);
    assert_int_equal(store_rollup_coverage(S, &cov, err, sizeof err), 0);
    assert_false(cov.results_before_rollups);

    /* Every level holds every result exactly once, and queries agree with fed[]. */
    int64_t day_sum = pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_day");
    assert_int_equal(day_sum, (int64_t)n_fed);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_hour"), day_sum);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_minute"), day_sum);
    assert_int_equal(pgt_sql_int("SELECT sum(ok + degraded + failed + unknown) FROM rollup_check_day"), day_sum);
    struct store_rollup_filter f = {.since_us = d0, .until_us = now + MIN};
    verify(&f, 2 * 3);
    verify(&raw, 1);
    raw.since_us = d0 + 3 * HOUR + 17 * MIN; /* minute and hour edges */
    raw.until_us = d0 + 9 * HOUR + 5 * MIN;
    verify(&raw, 1);
    raw.bucket_us = 7 * MIN;
    verify(&raw, 0);

    /* Again: the same rows, and compaction then finds nothing to fold. */
    rollup_digest(before, sizeof before);
    run_backfill(d0, now + MIN, &total);
    rollup_digest(after, sizeof after);
    assert_string_equal(before, after);
    uint64_t folded = 9;
    assert_int_equal(store_rollup_compact(S, now_us(), 2 * MIN, &folded, err, sizeof err), 0);
    assert_int_equal(folded, 0);
    f.group = STORE_ROLLUP_BY_REGION;
    verify(&f, 2 * 2);
    f.group = STORE_ROLLUP_BY_CHECK; /* whole days over all probes: rollup_check_day */
    f.until_us = rollup_floor(now, DAY);
    if (f.until_us > f.since_us)
        verify(&f, 0);

    /* Errors name the problem. */
    assert_int_equal(store_rollup_backfill(S, now, now - DAY, NULL, NULL, &total, err, sizeof err), -1);
    assert_non_null(strstr(err, "empty"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(partitions_and_default),
        cmocka_unit_test(rollups_match_exact_answers),
        cmocka_unit_test(rollups_off_writes_none),
        cmocka_unit_test(backfill_from_raw),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
