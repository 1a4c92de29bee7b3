/* test_store_tracker.c: the tracker's SQL (collector/store/tracker.c,
 * incidents.c) against a real, fresh PostgreSQL (PICKET_TEST_PG_URL, from
 * tests/integration/pgharness.py; FAILS without it). Results are written with
 * store_write_batches as the writers do, round by round, then folded with
 * store_track_batches; the stored incidents are read back with
 * store_incidents_read. Two checks get the same history: "tk-on" on time,
 * "tk-late" with region c cut off for ten rounds and replayed three rounds
 * later. Both must store the same incidents; a restart (a fresh store handle)
 * continues from what is stored. Those folds read the writers' round_cells
 * (migration 024); "tk-res" gets the late history again with round_cells_since
 * moved past it, so its folds read the results instead, and must store the
 * same runs; and the writers' cells must count every result once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgtest.h"
#include "rounds.h"
#include "store.h"

/* A store on PICKET_TEST_PG_URL (pgtest.h); fails the test without one. */
static struct store *open_store(void)
{
    struct store *s = pgt_open_store();
    if (!s)
        fail_msg("no store on PICKET_TEST_PG_URL (see above)");
    return s;
}

#define ROUNDS 30
#define INTERVAL_MS 60000
/* Region a down 5-14, b down 10-19 (overlapping), c up except 8-9. Quorum 2. */
static const char *const history[3] = {
    "uuuuudddddddddduuuuuuuuuuuuuuu",
    "uuuuuuuuuudddddddddduuuuuuuuuu",
    "uuuuuuuuddduuuuuuuuuuuuuuuuuuu",
};
static int64_t probe_ids[3];
static uint64_t seqs[3];
static int64_t k0; /* the first round's index */

