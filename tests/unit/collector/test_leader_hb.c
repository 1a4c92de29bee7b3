/* test_leader_hb.c: the leader election (collector/leader.c) and batched
 * heartbeats (collector/hb_batch.c) against a real PostgreSQL (run through
 * tests/integration/pgharness.py, which sets PICKET_TEST_PG_URL).
 *
 * Leader: while another session holds the leader lock this process does not
 * lead; once that session ends it leads within a few seconds; store_leader_held
 * tells a session that holds the lock from one that does not; after
 * leader_stop the process leads no more and the lock is free again.
 * Heartbeats: many heartbeats of a few probes end up as the latest figures of
 * each probe, stored in fewer statements than heartbeats, with the drop total
 * grown by what each probe's counter grew. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "hb_batch.h"
#include "ingest.h"
#include "leader.h"
#include "store.h"

static const char *db_url(void)
{
    const char *url = getenv("PICKET_TEST_PG_URL");
    if (!url || !url[0])
        fail_msg("PICKET_TEST_PG_URL is not set: run this test through "
                 "tests/integration/pgharness.py run -- test_leader_hb (ctest does)");
    return url;
}

static struct store *open_migrated(void)
{
    char err[512];
    struct store *s = store_open(db_url(), err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    int applied;
    if (store_migrate(s, &applied, err, sizeof err) < 0)
        fail_msg("%s", err);
    return s;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls leader_holds() for up to ms; returns its last value. */
static int holds_within(int ms, int want)
{
    for (int waited = 0; waited < ms; waited += 50) {
        if (leader_holds() == want)
            return want;
        sleep_ms(50);
    }
    return leader_holds();
}

static void leader_follows_the_lock(void **state)
{
    (void)state;
    char err[512];
    struct store *other = open_migrated();
    assert_int_equal(store_leader_try(other, err, sizeof err), 1);
    assert_int_equal(store_leader_held(other, err, sizeof err), 1);

    assert_int_equal(leader_holds(), 1); /* no election running: a lone process leads */
    assert_int_equal(leader_start(db_url(), err, sizeof err), 0);
    sleep_ms(2500); /* two tries while the other session holds the lock */
    assert_int_equal(leader_holds(), 0);
    struct leader_stats st;
    leader_get_stats(&st);
    assert_int_equal(st.electing, 1);
    assert_int_equal(st.became_leader, 0);

    store_close(other); /* its session ends: the lock is free */
    assert_int_equal(holds_within(5000, 1), 1);
    leader_get_stats(&st);
    assert_int_equal(st.became_leader, 1);
    assert_int_equal(st.lost, 0);
    sleep_ms(2500); /* held across checks: no flapping */
    leader_get_stats(&st);
    assert_int_equal(st.leader, 1);
    assert_int_equal(st.became_leader, 1);

    /* A second session can neither take it nor claims to hold it. */
    struct store *third = open_migrated();
    assert_int_equal(store_leader_try(third, err, sizeof err), 0);
    assert_int_equal(store_leader_held(third, err, sizeof err), 0);

    leader_stop();
    assert_int_equal(leader_holds(), 0);
    /* Released with the session: the server ends the closed session's backend (and
     * frees its lock) a moment after the client leaves, later on a loaded machine. */
    int got = 0;
    for (int waited = 0; waited < 5000 && (got = store_leader_try(third, err, sizeof err)) == 0; waited += 50)
        sleep_ms(50);
    assert_int_equal(got, 1);
    store_close(third);
}

static int64_t add_probe(struct store *s, const char *name)
{
    char err[512];
    struct store_probe_info info = {.name = name, .region = "test"};
    int64_t id;
    uint64_t committed;
    if (store_upsert_probe(s, &info, &id, &committed, err, sizeof err) < 0)
        fail_msg("%s", err);
    return id;
}

static void heartbeats_batched_latest_wins(void **state)
{
    (void)state;
    char err[512];
    struct store *s = open_migrated();
    enum { PROBES = 3, ROUNDS = 200 };
    int64_t ids[PROBES];
    for (int p = 0; p < PROBES; p++) {
        char name[32];
        snprintf(name, sizeof name, "hb-probe-%d", p);
        ids[p] = add_probe(s, name);
    }
    struct ingest_config cfg = {.conninfo = db_url(), .writers = 1};
    struct ingest *in = ingest_start(&cfg, err, sizeof err);
    assert_non_null(in);
    uint64_t hb0, st0;
    hb_batch_stats(&hb0, &st0);
    /* Each probe's counters rise with each round: the last round is 199; drops
     * restart once at round 100 (a new spool), so the stored total is 99 + 99. */
    for (int r = 0; r < ROUNDS; r++)
        for (int p = 0; p < PROBES; p++) {
            struct store_heartbeat hb = {.pending = (uint64_t)(r * 10 + p), .dropped = (uint64_t)(r % 100),
                                         .spool_bytes = (uint64_t)(r * 1000 + p)};
            hb_batch_add(in, ids[p], &hb);
        }
    uint64_t hb1 = hb0, st1 = st0;
    struct store_probe_row *rows = NULL;
    size_t n = 0;
    int done = 0;
    for (int waited = 0; waited < 10000 && !done; waited += 50) {
        sleep_ms(50);
        hb_batch_stats(&hb1, &st1);
        free(rows);
        rows = NULL;
        if (store_probe_status(s, &rows, &n, err, sizeof err) < 0)
            fail_msg("%s", err);
        done = 1;
        for (size_t i = 0; i < n; i++) {
            uint64_t want = (uint64_t)(199 * 1000 + rows[i].name[9] - '0');
            if (!strncmp(rows[i].name, "hb-probe-", 9) && rows[i].spool_bytes != want)
                done = 0;
        }
    }
    assert_true(done);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(rows[i].name, "hb-probe-", 9) != 0)
            continue;
        int p = rows[i].name[9] - '0';
        seen++;
        assert_int_equal(rows[i].pending, 199 * 10 + p);
        /* Not every heartbeat is stored (the latest per probe wins), so the drop
         * total is what the stored ones saw grow: at most 99 + 99. */
        assert_true(rows[i].dropped <= 198);
    }
    assert_int_equal(seen, PROBES);
    assert_true(st1 > st0);
    assert_true(st1 - st0 < (uint64_t)(PROBES * ROUNDS)); /* batched */
    assert_true(hb1 - hb0 <= (uint64_t)(PROBES * ROUNDS));
    free(rows);
    ingest_stop(in);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leader_follows_the_lock),
        cmocka_unit_test(heartbeats_batched_latest_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
