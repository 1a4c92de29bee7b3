/* test_assert.c: probe/assert.c on hand-built responses: every assertion kind
 * passing and failing with its exact message, severities, captures and
 * numeric extractions. Assertions are built in C (jq and PCRE2 compiled here),
 * not loaded from YAML, so this tests the evaluator alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jq.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assertions.h"
#include "json_guard.h"
#include "log.h"
#include "probe_test.h"

/* ---------------------------------------------------------------- builders */

static int ranges_storage[8][8];
static int n_ranges_used;

static struct pk_assertion status_assert(int severity, size_t n, ...)
{
    struct pk_assertion a = {.kind = PK_ASSERT_STATUS, .severity = severity};
    int *r = ranges_storage[n_ranges_used++ % 8];
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < 2 * n; i++)
        r[i] = va_arg(ap, int);
    va_end(ap);
    a.status_ranges = r;
    a.n_status_ranges = n;
    return a;
}

static struct pk_assertion text_assert(int kind, const char *text)
{
    struct pk_assertion a = {.kind = kind, .text = (char *)text};
    if (kind == PK_ASSERT_BODY_MATCHES || kind == PK_ASSERT_HEADER_MATCHES)
        a.regex = compile_re(text);
    if (kind == PK_ASSERT_JSON)
        a.jq = compile_jq(text);
    return a;
}

static struct pk_assertion header_assert(int kind, const char *name, const char *text)
{
    struct pk_assertion a = text_assert(kind, text);
    a.header_name = (char *)name;
    return a;
}

static void free_assert(struct pk_assertion *a)
{
    if (a->regex)
        pcre2_code_free(a->regex);
    if (a->jq) {
        jq_state *jq = a->jq;
        jq_teardown(&jq);
    }
}

static const struct pk_kv response_headers[] = {
    {"Content-Type", "application/json"},
    {"Location", "/drafts/draft_42"},
    {"X-Empty", ""},
};

static struct assert_response response(int status, const char *body)
{
    struct assert_response r = {
        .status = status,
        .headers = response_headers,
        .n_headers = sizeof response_headers / sizeof *response_headers,
        .body = body,
        .body_len = strlen(body),
        .total_us = 1500000,
    };
    return r;
}

/* Evaluates one assertion; returns the verdict. Frees the assertion. */
static struct assert_verdict one(struct assert_response *resp, struct pk_assertion a)
{
    struct assert_verdict v;
    assert_evaluate(resp, &a, 1, &v);
    free_assert(&a);
    return v;
}

#define assert_pass(v)                                                                                                 \
    do {                                                                                                               \
        struct assert_verdict v_ = (v);                                                                                \
        assert_int_equal(v_.outcome, PK_OUTCOME_OK);                                                                   \
        assert_int_equal(v_.error_class, PK_ERR_NONE);                                                                 \
        assert_string_equal(v_.message, "");                                                                           \
    } while (0)

#define assert_fail(v, msg)                                                                                            \
    do {                                                                                                               \
        struct assert_verdict v_ = (v);                                                                                \
        assert_int_equal(v_.outcome, PK_OUTCOME_FAILED);                                                               \
        assert_string_equal(v_.message, msg);                                                                          \
    } while (0)

/* ------------------------------------------------------------------ tests */

static void test_status(void **state)
{
    (void)state;
    struct assert_response r = response(503, "");
    assert_pass(one(&r, status_assert(PK_SEV_FAILED, 1, 500, 599)));
    struct assert_verdict v = one(&r, status_assert(PK_SEV_FAILED, 1, 200, 200));
    assert_fail(v, "status 503, expected 200");
    assert_int_equal(v.error_class, PK_ERR_HTTP);
    assert_fail(one(&r, status_assert(PK_SEV_FAILED, 2, 200, 200, 204, 204)), "status 503, expected one of 200, 204");
    assert_fail(one(&r, status_assert(PK_SEV_FAILED, 1, 200, 299)), "status 503, expected 2xx");
    assert_fail(one(&r, status_assert(PK_SEV_FAILED, 1, 200, 250)), "status 503, expected 200-250");
}

