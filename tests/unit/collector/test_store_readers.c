/* test_store_readers.c: every public reader of collector/store/ that returns
 * rows, against a real, fresh PostgreSQL (PICKET_TEST_PG_URL, from
 * tests/integration/pgharness.py; FAILS without it). The rows are written with
 * psql, never through the store, and every column holds a value no other column
 * of the row holds, so a column read into the wrong field fails a test. */
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
#include "store.h"






/* A recent instant with a microsecond part; every stored time is T0 + k seconds. */
static int64_t t0_us;
#define AT(sec) (t0_us + (int64_t)(sec) * 1000000)
#define TS "('epoch'::timestamptz + %" PRId64 " * interval '1 microsecond')"

/* One result of check ca; total is SQL text ("NULL" or digits). */
static void add_result(const char *probe, int seq, int64_t at_us, int outcome, int error_class, int status_code,
                       const char *total, const char *message)
{
    char out[64];
    pgt_sql(out, sizeof out,
        "INSERT INTO results (probe_id, seq, check_id, started_at, outcome, error_class, status_code, total_us, "
        "message) SELECT p.id, %d, c.id, " TS ", %d, %d, %d, %s, '%s' FROM probes p, checks c "
        "WHERE p.name = '%s' AND c.name = 'ca'",
        seq, at_us, outcome, error_class, status_code, total, message, probe);
}

static void setup_data(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512], out[64];
    int applied = 0;
    if (store_migrate(s, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    t0_us = ((int64_t)time(NULL) - 600) * 1000000 + 123457;
    pgt_sql(out, sizeof out,
        "INSERT INTO probes (name, region, last_seen, pending_results, dropped_results, spool_bytes, committed_seq) "
        "VALUES ('pa', 'reg-a', " TS ", 11, 22, 33, 44), ('pb', 'reg-b', " TS ", 55, 66, 77, 88)",
        AT(1), AT(2));
    pgt_sql(out, sizeof out,
        "INSERT INTO checks (name, type, target, interval_ms, service, budget_p50_ms, budget_p95_ms, budget_p99_ms, "
        "slo_target_percent, slo_window_ms) VALUES ('ca', 'http', 'https://a', 1001, 'svc-a', 1002, 1003, 1004, "
        "99.25, 1005), ('cb', 'tcp', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
    pgt_sql(out, sizeof out,
        "INSERT INTO probe_checks (probe_id, check_id) SELECT p.id, c.id FROM probes p, checks c "
        "WHERE c.name = 'ca' OR (c.name = 'cb' AND p.name = 'pa')");
    /* ca: three results from pa (reg-a, 2 ok), then the latest from pb (reg-b, failed). */
    add_result("pa", 1, AT(10), 1, 0, 200, "100", "first");
    add_result("pa", 2, AT(20), 1, 0, 201, "200", "second");
    add_result("pa", 3, AT(5), 2, 1, 202, "NULL", "third");
    add_result("pb", 1, AT(30), 3, 5, 418, "7007", "msg-last");
}

static void read_probe_status(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512];
    struct store_probe_row *rows = NULL;
    size_t n = 0;
    setup_data(state);
    if (store_probe_status(s, &rows, &n, err, sizeof err) != 0)
        fail_msg("probe status: %s", err);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "pa");
    assert_string_equal(rows[0].region, "reg-a");
    assert_int_equal(rows[0].last_seen_us, AT(1));
    assert_int_equal(rows[0].pending, 11);
    assert_int_equal(rows[0].dropped, 22);
    assert_int_equal(rows[0].spool_bytes, 33);
    assert_int_equal(rows[0].committed_seq, 44);
    assert_string_equal(rows[1].name, "pb");
    assert_string_equal(rows[1].region, "reg-b");
    assert_int_equal(rows[1].last_seen_us, AT(2));
    assert_int_equal(rows[1].pending, 55);
    assert_int_equal(rows[1].dropped, 66);
    assert_int_equal(rows[1].spool_bytes, 77);
    assert_int_equal(rows[1].committed_seq, 88);
    free(rows);
}

