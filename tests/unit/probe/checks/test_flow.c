/* test_flow.c: the flow check against a small stateful emulation of the seed's
 * approval app on 127.0.0.1 (a thread per connection): generate a draft, view
 * it, approve it, read the learning record. Checks that captures feed later
 * steps, that the first failing step is named and ends the flow, and how the
 * steps add up in the result. Checks are built in C, not loaded from YAML. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jq.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "checks.h"
#include "log.h"
#include "result.h"
#include "runner.h"
#include "loopback.h"
#include "probe_test.h"

/* ------------------------------------------------------------ test server */

static struct {
    struct lb_server *server;
    int port;
    pthread_mutex_t lock;
    int drafts;    /* drafts generated so far */
    int approvals; /* approve requests seen */
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void respond(int fd, int status, const char *extra_headers, const char *body)
{
    lb_respond(fd, status, extra_headers, body, strlen(body));
}

static void handle_connection(int fd, void *user)
{
    (void)user;
    char req[8192], method[16] = "", path[256] = "", head[160], body[512];
    int id = 0;
    lb_read_request(fd, req, sizeof req);
    sscanf(req, "%15s %255s", method, path);
    if (strcmp(method, "POST") == 0 && strcmp(path, "/generate") == 0) {
        pthread_mutex_lock(&srv.lock);
        id = ++srv.drafts;
        pthread_mutex_unlock(&srv.lock);
        snprintf(head, sizeof head, "Location: /drafts/draft_%d\r\n", id);
        respond(fd, strstr(req, "incoming_text=How%20do%20I%20return") ? 303 : 422, head, "");
    } else if (strcmp(method, "POST") == 0 && sscanf(path, "/drafts/draft_%d/approve", &id) == 1) {
        pthread_mutex_lock(&srv.lock);
        srv.approvals++;
        pthread_mutex_unlock(&srv.lock);
        respond(fd, 303, "Location: /drafts\r\n", "");
    } else if (sscanf(path, "/drafts/draft_%d", &id) == 1) {
        respond(fd, 200, "", "<h2>Customer Message</h2><h2>AI Suggested Reply</h2>"
                             "<button>Approve &amp; Send</button><button>Edit &amp; Send</button>");
    } else if (strcmp(path, "/learning") == 0) {
        pthread_mutex_lock(&srv.lock);
        int n = srv.approvals;
        pthread_mutex_unlock(&srv.lock);
        int len = snprintf(body, sizeof body, "{\"learning_records\": [");
        for (int i = 0; i < n && i < 5; i++)
            len += snprintf(body + len, sizeof body - (size_t)len,
                            "%s{\"action\": \"approve\", \"edit_distance\": 0.0}", i ? ", " : "");
        snprintf(body + len, sizeof body - (size_t)len, "]}");
        respond(fd, 200, "Content-Type: application/json\r\n", body);
    } else if (strcmp(path, "/token") == 0) {
        respond(fd, 200, "", "{\"token\": \"tok-123\"}");
    } else if (strcmp(path, "/whoami") == 0) {
        int ok = strstr(req, "\r\nAuthorization: Bearer tok-123\r\n") != NULL;
        respond(fd, ok ? 200 : 401, "", ok ? "{\"user\": \"qa\"}" : "{}");
    } else if (strcmp(path, "/slow") == 0) {
        lb_sleep_ms(300);
        respond(fd, 200, "", "{}");
    } else if (strcmp(path, "/hang") == 0) {
        lb_drain(fd, 3000);
    } else {
        respond(fd, 404, "", "not found");
    }
}

static int server_start(void **state)
{
    (void)state;
    pk_log_set_level(PK_LOG_ERROR);
    srv.server = lb_start(LB_THREAD_PER_CONNECTION, handle_connection, NULL);
    if (!srv.server)
        return -1;
    srv.port = lb_port(srv.server);
    return 0;
}

static int server_stop(void **state)
{
    (void)state;
    lb_stop(srv.server);
    return 0;
}

static int approvals(void)
{
    pthread_mutex_lock(&srv.lock);
    int n = srv.approvals;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

/* ------------------------------------------------------- flows, built in C */

#define MAX_STEPS 5

struct built_step {
    struct pk_assertion asserts[4];
    struct pk_capture captures[2];
    struct pk_extraction extracts[2];
    struct pk_kv form[3];
    struct pk_kv headers[2];
    int ranges[4][2];
};

struct flow {
    struct pk_check check;
    struct pk_step steps[MAX_STEPS];
    struct built_step b[MAX_STEPS];
    struct pk_var_source vars[1];
    char base[64];
};

static void flow_init(struct flow *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->base, sizeof f->base, "http://127.0.0.1:%d", srv.port);
    f->vars[0] = (struct pk_var_source){.name = "approval_url", .value = f->base};
    f->check.name = "approval-workflow";
    f->check.type = "flow";
    f->check.file = "test";
    f->check.line = 1;
    f->check.interval_ms = 30000;
    f->check.timeout_ms = 5000;
    f->check.vars = f->vars;
    f->check.n_vars = 1;
    f->check.u.flow.steps = f->steps;
}

static struct pk_step *add_step(struct flow *f, const char *name, const char *method, const char *url)
{
    size_t i = f->check.u.flow.n_steps++;
    struct pk_step *s = &f->steps[i];
    s->name = (char *)name;
    s->request.method = (char *)method;
    s->request.url = (char *)url;
    s->request.max_body_bytes = 1 << 20;
    s->asserts = f->b[i].asserts;
    s->captures = f->b[i].captures;
    s->extracts = f->b[i].extracts;
    return s;
}

static struct built_step *bs(struct flow *f, struct pk_step *s) { return &f->b[s - f->steps]; }

static void expect_status(struct flow *f, struct pk_step *s, int status)
{
    struct built_step *b = bs(f, s);
    struct pk_assertion *a = &s->asserts[s->n_asserts];
    b->ranges[s->n_asserts][0] = b->ranges[s->n_asserts][1] = status;
    a->kind = PK_ASSERT_STATUS;
    a->status_ranges = b->ranges[s->n_asserts];
    a->n_status_ranges = 1;
    s->n_asserts++;
}

static void expect_text(struct pk_step *s, int kind, const char *text, int severity)
{
    struct pk_assertion *a = &s->asserts[s->n_asserts++];
    a->kind = kind;
    a->severity = severity;
    a->text = (char *)text;
    if (kind == PK_ASSERT_JSON)
        a->jq = compile_jq(text);
}

static void capture_header(struct pk_step *s, const char *name, const char *header, const char *regex)
{
    struct pk_capture *c = &s->captures[s->n_captures++];
    c->name = (char *)name;
    c->source = PK_CAPTURE_HEADER;
    c->header_name = (char *)header;
    c->expr = (char *)regex;
    c->regex = compile_re(regex);
}

static void capture_json(struct pk_step *s, const char *name, const char *expr)
{
    struct pk_capture *c = &s->captures[s->n_captures++];
    c->name = (char *)name;
    c->source = PK_CAPTURE_JSON;
    c->expr = (char *)expr;
    c->jq = compile_jq(expr);
}

static void extract(struct pk_step *s, const char *name, const char *expr)
{
    struct pk_extraction *e = &s->extracts[s->n_extracts++];
    e->name = (char *)name;
    e->expr = (char *)expr;
    e->jq = compile_jq(expr);
}

static void free_jq(void *p)
{
    jq_state *jq = p;
    if (jq)
        jq_teardown(&jq);
}

static void flow_free(struct flow *f)
{
    for (size_t i = 0; i < f->check.u.flow.n_steps; i++) {
        struct pk_step *s = &f->steps[i];
        for (size_t j = 0; j < s->n_asserts; j++)
            free_jq(s->asserts[j].jq);
        for (size_t j = 0; j < s->n_captures; j++) {
            free_jq(s->captures[j].jq);
            if (s->captures[j].regex)
                pcre2_code_free(s->captures[j].regex);
        }
        for (size_t j = 0; j < s->n_extracts; j++)
            free_jq(s->extracts[j].jq);
    }
}

static struct pk_result run_flow(struct flow *f)
{
    struct pk_result result;
    run_check_once(&f->check, &result);
    return result;
}

/* The seed's approval workflow: generate (form, 303, capture the draft id from
 * Location), view, approve (303), and the last learning record. */
static void approval_flow(struct flow *f, const char *view_must_contain)
{
    flow_init(f);
    struct pk_step *s = add_step(f, "generate", "POST", "{{approval_url}}/generate");
    struct built_step *b = bs(f, s);
    b->form[0] = (struct pk_kv){"conversation_id", "test-conv-e2e"};
    b->form[1] = (struct pk_kv){"channel", "email"};
    b->form[2] = (struct pk_kv){"incoming_text", "How do I return a product?"};
    s->request.body_kind = PK_BODY_FORM;
    s->request.form = b->form;
    s->request.n_form = 3;
    expect_status(f, s, 303);
    capture_header(s, "draft_id", "Location", "draft_\\d+");

    s = add_step(f, "view", "GET", "{{approval_url}}/drafts/{{draft_id}}");
    expect_text(s, PK_ASSERT_BODY_CONTAINS, "Customer Message", PK_SEV_FAILED);
    expect_text(s, PK_ASSERT_BODY_CONTAINS, view_must_contain, PK_SEV_FAILED);

    s = add_step(f, "approve", "POST", "{{approval_url}}/drafts/{{draft_id}}/approve");
    b = bs(f, s);
    b->form[0] = (struct pk_kv){"approver_user_id", "qa-tester-001"};
    b->form[1] = (struct pk_kv){"feedback_rating", "5"};
    s->request.body_kind = PK_BODY_FORM;
    s->request.form = b->form;
    s->request.n_form = 2;
    expect_status(f, s, 303);

    s = add_step(f, "learning", "GET", "{{approval_url}}/learning");
    expect_text(s, PK_ASSERT_JSON, ".learning_records | length > 0", PK_SEV_FAILED);
    expect_text(s, PK_ASSERT_JSON, ".learning_records | last | .action == \"approve\" and .edit_distance == 0.0",
                PK_SEV_FAILED);
    extract(s, "learning_records", ".learning_records | length");
}

/* ------------------------------------------------------------------ tests */

static void test_approval_workflow_passes(void **state)
{
    (void)state;
    struct flow f;
    approval_flow(&f, "AI Suggested Reply");
    int before = approvals();
    int64_t t0 = pk_mono_us();
    struct pk_result r = run_flow(&f);
    int64_t wall = pk_mono_us() - t0;
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.error_class, PK_ERR_NONE);
    assert_string_equal(r.check_name, "approval-workflow");
    assert_string_equal(r.check_type, "flow");
    assert_int_equal(r.status_code, 200); /* the last step's */
    assert_int_equal(approvals(), before + 1);
    assert_true(r.total_us > 0 && r.total_us <= wall);
    assert_true(r.connect_us >= 0 && r.ttfb_us >= 0);
    assert_int_equal(r.tls_us, -1);
    assert_int_equal(r.n_metrics, 1);
    assert_string_equal(r.metrics[0].name, "learning_records");
    assert_true(r.metrics[0].value >= 1);
    flow_free(&f);
}

