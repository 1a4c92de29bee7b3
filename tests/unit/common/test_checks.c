/* test_checks.c: the check language loader. A good file parses field by field
 * with the documented defaults; every bad input is refused with the exact
 * "file:line:col: reason" and leaves the caller's set untouched. Fixtures are
 * written to temp files so the file path appears in errors as users see it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"

/* Writes text to a fresh temp file; returns its path (caller frees and unlinks). */
static char *write_temp(const char *text, size_t len)
{
    char *path = strdup("/tmp/picket-test-checks-XXXXXX.yaml");
    assert_non_null(path);
    int fd = mkstemps(path, 5);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

static const struct pk_check *find(const struct pk_checkset *set, const char *name)
{
    for (size_t i = 0; i < set->n_checks; i++)
        if (strcmp(set->checks[i].name, name) == 0)
            return &set->checks[i];
    fail_msg("no check named %s", name);
    return NULL;
}

static const char good_yaml[] = "# Picket checks\n"
                                "checks:\n"
                                "  - name: rag-health\n"
                                "    type: http\n"
                                "    url: http://127.0.0.1:8000/health\n"
                                "    method: POST\n"
                                "    headers:\n"
                                "      X-Token: abc\n"
                                "      Content-Type: application/json\n"
                                "    body: '{\"q\": 1}'\n"
                                "    expect_status: [200, 204]\n"
                                "    interval: 1m30s\n"
                                "    timeout: 2s\n"
                                "    labels:\n"
                                "      team: rag\n"
                                "      tier: \"1\"\n"
                                "  - name: minimal\n"
                                "    type: http\n"
                                "    url: https://example.com/\n"
                                "  - name: plain_seconds.v2\n"
                                "    type: http\n"
                                "    url: http://x/\n"
                                "    interval: 45\n"
                                "    expect_status: 503\n"
                                "  - {name: short, type: http, url: 'http://x/', interval: 500ms}\n";

static void test_good_file(void **state)
{
    (void)state;
    char *path = write_temp(good_yaml, strlen(good_yaml));
    struct pk_checkset set = {0};
    char err[512] = "";
    assert_int_equal(pk_checkset_load_file(path, &set, err, sizeof err), 0);
    assert_int_equal(set.n_checks, 4);

    const struct pk_check *c = find(&set, "rag-health");
    assert_string_equal(c->type, "http");
    assert_string_equal(c->file, path);
    assert_int_equal(c->line, 3);
    assert_string_equal(c->url, "http://127.0.0.1:8000/health");
    assert_string_equal(c->method, "POST");
    assert_int_equal(c->n_headers, 2);
    assert_string_equal(c->headers[0].key, "X-Token");
    assert_string_equal(c->headers[0].value, "abc");
    assert_string_equal(c->headers[1].key, "Content-Type");
    assert_string_equal(c->headers[1].value, "application/json");
    assert_string_equal(c->body, "{\"q\": 1}");
    assert_int_equal(c->n_expect_status, 2);
    assert_int_equal(c->expect_status[0], 200);
    assert_int_equal(c->expect_status[1], 204);
    assert_int_equal(c->interval_ms, 90000);
    assert_int_equal(c->timeout_ms, 2000);
    assert_int_equal(c->n_labels, 2);
    assert_string_equal(c->labels[0].key, "team");
    assert_string_equal(c->labels[0].value, "rag");
    assert_string_equal(c->labels[1].key, "tier");
    assert_string_equal(c->labels[1].value, "1");

    c = find(&set, "minimal");
    assert_int_equal(c->line, 17);
    assert_string_equal(c->method, "GET");
    assert_null(c->body);
    assert_int_equal(c->n_headers, 0);
    assert_int_equal(c->n_labels, 0);
    assert_int_equal(c->n_expect_status, 1);
    assert_int_equal(c->expect_status[0], 200);
    assert_int_equal(c->interval_ms, 30000);
    assert_int_equal(c->timeout_ms, 10000);

    c = find(&set, "plain_seconds.v2");
    assert_int_equal(c->interval_ms, 45000);
    assert_int_equal(c->n_expect_status, 1);
    assert_int_equal(c->expect_status[0], 503);

    /* The default timeout shrinks to fit a short interval. */
    c = find(&set, "short");
    assert_int_equal(c->interval_ms, 500);
    assert_int_equal(c->timeout_ms, 500);

    pk_checkset_free(&set);
    assert_null(set.checks);
    assert_int_equal(set.n_checks, 0);
    unlink(path);
    free(path);
}

static void test_empty_checks_list(void **state)
{
    (void)state;
    static const char yaml[] = "checks: []\n";
    struct pk_checkset set = {0};
    char err[256];
    assert_int_equal(pk_checkset_load_string(yaml, strlen(yaml), "x", &set, err, sizeof err), 0);
    assert_int_equal(set.n_checks, 0);
    pk_checkset_free(&set);
}

struct bad_case {
    const char *yaml;
    const char *want; /* the error after "path:" */
};

#define HEAD "checks:\n  - name: a\n    type: http\n"

static const struct bad_case bad_cases[] = {
    {HEAD "    url: http://x/\n    foo: 1\n", "5:5: unknown key 'foo' in check 'a'"},
    {"checks:\n  - foo: 1\n    name: a\n", "2:5: unknown key 'foo' in check 'a'"},
    {HEAD "    url: http://x/\n    interval: [1]\n", "5:15: 'interval' must be a duration like 30s"},
    {HEAD "    url: http://x/\n    interval: 10x\n", "5:15: 'interval' must be a duration like 30s, got '10x'"},
    {HEAD "    url: http://x/\n    interval: 50ms\n", "5:15: 'interval' must be at least 100ms"},
    {HEAD "    url: http://x/\n    timeout: {a: 1}\n", "5:14: 'timeout' must be a duration like 10s"},
    {HEAD "    url: http://x/\n    interval: 1s\n    timeout: 2s\n",
     "6:14: 'timeout' (2000ms) must not exceed 'interval' (1000ms) in check 'a'"},
    {HEAD "    url: http://x/\n    timeout: 0s\n", "5:14: 'timeout' must be more than 0"},
    {HEAD, "2:5: check 'a' of type http has no 'url'"},
    {HEAD "    url: ftp://x/\n", "4:10: 'url' must start with http:// or https://"},
    {HEAD "    url: 'http://x/ y'\n", "4:10: 'url' must not contain spaces or control characters"},
    {HEAD "    url: [http://x/]\n", "4:10: 'url' must be a string"},
    {HEAD "    url:\n", "4:9: 'url' must be a string"},
    {HEAD "    url: http://x/\n    expect_status: [200, 700]\n",
     "5:26: 'expect_status' must be an HTTP status (100..599) or a list of them"},
    {HEAD "    url: http://x/\n    expect_status: 2xx\n",
     "5:20: 'expect_status' must be an HTTP status (100..599) or a list of them"},
    {HEAD "    url: http://x/\n    expect_status: []\n", "5:20: 'expect_status' must list 1..100 statuses"},
    {HEAD "    url: http://x/\n    method: get\n", "5:13: 'method' must be uppercase letters, like GET or POST"},
    {HEAD "    url: http://x/\n    headers: [a]\n", "5:14: 'headers' must be a mapping of strings"},
    {HEAD "    url: http://x/\n    headers:\n      X-A: \"1\\r\\nX-Evil: 2\"\n",
     "6:12: 'headers' value for 'X-A' contains a control character"},
    {HEAD "    url: http://x/\n    headers:\n      'X A': b\n", "6:7: invalid header name 'X A'"},
    {HEAD "    url: http://x/\n    labels:\n      team-name: x\n",
     "6:7: invalid label key 'team-name' (want [A-Za-z_][A-Za-z0-9_]*)"},
    {HEAD "    url: http://x/\n    labels:\n      a: 1\n      a: 2\n", "7:7: duplicate key 'a' in 'labels'"},
    {HEAD "    url: http://x/\n    url: http://y/\n", "5:5: duplicate key 'url' in check 'a'"},
    {HEAD "    url: http://x/\n  - name: b\n    type: http\n    url: http://x/\n  - name: a\n    type: http\n"
          "    url: http://x/\n",
     "8:11: duplicate name 'a' (first defined at line 2)"},
    {"checks:\n  - type: http\n    url: http://x/\n", "2:5: check has no 'name'"},
    {"checks:\n  - name: 'a b'\n", "2:11: name 'a b' must be 1..127 characters of A-Z a-z 0-9 _ . -"},
    {"checks:\n  - name: a\n    url: http://x/\n", "2:5: check 'a' has no 'type' (known types: http)"},
    {"checks:\n  - name: a\n    type: tcp\n", "3:11: unknown type 'tcp' in check 'a' (known types: http)"},
    {"checks:\n  - just a string\n", "2:5: each entry of 'checks' must be a mapping"},
    {"- a\n- b\n", "1:1: expected a mapping with a 'checks' list at the top level"},
    {"checks: 5\n", "1:9: 'checks' must be a list"},
    {"check:\n  - name: a\n", "1:1: unknown top-level key 'check' (expected 'checks')"},
    {"{}\n", "1:1: missing 'checks' list"},
    {"", "1:1: empty file: expected a mapping with a 'checks' list"},
    {"# only a comment\n", "1:1: empty file: expected a mapping with a 'checks' list"},
    {"checks: [a, b\n", "2:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)"},
    {"checks:\n  - name: a\n\ttype: http\n",
     "3:1: YAML syntax error: found a tab character that violates indentation (while scanning a plain scalar)"},
    {"checks: []\n---\nchecks: []\n", "3:1: only one YAML document per file is allowed"},
};

static void test_bad_inputs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const struct bad_case *bc = &bad_cases[i];
        char *path = write_temp(bc->yaml, strlen(bc->yaml));
        /* All-or-nothing: the caller's set must come back exactly as given. */
        struct pk_check sentinel;
        struct pk_checkset set = {&sentinel, 7};
        char err[512] = "", want[600];
        snprintf(want, sizeof want, "%s:%s", path, bc->want);
        if (pk_checkset_load_file(path, &set, err, sizeof err) != -1)
            fail_msg("case %zu loaded but should fail with: %s", i, bc->want);
        assert_string_equal(err, want);
        assert_ptr_equal(set.checks, &sentinel);
        assert_int_equal(set.n_checks, 7);
        unlink(path);
        free(path);
    }
}