static void read_check_meta(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512];
    struct store_check_meta *rows = NULL;
    size_t n = 0;
    if (store_check_meta(s, &rows, &n, err, sizeof err) != 0)
        fail_msg("check meta: %s", err);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "ca");
    assert_string_equal(rows[0].type, "http");
    assert_string_equal(rows[0].service, "svc-a");
    assert_int_equal(rows[0].interval_ms, 1001);
    assert_int_equal(rows[0].meta.budget_p50_ms, 1002);
    assert_int_equal(rows[0].meta.budget_p95_ms, 1003);
    assert_int_equal(rows[0].meta.budget_p99_ms, 1004);
    assert_true(rows[0].meta.slo_target_percent == 99.25);
    assert_int_equal(rows[0].meta.slo_window_ms, 1005);
    /* NULL metadata reads as "not given". */
    assert_string_equal(rows[1].name, "cb");
    assert_string_equal(rows[1].type, "tcp");
    assert_string_equal(rows[1].service, "");
    assert_int_equal(rows[1].interval_ms, 0);
    assert_int_equal(rows[1].meta.budget_p50_ms, 0);
    assert_int_equal(rows[1].meta.budget_p95_ms, 0);
    assert_int_equal(rows[1].meta.budget_p99_ms, 0);
    assert_true(rows[1].meta.slo_target_percent == 0);
    assert_int_equal(rows[1].meta.slo_window_ms, 0);
    free(rows);
}

static void read_status(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512];
    struct store_status_row *rows = NULL;
    size_t n = 0;
    if (store_status(s, NULL, &rows, &n, err, sizeof err) != 0)
        fail_msg("status: %s", err);
    assert_int_equal(n, 2);
    const struct store_status_row *a = &rows[0], *b = &rows[1];
    assert_string_equal(a->check_name, "ca");
    assert_string_equal(a->check_type, "http");
    assert_int_equal(a->last_started_at_us, AT(30));
    assert_int_equal(a->last_outcome, 3);
    assert_string_equal(a->last_message, "msg-last");
    assert_int_equal(a->last_total_us, 7007);
    assert_int_equal(a->last_status_code, 418);
    assert_string_equal(a->last_probe, "pb");
    assert_string_equal(a->last_region, "reg-b");
    assert_int_equal(a->probes, 2);
    assert_int_equal(a->n_regions, 2);
    assert_string_equal(a->regions[0].region, "reg-a");
    assert_int_equal(a->regions[0].total, 3);
    assert_int_equal(a->regions[0].ok, 2);
    assert_string_equal(a->regions[1].region, "reg-b");
    assert_int_equal(a->regions[1].total, 1);
    assert_int_equal(a->regions[1].ok, 0);
    /* A check without results: the documented "none" values. */
    assert_string_equal(b->check_name, "cb");
    assert_string_equal(b->check_type, "tcp");
    assert_int_equal(b->last_started_at_us, 0);
    assert_int_equal(b->last_outcome, 0);
    assert_string_equal(b->last_message, "");
    assert_int_equal(b->last_total_us, -1);
    assert_int_equal(b->last_status_code, 0);
    assert_string_equal(b->last_probe, "");
    assert_string_equal(b->last_region, "");
    assert_int_equal(b->probes, 1);
    assert_int_equal(b->n_regions, 0);
    free(rows);

    /* One check by name; an unknown name is an error that names it. */
    assert_int_equal(store_status(s, "cb", &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].check_name, "cb");
    free(rows);
    assert_int_equal(store_status(s, "nope", &rows, &n, err, sizeof err), -2); /* not found */
    assert_string_equal(err, "check 'nope' is not known");
}

