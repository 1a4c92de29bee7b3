/* test_store_pg.c: collector/store/. Part 1 checks the COPY row encoding
 * (pure). Part 2 runs against a real, fresh PostgreSQL database named by
 * PICKET_TEST_PG_URL (tests/integration/pgharness.py provides one) and FAILS when
 * that variable is missing. The database is read back through psql, not through the
 * store, so the store is never its own witness. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "migrations.h"
#include "pgtest.h"
#include "store.h"

#define HOSTILE "x\ty\nz\\'; DROP TABLE results;--"
#define HOSTILE_COPY "x\\ty\\nz\\\\'; DROP TABLE results;--"
/* 2024-05-01 12:00:00.000123 UTC */
#define T0_US INT64_C(1714564800000123)

static struct pk_result make_result(uint64_t seq, const char *check, int outcome, int64_t started_at_us)
{
    struct pk_result r;
    memset(&r, 0, sizeof r);
    r.seq = seq;
    pk_strlcpy(r.check_name, check, sizeof r.check_name);
    pk_strlcpy(r.check_type, "http", sizeof r.check_type);
    r.started_at_us = started_at_us;
    r.outcome = outcome;
    r.error_class = outcome == PK_OUTCOME_OK ? PK_ERR_NONE : PK_ERR_HTTP;
    r.status_code = outcome == PK_OUTCOME_OK ? 200 : 503;
    r.body_bytes = 512;
    r.dns_us = 10;
    r.connect_us = 20;
    r.tls_us = -1;
    r.ttfb_us = 40;
    r.total_us = 50;
    return r;
}

/* ------------------------------------------------------------- part 1 */

static void encode_field_order_and_nulls(void **state)
{
    (void)state;
    char buf[1024];
    struct pk_result r = make_result(123, "api", PK_OUTCOME_OK, T0_US);
    const char *want = "7\t123\t42\t2024-05-01 12:00:00.000123+00\t1\t0\t200\t512\t10\t20\t\\N\t40\t50\t\t\\N\t\\N\n";
    long n = store_encode_result_row(buf, sizeof buf, 7, 42, &r);
    assert_int_equal(n, (long)strlen(want));
    assert_string_equal(buf, want);
    /* The round's grid point, when the probe sent one, is the last column. */
    r.scheduled_at_us = T0_US - 123;
    want = "7\t123\t42\t2024-05-01 12:00:00.000123+00\t1\t0\t200\t512\t10\t20\t\\N\t40\t50\t\t\\N\t"
           "2024-05-01 12:00:00.000000+00\n";
    n = store_encode_result_row(buf, sizeof buf, 7, 42, &r);
    assert_int_equal(n, (long)strlen(want));
    assert_string_equal(buf, want);
}

static void encode_hostile_message(void **state)
{
    (void)state;
    char buf[1024], want[1024];
    struct pk_result r = make_result(1, "api", PK_OUTCOME_FAILED, T0_US);
    pk_strlcpy(r.message, HOSTILE "\r\"q\"", sizeof r.message);
    snprintf(want, sizeof want,
             "1\t1\t2\t2024-05-01 12:00:00.000123+00\t3\t5\t503\t512\t10\t20\t\\N\t40\t50\t%s\\r\"q\"\t\\N\t\\N\n",
             HOSTILE_COPY);
    assert_true(store_encode_result_row(buf, sizeof buf, 1, 2, &r) > 0);
    assert_string_equal(buf, want);
    /* Exactly 15 tabs (16 columns): the hostile tab did not create a field. */
    int tabs = 0;
    for (const char *p = buf; *p; p++)
        tabs += *p == '\t';
    assert_int_equal(tabs, 15);
}

static void encode_metrics_json(void **state)
{
    (void)state;
    char buf[2048];
    struct pk_result r = make_result(5, "api", PK_OUTCOME_OK, T0_US);
    r.n_metrics = 4;
    pk_strlcpy(r.metrics[0].name, "sources", sizeof r.metrics[0].name);
    r.metrics[0].value = 3;
    pk_strlcpy(r.metrics[1].name, "ratio", sizeof r.metrics[1].name);
    r.metrics[1].value = 0.1;
    pk_strlcpy(r.metrics[2].name, "we\"ird\\n\tame", sizeof r.metrics[2].name);
    r.metrics[2].value = -2.5;
    pk_strlcpy(r.metrics[3].name, "broken", sizeof r.metrics[3].name);
    r.metrics[3].value = NAN;
    /* JSON {"sources": 3, "ratio": 0.10000000000000001, "we\"ird\\n\u0009ame": -2.5,
     * "broken": null}, then COPY-escaped (every backslash doubled). */
    const char *want =
             "5\t5\t9\t2024-05-01 12:00:00.000123+00\t1\t0\t200\t512\t10\t20\t\\N\t40\t50\t\t"
             "{\"sources\": 3, \"ratio\": 0.10000000000000001, \"we\\\\\"ird\\\\\\\\n\\\\u0009ame\": -2.5, "
             "\"broken\": null}\t\\N\n";
    assert_true(store_encode_result_row(buf, sizeof buf, 5, 9, &r) > 0);
    assert_string_equal(buf, want);
    r.metrics[3].value = INFINITY;
    assert_true(store_encode_result_row(buf, sizeof buf, 5, 9, &r) > 0);
    assert_non_null(strstr(buf, "\"broken\": null}"));
}

/* Integral metric values are written as their digits without snprintf: the
 * same text %.17g gives, around every edge of that shortcut. */
static void encode_metric_integers(void **state)
{
    (void)state;
    const double values[] = {0.0, -0.0, 1.0, -1.0, 42.0, 9007199254740991.0, 9007199254740992.0,
                             -9007199254740991.0, 1e17, 1e300, 123456789012345.0, 0.5, -7.0, 1e-300};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[1024], want[64];
        struct pk_result r = make_result(5, "api", PK_OUTCOME_OK, T0_US);
        r.n_metrics = 1;
        pk_strlcpy(r.metrics[0].name, "m", sizeof r.metrics[0].name);
        r.metrics[0].value = values[i];
        snprintf(want, sizeof want, "{\"m\": %.17g}\t", values[i]);
        assert_true(store_encode_result_row(buf, sizeof buf, 5, 9, &r) > 0);
        if (!strstr(buf, want))
            fail_msg("value %.17g: %s lacks %s", values[i], buf, want);
    }
}