static void test_failing_step_is_named_and_ends_the_flow(void **state)
{
    (void)state;
    struct flow f;
    approval_flow(&f, "Reject & Send");
    int before = approvals();
    struct pk_result r = run_flow(&f);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_ASSERTION);
    assert_string_equal(r.message, "step 2 \"view\": body does not contain \"Reject & Send\"");
    assert_int_equal(r.status_code, 200);
    assert_int_equal(approvals(), before); /* step 3 never ran */
    assert_int_equal(r.n_metrics, 0);

    /* A wrong status names its step too, with the http class. */
    f.b[0].form[2].value = "Something else";
    r = run_flow(&f);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_HTTP);
    assert_string_equal(r.message, "step 1 \"generate\": status 422, expected 303");
    flow_free(&f);
}

static void test_capture_failure(void **state)
{
    (void)state;
    struct flow f;
    approval_flow(&f, "AI Suggested Reply");
    pcre2_code_free(f.steps[0].captures[0].regex);
    f.steps[0].captures[0].expr = "ticket_(\\d+)";
    f.steps[0].captures[0].regex = compile_re("ticket_(\\d+)");
    struct pk_result r = run_flow(&f);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_ASSERTION);
    assert_non_null(strstr(r.message, "step 1 \"generate\": capture draft_id: header Location \"/drafts/draft_"));
    assert_non_null(strstr(r.message, "\" does not match /ticket_(\\d+)/"));
    flow_free(&f);
}