static void read_alert_rounds(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512];
    struct store_alert_round *rows = NULL;
    size_t n = 0;
    if (store_alert_rounds(s, AT(0), &rows, &n, err, sizeof err) != 0)
        fail_msg("alert rounds: %s", err);
    assert_int_equal(n, 4);
    /* by started_at: pa's third result (total NULL) comes first */
    assert_string_equal(rows[0].check, "ca");
    assert_string_equal(rows[0].region, "reg-a");
    assert_int_equal(rows[0].at_us, AT(5));
    assert_int_equal(rows[0].outcome, 2);
    assert_int_equal(rows[0].total_us, -1);
    assert_int_equal(rows[1].at_us, AT(10));
    assert_int_equal(rows[1].total_us, 100);
    assert_string_equal(rows[3].check, "ca");
    assert_string_equal(rows[3].region, "reg-b");
    assert_int_equal(rows[3].at_us, AT(30));
    assert_int_equal(rows[3].outcome, 3);
    assert_int_equal(rows[3].total_us, 7007);
    free(rows);
    assert_int_equal(store_alert_rounds(s, AT(25), &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].at_us, AT(30));
    free(rows);
}

static void read_alert_states(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512], out[64];
    struct store_alert_state *rows = NULL;
    size_t n = 0;
    pgt_sql(out, sizeof out,
        "INSERT INTO alert_state (rule, subject, firing, since, last_change, flips, flap_window_start, flapping, "
        "last_notified, notified_firing, value, summary) VALUES "
        "('rule-1', 'subj-1', true, " TS ", " TS ", 7, " TS ", false, " TS ", true, 12.5, 'sum-1'), "
        "('rule-2', 'subj-2', false, " TS ", " TS ", 8, " TS ", true, NULL, false, NULL, NULL)",
        AT(101), AT(102), AT(103), AT(104), AT(201), AT(202), AT(203));
    if (store_alert_states(s, &rows, &n, err, sizeof err) != 0)
        fail_msg("alert states: %s", err);
    assert_int_equal(n, 2);
    const struct store_alert_state *a = &rows[0], *b = &rows[1];
    assert_string_equal(a->rule, "rule-1");
    assert_string_equal(a->subject, "subj-1");
    assert_int_equal(a->firing, 1);
    assert_int_equal(a->since_us, AT(101));
    assert_int_equal(a->last_change_us, AT(102));
    assert_int_equal(a->flips, 7);
    assert_int_equal(a->flap_window_start_us, AT(103));
    assert_int_equal(a->flapping, 0);
    assert_int_equal(a->last_notified_us, AT(104));
    assert_int_equal(a->notified_firing, 1);
    assert_int_equal(a->has_value, 1);
    assert_true(a->value == 12.5);
    assert_string_equal(a->summary, "sum-1");
    /* the opposite flags, and the NULLs */
    assert_string_equal(b->rule, "rule-2");
    assert_string_equal(b->subject, "subj-2");
    assert_int_equal(b->firing, 0);
    assert_int_equal(b->since_us, AT(201));
    assert_int_equal(b->last_change_us, AT(202));
    assert_int_equal(b->flips, 8);
    assert_int_equal(b->flap_window_start_us, AT(203));
    assert_int_equal(b->flapping, 1);
    assert_int_equal(b->last_notified_us, 0);
    assert_int_equal(b->notified_firing, 0);
    assert_int_equal(b->has_value, 0);
    assert_true(b->value == 0);
    assert_string_equal(b->summary, "");
    free(rows);
}