static void encode_buffer_too_small(void **state)
{
    (void)state;
    char full[1024], small[1024];
    struct pk_result r = make_result(77, "api", PK_OUTCOME_FAILED, T0_US);
    pk_strlcpy(r.message, HOSTILE, sizeof r.message);
    r.n_metrics = 1;
    pk_strlcpy(r.metrics[0].name, "m", sizeof r.metrics[0].name);
    long n = store_encode_result_row(full, sizeof full, 1, 2, &r);
    assert_true(n > 0);
    for (size_t size = 0; size <= (size_t)n; size++)
        assert_int_equal(store_encode_result_row(small, size, 1, 2, &r), -1);
    assert_int_equal(store_encode_result_row(small, (size_t)n + 1, 1, 2, &r), n);
    assert_string_equal(small, full);
}

static void encode_edges(void **state)
{
    (void)state;
    char buf[2048];
    struct pk_result r = make_result(1, "api", PK_OUTCOME_OK, -1);
    assert_true(store_encode_result_row(buf, sizeof buf, 1, 1, &r) > 0);
    assert_non_null(strstr(buf, "\t1969-12-31 23:59:59.999999+00\t"));
    /* A message filling its whole array, unterminated: read up to the array end only. */
    memset(r.message, 'A', sizeof r.message);
    r.started_at_us = T0_US;
    assert_true(store_encode_result_row(buf, sizeof buf, 1, 1, &r) > 0);
    char *msg = strstr(buf, "\t50\t") + 4;
    assert_int_equal(strchr(msg, '\t') - msg, (long)sizeof r.message);
    /* Beyond year 9999 cannot be stored: refused, not garbled. */
    r.started_at_us = INT64_MAX;
    assert_int_equal(store_encode_result_row(buf, sizeof buf, 1, 1, &r), -1);
}

static void copy_escape_cases(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(store_copy_escape(buf, sizeof buf, NULL), 2);
    assert_string_equal(buf, "\\N");
    assert_int_equal(store_copy_escape(buf, sizeof buf, ""), 0);
    assert_string_equal(buf, "");
    assert_true(store_copy_escape(buf, sizeof buf, "a\\b\tc\nd\re'\"") > 0);
    assert_string_equal(buf, "a\\\\b\\tc\\nd\\re'\"");
    /* Valid UTF-8 passes; a stray byte becomes U+FFFD (PostgreSQL would reject it). */
    assert_true(store_copy_escape(buf, sizeof buf, "caf\xc3\xa9 \xff!") > 0);
    assert_string_equal(buf, "caf\xc3\xa9 \xef\xbf\xbd!");
    assert_int_equal(store_copy_escape(buf, 3, "\t\t"), -1);
    assert_int_equal(store_copy_escape(buf, 5, "\t\t"), 4);
}

/* ------------------------------------------------------------- part 2 */







static void live_migrate(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512] = "";
    int version = -1, applied = -1;
    assert_int_equal(store_schema_version(s, &version, err, sizeof err), 0);
    assert_int_equal(version, 0);
    assert_int_equal(store_check_schema(s, err, sizeof err), -1);
    assert_non_null(strstr(err, "run `picket-collector migrate`"));
    if (store_migrate(s, &applied, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, (int)pk_migrations_count);
    assert_int_equal(store_migrate(s, &applied, err, sizeof err), 0);
    assert_int_equal(applied, 0);
    assert_int_equal(store_schema_version(s, &version, err, sizeof err), 0);
    assert_int_equal(version, store_latest_schema_version());
    assert_int_equal(store_check_schema(s, err, sizeof err), 0);
    assert_int_equal(store_ping(s), 0);

    /* A schema from the future is refused by both check and migrate. */
    pgt_sql(err, sizeof err, "INSERT INTO picket_schema (version, name) VALUES (%d, 'future.sql')",
        store_latest_schema_version() + 1);
    assert_int_equal(store_check_schema(s, err, sizeof err), -1);
    assert_non_null(strstr(err, "is newer than this binary knows"));
    assert_int_equal(store_migrate(s, &applied, err, sizeof err), -1);
    pgt_sql(err, sizeof err, "DELETE FROM picket_schema WHERE name = 'future.sql'");
    assert_int_equal(store_check_schema(s, err, sizeof err), 0);
}

static void to_hex(char *out, const char *in)
{
    for (const unsigned char *p = (const unsigned char *)in; *p; p++, out += 2)
        sprintf(out, "%02x", *p);
    *out = '\0';
}

static void live_upsert_probe_hostile(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512], out[4096], want[4096] = "";
    struct pk_kv labels[] = {
        {"team", "o'reilly\"; DROP TABLE probes;--"},
        {"k\\e\ty", "line1\nline2\r\x01"},
        {"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "{\"not\": \"json\"}"},
    };
    const char *name = "probe'); DROP TABLE probes;--";
    struct store_probe_info info = {name, "eu-west", labels, 3, "1.0"};
    int64_t id = 0, id2 = 0;
    uint64_t committed = 99;
    if (store_upsert_probe(s, &info, &id, &committed, err, sizeof err) != 0)
        fail_msg("upsert: %s", err);
    assert_true(id > 0);
    assert_int_equal(committed, 0);

    /* Every (key, value) comes back byte for byte (compared as hex, in key order). */
    pgt_sql(out, sizeof out,
        "SELECT string_agg(encode(convert_to(key, 'UTF8'), 'hex') || ':' || "
        "encode(convert_to(value, 'UTF8'), 'hex'), ',' ORDER BY key COLLATE \"C\") "
        "FROM probes, jsonb_each_text(labels) WHERE id = %" PRId64,
        id);
    const int order[] = {1, 0, 2}; /* "k\\e\ty" < "team" < Cyrillic, bytewise */
    for (int i = 0; i < 3; i++) {
        char hex[512];
        if (i)
            strcat(want, ",");
        to_hex(hex, labels[order[i]].key);
        strcat(want, hex);
        strcat(want, ":");
        to_hex(hex, labels[order[i]].value);
        strcat(want, hex);
    }
    assert_string_equal(out, want);
    pgt_sql(out, sizeof out, "SELECT encode(convert_to(name, 'UTF8'), 'hex') FROM probes WHERE id = %" PRId64, id);
    to_hex(want, name);
    assert_string_equal(out, want);

    /* Same name: same row, fields replaced. */
    info.region = "us-east";
    info.n_labels = 0;
    info.version = NULL;
    assert_int_equal(store_upsert_probe(s, &info, &id2, &committed, err, sizeof err), 0);
    assert_int_equal(id2, id);
    pgt_sql(out, sizeof out, "SELECT region, labels::text, coalesce(version, 'NULL') FROM probes WHERE id = %" PRId64, id);
    assert_string_equal(out, "us-east\t{}\tNULL");
    assert_int_equal(store_touch_probe(s, id, err, sizeof err), 0);
    assert_int_equal(store_touch_probe(s, 987654321, err, sizeof err), -1);
    assert_non_null(strstr(err, "987654321"));
}