static void write_round(struct store *s, const char *check, int region, int64_t k, int64_t now, char state)
{
    int64_t interval_us = INTERVAL_MS * INT64_C(1000);
    int64_t spread = pk_round_spread_us(check, INTERVAL_MS);
    struct pk_result r;
    memset(&r, 0, sizeof r);
    r.seq = ++seqs[region];
    snprintf(r.check_name, sizeof r.check_name, "%s", check);
    snprintf(r.check_type, sizeof r.check_type, "http");
    r.scheduled_at_us = pk_round_start(k0 + k, interval_us, spread);
    r.started_at_us = r.scheduled_at_us + 1500;
    r.outcome = state == 'd' ? PK_OUTCOME_FAILED : PK_OUTCOME_OK;
    r.total_us = 1000;
    struct store_batch b = {.probe_id = probe_ids[region], .results = &r, .n_results = 1};
    char err[512];
    if (store_write_batches(s, &b, 1, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    struct store_track_config cfg = {3, 3, 0, 5000000};
    struct store_track_stats st = {0};
    if (store_track_batches(s, &b, 1, &cfg, now, &st, err, sizeof err) != 0)
        fail_msg("track: %s", err);
    assert_int_equal(st.checks_folded, 1);
}

static int64_t round_now(const char *check, int64_t k)
{
    return pk_round_start(k0 + k + 1, INTERVAL_MS * INT64_C(1000), pk_round_spread_us(check, INTERVAL_MS)) + 500000;
}

static void feed(struct store *s, const char *check, int late)
{
    for (int k = 0; k < ROUNDS; k++) {
        for (int r = 0; r < 3; r++)
            if (!(late && r == 2 && k >= 5 && k <= 14))
                write_round(s, check, r, k, round_now(check, k), history[r][k]);
        if (late && k == 17)
            for (int j = 5; j <= 14; j++)
                write_round(s, check, 2, j, round_now(check, k) + 1000, history[2][j]);
    }
    char err[512];
    struct store_track_config cfg = {3, 3, 0, 5000000};
    if (store_track_due(s, &cfg, round_now(check, ROUNDS + 5), NULL, err, sizeof err) != 0)
        fail_msg("deadline pass: %s", err);
}

static void setup(struct store *s)
{
    char err[512], out[256];
    int applied = 0;
    if (store_migrate(s, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    k0 = (int64_t)time(NULL) / 60 - 60; /* an hour ago */
    pgt_sql(out, sizeof out,
        "INSERT INTO probes (name, region) VALUES ('pa', 'a'), ('pb', 'b'), ('pc', 'c');"
    "INSERT INTO checks (name, type, interval_ms) VALUES ('tk-on', 'http', %d), ('tk-late', 'http', %d), "
        "('tk-res', 'http', %d);"
        "INSERT INTO probe_checks (probe_id, check_id) SELECT p.id, c.id FROM probes p, checks c;"
        "SELECT string_agg(id::text, ' ' ORDER BY name) FROM probes",
        INTERVAL_MS, INTERVAL_MS, INTERVAL_MS);
    assert_int_equal(sscanf(out, "%" SCNd64 " %" SCNd64 " %" SCNd64, &probe_ids[0], &probe_ids[1], &probe_ids[2]),
                     3);
}

/* The check's runs, rounds relative to k0, in one line. */
static void runs_of(const char *check, char *out, size_t size)
{
    pgt_sql(out, size,
        "SELECT string_agg(scope || ':' || (from_round - %" PRId64 ") || '-' || (to_round - %" PRId64 ") || '=' || "
        "state || array_to_string(regions, ','), ' ' ORDER BY scope, from_round) FROM round_runs r JOIN checks c "
        "ON c.id = r.check_id WHERE c.name = '%s'",
        k0, k0, check);
}

static void read_incidents(struct store *s, const char *check, const char *scope, struct store_incident **v,
                           size_t *n)
{
    char err[512];
    if (store_incidents_read(s, check, scope, 0, INT64_MAX, v, n, err, sizeof err) != 0)
        fail_msg("read: %s", err);
}

static void test_late_region_equals_on_time(void **state)
{
    (void)state;
    struct store *s = open_store();
    setup(s);
    feed(s, "tk-on", 0);
    /* a restart: the late check is fed through a fresh connection */
    store_close(s);
    s = open_store();
    feed(s, "tk-late", 1);

    struct store_incident *on = NULL, *late = NULL;
    size_t n_on = 0, n_late = 0;
    read_incidents(s, "tk-on", NULL, &on, &n_on);
    read_incidents(s, "tk-late", NULL, &late, &n_late);
    /* global: rounds 10-14 down (a, b), 8-9 a and c: also down: 8-14, opened 10,
     * end 15, closed 17; regions a, b, c. Per region: a 5-14, b 10-19, c 8-10 */
    assert_int_equal(n_on, 4);
    const struct store_incident *g = &on[0];
    assert_string_equal(g->scope, "*");
    assert_int_equal(g->start_round - k0, 8);
    assert_int_equal(g->opened_round - k0, 10);
    assert_int_equal(g->end_round - k0, 15);
    assert_int_equal(g->closed_round - k0, 17);
    assert_int_equal(g->down_rounds, 7);
    assert_string_equal(g->regions, "a,b,c");
    assert_int_equal(g->quorum, 2);
    assert_int_equal(g->open_after, 3);
    assert_string_equal(on[1].scope, "a");
    assert_int_equal(on[1].start_round - k0, 5);
    assert_int_equal(on[1].end_round - k0, 15);
    assert_string_equal(on[2].scope, "b");
    assert_int_equal(on[2].start_round - k0, 10);
    assert_int_equal(on[2].closed_round - k0, 22);
    assert_string_equal(on[3].scope, "c");
    assert_int_equal(on[3].start_round - k0, 8);
    assert_int_equal(on[3].end_round - k0, 11);
    assert_int_equal(n_late, n_on);
    for (size_t i = 0; i < n_on; i++) {
        assert_string_equal(on[i].scope, late[i].scope);
        assert_string_equal(on[i].regions, late[i].regions);
        assert_int_equal(on[i].start_round, late[i].start_round);
        assert_int_equal(on[i].opened_round, late[i].opened_round);
        assert_int_equal(on[i].end_round, late[i].end_round);
        assert_int_equal(on[i].closed_round, late[i].closed_round);
        assert_int_equal(on[i].down_rounds, late[i].down_rounds);
    }
    /* the runs are the same too */
    char a[2048], b[2048];
    runs_of("tk-on", a, sizeof a);
    runs_of("tk-late", b, sizeof b);
    assert_string_equal(a, b);
    /* The writers stored one cell count per result: 3 regions x 30 rounds per check. */
    pgt_sql(b, sizeof b,
        "SELECT sum(length(cells) / 8), sum((SELECT sum(get_byte(cells, i * 8 + 5) + get_byte(cells, i * 8 + 7)) "
        "FROM generate_series(0, length(cells) / 8 - 1) i)) FROM round_cells c JOIN checks k ON k.id = c.check_id "
        "WHERE k.name = 'tk-on'");
    assert_string_equal(b, "90\t90");
    /* The same late history folded from the results (round_cells_since after it). */
    pgt_sql(b, sizeof b, "UPDATE round_cells_since SET since_us = 9000000000000000000");
    feed(s, "tk-res", 1);
    pgt_sql(b, sizeof b, "UPDATE round_cells_since SET since_us = -9000000000000000000");
    runs_of("tk-res", b, sizeof b);
    assert_string_equal(a, b);
    assert_string_equal(a, "*:0-7=1 *:8-9=2a,c *:10-10=2a,b,c *:11-14=2a,b *:15-29=1 a:0-4=1 a:5-14=2a a:15-29=1 b:0-9=1 "
                           "b:10-19=2b b:20-29=1 c:0-7=1 c:8-10=2c c:11-29=1");
    /* Every run's running totals (migration 029) are the up and down rounds of
     * the runs before it, through the late rewrites above. */
    assert_true(pgt_sql_int("SELECT count(*) FROM round_runs") > 20);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM (SELECT up_before, down_before, coalesce(sum(CASE WHEN "
                                 "state = 1 THEN to_round - from_round + 1 ELSE 0 END) OVER w, 0) AS ub, "
                                 "coalesce(sum(CASE WHEN state = 2 THEN to_round - from_round + 1 ELSE 0 END) "
                                 "OVER w, 0) AS db FROM round_runs WINDOW w AS (PARTITION BY check_id, scope "
                                 "ORDER BY from_round ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) x "
                                 "WHERE up_before IS DISTINCT FROM ub OR down_before IS DISTINCT FROM db"),
                     0);
    /* A check whose runs lost their totals (written by an older collector):
     * the next writes mend them from the sum of the runs before. */
    pgt_sql(b, sizeof b, "INSERT INTO checks (name, type, interval_ms) VALUES ('tk-mend', 'http', %d); "
                         "INSERT INTO probe_checks (probe_id, check_id) SELECT p.id, c.id FROM probes p, checks c "
                         "WHERE c.name = 'tk-mend'", INTERVAL_MS);
    for (int k = 0; k < ROUNDS; k++) {
        if (k == 12)
            pgt_sql(b, sizeof b, "UPDATE round_runs r SET up_before = NULL, down_before = NULL FROM checks c "
                                 "WHERE c.id = r.check_id AND c.name = 'tk-mend'");
        for (int r = 0; r < 3; r++)
            write_round(s, "tk-mend", r, k, round_now("tk-mend", k), history[r][k]);
    }
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM round_runs r JOIN checks c ON c.id = r.check_id "
                                 "WHERE c.name = 'tk-mend' AND r.up_before IS NOT NULL AND r.from_round - %" PRId64
                                 " >= 12", k0),
                     pgt_sql_int("SELECT count(*) FROM round_runs r JOIN checks c ON c.id = r.check_id "
                                 "WHERE c.name = 'tk-mend' AND r.from_round - %" PRId64 " >= 12", k0));
    assert_true(pgt_sql_int("SELECT count(*) FROM round_runs r JOIN checks c ON c.id = r.check_id "
                            "WHERE c.name = 'tk-mend' AND r.up_before IS NOT NULL AND r.up_before > 0") >= 3);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM (SELECT up_before, down_before, coalesce(sum(CASE WHEN "
                                 "state = 1 THEN to_round - from_round + 1 ELSE 0 END) OVER w, 0) AS ub, "
                                 "coalesce(sum(CASE WHEN state = 2 THEN to_round - from_round + 1 ELSE 0 END) "
                                 "OVER w, 0) AS db FROM round_runs WINDOW w AS (PARTITION BY check_id, scope "
                                 "ORDER BY from_round ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) x "
                                 "WHERE up_before IS NOT NULL AND (up_before <> ub OR down_before <> db)"),
                     0);
    /* nothing is left pending; a window clips: only incidents overlapping it */
    pgt_sql(a, sizeof a, "SELECT count(*) FROM round_trackers WHERE pending_from IS NOT NULL");
    assert_string_equal(a, "0");
    free(on);
    int64_t t18 = pk_round_start(k0 + 18, INTERVAL_MS * INT64_C(1000), pk_round_spread_us("tk-on", INTERVAL_MS));
    char err[512];
    assert_int_equal(store_incidents_read(s, "tk-on", NULL, t18, INT64_MAX, &on, &n_on, err, sizeof err), 0);
    assert_int_equal(n_on, 1); /* only b's is still down at round 18 */
    assert_string_equal(on[0].scope, "b");
    free(on);
    free(late);
    store_close(s);
}

/* A round that keeps a check's state extends its last run in place: an UPDATE
 * of the stored row (HOT: no index covers to_round, migration 030), never a
 * delete and an insert, which left a dead row per check and scope every round.
 * A trigger counts the row operations the folds make. Runs after the test
 * above (its probes). The tracker's per-check rows are updated the same way. */
static void test_tail_extends_in_place(void **state)
{
    (void)state;
    struct store *s = open_store();
    char out[512];
    pgt_sql(out, sizeof out,
        "INSERT INTO checks (name, type, interval_ms) VALUES ('tk-steady', 'http', %d);"
        "INSERT INTO probe_checks (probe_id, check_id) SELECT p.id, c.id FROM probes p, checks c "
        "WHERE c.name = 'tk-steady';"
        "CREATE TABLE tk_ops (op text NOT NULL, scope text NOT NULL, state int NOT NULL);"
        "CREATE FUNCTION tk_op() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO tk_ops "
        "VALUES (TG_OP, coalesce(NEW.scope, OLD.scope), coalesce(NEW.state, OLD.state)); RETURN NULL; END$$;"
        "CREATE TRIGGER tk_ops AFTER INSERT OR UPDATE OR DELETE ON round_runs FOR EACH ROW EXECUTE FUNCTION tk_op();"
        "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
        "WHERE tablename IN ('round_runs', 'round_trackers')",
        INTERVAL_MS);
    /* only the primary keys: the columns a fold updates are in no index (migrations 030, 031) */
    assert_string_equal(out, "round_runs_pkey,round_trackers_pkey");
    /* up for 10 rounds, down for 10 (a new run: inserted), up again */
    for (int k = 0; k < ROUNDS; k++)
        for (int r = 0; r < 3; r++)
            write_round(s, "tk-steady", r, k, round_now("tk-steady", k), k >= 10 && k < 20 ? 'd' : 'u');
    runs_of("tk-steady", out, sizeof out);
    assert_string_equal(out, "*:0-9=1 *:10-19=2a,b,c *:20-29=1 a:0-9=1 a:10-19=2a a:20-29=1 b:0-9=1 b:10-19=2b "
                             "b:20-29=1 c:0-9=1 c:10-19=2c c:20-29=1");
    /* Each run is inserted once and then only its end moves, round by round:
     * per region 2 up runs and 1 down run, 27 later rounds; no row deleted. The
     * global down run is left out: each of its rounds is decided when two
     * regions are down (a run with their two names), then merged with the run
     * before when the third arrives (a delete of that one-round run). */
    pgt_sql(out, sizeof out,
        "SELECT string_agg(k || '=' || n, ' ' ORDER BY k) FROM (SELECT op || ':' || scope || ':' || state AS k, "
        "count(*) AS n FROM tk_ops WHERE NOT (scope = '*' AND state = 2) GROUP BY 1) o");
    assert_string_equal(out, "INSERT:*:1=2 INSERT:a:1=2 INSERT:a:2=1 INSERT:b:1=2 INSERT:b:2=1 INSERT:c:1=2 "
                             "INSERT:c:2=1 UPDATE:*:1=18 UPDATE:a:1=18 UPDATE:a:2=9 UPDATE:b:1=18 UPDATE:b:2=9 "
                             "UPDATE:c:1=18 UPDATE:c:2=9");
    pgt_sql(out, sizeof out, "DROP TRIGGER tk_ops ON round_runs; DROP FUNCTION tk_op(); DROP TABLE tk_ops");
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_region_equals_on_time),
        cmocka_unit_test(test_tail_extends_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
