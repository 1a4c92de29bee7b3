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
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "buf.h"
#include "checks.h"
#include "template.h"

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

/* The steps of an http (its one step) or flow check; NULL/0 for other types. */
static const struct pk_step *steps_of(const struct pk_check *c, size_t *n)
{
    *n = c->kind == PK_CHECK_HTTP ? 1 : c->kind == PK_CHECK_FLOW ? c->u.flow.n_steps : 0;
    return c->kind == PK_CHECK_HTTP ? c->u.http.step : c->kind == PK_CHECK_FLOW ? c->u.flow.steps : NULL;
}

static const struct pk_step *first_step(const struct pk_check *c)
{
    size_t n;
    const struct pk_step *s = steps_of(c, &n);
    assert_non_null(s);
    return s;
}

static size_t n_steps(const struct pk_check *c)
{
    size_t n;
    steps_of(c, &n);
    return n;
}

/* Every status a step's status assertions accept, in order, into out (at most
 * cap); returns how many there are. */
static size_t accepted_statuses(const struct pk_step *s, int *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_asserts; i++)
        if (s->asserts[i].kind == PK_ASSERT_STATUS)
            for (size_t j = 0; j < s->asserts[i].n_status_ranges; j++)
                for (int st = s->asserts[i].status_ranges[2 * j]; st <= s->asserts[i].status_ranges[2 * j + 1]; st++)
                    if (n++ < cap)
                        out[n - 1] = st;
    return n;
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
    assert_int_equal(c->kind, PK_CHECK_HTTP);
    const struct pk_request *r = &first_step(c)->request;
    int statuses[200];
    assert_string_equal(r->url, "http://127.0.0.1:8000/health");
    assert_string_equal(r->method, "POST");
    assert_int_equal(r->n_headers, 2);
    assert_string_equal(r->headers[0].key, "X-Token");
    assert_string_equal(r->headers[0].value, "abc");
    assert_string_equal(r->headers[1].key, "Content-Type");
    assert_string_equal(r->headers[1].value, "application/json");
    assert_int_equal(r->body_kind, PK_BODY_RAW);
    assert_string_equal(r->body, "{\"q\": 1}");
    assert_int_equal(accepted_statuses(first_step(c), statuses, 200), 2);
    assert_int_equal(statuses[0], 200);
    assert_int_equal(statuses[1], 204);
    assert_int_equal(c->interval_ms, 90000);
    assert_int_equal(c->timeout_ms, 2000);
    assert_int_equal(c->n_labels, 2);
    assert_string_equal(c->labels[0].key, "team");
    assert_string_equal(c->labels[0].value, "rag");
    assert_string_equal(c->labels[1].key, "tier");
    assert_string_equal(c->labels[1].value, "1");

    c = find(&set, "minimal");
    assert_int_equal(c->line, 17);
    r = &first_step(c)->request;
    assert_string_equal(r->method, "GET");
    assert_null(r->body);
    assert_int_equal(r->n_headers, 0);
    assert_int_equal(c->n_labels, 0);
    assert_int_equal(accepted_statuses(first_step(c), statuses, 200), 1);
    assert_int_equal(statuses[0], 200);
    assert_int_equal(c->interval_ms, 30000);
    assert_int_equal(c->timeout_ms, 10000);

    c = find(&set, "plain_seconds.v2");
    assert_int_equal(c->interval_ms, 45000);
    assert_int_equal(accepted_statuses(first_step(c), statuses, 200), 1);
    assert_int_equal(statuses[0], 503);

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
    /* A newline in a label would split the stored "key=value" lines (and the
     * dashboard's label filter) into a forged second label. */
    {HEAD "    url: http://x/\n    labels:\n      team: \"sre\\nenv=prod\"\n",
     "6:13: 'labels' value for 'team' contains a control character"},
    {HEAD "    url: http://x/\n    selector:\n      labels:\n        zone: \"a\\tb\"\n",
     "7:15: 'selector.labels' value for 'zone' contains a control character"},
    {HEAD "    url: http://x/\n    url: http://y/\n", "5:5: duplicate key 'url' in check 'a'"},
    {HEAD "    url: http://x/\n  - name: b\n    type: http\n    url: http://x/\n  - name: a\n    type: http\n"
          "    url: http://x/\n",
     "8:11: duplicate name 'a' (first defined at line 2)"},
    {"checks:\n  - type: http\n    url: http://x/\n", "2:5: check has no 'name'"},
    {"checks:\n  - name: 'a b'\n", "2:11: name 'a b' must be 1..127 characters of A-Z a-z 0-9 _ . -"},
    {"checks:\n  - name: a\n    url: http://x/\n", "2:5: check 'a' has no 'type' (known types: http flow tcp dns tls grpc exec)"},
    {"checks:\n  - name: a\n    type: smtp\n",
     "3:11: unknown type 'smtp' in check 'a' (known types: http flow tcp dns tls grpc exec)"},
    {"checks:\n  - just a string\n", "2:5: each entry of 'checks' must be a mapping"},
    {"- a\n- b\n", "1:1: expected a mapping with a 'checks' list at the top level"},
    {"checks: 5\n", "1:9: 'checks' must be a list"},
    {"check:\n  - name: a\n", "1:1: unknown top-level key 'check' (expected 'checks', 'vars' or 'secrets')"},
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
    snprintf(want, sizeof want,
             "%s: 16777217 bytes is over the 16777216-byte limit (raise it with PICKET_MAX_CHECK_FILE_BYTES)", path);
    assert_int_equal(pk_checkset_load_file(path, &set, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(pk_checkset_load_string(text, big, "mem", &set, err, sizeof err), -1);
    assert_string_equal(err, "mem: 16777217 bytes is over the 16777216-byte limit");
    free(text);

    /* A sparse 100 MB file is refused from its size, unread. */
    assert_int_equal(truncate(path, (off_t)100 << 20), 0);
    snprintf(want, sizeof want,
             "%s: 104857600 bytes is over the 16777216-byte limit (raise it with PICKET_MAX_CHECK_FILE_BYTES)", path);
    assert_int_equal(pk_checkset_load_file(path, &set, err, sizeof err), -1);
    assert_string_equal(err, want);

    /* The limit can be lowered and raised; 0 restores the default. */
    const char *small = "checks:\n  - {name: a, type: tcp, tcp: {host: 127.0.0.1, port: 1}}\n";
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(small, f);
    fclose(f);
    pk_checkset_set_max_file_bytes(10);
    assert_int_equal(pk_checkset_max_file_bytes(), 10);
    assert_int_equal(pk_checkset_load_file(path, &set, err, sizeof err), -1);
    assert_non_null(strstr(err, "bytes is over the 10-byte limit"));
    pk_checkset_set_max_file_bytes(0);
    assert_int_equal(pk_checkset_max_file_bytes(), (size_t)16 << 20);
    assert_int_equal(pk_checkset_load_file(path, &set, err, sizeof err), 0);
    pk_checkset_free(&set);

    /* A pipe has no size to look at: reading stops one byte past the limit. */
    pk_checkset_set_max_file_bytes(4096);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char fifo_path[64];
    snprintf(fifo_path, sizeof fifo_path, "/proc/self/fd/%d", fds[0]);
    char junk[8192];
    memset(junk, '#', sizeof junk);
    assert_int_equal(write(fds[1], junk, sizeof junk), (ssize_t)sizeof junk);
    close(fds[1]);
    assert_int_equal(pk_checkset_load_file(fifo_path, &set, err, sizeof err), -1);
    assert_non_null(strstr(err, ": over the 4096-byte limit"));
    close(fds[0]);
    pk_checkset_set_max_file_bytes(0);

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
    assert_string_equal(first_step(&set.checks[1])->request.headers[0].key, "X-A");
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


/* ---- the v2 language ---- */

static const char seed_yaml[] =
    "vars:\n"                                                                     /* 1 */
    "  rag_url: ${PICKET_TEST_RAG:-http://127.0.0.1:8000}\n"                      /* 2 */
    "  approval_url: http://127.0.0.1:8004\n"                                     /* 3 */
    "  who: ${PICKET_TEST_WHO}\n"                                                 /* 4 */
    "secrets:\n"                                                                  /* 5 */
    "  shopify: {env: PICKET_TEST_SHOPIFY}\n"                                     /* 6 */
    "  filed: {file: %s}\n"                                                       /* 7 */
    "checks:\n"                                                                   /* 8 */
    "  - name: rag-query\n"                                                       /* 9 */
    "    type: http\n"
    "    service: rag-api\n"
    "    interval: 60s\n"
    "    timeout: 10s\n"
    "    retries: 2\n"
    "    labels: {team: ai}\n"
    "    budgets: {p50: 3s, p95: 8s, p99: 10s}\n"
    "    slo: {target: 99.5, window: 30d}\n"
    "    request:\n"
    "      method: POST\n"
    "      url: \"{{rag_url}}/query\"\n"
    "      headers: {X-Request-Id: \"{{uuid()}}\"}\n"
    "      json: {question: \"What is our return policy?\", n: 3, ok: true, none: null, list: [1, \"a\"], "
    "who: \"{{who}}\"}\n"
    "      follow_redirects: true\n"
    "      max_body: 64KiB\n"
    "      tls: {ca_file: /ca.pem, insecure_skip_verify: false, server_name: rag.local}\n"
    "    assert:\n"
    "      - status: [200, 2xx, 300-304]\n"
    "      - json: '.answer | length > 0'\n"
    "      - body_contains: return\n"
    "      - body_not_contains: Traceback\n"
    "      - body_matches: 'polic(y|ies)'\n"
    "      - header: {name: Content-Type, equals: application/json}\n"
    "      - header: {name: Location, matches: '/drafts/draft_\\d+'}\n"
    "      - time_under: 10s\n"
    "      - {time_under: 2s, severity: degraded}\n"
    "      - metric: {series: 'process_resident_memory_bytes{job=\"rag\"}', op: '<', value: 5e8}\n"
    "    extract:\n"
    "      sources: '.sources | length'\n"
    "    burst: {count: 20, within: 1s, expect_status: 429, at_least: 1}\n"
    "  - name: approval\n"
    "    type: flow\n"
    "    steps:\n"
    "      - name: generate\n"
    "        request:\n"
    "          url: \"{{approval_url}}/generate\"\n"
    "          form: {conversation_id: picket, incoming_text: \"How do I return a product?\"}\n"
    "        assert: [{status: 303}]\n"
    "        capture:\n"
    "          draft_id: {header: Location, regex: 'draft_\\d+'}\n"
    "          code: {status: true}\n"
    "      - name: approve\n"
    "        request:\n"
    "          method: POST\n"
    "          url: \"{{approval_url}}/drafts/{{draft_id}}/approve\"\n"
    "          body: \"approver_user_id=picket&code={{code}}\"\n"
    "        capture:\n"
    "          token: {json: .token}\n"
    "          num: {body_regex: 'id=(\\d+)'}\n"
    "        extract:\n"
    "          total_drafts: .total_drafts\n"
    "          note: '\"n=\\(.a | (\"(\" + \")\")) #\" # a comment with a \"'\n"
    "  - name: webhook\n"
    "    type: http\n"
    "    request:\n"
    "      url: http://127.0.0.1:8001/webhook\n"
    "      body: '{\"id\": 1}'\n"
    "      headers:\n"
    "        X-Shopify-Hmac-Sha256: \"{{hmac_sha256_base64(shopify, body)}}\"\n"
    "        X-Filed: \"{{hmac_sha256_hex(filed, 'x')}}\"\n"
    "  - name: redis\n"
    "    type: tcp\n"
    "    tcp: {host: 127.0.0.1, port: 6379, send: \"PING\\r\\n\", expect: '^\\+PONG'}\n"
    "    assert: [{output_contains: PONG}, {time_under: 1s}]\n"
    "  - name: resolve\n"
    "    type: dns\n"
    "    dns: {name: example.com, server: '127.0.0.1:5353', record: aaaa, expect: ['::1']}\n"
    "  - name: cert\n"
    "    type: tls\n"
    "    tls: {host: example.com, degraded_days: 20, failed_days: 5}\n"
    "  - name: health\n"
    "    type: grpc\n"
    "    grpc: {target: '127.0.0.1:7700', service: picket.Collector, tls: true, ca_file: /ca.pem}\n"
    "  - name: audit\n"
    "    type: exec\n"
    "    exec:\n"
    "      command: [npm, audit, --json]\n"
    "      env: {NODE_ENV: production}\n"
    "      workdir: /srv/app\n"
    "      max_output: 1MiB\n"
    "    assert: [{output_contains: found 0 vulnerabilities}]\n"
    "  - name: playwright\n"
    "    type: exec\n"
    "    exec: {command: 'npx playwright test e2e/ | tail -1', shell: true}\n";

static char *secret_file(const char *content)
{
    return write_temp(content, strlen(content));
}

static void test_seed_file(void **state)
{
    (void)state;
    char *sfile = secret_file("s3cr3t-from-file\n");
    char yaml[sizeof seed_yaml + 256];
    snprintf(yaml, sizeof yaml, seed_yaml, sfile);
    unsetenv("PICKET_TEST_RAG");
    setenv("PICKET_TEST_WHO", "tester", 1);
    setenv("PICKET_TEST_SHOPIFY", "shpss_abc", 1);
    struct pk_checkset set = {0};
    char err[512] = "";
    if (pk_checkset_load_string(yaml, strlen(yaml), "seed.yaml", &set, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(set.n_checks, 9);

    assert_int_equal(set.n_vars, 5);
    assert_string_equal(set.vars[0].name, "rag_url");
    assert_string_equal(set.vars[0].value, "http://127.0.0.1:8000");
    assert_string_equal(set.vars[2].value, "tester");
    assert_string_equal(set.vars[3].name, "shopify");
    assert_string_equal(set.vars[3].value, "shpss_abc");
    assert_int_equal(set.vars[3].secret, 1);
    assert_string_equal(set.vars[4].value, "s3cr3t-from-file");
    assert_int_equal(set.vars[0].secret, 0);

    const struct pk_check *c = find(&set, "rag-query");
    assert_string_equal(c->service, "rag-api");
    assert_int_equal(c->interval_ms, 60000);
    assert_int_equal(c->timeout_ms, 10000);
    assert_int_equal(c->retries, 2);
    assert_int_equal(c->budgets.p50_ms, 3000);
    assert_int_equal(c->budgets.p95_ms, 8000);
    assert_int_equal(c->budgets.p99_ms, 10000);
    assert_true(c->slo.target_percent > 99.49 && c->slo.target_percent < 99.51);
    assert_int_equal(c->slo.window_ms, (int64_t)30 * 86400000);
    assert_string_equal(c->target, "http://127.0.0.1:8000/query");
    assert_int_equal(c->n_vars, 5);
    assert_int_equal(c->kind, PK_CHECK_HTTP);
    assert_int_equal(n_steps(c), 1);
    const struct pk_step *s = first_step(c);
    const struct pk_request *r = &s->request;
    assert_string_equal(r->method, "POST");
    assert_string_equal(r->url, "{{rag_url}}/query");
    assert_int_equal(r->body_kind, PK_BODY_JSON);
    assert_string_equal(r->body, "{\"question\":\"What is our return policy?\",\"n\":3,\"ok\":true,\"none\":null,"
                                 "\"list\":[1,\"a\"],\"who\":\"{{who}}\"}");
    assert_int_equal(r->n_headers, 2);
    assert_string_equal(r->headers[0].key, "X-Request-Id");
    assert_string_equal(r->headers[0].value, "{{uuid()}}");
    assert_string_equal(r->headers[1].key, "Content-Type");
    assert_string_equal(r->headers[1].value, "application/json");
    assert_int_equal(r->follow_redirects, 1);
    assert_int_equal(r->max_body_bytes, 65536);
    assert_string_equal(r->tls.ca_file, "/ca.pem");
    assert_string_equal(r->tls.server_name, "rag.local");
    assert_int_equal(r->tls.insecure_skip_verify, 0);
    int statuses[200];
    assert_int_equal(accepted_statuses(s, statuses, 200), 1 + 100 + 5);
    assert_int_equal(statuses[0], 200);
    assert_int_equal(statuses[105], 304);

    assert_int_equal(s->n_asserts, 10);
    const struct pk_assertion *a = s->asserts;
    assert_int_equal(a[0].kind, PK_ASSERT_STATUS);
    assert_int_equal(a[0].n_status_ranges, 3);
    assert_int_equal(a[0].status_ranges[2], 200);
    assert_int_equal(a[0].status_ranges[3], 299);
    assert_int_equal(a[0].status_ranges[4], 300);
    assert_int_equal(a[0].status_ranges[5], 304);
    assert_string_equal(a[0].describe, "status in [200, 200-299, 300-304]");
    assert_int_equal(a[0].line, 27);
    assert_int_equal(a[0].column, 9);
    assert_int_equal(a[1].kind, PK_ASSERT_JSON);
    assert_non_null(a[1].jq);
    assert_string_equal(a[1].describe, "json: .answer | length > 0");
    assert_int_equal(a[2].kind, PK_ASSERT_BODY_CONTAINS);
    assert_string_equal(a[2].text, "return");
    assert_int_equal(a[3].kind, PK_ASSERT_BODY_NOT_CONTAINS);
    assert_int_equal(a[4].kind, PK_ASSERT_BODY_MATCHES);
    assert_non_null(a[4].regex);
    assert_int_equal(a[5].kind, PK_ASSERT_HEADER_EQUALS);
    assert_string_equal(a[5].header_name, "Content-Type");
    assert_string_equal(a[5].text, "application/json");
    assert_int_equal(a[6].kind, PK_ASSERT_HEADER_MATCHES);
    assert_string_equal(a[6].text, "/drafts/draft_\\d+");
    assert_non_null(a[6].regex);
    assert_int_equal(a[7].kind, PK_ASSERT_TIME_UNDER);
    assert_int_equal(a[7].max_ms, 10000);
    assert_int_equal(a[7].severity, PK_SEV_FAILED);
    assert_string_equal(a[7].describe, "time under 10000 ms");
    assert_int_equal(a[8].max_ms, 2000);
    assert_int_equal(a[8].severity, PK_SEV_DEGRADED);
    assert_int_equal(a[9].kind, PK_ASSERT_METRIC);
    assert_string_equal(a[9].text, "process_resident_memory_bytes{job=\"rag\"}");
    assert_string_equal(a[9].op, "<");
    assert_true(a[9].value == 5e8);
    assert_int_equal(s->n_extracts, 1);
    assert_string_equal(s->extracts[0].name, "sources");
    assert_string_equal(s->extracts[0].expr, ".sources | length");
    assert_non_null(s->extracts[0].jq);
    assert_int_equal(c->u.http.burst.count, 20);
    assert_int_equal(c->u.http.burst.within_ms, 1000);
    assert_int_equal(c->u.http.burst.expect_status, 429);
    assert_int_equal(c->u.http.burst.expect_at_least, 1);
    assert_int_equal(c->u.http.burst.expect_at_most, -1);

    c = find(&set, "approval");
    assert_string_equal(c->type, "flow");
    assert_int_equal(c->kind, PK_CHECK_FLOW);
    assert_int_equal(n_steps(c), 2);
    assert_string_equal(c->target, "http://127.0.0.1:8004/generate");
    s = &c->u.flow.steps[0];
    assert_string_equal(s->name, "generate");
    assert_string_equal(s->request.method, "POST");
    assert_int_equal(s->request.body_kind, PK_BODY_FORM);
    assert_int_equal(s->request.n_form, 2);
    assert_string_equal(s->request.form[1].key, "incoming_text");
    assert_string_equal(s->request.form[1].value, "How do I return a product?");
    assert_string_equal(s->request.headers[0].value, "application/x-www-form-urlencoded");
    assert_int_equal(s->request.follow_redirects, 0);
    assert_int_equal(s->request.max_body_bytes, 1 << 20);
    assert_int_equal(s->n_asserts, 1);
    assert_int_equal(s->asserts[0].status_ranges[0], 303);
    assert_int_equal(s->n_captures, 2);
    assert_string_equal(s->captures[0].name, "draft_id");
    assert_int_equal(s->captures[0].source, PK_CAPTURE_HEADER);
    assert_string_equal(s->captures[0].header_name, "Location");
    assert_string_equal(s->captures[0].expr, "draft_\\d+");
    assert_non_null(s->captures[0].regex);
    assert_int_equal(s->captures[1].source, PK_CAPTURE_STATUS);
    s = &c->u.flow.steps[1];
    assert_string_equal(s->request.url, "{{approval_url}}/drafts/{{draft_id}}/approve");
    assert_int_equal(s->request.body_kind, PK_BODY_RAW);
    /* no status assertion: 200 is implied */
    assert_int_equal(s->n_asserts, 1);
    assert_string_equal(s->asserts[0].describe, "status in [200]");
    assert_int_equal(s->captures[0].source, PK_CAPTURE_JSON);
    assert_non_null(s->captures[0].jq);
    assert_int_equal(s->captures[1].source, PK_CAPTURE_BODY_REGEX);
    assert_non_null(s->captures[1].regex);
    assert_string_equal(s->extracts[0].name, "total_drafts");
    /* an interpolation holding strings with parentheses, and a comment holding a
     * quote: the open-string guard in front of jq must not turn this away */
    assert_int_equal(s->n_extracts, 2);
    assert_string_equal(s->extracts[1].expr, "\"n=\\(.a | (\"(\" + \")\")) #\" # a comment with a \"");
    assert_non_null(s->extracts[1].jq);

    c = find(&set, "webhook");
    assert_string_equal(first_step(c)->request.method, "POST");
    assert_string_equal(first_step(c)->request.headers[0].value, "{{hmac_sha256_base64(shopify, body)}}");
    assert_int_equal(accepted_statuses(first_step(c), statuses, 200), 1);
    assert_int_equal(statuses[0], 200);
    /* renders against the check's own vars and secrets */
    char *out = NULL;
    int secret = 0;
    assert_int_equal(pk_check_render(c, first_step(c)->request.headers[1].value, NULL, 0, first_step(c)->request.body, 0,
                                     &out, &secret, err, sizeof err),
                     0);
    assert_int_equal(secret, 1);
    assert_int_equal(strlen(out), 64);
    free(out);

    c = find(&set, "redis");
    assert_string_equal(c->u.tcp.host, "127.0.0.1");
    assert_int_equal(c->u.tcp.port, 6379);
    assert_string_equal(c->u.tcp.send, "PING\r\n");
    assert_non_null(c->u.tcp.expect_regex);
    assert_string_equal(c->target, "127.0.0.1:6379");
    assert_int_equal(c->n_asserts, 2);
    assert_int_equal(c->asserts[0].kind, PK_ASSERT_OUTPUT_CONTAINS);
    assert_int_equal(c->kind, PK_CHECK_TCP);
    assert_int_equal(n_steps(c), 0);

    c = find(&set, "resolve");
    assert_string_equal(c->u.dns.name, "example.com");
    assert_string_equal(c->u.dns.server, "127.0.0.1:5353");
    assert_string_equal(c->u.dns.record_type, "AAAA");
    assert_int_equal(c->u.dns.n_expect, 1);
    assert_string_equal(c->u.dns.expect[0], "::1");
    assert_string_equal(c->target, "example.com");

    c = find(&set, "cert");
    assert_string_equal(c->u.tls.host, "example.com");
    assert_int_equal(c->u.tls.port, 443);
    assert_int_equal(c->u.tls.degraded_days, 20);
    assert_int_equal(c->u.tls.failed_days, 5);
    assert_null(c->u.tls.ca_file);
    assert_string_equal(c->target, "example.com:443");

    c = find(&set, "health");
    assert_string_equal(c->u.grpc.target, "127.0.0.1:7700");
    assert_string_equal(c->u.grpc.service, "picket.Collector");
    assert_int_equal(c->u.grpc.tls, 1);

    c = find(&set, "audit");
    assert_int_equal(c->u.exec.argc, 3);
    assert_string_equal(c->u.exec.argv[0], "npm");
    assert_string_equal(c->u.exec.argv[2], "--json");
    assert_null(c->u.exec.argv[3]);
    assert_int_equal(c->u.exec.shell, 0);
    assert_string_equal(c->u.exec.env[0].key, "NODE_ENV");
    assert_string_equal(c->u.exec.workdir, "/srv/app");
    assert_int_equal(c->u.exec.max_output_bytes, 1 << 20);
    assert_string_equal(c->target, "npm");

    c = find(&set, "playwright");
    assert_int_equal(c->u.exec.shell, 1);
    assert_int_equal(c->u.exec.argc, 1);
    assert_string_equal(c->u.exec.argv[0], "npx playwright test e2e/ | tail -1");
    assert_int_equal(c->u.exec.max_output_bytes, 64 << 10);

    pk_checkset_free(&set);
    assert_null(set.vars);
    unlink(sfile);
    free(sfile);
}

static void test_overrides(void **state)
{
    (void)state;
    static const char yaml[] = "vars: {base: 'http://a', keep: k}\n"
                               "checks:\n"
                               "  - {name: x, type: http, request: {url: '{{base}}/{{region}}'}}\n";
    const struct pk_kv kv[] = {{(char *)"base", (char *)"http://b"}, {(char *)"region", (char *)"eu"}};
    const struct pk_var_overrides ov = {kv, 2};
    struct pk_checkset set = {0};
    char err[512] = "";
    /* without the override, {{region}} is unknown */
    assert_int_equal(pk_checkset_load_string(yaml, strlen(yaml), "o.yaml", &set, err, sizeof err), -1);
    assert_string_equal(err, "o.yaml:3:54: unknown variable 'region' in check 'x'");
    if (pk_checkset_load_string_with_vars(yaml, strlen(yaml), "o.yaml", &ov, &set, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(set.n_vars, 3);
    assert_string_equal(set.vars[0].value, "http://b");
    assert_string_equal(set.vars[2].name, "region");
    assert_string_equal(set.checks[0].target, "http://b/eu");
    pk_checkset_free(&set);

    char *path = write_temp(yaml, strlen(yaml));
    assert_int_equal(pk_checkset_load_file_with_vars(path, &ov, &set, err, sizeof err), 0);
    assert_string_equal(set.checks[0].vars[1].value, "k");
    pk_checkset_free(&set);
    unlink(path);
    free(path);
}

#define V2 "checks:\n  - name: a\n    type: http\n"

static const struct bad_case bad_v2[] = {
    {V2 "    request: {url: 'http://x/', bogus: 1}\n", "4:33: unknown key 'bogus' in 'request' of check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    steps: []\n", "5:5: key 'steps' does not apply to type http in check 'a'"},
    {V2 "    request: {url: 'http://x/', follow_redirects: maybe}\n",
     "4:51: 'follow_redirects' must be true or false"},
    {V2 "    request: {url: 'http://x/', max_body: 1XB}\n",
     "4:43: 'max_body' must be a size from 1 byte to 1GiB like 1MiB, 64KiB or 4096"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{body_matches: 'a(b'}]\n",
     "5:29: bad regex 'a(b' in check 'a': missing closing parenthesis at offset 3"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{json: '.a | ||'}]\n",
     "5:21: bad jq expression '.a | ||' in check 'a': syntax error, unexpected '|' (Unix shell quoting issues?) at "
     "<top-level>, line 1"},
    {V2 "    request: {url: 'http://x/'}\n    extract: {n: '.x |'}\n",
     "5:18: bad jq expression '.x |' in check 'a': syntax error, unexpected $end (Unix shell quoting issues?) at "
     "<top-level>, line 1"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{json: '\"items | length'}]\n",
     "5:21: bad jq expression '\"items | length' in check 'a': a string literal is not closed"},
    {V2 "    request: {url: 'http://x/'}\n    extract: {n: '\"a\\(.x | (1)'}\n",
     "5:18: bad jq expression '\"a\\(.x | (1)' in check 'a': a string literal is not closed"},
    /* jq 1.6 leaks on any syntax error inside a string: the guard reports it first. */
    {V2 "    request: {url: 'http://x/'}\n    assert: [{json: '\"n=\\(.a;)\"'}]\n",
     "5:21: bad jq expression '\"n=\\(.a;)\"' in check 'a': in a string interpolation \"\\(...)\": syntax error, "
     "unexpected ';' (Unix shell quoting issues?)"},
    {V2 "    request: {url: 'http://x/'}\n    extract: {n: '@base64 \"\\(.a | \"\\(1 +)\")\"'}\n",
     "5:18: bad jq expression '@base64 \"\\(.a | \"\\(1 +)\")\"' in check 'a': in a string interpolation \"\\(...)\": "
     "syntax error, unexpected ')' (Unix shell quoting issues?)"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{json: '\"\\([.a)]\"'}]\n",
     "5:21: bad jq expression '\"\\([.a)]\"' in check 'a': brackets do not pair inside a string interpolation "
     "\"\\(...)\""},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{json: '\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(1)\")\")\")\")\")\")\")\")\"'}]\n",
     "5:21: bad jq expression '\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(1)\")\")\")\")\")\")\")\")\"' in check 'a': string "
     "interpolations are nested too deeply (at most 8 levels and 64 brackets)"},
    /* jq 1.6 aborts the process on import/include without a module path, and leaks on some names. */
    {V2 "    request: {url: 'http://x/'}\n    assert: [{json: 'include \"m\"; .a'}]\n",
     "5:21: bad jq expression 'include \"m\"; .a' in check 'a': jq modules (import, include, module) are not "
     "available in checks"},
    {V2 "    request: {url: 'http://x/'}\n    extract: {n: \"# m\\n import \\\"\\\" as x; .a\"}\n",
     "5:18: bad jq expression '# m\n import \"\" as x; .a' in check 'a': jq modules (import, include, module) are "
     "not available in checks"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{status: 2yy}]\n",
     "5:23: bad status '2yy' in check 'a': want a status 100..599, a class like 2xx, a range like 200-299, or a list"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{status: [200, 299-200]}]\n",
     "5:29: bad status '299-200' in check 'a': want a status 100..599, a class like 2xx, a range like 200-299, or a "
     "list"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{stauts: 200}]\n", "5:15: unknown assertion 'stauts' in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{status: 200, severity: bad}]\n",
     "5:38: 'severity' must be degraded or failed in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    assert: [{output_contains: x}]\n",
     "5:15: assertion 'output_contains' does not apply to this check type in check 'a'"},
    {V2 "    request: {url: '{{nope}}/x'}\n", "4:23: unknown variable 'nope' in check 'a'"},
    {V2 "    request: {url: 'http://x/{{ uuidd() }}'}\n", "4:33: unknown function 'uuidd' in check 'a'"},
    {V2 "    request: {url: 'http://x/', json: {q: '{{body}}'}}\n", "4:46: unknown variable 'body' in check 'a'"},
    {V2 "    request: {url: 'http://x/', headers: {X-S: '{{hmac_sha256_hex(k, body)}}'}}\n",
     "4:67: unknown variable 'k' in check 'a'"},
    {V2 "    request: {url: 'http://x/', json: {q: 1}, body: x}\n",
     "4:47: give only one of 'json', 'form' or 'body' in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    url: http://y/\n",
     "5:5: 'url' cannot be used with 'request' in check 'a'; move it into 'request'"},
    {V2 "    request: {url: 'http://x/'}\n    burst: {count: 1001, expect_status: 429, at_least: 1}\n",
     "5:20: 'count' must be an integer from 1 to 1000"},
    {V2 "    request: {url: 'http://x/'}\n    retries: 11\n", "5:14: 'retries' must be an integer from 0 to 10"},
    {V2 "    request: {url: 'http://x/'}\n    samples: {count: 1, p95_under: 8s}\n",
     "5:22: 'count' must be an integer from 2 to 100"},
    {V2 "    request: {url: 'http://x/'}\n    samples: {count: 10, p95_under: soon}\n",
     "5:37: 'p95_under' must be a duration like 8s, got 'soon'"},
    {V2 "    request: {url: 'http://x/'}\n    samples: {count: 10, p90_under: 1s}\n",
     "5:26: unknown key 'p90_under' in 'samples' of check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    burst: {count: 5, expect_status: 429, at_least: 1}\n"
        "    samples: {count: 10}\n",
     "6:14: use either 'burst' or 'samples' in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    labels: {service: rag-api}\n",
     "5:13: 'labels: {service: rag-api}' in check 'a' does not set the check's service; write 'service: rag-api' "
     "as a key of the check instead"},
    {V2 "    request: {url: 'http://x/'}\n    interval: ${PICKET_TEST_UNSET_VAR:-soon}\n",
     "5:15: 'interval' must be a duration like 30s, got 'soon'"},
    {V2 "    request: {url: 'http://x/'}\n    slo: {target: 100}\n",
     "5:19: 'target' must be a percentage between 0 and 100 (exclusive) in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    slo: {target: 100%}\n",
     "5:19: 'target' must be a percentage between 0 and 100 (exclusive) in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    slo: {target: 99.x%}\n",
     "5:19: 'target' must be a percentage like 99.9 or 99.9% in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    budgets: {p50: 3s, p90: 4s}\n",
     "5:24: unknown key 'p90' in 'budgets' of check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    interval: 5s\n    timeout: 6s\n",
     "6:14: 'timeout' (6000ms) must not exceed 'interval' (5000ms) in check 'a'"},
    {V2 "    request: {url: 'http://x/'}\n    extract: {bad-name: .x}\n",
     "5:15: metric name 'bad-name' in check 'a' must match [a-zA-Z_][a-zA-Z0-9_]*"},
    {V2 "    request: {url: 'http://x/${PICKET_TEST_UNSET_VAR}'}\n",
     "4:20: environment variable 'PICKET_TEST_UNSET_VAR' is not set (write ${PICKET_TEST_UNSET_VAR:-default} to "
     "give a default)"},
    {"vars: {u: '${PICKET_TEST_UNSET_VAR}'}\nchecks: []\n",
     "1:11: environment variable 'PICKET_TEST_UNSET_VAR' is not set (write ${PICKET_TEST_UNSET_VAR:-default} to "
     "give a default)"},
    {"vars: {body: x}\nchecks: []\n", "1:8: variable name 'body' is reserved for templates"},
    {"secrets: {s: {env: PICKET_TEST_UNSET_VAR}}\nchecks: []\n",
     "1:20: secret 's': environment variable 'PICKET_TEST_UNSET_VAR' is not set"},
    {"secrets: {s: {file: /nonexistent/secret}}\nchecks: []\n",
     "1:21: secret 's': cannot read file '/nonexistent/secret': No such file or directory"},
    {"vars: {s: x}\nsecrets: {s: {env: HOME}}\nchecks: []\n", "2:11: duplicate variable or secret 's'"},
    {"checks:\n  - name: f\n    type: flow\n    steps:\n      - request: {url: 'http://x/{{later}}'}\n"
     "      - name: two\n        request: {url: 'http://x/'}\n        capture: {later: {status: true}}\n",
     "5:36: capture 'later' is used before the step that makes it (step 'two') in check 'f'"},
    {"checks:\n  - name: f\n    type: flow\n    steps:\n      - request: {url: 'http://x/'}\n"
     "        capture: {me: {status: true}}\n      - request: {url: 'http://x/{{me}}/{{you}}'}\n",
     "7:43: unknown variable 'you' in check 'f'"},
    {"checks:\n  - name: f\n    type: flow\n    steps:\n      - request: {url: 'http://x/'}\n"
     "        capture: {c: {header: Location, json: .x}}\n",
     "6:22: capture 'c' needs exactly one of status, header (with optional regex), body_regex or json in check 'f'"},
    {"checks:\n  - name: f\n    type: flow\n    steps: []\n", "4:12: 'steps' must be a list of 1..100 steps in check 'f'"},
    {"checks:\n  - name: t\n    type: tcp\n    tcp: {host: h}\n", "4:10: 'port' is required in check 't'"},
    {"checks:\n  - name: t\n    type: tcp\n    tcp: {host: h, port: 70000}\n",
     "4:26: 'port' must be an integer from 1 to 65535"},
    {"checks:\n  - name: t\n    type: tcp\n    tcp: {host: h, port: 1, expect: '['}\n",
     "4:37: bad regex '[' in check 't': missing terminating ] for character class at offset 1"},
    {"checks:\n  - name: t\n    type: tcp\n", "2:5: check 't' of type tcp has no 'tcp' block"},
    {"checks:\n  - name: d\n    type: dns\n    dns: {name: x, record: XYZ}\n",
     "4:28: unknown record type 'XYZ' in check 'd' (known: A AAAA CNAME MX TXT NS SOA SRV PTR)"},
    {"checks:\n  - name: s\n    type: tls\n    tls: {host: h, degraded_days: 5, failed_days: 7}\n",
     "4:10: 'failed_days' (7) must not exceed 'degraded_days' (5) in check 's'"},
    {"checks:\n  - name: g\n    type: grpc\n    grpc: {service: x}\n", "4:11: 'target' is required in 'grpc' of check 'g'"},
    {"checks:\n  - name: e\n    type: exec\n    exec: {command: 'ls -l'}\n",
     "4:21: 'command' must be a list like [npm, audit] (or a string with 'shell: true') in check 'e'"},
    {"checks:\n  - name: e\n    type: exec\n    exec: {command: [ls], max_output: big}\n",
     "4:39: 'max_output' must be a size from 1 byte to 1GiB like 1MiB, 64KiB or 4096"},
    {"checks:\n  - name: e\n    type: exec\n    exec: {command: [ls]}\n    assert: [{status: 0}]\n",
     "5:15: assertion 'status' does not apply to this check type in check 'e'"},
};