static void test_headers(void **state)
{
    (void)state;
    struct assert_response r = response(200, "");
    assert_pass(one(&r, header_assert(PK_ASSERT_HEADER_EQUALS, "content-type", "application/json")));
    assert_pass(one(&r, header_assert(PK_ASSERT_HEADER_EQUALS, "X-Empty", "")));
    assert_fail(one(&r, header_assert(PK_ASSERT_HEADER_EQUALS, "Content-Type", "text/html")),
                "header Content-Type is \"application/json\", expected \"text/html\"");
    assert_fail(one(&r, header_assert(PK_ASSERT_HEADER_EQUALS, "X-Missing", "a")), "header X-Missing missing");
    assert_pass(one(&r, header_assert(PK_ASSERT_HEADER_MATCHES, "LOCATION", "/drafts/draft_\\d+")));
    struct assert_verdict v = one(&r, header_assert(PK_ASSERT_HEADER_MATCHES, "Location", "^/login"));
    assert_fail(v, "header Location \"/drafts/draft_42\" does not match /^/login/");
    assert_int_equal(v.error_class, PK_ERR_ASSERTION);
}

static void test_body(void **state)
{
    (void)state;
    struct assert_response r = response(200, "{\"answer\": \"I don't have information about that\"}");
    assert_pass(one(&r, text_assert(PK_ASSERT_BODY_CONTAINS, "I don't have information")));
    assert_fail(one(&r, text_assert(PK_ASSERT_BODY_CONTAINS, "return policy")), "body does not contain \"return policy\"");
    assert_pass(one(&r, text_assert(PK_ASSERT_BODY_NOT_CONTAINS, "Traceback")));
    assert_fail(one(&r, text_assert(PK_ASSERT_BODY_NOT_CONTAINS, "information")), "body contains \"information\"");
    assert_pass(one(&r, text_assert(PK_ASSERT_BODY_MATCHES, "don't\\s+have")));
    assert_fail(one(&r, text_assert(PK_ASSERT_BODY_MATCHES, "^\\d+$")), "body does not match /^\\d+$/");

    /* The body is bytes, not a C string: text after a NUL still counts. */
    static const char with_nul[] = "abc\0def";
    r.body = with_nul;
    r.body_len = sizeof with_nul - 1;
    assert_pass(one(&r, text_assert(PK_ASSERT_BODY_CONTAINS, "def")));
    assert_fail(one(&r, text_assert(PK_ASSERT_OUTPUT_CONTAINS, "xyz")), "output does not contain \"xyz\"");
}