static void read_outbox(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512], out[64];
    struct store_outbox_row *rows = NULL;
    size_t n = 0;
    pgt_sql(out, sizeof out,
        "INSERT INTO alert_outbox (receiver, event_key, group_key, payload, attempts, next_attempt) VALUES "
        "('recv-1', 'ev-1', 'grp-1', '{\"a\": 1}', 9, now() - interval '1 minute'), "
        "('recv-2', 'ev-2', 'grp-2', '[2]', 3, now() + interval '1 hour') RETURNING id");
    int64_t id = strtoll(out, NULL, 10);
    if (store_outbox_due(s, 10, &rows, &n, err, sizeof err) != 0)
        fail_msg("outbox: %s", err);
    assert_int_equal(n, 1); /* the second is not due */
    assert_int_equal(rows[0].id, id);
    assert_string_equal(rows[0].receiver, "recv-1");
    assert_string_equal(rows[0].event_key, "ev-1");
    assert_string_equal(rows[0].group_key, "grp-1");
    assert_string_equal(rows[0].payload, "{\"a\": 1}");
    assert_int_equal(rows[0].attempts, 9);
    store_outbox_free(rows, n);
}

static void read_assign_changes(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512];
    struct store_assign_file file = {"checks.yaml", NULL, NULL};
    struct pk_kv keys_v1[] = {{"interval", "10s"}, {"target", "https://a"}};
    struct pk_kv keys_v2[] = {{"interval", "20s"}, {"target", "https://b"}};
    struct store_assign_check v1[] = {
        {.name = "x1", .definition = "name: x1", .keys = keys_v1, .n_keys = 2, .type = "http", .target = "https://a",
         .interval_ms = 10000},
        {.name = "x2", .definition = "name: x2", .keys = keys_v1, .n_keys = 1, .type = "http", .target = "https://a",
         .interval_ms = 10000},
    };
    struct store_assign_check v2[] = {
        {.name = "x1", .definition = "name: x1 (2)", .keys = keys_v2, .n_keys = 2, .type = "http",
         .target = "https://b", .interval_ms = 20000},
        {.name = "x3", .definition = "name: x3", .keys = keys_v1, .n_keys = 1, .type = "http", .target = "https://a",
         .interval_ms = 10000},
    };
    int64_t version = 0;
    int created = 0;
    struct store_assign_change *changes = NULL;
    size_t n = 0;
    if (store_assign_apply(s, &file, 1, v1, 2, 1, &version, &created, &changes, &n, err, sizeof err) != 0)
        fail_msg("apply: %s", err);
    assert_int_equal(version, 1);
    assert_int_equal(created, 1);
    assert_int_equal(n, 2);
    free(changes);
    if (store_assign_apply(s, &file, 1, v2, 2, 0, &version, &created, &changes, &n, err, sizeof err) != 0)
        fail_msg("diff: %s", err);
    assert_int_equal(version, 1);
    assert_int_equal(created, 0);
    assert_int_equal(n, 3);
    assert_string_equal(changes[0].name, "x1");
    assert_string_equal(changes[0].change, "changed");
    assert_string_equal(changes[0].keys, "interval,target");
    assert_string_equal(changes[1].name, "x2");
    assert_string_equal(changes[1].change, "removed");
    assert_string_equal(changes[1].keys, "");
    assert_string_equal(changes[2].name, "x3");
    assert_string_equal(changes[2].change, "added");
    assert_string_equal(changes[2].keys, "");
    free(changes);

    /* The documents of version 1 for probe pa: one file, its checks in order. */
    char out[64];
    pgt_sql(out, sizeof out, "SELECT id FROM probes WHERE name = 'pa'");
    struct store_assign_doc *docs = NULL;
    if (store_assign_documents(s, 1, strtoll(out, NULL, 10), &docs, &n, err, sizeof err) != 0)
        fail_msg("documents: %s", err);
    assert_int_equal(n, 1);
    assert_string_equal(docs[0].origin, "checks.yaml (checks version 1)");
    assert_string_equal(docs[0].yaml, "checks:\n- name: x1\n- name: x2\n");
    store_assign_documents_free(docs, n);
}