static void seq_list(char *out, size_t size, uint64_t from, uint64_t to)
{
    size_t len = 0;
    out[0] = '\0';
    for (uint64_t q = from; q <= to; q++)
        len += (size_t)snprintf(out + len, size - len, q == from ? "%" PRIu64 : ",%" PRIu64, q);
}

static struct pk_result *make_range(uint64_t from, uint64_t to, const char *check)
{
    struct pk_result *r = calloc((size_t)(to - from + 1), sizeof *r);
    for (uint64_t q = from; q <= to; q++)
        r[q - from] = make_result(q, check, PK_OUTCOME_OK, T0_US + (int64_t)q * 1000);
    return r;
}

static void live_write_exactly_once(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512], out[8192], want[8192];
    int64_t probe = pgt_register_probe(s, "dedupe-probe", "eu");
    struct store_check_info checks[] = {{"dedupe-a", "http", "http://a/", 1000}, {"dedupe-b", "http", NULL, 0}};
    assert_int_equal(store_set_probe_checks(s, probe, checks, 2, err, sizeof err), 0);

    struct pk_result *r1 = make_range(1, 100, "dedupe-a");
    struct pk_result *r2 = make_range(51, 150, "dedupe-b");
    struct store_batch b = {probe, r1, 100, 0, 0};
    assert_int_equal(store_write_batches(s, &b, 1, err, sizeof err), 0);
    assert_int_equal(b.n_inserted, 100);
    assert_int_equal(b.committed_seq, 100);
    b = (struct store_batch){probe, r2, 100, 0, 0};
    assert_int_equal(store_write_batches(s, &b, 1, err, sizeof err), 0);
    assert_int_equal(b.n_inserted, 50);
    assert_int_equal(b.committed_seq, 150);
    b = (struct store_batch){probe, r1, 100, 0, 0}; /* a full resend */
    assert_int_equal(store_write_batches(s, &b, 1, err, sizeof err), 0);
    assert_int_equal(b.n_inserted, 0);
    assert_int_equal(b.committed_seq, 150);

    /* Two overlapping batches of one probe in the same call. */
    struct pk_result *r3 = make_range(151, 200, "dedupe-a");
    struct pk_result *r4 = make_range(181, 220, "dedupe-a");
    struct store_batch two[] = {{probe, r3, 50, 0, 0}, {probe, r4, 40, 0, 0}};
    assert_int_equal(store_write_batches(s, two, 2, err, sizeof err), 0);
    assert_int_equal(two[0].n_inserted, 50);
    assert_int_equal(two[1].n_inserted, 20);
    assert_int_equal(two[0].committed_seq, 220);
    assert_int_equal(two[1].committed_seq, 220);

    pgt_sql(out, sizeof out, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM results WHERE probe_id = %" PRId64,
        probe);
    seq_list(want, sizeof want, 1, 220);
    assert_string_equal(out, want);
    assert_int_equal(pgt_sql_int("SELECT committed_seq FROM probes WHERE id = %" PRId64, probe), 220);
    /* Results 51..100 were resent under another check name: the first copy wins. */
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id "
                             "WHERE c.name = 'dedupe-b' AND r.probe_id = %" PRId64,
                             probe),
                     50);
    free(r1);
    free(r2);
    free(r3);
    free(r4);
}

static void live_two_probes_and_failures(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512], out[8192];
    int64_t p1 = pgt_register_probe(s, "two-a", "eu");
    int64_t p2 = pgt_register_probe(s, "two-b", "us");
    struct pk_result *a = make_range(1, 30, "two-check");
    struct pk_result *b = make_range(1, 20, "two-check");
    /* Listed out of id order on purpose. */
    struct store_batch batches[] = {{p2, b, 20, 0, 0}, {p1, a, 30, 0, 0}};
    assert_int_equal(store_write_batches(s, batches, 2, err, sizeof err), 0);
    assert_int_equal(batches[0].committed_seq, 20);
    assert_int_equal(batches[0].n_inserted, 20);
    assert_int_equal(batches[1].committed_seq, 30);
    assert_int_equal(batches[1].n_inserted, 30);

    /* An unknown probe fails the whole call; nothing of the good batch is kept. */
    struct pk_result *more = make_range(31, 40, "two-check");
    struct store_batch bad[] = {{p1, more, 10, 0, 0}, {987654321, b, 20, 0, 0}};
    assert_int_equal(store_write_batches(s, bad, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "987654321"));
    assert_int_equal(pgt_sql_int("SELECT committed_seq FROM probes WHERE id = %" PRId64, p1), 30);

    /* So does an unencodable result, in the middle of the COPY. */
    more[5].started_at_us = INT64_MAX;
    struct store_batch bad2 = {p1, more, 10, 0, 0};
    assert_int_equal(store_write_batches(s, &bad2, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "seq 36"));
    /* And a value PostgreSQL itself rejects (outcome does not fit a smallint). */
    more[5].started_at_us = T0_US;
    more[5].outcome = 70000;
    assert_int_equal(store_write_batches(s, &bad2, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "smallint"));
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results WHERE probe_id = %" PRId64, p1), 30);

    /* The connection is still usable afterwards. */
    more[5].outcome = PK_OUTCOME_OK;
    assert_int_equal(store_write_batches(s, &bad2, 1, err, sizeof err), 0);
    assert_int_equal(bad2.n_inserted, 10);
    pgt_sql(out, sizeof out, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM results WHERE probe_id = %" PRId64, p1);
    char want[512];
    seq_list(want, sizeof want, 1, 40);
    assert_string_equal(out, want);
    free(a);
    free(b);
    free(more);
}

