/* test_tcp.c: the tcp check through the real runner against a server thread on
 * 127.0.0.1 that writes a banner: connect ok, send + expect ok, expect
 * mismatch (assertion, with what was got), a closed port (connect refused), a
 * silent server (expect times out) and a cancelled run (runner_free mid-run). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checks.h"
#include "result.h"
#include "runner.h"
#include "loopback.h"
#include "probe_test.h"

static struct {
    struct lb_server *server;
    int port;
    atomic_int silent; /* 1: accept and say nothing */
} srv;

static void serve_banner(int c, void *user)
{
    (void)user;
    if (!atomic_load(&srv.silent)) {
        const char *banner = "220 picket-test ready\r\n";
        (void)!write(c, banner, strlen(banner));
        char buf[256];
        struct pollfd q = {c, POLLIN, 0};
        if (poll(&q, 1, 300) > 0) {
            ssize_t n = read(c, buf, sizeof buf);
            if (n > 0 && strncmp(buf, "PING", 4) == 0)
                (void)!write(c, "+PONG\r\n", 7);
        }
    } else {
        struct pollfd q = {c, POLLIN, 0};
        poll(&q, 1, 1500);
    }
}

static int setup(void **state)
{
    (void)state;
    srv.silent = 0;
    return lb_start_at(&srv.server, &srv.port, LB_SERIAL, serve_banner, NULL);
}

static int teardown(void **state)
{
    (void)state;
    lb_stop(srv.server);
    return 0;
}

static struct pk_result last;

static void on_result(const struct pk_result *r, void *user)
{
    (void)user;
    last = *r;
}

/* Runs one tcp check once through the runner. */
static void run_tcp(int port, const char *send, const char *expect, int64_t timeout_ms)
{
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "tcp-check";
    c.type = "tcp";
    c.file = "test.yaml";
    c.interval_ms = 60000;
    c.timeout_ms = timeout_ms;
    c.u.tcp.host = "127.0.0.1";
    c.u.tcp.port = port;
    c.u.tcp.send = (char *)send;
    c.u.tcp.expect = (char *)expect;
    c.u.tcp.expect_regex = expect ? compile_re(expect) : NULL;
    run_check_once(&c, &last);
    pcre2_code_free(c.u.tcp.expect_regex);
}

static void connect_ok(void **state)
{
    (void)state;
    run_tcp(srv.port, NULL, NULL, 1000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    assert_string_equal(last.check_type, "tcp");
    assert_true(last.connect_us >= 0);
    assert_true(last.total_us >= last.connect_us);
}

static void expect_banner(void **state)
{
    (void)state;
    run_tcp(srv.port, NULL, "^220 ", 1000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    assert_string_equal(last.message, "");
}

static void send_and_expect(void **state)
{
    (void)state;
    run_tcp(srv.port, "PING\r\n", "\\+PONG", 1000);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
}

static void send_renders_templates(void **state)
{
    (void)state;
    struct pk_var_source vars[] = {{"command", "PING", 0}};
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "tcp-template";
    c.type = "tcp";
    c.interval_ms = 60000;
    c.timeout_ms = 1000;
    c.u.tcp.host = "127.0.0.1";
    c.u.tcp.port = srv.port;
    c.u.tcp.send = "{{command}}\r\n";
    c.u.tcp.expect = "\\+PONG";
    c.u.tcp.expect_regex = compile_re(c.u.tcp.expect);
    c.vars = vars;
    c.n_vars = 1;
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    struct runner *r = runner_new(&set, on_result, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
    pcre2_code_free(c.u.tcp.expect_regex);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
}

static void expect_mismatch(void **state)
{
    (void)state;
    run_tcp(srv.port, NULL, "^SSH-2\\.0", 1000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_string_equal(last.message, "expected /^SSH-2\\.0/ within 1000 ms, got: 220 picket-test ready\\r\\n");
}

static void refused(void **state)
{
    (void)state;
    int port = lb_closed_port(); /* nobody listens there now */
    run_tcp(port, NULL, NULL, 1000);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_CONNECT);
    assert_string_equal(last.message, "connection refused");
}

static void silent_server_times_out(void **state)
{
    (void)state;
    srv.silent = 1;
    int64_t t0 = pk_mono_us();
    run_tcp(srv.port, NULL, "hello", 300);
    int64_t took = pk_mono_us() - t0;
    srv.silent = 0;
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_string_equal(last.message, "expected /hello/ within 300 ms, got: (nothing)");
    assert_true(took >= 280000 && took < 1500000);
}

static void output_assertion(void **state)
{
    (void)state;
    struct pk_assertion a;
    memset(&a, 0, sizeof a);
    a.kind = PK_ASSERT_OUTPUT_CONTAINS;
    a.severity = PK_SEV_DEGRADED;
    a.text = "nope";
    a.describe = "output contains \"nope\"";
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "tcp-assert";
    c.type = "tcp";
    c.interval_ms = 60000;
    c.timeout_ms = 500;
    c.u.tcp.host = "127.0.0.1";
    c.u.tcp.port = srv.port;
    c.asserts = &a;
    c.n_asserts = 1;
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    struct runner *r = runner_new(&set, on_result, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
    assert_int_equal(last.outcome, PK_OUTCOME_DEGRADED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_non_null(strstr(last.message, "does not contain \"nope\""));
}

static void bad_config(void **state)
{
    (void)state;
    struct pk_check c;
    memset(&c, 0, sizeof c);
    c.name = "no-port";
    c.type = "tcp";
    c.file = "t.yaml";
    c.line = 4;
    c.interval_ms = 1000;
    c.u.tcp.host = "127.0.0.1";
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    assert_null(runner_new(&set, on_result, NULL, err, sizeof err));
    assert_string_equal(err, "t.yaml:4: check 'no-port' needs a host and a port 1..65535");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_ok),         cmocka_unit_test(expect_banner),
        cmocka_unit_test(send_and_expect),    cmocka_unit_test(send_renders_templates),
        cmocka_unit_test(expect_mismatch),
        cmocka_unit_test(refused),            cmocka_unit_test(silent_server_times_out),
        cmocka_unit_test(output_assertion),   cmocka_unit_test(bad_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