static void test_json(void **state)
{
    (void)state;
    struct assert_response r = response(200, "{\"answer\": \"\", \"sources\": [{\"id\": 1}, {\"id\": 2}], \"n\": null}");
    assert_pass(one(&r, text_assert(PK_ASSERT_JSON, ".sources | type == \"array\"")));
    assert_pass(one(&r, text_assert(PK_ASSERT_JSON, ".sources | length == 2")));
    assert_fail(one(&r, text_assert(PK_ASSERT_JSON, ".answer | length > 0")),
                "assertion failed: json .answer | length > 0 (got false)");
    assert_fail(one(&r, text_assert(PK_ASSERT_JSON, ".n")), "assertion failed: json .n (got null)");
    assert_fail(one(&r, text_assert(PK_ASSERT_JSON, ".sources[0]")), "assertion failed: json .sources[0] (got {\"id\":1})");
    assert_fail(one(&r, text_assert(PK_ASSERT_JSON, "empty")), "assertion failed: json empty (got no output)");
    assert_fail(one(&r, text_assert(PK_ASSERT_JSON, ".answer | error(\"boom\")")),
                "assertion failed: json .answer | error(\"boom\") (got error: boom)");
    /* The body is parsed once and reused: several assertions, one parse. */
    struct pk_assertion two[2] = {text_assert(PK_ASSERT_JSON, ".sources | length > 1"),
                                  text_assert(PK_ASSERT_JSON, "has(\"answer\")")};
    struct assert_verdict v;
    assert_evaluate(&r, two, 2, &v);
    assert_int_equal(v.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.json_state, 1);
    free_assert(&two[0]);
    free_assert(&two[1]);
    assert_response_release(&r);

    struct assert_response html = response(200, "<html>oops</html>");
    assert_fail(one(&html, text_assert(PK_ASSERT_JSON, ".answer")), "body is not JSON");
    struct assert_response cut = response(200, "{\"answer\": \"long");
    cut.body_bytes = 5000;
    assert_fail(one(&cut, text_assert(PK_ASSERT_JSON, ".answer")),
                "body is not JSON (only the first 16 of 5000 bytes are kept: raise max_body)");
    assert_response_release(&cut);
    struct assert_response empty = response(200, "");
    assert_fail(one(&empty, text_assert(PK_ASSERT_JSON, ".answer")), "body is not JSON");
    assert_response_release(&html);
    assert_response_release(&empty);

    /* Bodies jq 1.6 would leak on (a string after a value with no separator) are
     * not JSON without asking jq; a BOM and trailing whitespace are fine. */
    static const char *const not_json[] = {"{\"answer\": \"a\" \"b\"}", "[\"x\", 1 \"y\"]", "[[] \"x\"]",
                                           "\xEF\xBB\xBF{\"a\": {} \"b\"}", "{\"answer\": 1} [\"x\" \"y\"]",
                                           "{\"answer\": 1} x", "\"answer\"\"b\""};
    for (size_t i = 0; i < sizeof not_json / sizeof *not_json; i++) {
        struct assert_response bad = response(200, not_json[i]);
        assert_int_equal(json_jq_would_leak(bad.body, bad.body_len), 1);
        assert_fail(one(&bad, text_assert(PK_ASSERT_JSON, ".answer")), "body is not JSON");
        assert_response_release(&bad);
    }
    static const char *const json[] = {"\xEF\xBB\xBF{\"answer\": \"yes\"}", "{\"answer\": \"yes\"} \r\n",
                                       " {\"x\": [\"a\", {\"b\": \"c\"}, [], {}], \"answer\": \"yes\"}"};
    for (size_t i = 0; i < sizeof json / sizeof *json; i++) {
        struct assert_response good = response(200, json[i]);
        assert_int_equal(json_jq_would_leak(good.body, good.body_len), 0);
        assert_pass(one(&good, text_assert(PK_ASSERT_JSON, ".answer == \"yes\"")));
        assert_response_release(&good);
    }
    /* Invalid in ways jq reports itself (no leak there): left to jq. */
    assert_int_equal(json_jq_would_leak("[1 2]", 5), 0);
    assert_int_equal(json_jq_would_leak("{\"a\" 1}", 7), 0);
    assert_int_equal(json_jq_would_leak("{\"a\":", 5), 0);
}

static void test_time(void **state)
{
    (void)state;
    struct assert_response r = response(200, "");
    struct pk_assertion a = {.kind = PK_ASSERT_TIME_UNDER, .max_ms = 2000};
    assert_pass(one(&r, a));
    r.total_us = 10450000;
    a.max_ms = 10000;
    assert_fail(one(&r, a), "took 10450 ms, budget 10000 ms");
}

