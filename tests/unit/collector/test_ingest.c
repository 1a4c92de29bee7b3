/* test_ingest.c: the writer queues against a real PostgreSQL (run through
 * tests/integration/pgharness.py, which sets PICKET_TEST_PG_URL). A probe's
 * batches commit in order with the right cumulative high-water mark, a full queue
 * is reported to the caller, duplicates are skipped, and a control job runs. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "ingest.h"
#include "result_pool.h"

static const char *db_url(void)
{
    const char *url = getenv("PICKET_TEST_PG_URL");
    if (!url || !url[0])
        fail_msg("PICKET_TEST_PG_URL is not set: run this test through "
                 "tests/integration/pgharness.py run -- test_ingest (ctest does)");
    return url;
}

struct done_log {
    pthread_mutex_t mu;
    int calls;
    uint64_t seqs[256];
    int64_t probes[256];
    size_t inserted;
};

struct done_ctx {
    struct done_log *log;
    int64_t probe_id;
};

static void on_done(void *ctx, int ok, uint64_t committed_seq, size_t n_inserted)
{
    struct done_ctx *d = ctx;
    assert_true(ok);
    pthread_mutex_lock(&d->log->mu);
    d->log->seqs[d->log->calls] = committed_seq;
    d->log->probes[d->log->calls] = d->probe_id;
    d->log->calls++;
    d->log->inserted += n_inserted;
    pthread_mutex_unlock(&d->log->mu);
}

static struct pk_result *make_results(uint64_t first, size_t n)
{
    struct pk_result *rs = pk_results_alloc(n); /* ingest_submit gives it back to the pool */
    assert_non_null(rs);
    memset(rs, 0, n * sizeof *rs);
    for (size_t i = 0; i < n; i++) {
        rs[i].seq = first + i;
        snprintf(rs[i].check_name, sizeof rs[i].check_name, "ingest-check-%zu", i % 3);
        strcpy(rs[i].check_type, "http");
        rs[i].started_at_us = 1764000000000000LL + (int64_t)(first + i) * 1000;
        rs[i].outcome = PK_OUTCOME_OK;
        rs[i].status_code = 200;
        rs[i].dns_us = rs[i].connect_us = rs[i].ttfb_us = 1;
        rs[i].tls_us = -1;
        rs[i].total_us = 3;
    }
    return rs;
}

static void wait_calls(struct done_log *log, int n)
{
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&log->mu);
        int calls = log->calls;
        pthread_mutex_unlock(&log->mu);
        if (calls >= n)
            return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("only %d of %d batches finished within 30 s", log->calls, n);
}

static int64_t register_probe(const char *name)
{
    char err[512];
    struct store *s = store_open(db_url(), err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    int applied;
    if (store_migrate(s, &applied, err, sizeof err) < 0)
        fail_msg("%s", err);
    struct store_probe_info info = {.name = name, .region = "test"};
    int64_t id;
    uint64_t committed;
    if (store_upsert_probe(s, &info, &id, &committed, err, sizeof err) < 0)
        fail_msg("%s", err);
    store_close(s);
    return id;
}

static void batches_commit_in_order_and_report_full(void **state)
{
    (void)state;
    int64_t p1 = register_probe("ingest-probe-1");
    int64_t p2 = register_probe("ingest-probe-2");
    char err[512];
    struct ingest_config cfg = {.conninfo = db_url(), .writers = 2, .queue_batches = 4};
    struct ingest *in = ingest_start(&cfg, err, sizeof err);
    assert_non_null(in);
    static struct done_log log = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct done_ctx c1 = {&log, p1}, c2 = {&log, p2};
    int saw_full = 0;
    /* 20 batches of 10 per probe, submitted back to back: the queue bound (4) must
     * be reported at some point, and every batch must still commit. */
    for (int b = 0; b < 20; b++) {
        saw_full |= ingest_submit(in, p1, make_results((uint64_t)b * 10 + 1, 10), 10, on_done, &c1);
        saw_full |= ingest_submit(in, p2, make_results((uint64_t)b * 10 + 1, 10), 10, on_done, &c2);
    }
    assert_true(saw_full);
    wait_calls(&log, 40);
    /* Per probe, the committed high-water marks never go down and end at 200. */
    uint64_t last1 = 0, last2 = 0;
    for (int i = 0; i < log.calls; i++) {
        uint64_t *last = log.probes[i] == p1 ? &last1 : &last2;
        assert_true(log.seqs[i] >= *last);
        *last = log.seqs[i];
    }
    assert_int_equal(last1, 200);
    assert_int_equal(last2, 200);
    assert_int_equal(log.inserted, 400);

    /* A resend of old sequences is acknowledged but stores nothing. */
    log.calls = 0;
    log.inserted = 0;
    ingest_submit(in, p1, make_results(150, 60), 60, on_done, &c1);
    wait_calls(&log, 1);
    assert_int_equal(log.seqs[0], 209);
    assert_int_equal(log.inserted, 9);

    struct ingest_stats st;
    ingest_get_stats(in, &st);
    assert_int_equal(st.results_committed, 409);
    assert_int_equal(st.results_duplicate, 51);
    assert_int_equal(st.queued_batches, 0);
    assert_true(ingest_db_healthy(in));
    ingest_stop(in);
}

static void job_fn(struct store *store, void *ctx)
{
    int *flag = ctx;
    *flag = store != NULL && store_ping(store) == 0 ? 1 : 2;
}

static void control_jobs_run_with_a_connection(void **state)
{
    (void)state;
    char err[512];
    struct ingest_config cfg = {.conninfo = db_url()};
    struct ingest *in = ingest_start(&cfg, err, sizeof err);
    assert_non_null(in);
    volatile int flag = 0;
    assert_int_equal(ingest_job(in, job_fn, (void *)&flag), 0);
    ingest_stop(in); /* drains pending jobs */
    assert_int_equal(flag, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_commit_in_order_and_report_full),
        cmocka_unit_test(control_jobs_run_with_a_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