static void live_hostile_result_roundtrip(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512], out[4096], want[4096];
    int64_t probe = pgt_register_probe(s, "hostile-probe", "eu");
    struct pk_result r = make_result(1, "hostile'; DROP TABLE checks;--\t", PK_OUTCOME_FAILED, T0_US);
    pk_strlcpy(r.message, HOSTILE "\r\xff", sizeof r.message);
    r.n_metrics = 2;
    pk_strlcpy(r.metrics[0].name, "we\"ird\\\n", sizeof r.metrics[0].name);
    r.metrics[0].value = 0.25;
    pk_strlcpy(r.metrics[1].name, "nan", sizeof r.metrics[1].name);
    r.metrics[1].value = NAN;
    r.scheduled_at_us = T0_US - 123; /* the writers COPY in binary: timestamps, NULLs and text exact */
    struct store_batch b = {probe, &r, 1, 0, 0};
    if (store_write_batches(s, &b, 1, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    pgt_sql(out, sizeof out,
        "SELECT encode(convert_to(r.message, 'UTF8'), 'hex'), r.metrics::text, "
        "encode(convert_to(c.name, 'UTF8'), 'hex'), r.started_at = '2024-05-01 12:00:00.000123+00', "
        "r.tls_us IS NULL, r.total_us, r.scheduled_at = '2024-05-01 12:00:00+00', r.status_code, r.dns_us "
        "FROM results r JOIN checks c ON c.id = r.check_id WHERE r.probe_id = %" PRId64,
        probe);
    char msg_hex[1024], name_hex[512];
    to_hex(msg_hex, HOSTILE "\r\xef\xbf\xbd");
    to_hex(name_hex, r.check_name);
    snprintf(want, sizeof want, "%s\t{\"nan\": null, \"we\\\"ird\\\\\\n\": 0.25}\t%s\tt\tt\t50\tt\t503\t10", msg_hex, name_hex);
    assert_string_equal(out, want);
}

static void live_status(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512];
    int64_t eu1 = pgt_register_probe(s, "status-eu-1", "eu");
    int64_t eu2 = pgt_register_probe(s, "status-eu-2", "eu");
    int64_t us1 = pgt_register_probe(s, "status-us-1", "us");
    struct store_check_info check = {"status-check", "http", "http://x/", 30000};
    assert_int_equal(store_set_probe_checks(s, eu1, &check, 1, err, sizeof err), 0);
    assert_int_equal(store_set_probe_checks(s, eu2, &check, 1, err, sizeof err), 0);
    assert_int_equal(store_set_probe_checks(s, us1, &check, 1, err, sizeof err), 0);

    int64_t now = (int64_t)time(NULL) * 1000000;
    struct pk_result e1[] = {make_result(1, "status-check", PK_OUTCOME_OK, now - 60000000),
                             make_result(2, "status-check", PK_OUTCOME_FAILED, now - 50000000),
                             make_result(3, "status-check", PK_OUTCOME_OK, now - 7200000000)}; /* 2 h ago */
    struct pk_result e2[] = {make_result(1, "status-check", PK_OUTCOME_OK, now - 40000000),
                             make_result(2, "status-check", PK_OUTCOME_OK, now - 30000000)};
    struct pk_result u1[] = {make_result(1, "status-check", PK_OUTCOME_DEGRADED, now - 20000000),
                             make_result(2, "status-check", PK_OUTCOME_FAILED, now - 10000000)};
    pk_strlcpy(u1[1].message, "HTTP 503", sizeof u1[1].message);
    struct store_batch batches[] = {{eu1, e1, 3, 0, 0}, {eu2, e2, 2, 0, 0}, {us1, u1, 2, 0, 0}};
    assert_int_equal(store_write_batches(s, batches, 3, err, sizeof err), 0);

    struct store_status_row *rows = NULL;
    size_t n = 0;
    if (store_status(s, "status-check", &rows, &n, err, sizeof err) != 0)
        fail_msg("status: %s", err);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].check_name, "status-check");
    assert_string_equal(rows[0].check_type, "http");
    assert_int_equal(rows[0].probes, 3);
    assert_int_equal(rows[0].last_started_at_us, now - 10000000);
    assert_int_equal(rows[0].last_outcome, PK_OUTCOME_FAILED);
    assert_string_equal(rows[0].last_message, "HTTP 503");
    assert_int_equal(rows[0].last_status_code, 503);
    assert_int_equal(rows[0].last_total_us, 50);
    assert_string_equal(rows[0].last_probe, "status-us-1");
    assert_string_equal(rows[0].last_region, "us");
    assert_int_equal(rows[0].n_regions, 2);
    assert_string_equal(rows[0].regions[0].region, "eu");
    assert_int_equal(rows[0].regions[0].total, 4);
    assert_int_equal(rows[0].regions[0].ok, 3);
    assert_string_equal(rows[0].regions[1].region, "us");
    assert_int_equal(rows[0].regions[1].total, 2);
    assert_int_equal(rows[0].regions[1].ok, 0);
    free(rows);

    /* All checks: includes the earlier tests' ones, one row each. */
    assert_int_equal(store_status(s, NULL, &rows, &n, err, sizeof err), 0);
    char count[32];
    pgt_sql(count, sizeof count, "SELECT count(*) FROM checks");
    assert_int_equal((long long)n, atoll(count));
    free(rows);
    assert_int_equal(store_status(s, "no-such-check", &rows, &n, err, sizeof err), -2); /* not found */
    assert_string_equal(err, "check 'no-such-check' is not known");
}