static void read_probe_name_and_credential(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512], out[64], name[128];
    const char *hash = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    pgt_sql(out, sizeof out, "SELECT id FROM probes WHERE name = 'pb'");
    int64_t probe_id = strtoll(out, NULL, 10);
    assert_int_equal(store_probe_name(s, probe_id, name, sizeof name, err, sizeof err), 1);
    assert_string_equal(name, "pb");
    assert_int_equal(store_probe_name(s, probe_id + 1000, name, sizeof name, err, sizeof err), 0);
    /* A Hello's one statement: the same name, and the same checks as store_probe_check_types,
     * in byte order; none for a probe without checks; nothing for an unknown id. */
    pgt_sql(out, sizeof out, "INSERT INTO probes (name, region) VALUES ('ph', 'r1') RETURNING id");
    int64_t ph = strtoll(out, NULL, 10);
    struct store_probe_check *hc = NULL, *tc = NULL;
    size_t hn = 9, tn = 9;
    assert_int_equal(store_probe_hello(s, ph, name, sizeof name, &hc, &hn, err, sizeof err), 1);
    assert_string_equal(name, "ph");
    assert_null(hc);
    assert_int_equal(hn, 0);
    pgt_sql(out, sizeof out,
            "WITH c AS (INSERT INTO checks (name, type) VALUES ('hz-b', 'http'), ('hz-B', 'tcp'), ('hz-a', 'dns') "
            "RETURNING id) INSERT INTO probe_checks (probe_id, check_id) SELECT %lld, id FROM c RETURNING 1",
            (long long)ph);
    assert_int_equal(store_probe_hello(s, ph, name, sizeof name, &hc, &hn, err, sizeof err), 1);
    assert_int_equal(store_probe_check_types(s, ph, &tc, &tn, err, sizeof err), 0);
    assert_int_equal(hn, 3);
    assert_int_equal(tn, 3);
    assert_string_equal(hc[0].name, "hz-B"); /* byte order: upper case first */
    assert_string_equal(hc[0].type, "tcp");
    assert_string_equal(hc[1].name, "hz-a");
    assert_string_equal(hc[2].name, "hz-b");
    for (size_t i = 0; i < hn; i++) {
        assert_string_equal(hc[i].name, tc[i].name);
        assert_string_equal(hc[i].type, tc[i].type);
        /* each with its check's id, which the stream hands the writers */
        char want[32];
        pgt_sql(want, sizeof want, "SELECT id FROM checks WHERE name = '%s'", hc[i].name);
        assert_int_equal(hc[i].id, strtoll(want, NULL, 10));
        assert_int_equal(tc[i].id, hc[i].id);
    }
    free(hc);
    free(tc);
    hc = NULL;
    assert_int_equal(store_probe_hello(s, ph + 1000, name, sizeof name, &hc, &hn, err, sizeof err), 0);
    assert_null(hc);
    pgt_sql(out, sizeof out,
        "INSERT INTO credentials (role, name, probe_name, token_sha256) VALUES ('read', 'reader-1', NULL, "
        "decode('%s', 'hex')) RETURNING id",
        hash);
    int64_t cred_id = strtoll(out, NULL, 10), got_id = 0;
    struct pk_identity who;
    assert_int_equal(store_credential_lookup(s, hash, &who, &got_id, err, sizeof err), 1);
    assert_int_equal(got_id, cred_id);
    assert_int_equal(who.role, PK_ROLE_READ);
    assert_string_equal(who.name, "reader-1");
}

/* First round starting at or after t (t, spread >= 0 here). */
static int64_t first_round(int64_t t, int64_t interval, int64_t spread)
{
    int64_t x = t - spread;
    return (x + interval - 1) / interval;
}

/* Up and down rounds of the runs read from the database, clipped to [kf, ku). */
static void counted(struct store *s, const char *check, const char *scope, int64_t kf, int64_t ku, int64_t *up,
                    int64_t *down)
{
    char err[512];
    struct store_round_run *runs = NULL;
    size_t n = 0;
    if (store_round_runs_read(s, check, scope, kf, ku, &runs, &n, err, sizeof err) != 0)
        fail_msg("runs: %s", err);
    *up = *down = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t a = runs[i].from > kf ? runs[i].from : kf, b = runs[i].to < ku - 1 ? runs[i].to : ku - 1;
        if (b >= a)
            *(runs[i].state == 1 ? up : down) += b - a + 1;
    }
    free(runs);
}