static void test_metric(void **state)
{
    (void)state;
    struct assert_response r = response(200, "# HELP process_resident_memory_bytes RSS.\n"
                                              "# TYPE process_resident_memory_bytes gauge\n"
                                              "process_resident_memory_bytes 1.5e+08\n"
                                              "http_requests_total{code=\"200\",path=\"/query\"} 17\n"
                                              "http_requests_total{code=\"500\",path=\"/query\"} 3 1700000000000\n"
                                              "approval_rate 0.75\n");
    struct pk_assertion a = {.kind = PK_ASSERT_METRIC, .text = "process_resident_memory_bytes", .op = "<",
                             .value = 5e8};
    assert_pass(one(&r, a));
    a.value = 1e8;
    assert_fail(one(&r, a), "metric process_resident_memory_bytes is 1.5e+08, expected < 1e+08");
    struct pk_assertion b = {.kind = PK_ASSERT_METRIC, .text = "http_requests_total{code=\"500\"}", .op = "==",
                             .value = 3};
    assert_pass(one(&r, b));
    b.op[0] = '>', b.op[1] = '\0', b.value = 5;
    assert_fail(one(&r, b), "metric http_requests_total{code=\"500\"} is 3, expected > 5");
    struct pk_assertion c = {.kind = PK_ASSERT_METRIC, .text = "approval_rate"}; /* no op: present */
    assert_pass(one(&r, c));
    c.text = "total_drafts";
    assert_fail(one(&r, c), "metric total_drafts not found");
    c.text = "http_requests_total{code=\"404\"}";
    assert_fail(one(&r, c), "metric http_requests_total{code=\"404\"} not found");
}