/* Two connections deliver the same ordered stream of one probe at the same time
 * (a probe that reconnected to a second collector and resends): the row lock on
 * the probe must still give every seq exactly once. */
struct racer {
    int64_t probe;
    const struct pk_result *results;
    int chunk; /* the two racers cut the stream at different places */
    int failures;
    char err[512];
};

static void *race_writes(void *arg)
{
    struct racer *w = arg;
    struct store *s = store_open(pgt_url(), w->err, sizeof w->err);
    if (!s) {
        w->failures++;
        return NULL;
    }
    for (int from = 0; from < 2000; from += w->chunk) {
        int to = from + w->chunk > 2000 ? 2000 : from + w->chunk;
        struct store_batch b = {w->probe, w->results + from, (size_t)(to - from), 0, 0};
        if (store_write_batches(s, &b, 1, w->err, sizeof w->err) != 0)
            w->failures++;
    }
    store_close(s);
    return NULL;
}

static void live_concurrent_writers(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char out[16384], want[16384];
    int64_t probe = pgt_register_probe(s, "race-probe", "eu");
    struct pk_result *r = make_range(1, 2000, "race-check");
    struct racer w[2] = {{probe, r, 40, 0, ""}, {probe, r, 55, 0, ""}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_writes, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    if (w[0].failures || w[1].failures)
        fail_msg("racing writers failed: %s / %s", w[0].err, w[1].err);
    assert_int_equal(pgt_sql_int("SELECT count(*) - count(DISTINCT seq) FROM results WHERE probe_id = %" PRId64, probe),
                     0);
    pgt_sql(out, sizeof out, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM results WHERE probe_id = %" PRId64,
        probe);
    seq_list(want, sizeof want, 1, 2000);
    assert_string_equal(out, want);
    free(r);
}

struct migrator {
    char url[512];
    int rc, applied;
    char err[512];
};

static void *run_migrate(void *arg)
{
    struct migrator *m = arg;
    struct store *s = store_open(m->url, m->err, sizeof m->err);
    m->rc = s ? store_migrate(s, &m->applied, m->err, sizeof m->err) : -1;
    store_close(s);
    return NULL;
}

/* Two collectors migrating one empty database at once: one applies, one waits. */
static void live_concurrent_migrate(void **state)
{
    (void)pgt_live(state, "test_store_pg");
    char out[64];
    const char *slash = strrchr(pgt_url(), '/');
    assert_non_null(slash);
    pgt_sql(out, sizeof out, "CREATE DATABASE picket_migrate_race");
    struct migrator m[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        memset(&m[i], 0, sizeof m[i]);
        snprintf(m[i].url, sizeof m[i].url, "%.*s/picket_migrate_race", (int)(slash - pgt_url()), pgt_url());
        assert_int_equal(pthread_create(&t[i], NULL, run_migrate, &m[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    if (m[0].rc || m[1].rc)
        fail_msg("concurrent migrate failed: %s / %s", m[0].err, m[1].err);
    assert_int_equal(m[0].applied + m[1].applied, (int)pk_migrations_count);
}

/* The server drops our session (restart, failover, idle kill): the store reconnects. */
/* Central assignment and check metadata (migration 008): an apply updates the
 * rows of known checks at once, an ack brings new ones with their metadata, a
 * probe's Register cannot override a check the current version defines (but
 * can once the version drops it), and a version stored before 008 learns its
 * metadata when the same files are applied again. */
static void meta_row(const char *check, char *out, size_t size)
{
    pgt_sql(out, size,
        "SELECT type || '|' || coalesce(target, '') || '|' || coalesce(service, '-') || '|' || "
        "coalesce(budget_p95_ms::text, '-') || '|' || coalesce(slo_target_percent::text, '-') || '|' || "
        "coalesce(slo_window_ms::text, '-') FROM checks WHERE name = '%s'",
        check);
}

static void apply_version(struct store *s, const struct store_assign_check *checks, size_t n, int expect_created)
{
    char err[512];
    struct store_assign_file file = {"meta.yaml", NULL, NULL};
    struct store_assign_change *changes = NULL;
    size_t n_changes = 0;
    int64_t version = 0;
    int created = -1;
    if (store_assign_apply(s, &file, 1, checks, n, 1, &version, &created, &changes, &n_changes, err, sizeof err) != 0)
        fail_msg("apply: %s", err);
    free(changes);
    assert_int_equal(created, expect_created);
}

static void live_assigned_check_meta(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512], row[256];
    int64_t p1 = pgt_register_probe(s, "meta-probe", "eu");
    /* The probe's local file says one thing ... */
    struct store_check_info local = {.name = "meta-a", .type = "tcp", .target = "local:1", .interval_ms = 5000,
                                     .service = "local", .meta.budget_p95_ms = 999};
    assert_int_equal(store_set_probe_checks(s, p1, &local, 1, err, sizeof err), 0);
    meta_row("meta-a", row, sizeof row);
    assert_string_equal(row, "tcp|local:1|local|999|-|-");

    /* ... the applied version another: it wins at once, without an ack. */
    struct pk_kv key_a = {"url", "http://central/a"}, key_b = {"url", "http://central/b"};
    struct store_assign_check v1[] = {
        {.name = "meta-a", .definition = "{name: meta-a, url: http://central/a}", .keys = &key_a, .n_keys = 1,
         .type = "http", .target = "http://central/a", .interval_ms = 30000, .service = "central",
         .meta.budget_p95_ms = 200, .meta.slo_target_percent = 99.5, .meta.slo_window_ms = 604800000},
        {.name = "meta-b", .definition = "{name: meta-b, url: http://central/b}", .keys = &key_b, .n_keys = 1,
         .type = "http", .target = "http://central/b", .interval_ms = 30000, .service = "bee"},
    };
    apply_version(s, v1, 2, 1);
    int64_t version = pgt_sql_int("SELECT max(version) FROM check_versions");
    meta_row("meta-a", row, sizeof row);
    assert_string_equal(row, "http|http://central/a|central|200|99.5|604800000");
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM checks WHERE name = 'meta-b'"), 0);

    /* A Register with the old local file changes nothing the version defines. */
    assert_int_equal(store_set_probe_checks(s, p1, &local, 1, err, sizeof err), 0);
    meta_row("meta-a", row, sizeof row);
    assert_string_equal(row, "http|http://central/a|central|200|99.5|604800000");

    /* The ack brings the new check with its metadata. */
    assert_int_equal(store_assign_ack(s, p1, version, 1, NULL, err, sizeof err), 0);
    meta_row("meta-b", row, sizeof row);
    assert_string_equal(row, "http|http://central/b|bee|-|-|-");
    static const char pc_sql[] = "SELECT count(*) FROM probe_checks pc JOIN checks c ON c.id = pc.check_id "
                                 "WHERE pc.probe_id = %lld AND c.name IN ('meta-a', 'meta-b')";
    assert_int_equal(pgt_sql_int(pc_sql, (long long)p1), 2);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM probe_checks WHERE probe_id = %lld", (long long)p1), 2);
    /* The same ack again writes no probe_checks row (by difference): each row
     * keeps its place. */
    char before[256], after[256];
    pgt_sql(before, sizeof before,
            "SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY check_id) FROM probe_checks WHERE probe_id = %lld",
            (long long)p1);
    assert_int_equal(store_assign_ack(s, p1, version, 1, NULL, err, sizeof err), 0);
    pgt_sql(after, sizeof after,
            "SELECT string_agg(ctid::text || xmin::text, ',' ORDER BY check_id) FROM probe_checks WHERE probe_id = %lld",
            (long long)p1);
    assert_string_equal(after, before);

    /* meta-a leaves the assignment: its row keeps what it had, and a probe's
     * Register decides again. */
    apply_version(s, v1 + 1, 1, 1);
    /* Acked, the probe runs meta-b alone; its history still holds meta-a (its
     * spooled results stay acceptable). */
    assert_int_equal(store_assign_ack(s, p1, pgt_sql_int("SELECT max(version) FROM check_versions"), 1, NULL, err,
                                      sizeof err), 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM probe_checks WHERE probe_id = %lld", (long long)p1), 1);
    assert_int_equal(pgt_sql_int(pc_sql, (long long)p1), 1);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM probe_check_history h JOIN checks c ON c.id = h.check_id "
                                 "WHERE h.probe_id = %lld AND c.name = 'meta-a'",
                                 (long long)p1),
                     2);
    meta_row("meta-a", row, sizeof row);
    assert_string_equal(row, "http|http://central/a|central|200|99.5|604800000");
    assert_int_equal(store_set_probe_checks(s, p1, &local, 1, err, sizeof err), 0);
    meta_row("meta-a", row, sizeof row);
    assert_string_equal(row, "tcp|local:1|local|999|-|-");

    /* A version stored before migration 008 has no metadata: the registered one
     * stands, until the same files are applied again. */
    pgt_sql(row, sizeof row,
        "UPDATE check_version_checks SET meta_known = false, service = NULL WHERE version = "
        "(SELECT max(version) FROM check_versions)");
    struct store_check_info local_b = {.name = "meta-b", .type = "http", .target = "http://central/b",
                                       .interval_ms = 30000, .service = "registered"};
    assert_int_equal(store_set_probe_checks(s, p1, &local_b, 1, err, sizeof err), 0);
    meta_row("meta-b", row, sizeof row);
    assert_string_equal(row, "http|http://central/b|registered|-|-|-");
    apply_version(s, v1 + 1, 1, 0);
    meta_row("meta-b", row, sizeof row);
    assert_string_equal(row, "http|http://central/b|bee|-|-|-");
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM check_version_checks WHERE NOT meta_known"), 0);
}

/* The checks row named name: its other columns (type, target, interval_ms,
 * service, budgets p50 p95 p99, SLO target and window, depends_on, labels) are
 * want[] exactly, NULL where want[k] is NULL. The values are dollar-quoted, so
 * they need no escaping of their own. */
static void expect_check_row(const char *name, const char *const want[11])
{
    static const char cols[] = "type, target, interval_ms::text, service, budget_p50_ms::text, budget_p95_ms::text, "
                               "budget_p99_ms::text, slo_target_percent::text, slo_window_ms::text, depends_on, labels";
    char values[1536], row[2048];
    size_t len = 0;
    for (int k = 0; k < 11; k++)
        len += (size_t)snprintf(values + len, sizeof values - len, want[k] ? "%s$v$%s$v$" : "%sNULL", k ? ", " : "",
                                want[k]);
    assert_true(len < sizeof values);
    if (pgt_sql_int("SELECT count(*) FROM checks WHERE name = $v$%s$v$ AND (%s) IS NOT DISTINCT FROM (%s)", name,
                    cols, values) != 1) {
        pgt_sql(row, sizeof row, "SELECT concat_ws(' | ', %s) FROM checks WHERE name = $v$%s$v$", cols, name);
        fail_msg("check [%s]: want (%s), have [%s]", name, values, row);
    }
}

#define PAD_NAME " batch pad "
#define QUOTE_NAME "batch q\"uote\\back,comma {brace}"
#define UTF8_NAME "batch ünïcødé ✓"

/* The probe's probe_checks rows of the checks c where the SQL condition `which`
 * holds, as "name@ctid/xmin" by name: the same text before and after a
 * Register says those rows were not written again. */
static void probe_check_rows(int64_t probe, const char *which, char *out, size_t size)
{
    pgt_sql(out, size,
            "SELECT string_agg(c.name || '@' || pc.ctid::text || '/' || pc.xmin::text, '|' ORDER BY c.name COLLATE "
            "\"C\") FROM probe_checks pc JOIN checks c ON c.id = pc.check_id WHERE pc.probe_id = %" PRId64 " AND %s",
            probe, which);
}

static void probe_history(int64_t probe, char *out, size_t size)
{
    pgt_sql(out, size,
            "SELECT string_agg(c.name || '/' || h.type, '|' ORDER BY c.name COLLATE \"C\", h.type) "
            "FROM probe_check_history h JOIN checks c ON c.id = h.check_id WHERE h.probe_id = %" PRId64,
            probe);
}

/* Register's checks go in as one upsert of array parameters: text that array
 * literals must escape, absent values that must stay NULL (and the text
 * "NULL" and "" that must not become NULL), a name given twice (the last one
 * stands), rows inserted in name order; then a Register that keeps, drops,
 * adds and retypes checks writes only the probe_checks rows that change and
 * leaves probe_check_history exactly as deleting and inserting them all did. */
static void live_probe_checks_batched(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512], out[2048], before[2048];
    int64_t probe = pgt_register_probe(s, "batch-probe", "eu");
    struct store_check_info first[] = {
        {.name = QUOTE_NAME, .type = "http", .target = "http://x/?a=\"b\"&c=\\d,{e} f", .interval_ms = 1500,
         .service = "svc \"ü\" {x}",
         .meta = {.budget_p50_ms = 10, .budget_p95_ms = 20, .budget_p99_ms = 30, .slo_target_percent = 99.9,
                  .slo_window_ms = 86400000}},
        {.name = UTF8_NAME, .type = "tcp"},
        {.name = PAD_NAME, .type = "dns", .target = "NULL", .interval_ms = -5, .service = "",
         .meta = {.budget_p95_ms = -1, .slo_target_percent = 100, .slo_window_ms = 1000}},
        {.name = "batch dup", .type = "http", .target = "first", .interval_ms = 1000},
        {.name = "batch empty", .type = "http", .target = "", .interval_ms = 60000},
        {.name = "batch dup", .type = "tcp", .target = "second", .interval_ms = 2000, .service = "later"},
    };
    pk_strlcpy(first[0].meta.depends_on, "a,\"b\",{c}, service:x\\y", sizeof first[0].meta.depends_on);
    pk_strlcpy(first[0].meta.labels, "env=pr\"od\\x,{y}\nteam=ü é ", sizeof first[0].meta.labels);
    if (store_set_probe_checks(s, probe, first, 6, err, sizeof err) != 0)
        fail_msg("register: %s", err);

    expect_check_row(QUOTE_NAME, (const char *const[]){"http", "http://x/?a=\"b\"&c=\\d,{e} f", "1500",
                                                         "svc \"ü\" {x}", "10", "20", "30", "99.9", "86400000",
                                                         "a,\"b\",{c}, service:x\\y",
                                                         "env=pr\"od\\x,{y}\nteam=ü é "});
    expect_check_row(UTF8_NAME, (const char *const[]){"tcp", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                                        NULL});
    expect_check_row(PAD_NAME, (const char *const[]){"dns", "NULL", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                                       NULL});
    expect_check_row("batch dup", (const char *const[]){"tcp", "second", "2000", "later", NULL, NULL, NULL, NULL,
                                                         NULL, NULL, NULL});
    expect_check_row("batch empty", (const char *const[]){"http", "", "60000", NULL, NULL, NULL, NULL, NULL, NULL,
                                                           NULL, NULL});
    /* New rows took their ids in name order: the order they were inserted and locked in. */
    pgt_sql(out, sizeof out,
            "SELECT string_agg(c.name, '|' ORDER BY c.id) = string_agg(c.name, '|' ORDER BY c.name COLLATE \"C\") "
            "FROM probe_checks pc JOIN checks c ON c.id = pc.check_id WHERE pc.probe_id = %" PRId64,
            probe);
    assert_string_equal(out, "t");
    probe_history(probe, out, sizeof out);
    assert_string_equal(out, PAD_NAME "/dns|batch dup/tcp|batch empty/http|" QUOTE_NAME "/http|" UTF8_NAME "/tcp");

    /* Keep two as they are, retype one, drop two, add one. */
    const char *kept = "c.name IN ($v$" PAD_NAME "$v$, 'batch dup', 'batch empty')";
    probe_check_rows(probe, kept, before, sizeof before);
    struct store_check_info second[] = {
        {.name = "batch new", .type = "grpc", .target = "127.0.0.1:1"},
        {.name = "batch empty", .type = "http", .target = "", .interval_ms = 60000},
        {.name = "batch dup", .type = "http", .target = "third", .interval_ms = 2000},
        {.name = PAD_NAME, .type = "dns", .target = "NULL"},
    };
    if (store_set_probe_checks(s, probe, second, 4, err, sizeof err) != 0)
        fail_msg("register again: %s", err);
    expect_check_row("batch dup", (const char *const[]){"http", "third", "2000", NULL, NULL, NULL, NULL, NULL, NULL,
                                                         NULL, NULL});
    /* The kept rows are the same row versions (not deleted and inserted again). */
    probe_check_rows(probe, kept, out, sizeof out);
    assert_string_equal(out, before);
    pgt_sql(out, sizeof out,
            "SELECT string_agg(c.name, '|' ORDER BY c.name COLLATE \"C\") FROM probe_checks pc JOIN checks c "
            "ON c.id = pc.check_id WHERE pc.probe_id = %" PRId64,
            probe);
    assert_string_equal(out, PAD_NAME "|batch dup|batch empty|batch new");
    /* What the delete and insert of every row left: the old rows, and each
     * current check with its type now (batch dup: tcp, then http). */
    probe_history(probe, out, sizeof out);
    assert_string_equal(out, PAD_NAME "/dns|batch dup/http|batch dup/tcp|batch empty/http|batch new/grpc|" QUOTE_NAME
                             "/http|" UTF8_NAME "/tcp");

    /* A failing upsert names the probe and the number of checks, keeps
     * PostgreSQL's message, and changes nothing. */
    probe_check_rows(probe, "true", before, sizeof before);
    struct store_check_info bad[] = {{.name = "batch ok", .type = "http"}, {.name = "batch \xff bad", .type = "http"}};
    assert_int_equal(store_set_probe_checks(s, probe, bad, 2, err, sizeof err), -1);
    char want[64];
    snprintf(want, sizeof want, "probe id %" PRId64 ": upserting 2 checks: ", probe);
    if (!strstr(err, want) || !strstr(err, "invalid byte sequence"))
        fail_msg("error: %s", err);
    probe_check_rows(probe, "true", out, sizeof out);
    assert_string_equal(out, before);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM checks WHERE name = 'batch ok'"), 0);

    /* No checks at all: the probe runs none, its history stays. */
    if (store_set_probe_checks(s, probe, NULL, 0, err, sizeof err) != 0)
        fail_msg("register without checks: %s", err);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM probe_checks WHERE probe_id = %" PRId64, probe), 0);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM probe_check_history WHERE probe_id = %" PRId64, probe), 7);
}