static void test_file_errors(void **state)
{
    (void)state;
    struct pk_checkset set = {0};
    char err[512];
    assert_int_equal(pk_checkset_load_file("/nonexistent/picket.yaml", &set, err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/picket.yaml: cannot open: No such file or directory");

    size_t big = ((size_t)16 << 20) + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, '\n', big);
    char *path = write_temp(text, big);
    char want[600];
    snprintf(want, sizeof want, "%s: larger than 16 MiB", path);
    assert_int_equal(pk_checkset_load_file(path, &set, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(pk_checkset_load_string(text, big, "mem", &set, err, sizeof err), -1);
    assert_string_equal(err, "mem: larger than 16 MiB");
    free(text);
    unlink(path);
    free(path);
}

/* One anchor used by many checks must not let a small file allocate without bound. */
static void test_alias_expansion_is_bounded(void **state)
{
    (void)state;
    size_t value_len = 10000, entries = 100, checks = 80;
    size_t cap = entries * (value_len + 32) + checks * 128 + 256, n = 0;
    char *yaml = malloc(cap);
    assert_non_null(yaml);
    n += (size_t)snprintf(yaml + n, cap - n, "checks:\n");
    for (size_t i = 0; i < checks; i++) {
        n +=
            (size_t)snprintf(yaml + n, cap - n, "  - name: c%zu\n    type: http\n    url: http://x/\n    headers: ", i);
        if (i == 0) {
            n += (size_t)snprintf(yaml + n, cap - n, "&h\n");
            for (size_t e = 0; e < entries; e++) {
                n += (size_t)snprintf(yaml + n, cap - n, "      X-%zu: ", e);
                memset(yaml + n, 'v', value_len);
                n += value_len;
                yaml[n++] = '\n';
            }
        } else {
            n += (size_t)snprintf(yaml + n, cap - n, "*h\n");
        }
    }
    struct pk_checkset set = {0};
    char err[512];
    assert_int_equal(pk_checkset_load_string(yaml, n, "bomb", &set, err, sizeof err), -1);
    assert_non_null(strstr(err, "anchors and aliases expand to more than 64 MiB"));
    /* A modest reuse is fine. */
    static const char ok[] = "checks:\n"
                             "  - {name: a, type: http, url: 'http://x/', headers: &h {X-A: '1'}}\n"
                             "  - {name: b, type: http, url: 'http://x/', headers: *h}\n";
    assert_int_equal(pk_checkset_load_string(ok, strlen(ok), "ok", &set, err, sizeof err), 0);
    assert_string_equal(set.checks[1].headers[0].key, "X-A");
    pk_checkset_free(&set);
    free(yaml);
}

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"30s", 30000},   {"500ms", 500}, {"1m", 60000}, {"2h", 7200000},
                {"1m30s", 90000}, {"45", 45000},  {"0", 0},      {"1h0m5s250ms", 3605250}};
    static const char *const bad[] = {
        "", "s", "10x", "-1", "1.5s", "1m30", " 1s", "1s ", "ms", "99999999999999999999", "1000000000000000h"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        int64_t ms = -1;
        assert_int_equal(pk_parse_duration_ms(good[i].text, &ms), 0);
        assert_int_equal(ms, good[i].ms);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms = 12345;
        if (pk_parse_duration_ms(bad[i], &ms) != -1)
            fail_msg("'%s' parsed", bad[i]);
        assert_int_equal(ms, 12345);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_empty_checks_list),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_alias_expansion_is_bounded),
        cmocka_unit_test(test_parse_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