static void test_json_capture_feeds_a_header(void **state)
{
    (void)state;
    struct flow f;
    flow_init(&f);
    struct pk_step *s = add_step(&f, "login", "GET", "{{approval_url}}/token");
    capture_json(s, "token", ".token");
    s = add_step(&f, "whoami", NULL, "{{approval_url}}/whoami");
    bs(&f, s)->headers[0] = (struct pk_kv){"Authorization", "Bearer {{token}}"};
    s->request.headers = bs(&f, s)->headers;
    s->request.n_headers = 1;
    expect_text(s, PK_ASSERT_JSON, ".user == \"qa\"", PK_SEV_FAILED);
    struct pk_result r = run_flow(&f);
    assert_string_equal(r.message, "");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);

    /* Without the header the second step gets 401 and, having no status
     * assertion, fails on the default 200. */
    s->request.n_headers = 0;
    r = run_flow(&f);
    assert_string_equal(r.message, "step 2 \"whoami\": status 401, expected 200");
    flow_free(&f);
}

static void test_degraded_step_goes_on(void **state)
{
    (void)state;
    struct flow f;
    flow_init(&f);
    struct pk_step *s = add_step(&f, "slow", "GET", "{{approval_url}}/slow");
    struct pk_assertion *a = &s->asserts[s->n_asserts++];
    a->kind = PK_ASSERT_TIME_UNDER;
    a->severity = PK_SEV_DEGRADED;
    a->max_ms = 100;
    s = add_step(&f, "token", "GET", "{{approval_url}}/token");
    extract(s, "one", ".token | length > 0");
    struct pk_result r = run_flow(&f);
    assert_int_equal(r.outcome, PK_OUTCOME_DEGRADED);
    assert_int_equal(r.error_class, PK_ERR_ASSERTION);
    assert_true(strncmp(r.message, "step 1 \"slow\": took ", 20) == 0);
    assert_non_null(strstr(r.message, " ms, budget 100 ms"));
    assert_int_equal(r.n_metrics, 1); /* step 2 ran */
    assert_true(r.metrics[0].value == 1.0);
    assert_true(r.total_us >= 300000);

    /* A later failure outranks the degraded step. */
    expect_text(s, PK_ASSERT_JSON, ".token == \"other\"", PK_SEV_FAILED);
    r = run_flow(&f);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(r.message, "step 2 \"token\": assertion failed: json .token == \"other\" (got false)");
    flow_free(&f);
}