static void live_reconnect(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512], out[256];
    int64_t probe = pgt_register_probe(s, "reconnect-probe", "eu");
    struct pk_result *r = make_range(1, 20, "reconnect-check");
    const char *kill_sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name LIKE 'picket-collector%' AND pid <> pg_backend_pid()";
    pgt_sql(out, sizeof out, "%s", kill_sql);
    assert_string_equal(out, "1");
    assert_int_equal(store_ping(s), 0);

    pgt_sql(out, sizeof out, "%s", kill_sql);
    struct store_batch b = {probe, r, 10, 0, 0};
    /* The call that discovers the dead link may fail (nothing is stored then)... */
    if (store_write_batches(s, &b, 1, err, sizeof err) != 0)
        assert_int_equal(pgt_sql_int("SELECT count(*) FROM results WHERE probe_id = %" PRId64, probe), 0);
    /* ...the next one reconnects and succeeds. */
    b = (struct store_batch){probe, r, 20, 0, 0};
    if (store_write_batches(s, &b, 1, err, sizeof err) != 0)
        fail_msg("write after reconnect: %s", err);
    assert_int_equal(b.committed_seq, 20);
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results WHERE probe_id = %" PRId64, probe), 20);
    free(r);
}

/* Not a benchmark (bench/ is), a sanity figure: 10,000 rows as 10 calls, then as 1. */
static void live_write_speed(void **state)
{
    struct store *s = pgt_live(state, "test_store_pg");
    char err[512];
    int64_t probe = pgt_register_probe(s, "speed-probe", "eu");
    struct pk_result *r = make_range(1, 10000, "speed-check");
    for (int i = 0; i < 10000; i++) {
        r[i].n_metrics = 1;
        pk_strlcpy(r[i].metrics[0].name, "sources", sizeof r[i].metrics[0].name);
        r[i].metrics[0].value = i;
    }
    int64_t t0 = pk_mono_us();
    for (int call = 0; call < 10; call++) {
        struct store_batch b = {probe, r + call * 1000, 1000, 0, 0};
        if (store_write_batches(s, &b, 1, err, sizeof err) != 0)
            fail_msg("write: %s", err);
        assert_int_equal(b.n_inserted, 1000);
    }
    int64_t elapsed = pk_mono_us() - t0;
    printf("store_write_batches: 10 x 1000 rows in %.1f ms (%.0f rows/s)\n", elapsed / 1000.0,
           10000.0 * 1e6 / (double)(elapsed > 0 ? elapsed : 1));
    assert_int_equal(pgt_sql_int("SELECT count(*) FROM results WHERE probe_id = %" PRId64, probe), 10000);

    /* The same rows from 10 probes in one call: one commit instead of ten. */
    struct store_batch batches[10];
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "speed-probe-%d", i);
        batches[i] = (struct store_batch){pgt_register_probe(s, name, "us"), r + i * 1000, 1000, 0, 0};
    }
    t0 = pk_mono_us();
    if (store_write_batches(s, batches, 10, err, sizeof err) != 0)
        fail_msg("write: %s", err);
    elapsed = pk_mono_us() - t0;
    printf("store_write_batches: 1 call of 10 x 1000 rows in %.1f ms (%.0f rows/s)\n", elapsed / 1000.0,
           10000.0 * 1e6 / (double)(elapsed > 0 ? elapsed : 1));
    for (int i = 0; i < 10; i++)
        assert_int_equal(batches[i].n_inserted, 1000);
    free(r);
}