/* slo: target may be written as a percentage with a sign: 99.9% is 99.9. */
static void test_slo_target_percent_sign(void **state)
{
    (void)state;
    const char *text = V2 "    request: {url: 'http://x/'}\n    slo: {target: 99.9%, window: 7d}\n";
    struct pk_checkset set;
    char err[512];
    assert_int_equal(pk_checkset_load_string(text, strlen(text), "t.yaml", &set, err, sizeof err), 0);
    assert_true(set.checks[0].slo.target_percent > 99.899 && set.checks[0].slo.target_percent < 99.901);
    assert_int_equal(set.checks[0].slo.window_ms, (int64_t)7 * 86400000);
    pk_checkset_free(&set);
}

static void test_bad_v2_inputs(void **state)
{
    (void)state;
    unsetenv("PICKET_TEST_UNSET_VAR");
    for (size_t i = 0; i < sizeof bad_v2 / sizeof *bad_v2; i++) {
        const struct bad_case *bc = &bad_v2[i];
        char *path = write_temp(bc->yaml, strlen(bc->yaml));
        struct pk_check sentinel;
        struct pk_checkset set = {&sentinel, 7, NULL, 0};
        char err[512] = "", want[700];
        snprintf(want, sizeof want, "%s:%s", path, bc->want);
        if (pk_checkset_load_file(path, &set, err, sizeof err) != -1)
            fail_msg("case %zu loaded but should fail with: %s", i, bc->want);
        if (strcmp(err, want) != 0) {
            if (getenv("PICKET_TEST_SHOW"))
                print_message("case %zu:\n got: %s\nwant: %s\n", i, err, want);
            else
                fail_msg("case %zu:\n got: %s\nwant: %s", i, err, want);
        }
        assert_ptr_equal(set.checks, &sentinel);
        assert_int_equal(set.n_checks, 7);
        unlink(path);
        free(path);
    }
}