static void test_transport_failure_and_timeout(void **state)
{
    (void)state;
    struct flow f;
    int closed_port = lb_closed_port();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port);
    flow_init(&f);
    add_step(&f, "token", "GET", "{{approval_url}}/token");
    add_step(&f, "down", "GET", url);
    struct pk_result r = run_flow(&f);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_CONNECT);
    assert_true(strncmp(r.message, "step 2 \"down\": ", 15) == 0);
    assert_int_equal(r.status_code, 0);

    /* The check's timeout covers the whole flow, not each step. */
    flow_init(&f);
    f.check.timeout_ms = 500;
    add_step(&f, "slow", "GET", "{{approval_url}}/slow");
    add_step(&f, "hang", "GET", "{{approval_url}}/hang");
    int64_t t0 = pk_mono_us();
    r = run_flow(&f);
    int64_t wall = pk_mono_us() - t0;
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_TIMEOUT);
    assert_true(strncmp(r.message, "step 2 \"hang\": ", 15) == 0);
    assert_true(wall < 1500000);
}

/* The approval workflow as a check file says it, through the loader. */
static void test_flow_from_yaml(void **state)
{
    (void)state;
    char yaml[3000], err[512] = "";
    snprintf(yaml, sizeof yaml,
             "vars:\n"
             "  approval_url: http://127.0.0.1:%d\n"
             "checks:\n"
             "  - name: approval-workflow\n"
             "    type: flow\n"
             "    steps:\n"
             "      - name: generate\n"
             "        request:\n"
             "          method: POST\n"
             "          url: '{{approval_url}}/generate'\n"
             "          form: {conversation_id: test-conv-e2e, channel: email,"
             " incoming_text: 'How do I return a product?'}\n"
             "        assert:\n"
             "          - status: 303\n"
             "          - header: {name: Location, matches: '/drafts/draft_\\d+'}\n"
             "        capture:\n"
             "          draft_id: {header: Location, regex: 'draft_\\d+'}\n"
             "      - name: view\n"
             "        request: {url: '{{approval_url}}/drafts/{{draft_id}}'}\n"
             "        assert:\n"
             "          - body_contains: Customer Message\n"
             "          - body_contains: AI Suggested Reply\n"
             "          - body_contains: Approve &amp; Send\n"
             "          - body_contains: Edit &amp; Send\n"
             "      - name: approve\n"
             "        request:\n"
             "          method: POST\n"
             "          url: '{{approval_url}}/drafts/{{draft_id}}/approve'\n"
             "          form: {approver_user_id: qa-tester-001, feedback_rating: '5'}\n"
             "        assert: [{status: 303}]\n"
             "      - request: {url: '{{approval_url}}/learning'}\n"
             "        assert:\n"
             "          - json: '.learning_records | length > 0'\n"
             "          - json: '.learning_records | last | .action == \"approve\"'\n"
             "          - json: '.learning_records | last | .edit_distance == 1.5'\n"
             "        extract:\n"
             "          learning_records: '.learning_records | length'\n",
             srv.port);
    struct pk_checkset set = {0};
    if (pk_checkset_load_string(yaml, strlen(yaml), "test", &set, err, sizeof err) < 0)
        fail_msg("%s", err);
    struct pk_result result;
    memset(&result, 0xff, sizeof result);
    struct runner *r = runner_new(&set, copy_result, &result, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    int before = approvals();
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
    pk_checkset_free(&set);
    assert_int_equal(approvals(), before + 1);
    assert_int_equal(result.outcome, PK_OUTCOME_FAILED);
    assert_string_equal(result.message,
                        "step 4: assertion failed: json .learning_records | last | .edit_distance == 1.5 (got false)");
    assert_int_equal(result.n_metrics, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approval_workflow_passes),
        cmocka_unit_test(test_failing_step_is_named_and_ends_the_flow),
        cmocka_unit_test(test_capture_failure),
        cmocka_unit_test(test_json_capture_feeds_a_header),
        cmocka_unit_test(test_degraded_step_goes_on),
        cmocka_unit_test(test_transport_failure_and_timeout),
        cmocka_unit_test(test_flow_from_yaml),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