/* The timestamp is formatted by hand for speed; gmtime_r is the reference, over
 * every year the column accepts, at an odd stride so all times of day occur. */
static void encode_timestamps_match_gmtime(void **state)
{
    (void)state;
    struct pk_result r;
    memset(&r, 0, sizeof r);
    r.seq = 1;
    strcpy(r.check_name, "x");
    r.tls_us = -1;
    int checked = 0;
    for (int64_t t = -62135596800LL; t < 253402300799LL; t += 86399LL * 37 + 13) {
        r.started_at_us = t * 1000000 + 123456;
        char buf[512], expect[64];
        assert_true(store_encode_result_row(buf, sizeof buf, 1, 2, &r) > 0);
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        snprintf(expect, sizeof expect, "\t%04d-%02d-%02d %02d:%02d:%02d.123456+00\t", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (!strstr(buf, expect))
            fail_msg("t=%lld: row %s lacks %s", (long long)t, buf, expect);
        checked++;
    }
    assert_true(checked > 90000);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(encode_field_order_and_nulls),
        cmocka_unit_test(encode_hostile_message),
        cmocka_unit_test(encode_metrics_json),
        cmocka_unit_test(encode_metric_integers),
        cmocka_unit_test(encode_buffer_too_small),
        cmocka_unit_test(encode_edges),
        cmocka_unit_test(copy_escape_cases),
        cmocka_unit_test(encode_timestamps_match_gmtime),
    };
    /* Order matters: the first test migrates the fresh database. */
    const struct CMUnitTest with_db[] = {
        cmocka_unit_test(live_migrate),
        cmocka_unit_test(live_upsert_probe_hostile),
        cmocka_unit_test(live_write_exactly_once),
        cmocka_unit_test(live_two_probes_and_failures),
        cmocka_unit_test(live_hostile_result_roundtrip),
        cmocka_unit_test(live_status),
        cmocka_unit_test(live_assigned_check_meta),
        cmocka_unit_test(live_probe_checks_batched),
        cmocka_unit_test(live_concurrent_writers),
        cmocka_unit_test(live_concurrent_migrate),
        cmocka_unit_test(live_reconnect),
        cmocka_unit_test(live_write_speed),
    };
    int failed = cmocka_run_group_tests_name("store_pg encoding", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("store_pg with PostgreSQL", with_db, pgt_open_state, pgt_close_state);
    return failed ? 1 : 0;
}