/* store_tracked_prefetch answers the rule, round-count and incident reads of
 * many checks from three statements with what the per-check reads give, and
 * leaves what it does not hold (another window, another span) to the database. */
static void read_tracked_prefetch(void **state)
{
    struct store *s = pgt_live(state, "test_store_readers");
    char err[512], out[64];
    pgt_sql(out, sizeof out,
        "INSERT INTO round_trackers (check_id, interval_us, spread_us, open_after, close_after, quorum) "
        "SELECT id, CASE name WHEN 'ca' THEN 60000000 ELSE 30000000 END, CASE name WHEN 'ca' THEN 7000000 ELSE 0 END, "
        "CASE name WHEN 'ca' THEN 3 ELSE 2 END, 3, 1 FROM checks WHERE name IN ('ca', 'cb')");
    pgt_sql(out, sizeof out,
        "INSERT INTO round_runs (check_id, scope, from_round, to_round, state, regions) SELECT c.id, v.scope, v.f, "
        "v.t, v.st, v.r::text[] FROM checks c JOIN (VALUES ('ca', '*', 0, 50, 1, '{}'), ('ca', '*', 100, 149, 1, "
        "'{}'), ('ca', '*', 150, 159, 2, '{reg-a}'), ('ca', '*', 160, 300, 1, '{}'), ('ca', 'reg-a', 100, 149, 1, "
        "'{}'), ('ca', 'reg-a', 150, 159, 2, '{}'), ('ca', 'reg-a', 160, 300, 1, '{}'), ('ca', 'reg-b', 90, 300, 1, "
        "'{}'), ('cb', '*', 200, 400, 1, '{}'), ('cb', 'reg-a', 200, 260, 1, '{}'), ('cb', 'reg-a', 261, 270, 2, "
        "'{}')) v(name, scope, f, t, st, r) ON v.name = c.name");
    pgt_sql(out, sizeof out,
        "INSERT INTO incidents (check_id, scope, start_round, opened_round, end_round, closed_round, start_us, "
        "opened_us, end_us, closed_us, interval_us, down_rounds, regions, open_after, close_after, quorum) "
        "SELECT id, '*', 150, 152, 160, 162, 9007000000, 9127000000, 9607000000, 9727000000, 60000000, 10, "
        "'{reg-a}'::text[], 3, 3, 1 FROM checks WHERE name = 'ca' UNION ALL SELECT id, 'reg-a', 10, 12, 20, 22, "
        "607000000, 727000000, 1207000000, 1327000000, 60000000, 10, '{}', 3, 3, 1 FROM checks WHERE name = 'ca'");
    const int64_t since = 120 * INT64_C(60000000), until = 250 * INT64_C(60000000);
    const char *names[] = {"cb", "ca", "cz-unknown"};
    const int64_t iv[] = {30000000, 60000000}, sp[] = {0, 7000000};
    const char *scopes[] = {"*", "reg-a", "reg-b"};
    int64_t want[2][3][2];
    struct store_track_rule rule_db[2];
    for (int c = 0; c < 2; c++) {
        assert_int_equal(store_track_rule_read(s, names[c], &rule_db[c], err, sizeof err), 1);
        for (int k = 0; k < 3; k++)
            counted(s, names[c], scopes[k], first_round(since, iv[c], sp[c]), first_round(until, iv[c], sp[c]),
                    &want[c][k][0], &want[c][k][1]);
    }
    assert_int_equal(want[1][0][0], 120); /* ca global: 120-149 and 160-249 up, 150-159 down */
    assert_int_equal(want[1][0][1], 10);
    assert_int_equal(want[0][1][1], 10); /* cb reg-a: 261-270 down */
    struct store_incident *db_inc = NULL, *pf_inc = NULL;
    size_t n_db = 0, n_pf = 0;
    assert_int_equal(store_incidents_read(s, "ca", NULL, since, until, &db_inc, &n_db, err, sizeof err), 0);
    assert_int_equal(n_db, 1);

    if (store_tracked_prefetch(s, names, 3, since, until, since - 3600000000, until, err, sizeof err) != 0)
        fail_msg("prefetch: %s", err);
    for (int c = 0; c < 2; c++) {
        struct store_track_rule r;
        assert_int_equal(store_track_rule_read(s, names[c], &r, err, sizeof err), 1);
        /* field by field: the struct's tail padding is not part of the answer */
        assert_int_equal(r.interval_us, rule_db[c].interval_us);
        assert_int_equal(r.spread_us, rule_db[c].spread_us);
        assert_int_equal(r.open_after, rule_db[c].open_after);
        assert_int_equal(r.close_after, rule_db[c].close_after);
        assert_int_equal(r.quorum, rule_db[c].quorum);
        int64_t kf = first_round(since, iv[c], sp[c]), ku = first_round(until, iv[c], sp[c]), up = -1, down = -1;
        for (int k = 0; k < 3; k++) {
            assert_int_equal(store_round_counts(s, names[c], scopes[k], kf, ku, &up, &down), 1);
            assert_int_equal(up, want[c][k][0]);
            assert_int_equal(down, want[c][k][1]);
        }
        assert_int_equal(store_round_counts(s, names[c], "*", kf - 1, ku, &up, &down), 0); /* another window */
    }
    struct store_track_rule r;
    assert_int_equal(store_track_rule_read(s, "cz-unknown", &r, err, sizeof err), 0);
    assert_int_equal(store_incidents_read(s, "ca", NULL, since, until, &pf_inc, &n_pf, err, sizeof err), 0);
    assert_int_equal(n_pf, n_db);
    assert_memory_equal(pf_inc, db_inc, n_db * sizeof *db_inc);
    free(pf_inc);
    /* the old regional incident is outside the prefetched span: read from the database */
    assert_int_equal(store_incidents_read(s, "ca", "reg-a", 0, until, &pf_inc, &n_pf, err, sizeof err), 0);
    assert_int_equal(n_pf, 1);
    assert_int_equal(pf_inc[0].start_round, 10);
    free(pf_inc);
    store_tracked_prefetch_end(s);
    int64_t up, down;
    assert_int_equal(store_round_counts(s, "ca", "*", first_round(since, iv[1], sp[1]),
                                        first_round(until, iv[1], sp[1]), &up, &down), 0);
    /* one scope counted (incidents): its counts as the runs give them; another
     * scope is not held (its runs are read) */
    if (store_tracked_prefetch_scope(s, names, 3, since, until, since, until, "*", err, sizeof err) != 0)
        fail_msg("prefetch of one scope: %s", err);
    for (int c = 0; c < 2; c++) {
        int64_t kf = first_round(since, iv[c], sp[c]), ku = first_round(until, iv[c], sp[c]);
        up = down = -1;
        assert_int_equal(store_round_counts(s, names[c], "*", kf, ku, &up, &down), 1);
        assert_int_equal(up, want[c][0][0]);
        assert_int_equal(down, want[c][0][1]);
        assert_int_equal(store_round_counts(s, names[c], "reg-a", kf, ku, &up, &down), 0);
    }
    store_tracked_prefetch_end(s);
    /* The runs above were stored without running totals (NULL: summed). Migration
     * 029 fills them: the same counts, now from two lookups per scope; and they
     * are what is read (a wrong total shows in the answer). */
    pgt_sql(out, sizeof out, "UPDATE round_runs SET up_before = NULL, down_before = NULL; "
                             "DELETE FROM picket_schema WHERE version = 29");
    int applied = 0;
    if (store_migrate(s, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM round_runs WHERE up_before IS NULL"), 0);
    assert_int_equal(pgt_sql_int("SELECT r.up_before FROM round_runs r JOIN checks c ON c.id = r.check_id "
                                 "WHERE c.name = 'ca' AND r.scope = '*' AND r.from_round = 160"), 51 + 50);
    for (int pass = 0; pass < 2; pass++) {
        if (store_tracked_prefetch(s, names, 3, since, until, since, until, err, sizeof err) != 0)
            fail_msg("prefetch with totals: %s", err);
        for (int c = 0; c < 2; c++) {
            int64_t kf = first_round(since, iv[c], sp[c]), ku = first_round(until, iv[c], sp[c]);
            for (int k = 0; k < 3; k++) {
                assert_int_equal(store_round_counts(s, names[c], scopes[k], kf, ku, &up, &down), 1);
                assert_int_equal(up, want[c][k][0] + (pass == 1 && c == 1 && k == 0 ? 1000 : 0));
                assert_int_equal(down, want[c][k][1]);
            }
        }
        store_tracked_prefetch_end(s);
        pgt_sql(out, sizeof out, "UPDATE round_runs r SET up_before = up_before + 1000 FROM checks c WHERE "
                                 "c.id = r.check_id AND c.name = 'ca' AND r.scope = '*' AND r.from_round = 160");
    }
    /* Migration 037 fills the chains (check, scope) with a NULL total, whole,
     * and leaves the others as they are (ca's global chain keeps its +1000). */
    pgt_sql(out, sizeof out, "UPDATE round_runs r SET up_before = NULL, down_before = NULL FROM checks c WHERE "
                             "c.id = r.check_id AND c.name = 'cb' AND r.scope = 'reg-a' AND r.from_round = 261; "
                             "UPDATE round_runs r SET up_before = 7, down_before = 7 FROM checks c WHERE "
                             "c.id = r.check_id AND c.name = 'cb' AND r.scope = 'reg-a' AND r.from_round = 200; "
                             "DELETE FROM picket_schema WHERE version = 37");
    applied = 0;
    if (store_migrate(s, &applied, err, sizeof err) != 0)
        fail_msg("migrate 037: %s", err);
    assert_int_equal(applied, 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM round_runs WHERE up_before IS NULL"), 0);
    assert_int_equal(pgt_sql_int("SELECT r.up_before * 1000 + r.down_before FROM round_runs r JOIN checks c ON "
                                 "c.id = r.check_id WHERE c.name = 'cb' AND r.scope = 'reg-a' AND "
                                 "r.from_round = 261"),
                     61 * 1000);
    assert_int_equal(pgt_sql_int("SELECT r.up_before FROM round_runs r JOIN checks c ON c.id = r.check_id "
                                 "WHERE c.name = 'cb' AND r.scope = 'reg-a' AND r.from_round = 200"),
                     0);
    assert_int_equal(pgt_sql_int("SELECT r.up_before FROM round_runs r JOIN checks c ON c.id = r.check_id "
                                 "WHERE c.name = 'ca' AND r.scope = '*' AND r.from_round = 160"),
                     51 + 50 + 2000);
    free(db_inc);
}

int main(void)
{
    /* Order matters: the first test migrates the fresh database and writes the rows. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(read_probe_status), cmocka_unit_test(read_check_meta),   cmocka_unit_test(read_status),
        cmocka_unit_test(read_alert_rounds), cmocka_unit_test(read_alert_states), cmocka_unit_test(read_outbox),
        cmocka_unit_test(read_assign_changes), cmocka_unit_test(read_probe_name_and_credential),
        cmocka_unit_test(read_tracked_prefetch),
    };
    return cmocka_run_group_tests_name("store readers with PostgreSQL", tests, pgt_open_state, pgt_close_state) ? 1 : 0;
}