static void test_severity(void **state)
{
    (void)state;
    struct assert_response r = response(200, "{\"answer\": \"\"}");
    r.total_us = 3000000;
    struct pk_assertion list[3] = {
        {.kind = PK_ASSERT_TIME_UNDER, .max_ms = 2000, .severity = PK_SEV_DEGRADED},
        text_assert(PK_ASSERT_BODY_CONTAINS, "answer"),
        text_assert(PK_ASSERT_JSON, ".answer | length > 0"),
    };
    struct assert_verdict v;
    assert_evaluate(&r, list, 2, &v);
    assert_int_equal(v.outcome, PK_OUTCOME_DEGRADED);
    assert_int_equal(v.error_class, PK_ERR_ASSERTION);
    assert_string_equal(v.message, "took 3000 ms, budget 2000 ms");

    /* A later failed assertion outranks an earlier degraded one. */
    assert_evaluate(&r, list, 3, &v);
    assert_int_equal(v.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(v.message, "assertion failed: json .answer | length > 0 (got false)");
    free_assert(&list[2]);
    assert_response_release(&r);
}

static void test_captures(void **state)
{
    (void)state;
    struct assert_response r = response(303, "{\"token\": \"abc\", \"n\": 7} id=99;");
    char *value = NULL, err[256] = "";
    struct pk_capture c = {.name = "code", .source = PK_CAPTURE_STATUS};
    assert_int_equal(assert_capture(&r, &c, &value, err, sizeof err), 0);
    assert_string_equal(value, "303");
    free(value);

    struct pk_capture h = {.name = "draft_id", .source = PK_CAPTURE_HEADER, .header_name = "location",
                           .expr = "draft_\\d+"};
    h.regex = compile_re(h.expr);
    assert_int_equal(assert_capture(&r, &h, &value, err, sizeof err), 0);
    assert_string_equal(value, "draft_42"); /* no group: the whole match */
    free(value);
    pcre2_code_free(h.regex);
    h.expr = "/drafts/(\\w+)";
    h.regex = compile_re(h.expr);
    assert_int_equal(assert_capture(&r, &h, &value, err, sizeof err), 0);
    assert_string_equal(value, "draft_42"); /* group 1 */
    free(value);
    pcre2_code_free(h.regex);
    h.expr = "^/other/(\\d+)";
    h.regex = compile_re(h.expr);
    assert_int_equal(assert_capture(&r, &h, &value, err, sizeof err), -1);
    assert_null(value);
    assert_string_equal(err, "header location \"/drafts/draft_42\" does not match /^/other/(\\d+)/");
    pcre2_code_free(h.regex);
    h.regex = NULL;
    h.expr = NULL;
    assert_int_equal(assert_capture(&r, &h, &value, err, sizeof err), 0);
    assert_string_equal(value, "/drafts/draft_42"); /* no regex: the whole value */
    free(value);
    h.header_name = "X-Nope";
    assert_int_equal(assert_capture(&r, &h, &value, err, sizeof err), -1);
    assert_string_equal(err, "header X-Nope missing");

    /* A body that is JSON followed by text is not JSON, but a regex sees it all. */
    struct pk_capture b = {.name = "id", .source = PK_CAPTURE_BODY_REGEX, .expr = "id=(\\d+)"};
    b.regex = compile_re(b.expr);
    assert_int_equal(assert_capture(&r, &b, &value, err, sizeof err), 0);
    assert_string_equal(value, "99");
    free(value);
    pcre2_code_free(b.regex);
    b.expr = "nothing(here)";
    b.regex = compile_re(b.expr);
    assert_int_equal(assert_capture(&r, &b, &value, err, sizeof err), -1);
    assert_string_equal(err, "body does not match /nothing(here)/");
    pcre2_code_free(b.regex);

    struct pk_capture j = {.name = "token", .source = PK_CAPTURE_JSON, .expr = ".token"};
    j.jq = compile_jq(j.expr);
    assert_int_equal(assert_capture(&r, &j, &value, err, sizeof err), -1);
    assert_string_equal(err, "body is not JSON");
    struct assert_response jr = response(200, "{\"token\": \"abc\", \"n\": 7, \"gone\": null}");
    assert_int_equal(assert_capture(&jr, &j, &value, err, sizeof err), 0);
    assert_string_equal(value, "abc");
    free(value);
    jq_state *jq = j.jq;
    jq_teardown(&jq);
    j.expr = ".n";
    j.jq = compile_jq(j.expr);
    assert_int_equal(assert_capture(&jr, &j, &value, err, sizeof err), 0);
    assert_string_equal(value, "7");
    free(value);
    jq = j.jq;
    jq_teardown(&jq);
    j.expr = ".gone";
    j.jq = compile_jq(j.expr);
    assert_int_equal(assert_capture(&jr, &j, &value, err, sizeof err), -1);
    assert_string_equal(err, "json .gone yielded null");
    jq = j.jq;
    jq_teardown(&jq);
    assert_response_release(&r);
    assert_response_release(&jr);
}

static void test_extractions(void **state)
{
    (void)state;
    struct assert_response r = response(200, "{\"sources\": [\"a\", \"b\"], \"ok\": true, \"name\": \"x\", "
                                              "\"total_drafts\": 12, \"approval_rate\": 0.5}");
    struct pk_extraction ex[4] = {
        {.name = "sources", .expr = ".sources | length"},
        {.name = "ok", .expr = ".ok"},
        {.name = "name", .expr = ".name"},
        {.name = "approval_rate", .expr = ".approval_rate"},
    };
    for (int i = 0; i < 4; i++)
        ex[i].jq = compile_jq(ex[i].expr);
    struct pk_result res = {0};
    assert_int_equal(assert_extract(&r, ex, 4, "t", &res), 3);
    assert_int_equal(res.n_metrics, 3);
    assert_string_equal(res.metrics[0].name, "sources");
    assert_true(res.metrics[0].value == 2.0);
    assert_string_equal(res.metrics[1].name, "ok");
    assert_true(res.metrics[1].value == 1.0);
    assert_string_equal(res.metrics[2].name, "approval_rate"); /* "name" was a string: skipped */
    assert_true(res.metrics[2].value == 0.5);

    /* Never more than PK_MAX_METRICS. */
    res.n_metrics = PK_MAX_METRICS - 1;
    assert_int_equal(assert_extract(&r, ex, 2, "t", &res), 1);
    assert_int_equal(res.n_metrics, PK_MAX_METRICS);

    struct assert_response html = response(200, "<p>");
    res.n_metrics = 0;
    assert_int_equal(assert_extract(&html, ex, 1, "t", &res), 0);
    for (int i = 0; i < 4; i++) {
        jq_state *jq = ex[i].jq;
        jq_teardown(&jq);
    }
    assert_response_release(&r);
    assert_response_release(&html);
}

int main(void)
{
    pk_log_set_level(PK_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),   cmocka_unit_test(test_headers),  cmocka_unit_test(test_body),
        cmocka_unit_test(test_json),     cmocka_unit_test(test_time),     cmocka_unit_test(test_metric),
        cmocka_unit_test(test_severity), cmocka_unit_test(test_captures), cmocka_unit_test(test_extractions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