/* A secret's value never appears in an error, even when its file is refused. */
static void test_secret_not_in_errors(void **state)
{
    (void)state;
    char *sfile = secret_file("TOPSECRETVALUE\n");
    char yaml[512], err[1024];
    struct pk_checkset set = {0};
    setenv("PICKET_TEST_SHOPIFY", "ENVSECRETVALUE", 1);
    /* an unknown variable next to secret uses */
    snprintf(yaml, sizeof yaml,
             "secrets: {f: {file: %s}, e: {env: PICKET_TEST_SHOPIFY}}\n"
             "checks:\n  - {name: a, type: http, request: {url: 'http://x/{{f}}{{e}}{{nope}}'}}\n",
             sfile);
    assert_int_equal(pk_checkset_load_string(yaml, strlen(yaml), "s.yaml", &set, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown variable 'nope'"));
    assert_null(strstr(err, "TOPSECRETVALUE"));
    assert_null(strstr(err, "ENVSECRETVALUE"));
    /* the target is never rendered with a secret */
    snprintf(yaml, sizeof yaml,
             "secrets: {f: {file: %s}}\nchecks:\n  - {name: a, type: http, request: {url: 'http://x/{{f}}'}}\n",
             sfile);
    assert_int_equal(pk_checkset_load_string(yaml, strlen(yaml), "s.yaml", &set, err, sizeof err), 0);
    assert_string_equal(set.checks[0].target, "http://x/{{f}}");
    assert_int_equal(set.checks[0].vars[0].secret, 1);
    pk_checkset_free(&set);
    /* a missing secret file names the secret and the file, nothing else */
    unlink(sfile);
    snprintf(yaml, sizeof yaml, "secrets: {f: {file: %s}}\nchecks: []\n", sfile);
    assert_int_equal(pk_checkset_load_string(yaml, strlen(yaml), "s.yaml", &set, err, sizeof err), -1);
    char want[600];
    snprintf(want, sizeof want, "s.yaml:1:21: secret 'f': cannot read file '%s': No such file or directory", sfile);
    assert_string_equal(err, want);
    assert_null(strstr(err, "TOPSECRETVALUE"));
    free(sfile);
}

/* The shipped examples load. */
/* One row per kind, at its own index, found by its name; each loaded check
 * gets the kind of its `type:`. */
static void test_type_table(void **state)
{
    (void)state;
    static const char *const names[PK_CHECK_KINDS] = {"http", "flow", "tcp", "dns", "tls", "grpc", "exec"};
    for (int k = 0; k < PK_CHECK_KINDS; k++) {
        assert_int_equal(pk_check_types[k].kind, k);
        assert_string_equal(pk_check_types[k].name, names[k]);
        assert_ptr_equal(pk_check_type_find(names[k]), &pk_check_types[k]);
        assert_non_null(pk_check_types[k].parse);
        assert_non_null(pk_check_types[k].free);
        assert_non_null(pk_check_types[k].keys);
    }
    assert_null(pk_check_type_find("smtp"));
    assert_null(pk_check_type_find(NULL));
    static const char yaml[] = "checks:\n"
                               "  - {name: a, type: http, url: 'http://x/'}\n"
                               "  - {name: b, type: flow, steps: [{request: {url: 'http://x/'}}]}\n"
                               "  - {name: c, type: tcp, tcp: {host: h, port: 1}}\n"
                               "  - {name: d, type: dns, dns: {name: example.com}}\n"
                               "  - {name: e, type: tls, tls: {host: h}}\n"
                               "  - {name: f, type: grpc, grpc: {target: 'h:1'}}\n"
                               "  - {name: g, type: exec, exec: {command: [true]}}\n";
    struct pk_checkset set = {0};
    char err[512];
    if (pk_checkset_load_string(yaml, strlen(yaml), "kinds", &set, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(set.n_checks, PK_CHECK_KINDS);
    for (size_t i = 0; i < set.n_checks; i++) {
        assert_int_equal(set.checks[i].kind, (int)i);
        assert_string_equal(set.checks[i].type, names[i]);
    }
    assert_string_equal(set.checks[0].u.http.step->request.url, "http://x/");
    assert_int_equal(set.checks[1].u.flow.n_steps, 1);
    assert_int_equal(set.checks[2].u.tcp.port, 1);
    assert_string_equal(set.checks[3].u.dns.record_type, "A");
    assert_int_equal(set.checks[4].u.tls.port, 443);
    assert_string_equal(set.checks[5].u.grpc.service, "");
    assert_string_equal(set.checks[6].u.exec.argv[0], "true");
    pk_checkset_free(&set);
}

/* Every check file shipped under deploy/examples/ loads; a new one must be
 * added to the list (the directory scan fails otherwise). */
static void test_shipped_examples(void **state)
{
    (void)state;
    static const char *const files[] = {"demo-checks.yaml", "laptop-checks.yaml", "seed-plan.yaml"};
    /* The collector's files, not check files: loaded by scripts/demo's collector
     * and tests/integration/test_readme.py. */
    static const char *const collector_files[] = {"slos.yaml", "alerts.yaml", "status-pages.yaml", NULL};
    size_t n_files = sizeof files / sizeof *files;
    char root[1024], dir[1100];
    snprintf(root, sizeof root, "%s", __FILE__);
    char *cut = strstr(root, "/tests/unit/common/");
    assert_non_null(cut);
    *cut = '\0';
    snprintf(dir, sizeof dir, "%s/deploy/examples", root);
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || (strcmp(e->d_name + len - 5, ".yaml") != 0 && strcmp(e->d_name + len - 4, ".yml") != 0))
            continue;
        size_t i = 0, c = 0;
        while (collector_files[c] && strcmp(collector_files[c], e->d_name) != 0)
            c++;
        if (collector_files[c])
            continue;
        while (i < n_files && strcmp(files[i], e->d_name) != 0)
            i++;
        if (i == n_files)
            fail_msg("%s/%s is not in test_shipped_examples' list", dir, e->d_name);
    }
    closedir(d);
    /* seed-plan.yaml reads its webhook secret from the environment */
    setenv("SHOPIFY_WEBHOOK_SECRET", "test-only-secret", 1);
    for (size_t i = 0; i < n_files; i++) {
        char path[1300], err[1024];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        struct pk_checkset set = {0};
        if (pk_checkset_load_file(path, &set, err, sizeof err) != 0)
            fail_msg("%s", err);
        if (set.n_checks == 0)
            fail_msg("%s has no checks", path);
        pk_checkset_free(&set);
    }
    unsetenv("SHOPIFY_WEBHOOK_SECRET");
}

/* ${ENV} forms, $${ escapes, JSON escaping around templates, form text. */
static void test_substitution_and_bodies(void **state)
{
    (void)state;
    static const char yaml[] =
        "vars: {a: '${PICKET_TEST_SET:-unused}', b: '${PICKET_TEST_EMPTY:-fallback}', c: 'x$${HOME}y'}\n"
        "checks:\n"
        "  - name: j\n"
        "    type: http\n"
        "    request:\n"
        "      url: 'http://h/${PICKET_TEST_SET}'\n"
        "      json: {\"k\\\"q\": \"say \\\"{{a}}\\\"\", n: -1.5e3, s: '007', t: 'true'}\n"
        "  - name: f\n"
        "    type: http\n"
        "    request:\n"
        "      url: http://h/\n"
        "      method: PUT\n"
        "      headers: {Content-Type: text/plain}\n"
        "      form: {q: 'a b&c', v: '{{b}}'}\n";
    setenv("PICKET_TEST_SET", "val", 1);
    setenv("PICKET_TEST_EMPTY", "", 1);
    struct pk_checkset set = {0};
    char err[512];
    if (pk_checkset_load_string(yaml, strlen(yaml), "x", &set, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(set.vars[0].value, "val");
    assert_string_equal(set.vars[1].value, "fallback");
    assert_string_equal(set.vars[2].value, "x${HOME}y");
    const struct pk_request *r = &first_step(&set.checks[0])->request;
    assert_string_equal(r->url, "http://h/val");
    assert_string_equal(r->body, "{\"k\\\"q\":\"say \\\"{{a}}\\\"\",\"n\":-1.5e3,\"s\":\"007\",\"t\":\"true\"}");
    /* rendered with JSON escaping, the body is valid JSON with the value in place */
    char *out = NULL;
    assert_int_equal(pk_check_render(&set.checks[0], r->body, NULL, 0, NULL, PK_TEMPLATE_JSON_STRING, &out, NULL, err,
                                     sizeof err),
                     0);
    assert_string_equal(out, "{\"k\\\"q\":\"say \\\"val\\\"\",\"n\":-1.5e3,\"s\":\"007\",\"t\":\"true\"}");
    free(out);
    const struct pk_check *f = &set.checks[1];
    assert_string_equal(first_step(f)->request.method, "PUT");
    assert_int_equal(first_step(f)->request.n_headers, 1); /* the given Content-Type stays */
    assert_int_equal(first_step(f)->request.body_kind, PK_BODY_FORM);
    assert_int_equal(first_step(f)->request.n_form, 2);
    assert_string_equal(first_step(f)->request.form[0].value, "a b&c");
    assert_string_equal(first_step(f)->request.form[1].value, "{{b}}");
    pk_checkset_free(&set);
}

/* jq reports compile errors through the loader only, never on stderr. */
static void test_jq_is_quiet(void **state)
{
    (void)state;
    static const char yaml[] = "checks:\n  - {name: a, type: http, url: 'http://x/', assert: [{json: '.a ||| b'}]}\n";
    char *path = write_temp("", 0);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    struct pk_checkset set = {0};
    char err[512];
    int rc = pk_checkset_load_string(yaml, strlen(yaml), "q", &set, err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    assert_int_equal(rc, -1);
    if (!strstr(err, "q:2:61"))
        fail_msg("%s", err);
    assert_non_null(strstr(err, "q:2:61: bad jq expression '.a ||| b' in check 'a': syntax error"));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fgetc(f), EOF);
    fclose(f);
    unlink(path);
    free(path);
}

/* The guard in front of jq passes every good program that holds strings: names
 * bound outside an interpolation, nested strings, formats, comments, brackets. */
static void test_jq_strings_pass_the_guard(void **state)
{
    (void)state;
    static const char *const good[] = {
        "\"n=\\(.a) m=\\(.b | tostring)\"",
        ". as $x | \"\\($x.a)-\\(\"in \\($x.b)\")\" | length > 0",
        "def f: 1; @base64 \"\\(f + (2 * 3))\" | test(\"[a-z]\")",
        "label $out | \"\\(.[] | if . then break $out else [.] end)\"",
        "{\"k\\({a: 1}.a)\": [\"\\(.x) # not a comment\"]} # a comment )\n| keys",
        "\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(\"\\(1)\")\")\")\")\")\")\")\"",
        "def importance: 1; {import: importance, include: .module} | .import", /* words, not directives */
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct pk_buf y;
        pk_buf_init(&y, 0);
        pk_buf_adds(&y, "checks:\n  - {name: a, type: http, url: 'http://x/', assert: [{json: ");
        pk_buf_add_json_string(&y, good[i], strlen(good[i]));
        pk_buf_adds(&y, "}]}\n");
        assert_int_equal(pk_buf_ok(&y), 0);
        struct pk_checkset set = {0};
        char err[512] = "";
        if (pk_checkset_load_string(y.data, y.len, "g", &set, err, sizeof err) != 0)
            fail_msg("%s: %s", good[i], err);
        pk_checkset_free(&set);
        pk_buf_free(&y);
    }
}

/* Central assignment: selector parsing, matching, and its errors. */
static void test_selector(void **state)
{
    (void)state;
    static const char yaml[] = "checks:\n"
                               "  - name: everywhere\n"
                               "    type: http\n"
                               "    url: http://x/\n"
                               "  - name: eu-only\n"
                               "    type: http\n"
                               "    url: http://x/\n"
                               "    selector: {regions: [eu-west, eu-north]}\n"
                               "  - name: edge-eu\n"
                               "    type: http\n"
                               "    url: http://x/\n"
                               "    selector:\n"
                               "      regions: [eu-west]\n"
                               "      labels: {tier: edge, team: net}\n";
    struct pk_checkset set = {0};
    char err[512];
    if (pk_checkset_load_string(yaml, sizeof yaml - 1, "sel.yaml", &set, err, sizeof err) < 0)
        fail_msg("%s", err);
    const struct pk_check *all = find(&set, "everywhere"), *eu = find(&set, "eu-only"), *edge = find(&set, "edge-eu");
    assert_int_equal(all->n_selector_regions, 0);
    assert_int_equal(eu->n_selector_regions, 2);
    assert_string_equal(eu->selector_regions[1], "eu-north");
    assert_int_equal(edge->n_selector_labels, 2);
    struct pk_kv labels[] = {{"team", "net"}, {"tier", "edge"}, {"x", "y"}};
    assert_true(pk_check_selects(all, "us-east", NULL, 0));
    assert_true(pk_check_selects(eu, "eu-north", NULL, 0));
    assert_false(pk_check_selects(eu, "us-east", labels, 3));
    assert_true(pk_check_selects(edge, "eu-west", labels, 3));
    assert_false(pk_check_selects(edge, "eu-west", labels, 1)); /* tier missing */
    struct pk_kv wrong[] = {{"team", "net"}, {"tier", "core"}};
    assert_false(pk_check_selects(edge, "eu-west", wrong, 2));
    assert_int_equal(pk_checkset_select(&set, "us-east", labels, 3), 2);
    assert_int_equal(set.n_checks, 1);
    assert_string_equal(set.checks[0].name, "everywhere");
    pk_checkset_free(&set);

    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"checks:\n  - {name: a, type: http, url: 'http://x/', selector: [eu]}\n",
         "b.yaml:2:55: 'selector' must be a mapping with 'regions' and/or 'labels' in check 'a'"},
        {"checks:\n  - name: a\n    type: http\n    url: http://x/\n    selector: {region: [eu]}\n",
         "b.yaml:5:16: unknown key 'region' in selector 'a'"},
        {"checks:\n  - name: a\n    type: http\n    url: http://x/\n    selector: {regions: []}\n",
         "b.yaml:5:25: 'selector.regions' must be a non-empty list of region names in check 'a' (leave it out to "
         "select every region)"},
        {"checks:\n  - name: a\n    type: http\n    url: http://x/\n    selector: {regions: [[x]]}\n",
         "b.yaml:5:26: entries of 'selector.regions' must be strings in check 'a'"},
        {"checks:\n  - name: a\n    type: http\n    url: http://x/\n    selector: {labels: {9x: y}}\n",
         "b.yaml:5:25: invalid label key '9x' (want [A-Za-z_][A-Za-z0-9_]*)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct pk_checkset b = {0};
        if (pk_checkset_load_string(bad[i].yaml, strlen(bad[i].yaml), "b.yaml", &b, err, sizeof err) == 0)
            fail_msg("case %zu loaded", i);
        assert_string_equal(err, bad[i].want);
    }
}

/* Builds the document the collector would send for a set: each check's
 * normalised definition, under the file's normalised vars and secrets. */
static char *document_of(const struct pk_checkset *set)
{
    size_t cap = 64;
    for (size_t i = 0; i < set->n_checks; i++)
        cap += strlen(set->checks[i].definition) + 8;
    cap += (set->vars_definition ? strlen(set->vars_definition) : 0) +
           (set->secrets_definition ? strlen(set->secrets_definition) : 0) + 32;
    char *doc = calloc(1, cap);
    assert_non_null(doc);
    if (set->vars_definition)
        strcat(strcat(strcat(doc, "vars: "), set->vars_definition), "\n");
    if (set->secrets_definition)
        strcat(strcat(strcat(doc, "secrets: "), set->secrets_definition), "\n");
    strcat(doc, "checks:\n");
    for (size_t i = 0; i < set->n_checks; i++)
        strcat(strcat(strcat(doc, "- "), set->checks[i].definition), "\n");
    return doc;
}

/* The normalised definition loads back to the same check (the collector sends
 * it; the probe compares it), for every check of the shipped examples. */
static void test_definition_round_trip(void **state)
{
    (void)state;
    static const char *const files[] = {"deploy/examples/demo-checks.yaml", "deploy/examples/seed-plan.yaml"};
    char root[1024];
    snprintf(root, sizeof root, "%s", __FILE__);
    char *cut = strstr(root, "/tests/unit/common/");
    assert_non_null(cut);
    *cut = '\0';
    struct pk_var_overrides defer = {.defer_environment = 1};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[1200], err[1024];
        snprintf(path, sizeof path, "%s/%s", root, files[i]);
        struct pk_checkset a = {0}, b = {0};
        if (pk_checkset_load_file_with_vars(path, &defer, &a, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_true(a.n_checks > 0);
        char *doc = document_of(&a);
        if (pk_checkset_load_string_with_vars(doc, strlen(doc), "doc", &defer, &b, err, sizeof err) != 0)
            fail_msg("%s\n%s", err, doc);
        assert_int_equal(a.n_checks, b.n_checks);
        for (size_t k = 0; k < a.n_checks; k++) {
            assert_string_equal(a.checks[k].definition, b.checks[k].definition);
            assert_true(pk_check_same_definition(&a.checks[k], &b.checks[k]));
            assert_int_equal(a.checks[k].interval_ms, b.checks[k].interval_ms);
            assert_int_equal(a.checks[k].n_asserts, b.checks[k].n_asserts);
            size_t na, nb;
            const struct pk_step *sa = steps_of(&a.checks[k], &na), *sb = steps_of(&b.checks[k], &nb);
            assert_int_equal(a.checks[k].kind, b.checks[k].kind);
            assert_int_equal(na, nb);
            for (size_t st = 0; st < na; st++) {
                const struct pk_request *ra = &sa[st].request, *rb = &sb[st].request;
                assert_int_equal(ra->body_kind, rb->body_kind);
                if (ra->body)
                    assert_string_equal(ra->body, rb->body);
                assert_string_equal(ra->url, rb->url);
            }
        }
        assert_string_equal(a.vars_definition ? a.vars_definition : "", b.vars_definition ? b.vars_definition : "");
        free(doc);
        pk_checkset_free(&a);
        pk_checkset_free(&b);
    }

    /* Typed scalars keep their meaning; key order does not matter; a changed value does. */
    static const char x[] = "checks:\n  - name: t\n    type: http\n    interval: 30s\n"
                            "    request: {url: 'http://x/{{v}}', method: POST, json: {n: 5, s: '5', b: true, z: null,"
                            " q: \"a\\\"b\\n\"}}\n"
                            "vars: {v: one}\n";
    static const char y[] = "vars: {v: one}\nchecks:\n  - request: {url: 'http://x/{{v}}', method: POST, json: {n: 5, "
                            "s: '5', b: true, z: null, q: \"a\\\"b\\n\"}}\n    interval: 30s\n    type: http\n"
                            "    name: t\n";
    static const char z[] = "vars: {v: two}\nchecks:\n  - request: {url: 'http://x/{{v}}', method: POST, json: {n: 5, "
                            "s: '5', b: true, z: null, q: \"a\\\"b\\n\"}}\n    interval: 30s\n    type: http\n"
                            "    name: t\n";
    struct pk_checkset sx = {0}, sy = {0}, sz = {0}, back = {0};
    char err[512];
    assert_int_equal(pk_checkset_load_string(x, sizeof x - 1, "x", &sx, err, sizeof err), 0);
    assert_int_equal(pk_checkset_load_string(y, sizeof y - 1, "y", &sy, err, sizeof err), 0);
    assert_int_equal(pk_checkset_load_string(z, sizeof z - 1, "z", &sz, err, sizeof err), 0);
    assert_true(pk_check_same_definition(&sx.checks[0], &sy.checks[0]));
    assert_false(pk_check_same_definition(&sx.checks[0], &sz.checks[0])); /* same text, other var value */
    assert_string_equal(first_step(&sx.checks[0])->request.body, "{\"n\":5,\"s\":\"5\",\"b\":true,\"z\":null,\"q\":\"a\\\"b\\u000a\"}");
    char *doc = document_of(&sx);
    if (pk_checkset_load_string(doc, strlen(doc), "doc", &back, err, sizeof err) != 0)
        fail_msg("%s\n%s", err, doc);
    assert_string_equal(first_step(&back.checks[0])->request.body, first_step(&sx.checks[0])->request.body);
    assert_int_equal(sx.checks[0].n_def_keys, 4);
    assert_string_equal(sx.checks[0].def_keys[0].key, "interval");
    assert_string_equal(sx.checks[0].def_keys[0].value, "30s");
    free(doc);
    pk_checkset_free(&sx);
    pk_checkset_free(&sy);
    pk_checkset_free(&sz);
    pk_checkset_free(&back);
}

/* A file validated for other machines: unset ${ENV} and secrets are not errors. */
static void test_defer_environment(void **state)
{
    (void)state;
    static const char yaml[] = "secrets:\n  tok: {env: PICKET_TEST_SURELY_UNSET}\n"
                               "checks:\n  - name: a\n    type: http\n"
                               "    url: 'http://${PICKET_TEST_SURELY_UNSET_HOST}/x'\n";
    unsetenv("PICKET_TEST_SURELY_UNSET");
    unsetenv("PICKET_TEST_SURELY_UNSET_HOST");
    struct pk_checkset set = {0};
    char err[512];
    assert_int_equal(pk_checkset_load_string(yaml, sizeof yaml - 1, "d.yaml", &set, err, sizeof err), -1);
    struct pk_var_overrides defer = {.defer_environment = 1};
    if (pk_checkset_load_string_with_vars(yaml, sizeof yaml - 1, "d.yaml", &defer, &set, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(set.secrets_definition, "{tok: {env: PICKET_TEST_SURELY_UNSET}}");
    /* The definition keeps ${ENV} for the probe to resolve. */
    assert_non_null(strstr(set.checks[0].definition, "${PICKET_TEST_SURELY_UNSET_HOST}"));
    pk_checkset_free(&set);
}

/* depends_on: parsed per check (names, service:NAME, no self, no repeats), carried
 * as one ','-joined string, and judged over all files together: unknown names
 * and services, a check's own service and cycles (through services too) are
 * refused with FILE:LINE. */
static int load_depends(const char *origin, const char *yaml, struct pk_checkset *set, char *err, size_t errlen)
{
    memset(set, 0, sizeof *set);
    return pk_checkset_load_string(yaml, strlen(yaml), origin, set, err, errlen);
}

static void test_depends_on(void **state)
{
    (void)state;
    char err[512];
    struct pk_checkset sets[2];
    static const char front[] = "checks:\n"
                                "  - {name: approval, type: http, url: 'http://x/', service: approval-app,\n"
                                "     depends_on: [service:assistants-api]}\n"
                                "  - {name: home, type: http, url: 'http://x/', depends_on: [approval, rag]}\n";
    static const char back[] = "checks:\n"
                               "  - {name: assistants, type: http, url: 'http://x/', service: assistants-api,\n"
                               "     depends_on: [service:rag-api]}\n"
                               "  - {name: rag, type: http, url: 'http://x/', service: rag-api}\n";
    assert_int_equal(load_depends("front.yaml", front, &sets[0], err, sizeof err), 0);
    assert_int_equal(load_depends("back.yaml", back, &sets[1], err, sizeof err), 0);
    const struct pk_check *home = find(&sets[0], "home");
    assert_int_equal(home->n_depends_on, 2);
    assert_string_equal(pk_check_meta_of(home).depends_on, "approval,rag");
    assert_string_equal(pk_check_meta_of(find(&sets[1], "rag")).depends_on, "");
    assert_int_equal(pk_checksets_check_depends(sets, 2, err, sizeof err), 0);
    /* Alone, front.yaml names checks and a service it does not hold. */
    assert_int_equal(pk_checksets_check_depends(sets, 1, err, sizeof err), -1);
    assert_string_equal(err, "front.yaml:2: check 'approval' depends on service 'assistants-api', which no check in "
                             "the given files belongs to");
    pk_checkset_free(&sets[1]);
    /* rag depending on the approval app closes a cycle through two services. */
    static const char cyclic[] = "checks:\n"
                                 "  - {name: assistants, type: http, url: 'http://x/', service: assistants-api,\n"
                                 "     depends_on: [service:rag-api]}\n"
                                 "  - {name: rag, type: http, url: 'http://x/', service: rag-api,\n"
                                 "     depends_on: [approval]}\n";
    assert_int_equal(load_depends("back.yaml", cyclic, &sets[1], err, sizeof err), 0);
    assert_int_equal(pk_checksets_check_depends(sets, 2, err, sizeof err), -1);
    assert_string_equal(err, "front.yaml:2: depends_on makes a cycle: approval -> assistants -> rag -> approval");
    pk_checkset_free(&sets[1]);
    pk_checkset_free(&sets[0]);
    static const char own[] = "checks:\n"
                              "  - {name: a, type: http, url: 'http://x/', service: s}\n"
                              "  - {name: b, type: http, url: 'http://x/', service: s, depends_on: [service:s]}\n";
    assert_int_equal(load_depends("own.yaml", own, &sets[0], err, sizeof err), 0);
    assert_int_equal(pk_checksets_check_depends(sets, 1, err, sizeof err), -1);
    assert_string_equal(err, "own.yaml:3: check 'b' depends on its own service 's'");
    pk_checkset_free(&sets[0]);
    /* Refused while parsing: itself, twice, not a list, a ',' in a name. */
    static const struct { const char *yaml, *want; } bad[] = {
        {"checks:\n  - {name: a, type: http, url: 'http://x/', depends_on: [a]}\n", "cannot depend on itself"},
        {"checks:\n  - {name: a, type: http, url: 'http://x/', depends_on: [b, b]}\n", "lists 'b' twice"},
        {"checks:\n  - {name: a, type: http, url: 'http://x/', depends_on: b}\n", "must be a non-empty list"},
        {"checks:\n  - {name: a, type: http, url: 'http://x/', depends_on: ['b,c']}\n", "no ','"},
        {"checks:\n  - {name: a, type: http, url: 'http://x/', depends_on: ['service:']}\n", "service:NAME"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(load_depends("bad.yaml", bad[i].yaml, &sets[0], err, sizeof err), -1);
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].want);
        assert_non_null(strstr(err, "bad.yaml:2:"));
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
        cmocka_unit_test(test_seed_file),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_bad_v2_inputs),
        cmocka_unit_test(test_slo_target_percent_sign),
        cmocka_unit_test(test_secret_not_in_errors),
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_shipped_examples),
        cmocka_unit_test(test_substitution_and_bodies),
        cmocka_unit_test(test_jq_is_quiet),
        cmocka_unit_test(test_jq_strings_pass_the_guard),
        cmocka_unit_test(test_selector),
        cmocka_unit_test(test_definition_round_trip),
        cmocka_unit_test(test_defer_environment),
        cmocka_unit_test(test_depends_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
