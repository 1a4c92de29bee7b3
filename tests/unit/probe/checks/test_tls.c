/* test_tls.c: the tls check through the real runner against `openssl
 * s_server` child processes on 127.0.0.1, serving self-signed certificates
 * made at test time with the openssl CLI: one valid 90 days (ok; verifies
 * against itself; not against another CA), one valid 5 days (degraded or
 * failed by the thresholds), and a plain TCP port that does not speak TLS. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "result.h"
#include "runner.h"
#include "loopback.h"

static char dir[64];
static pid_t server90, server5;
static int port90, port5;

static int make_cert(const char *stem, int days)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/%s.key -out %s/%s.pem -days %d "
             "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
             dir, stem, dir, stem, days);
    return system(cmd);
}

static pid_t serve(const char *stem, int port)
{
    char cert[128], key[128], accept[32];
    snprintf(cert, sizeof cert, "%s/%s.pem", dir, stem);
    snprintf(key, sizeof key, "%s/%s.key", dir, stem);
    snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", cert, "-key", key, "-www", "-quiet",
               (char *)NULL);
        _exit(127);
    }
    return lb_wait_listening(port, 4000) == 0 ? pid : -1;
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/picket-tls-XXXXXX");
    if (!mkdtemp(dir) || make_cert("valid90", 90) != 0 || make_cert("short5", 5) != 0)
        return -1;
    port90 = lb_closed_port();
    port5 = lb_closed_port();
    server90 = serve("valid90", port90);
    server5 = serve("short5", port5);
    return server90 > 0 && server5 > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pid_t pids[2] = {server90, server5};
    for (int i = 0; i < 2; i++)
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct pk_result last;

static void on_result(const struct pk_result *r, void *user)
{
    (void)user;
    last = *r;
}

static void init_check(struct pk_check *c, int port)
{
    memset(c, 0, sizeof *c);
    c->name = "tls-check";
    c->type = "tls";
    c->file = "test.yaml";
    c->line = 7;
    c->interval_ms = 60000;
    c->timeout_ms = 3000;
    c->u.tls.host = "127.0.0.1";
    c->u.tls.port = port;
    c->u.tls.server_name = "localhost";
    c->u.tls.degraded_days = 30;
    c->u.tls.failed_days = 7;
}

static void run(struct pk_check *c)
{
    struct pk_checkset set = {c, 1, NULL, 0};
    char err[256];
    memset(&last, 0, sizeof last);
    struct runner *r = runner_new(&set, on_result, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
}

static double metric(const char *name)
{
    for (int i = 0; i < last.n_metrics; i++)
        if (strcmp(last.metrics[i].name, name) == 0)
            return last.metrics[i].value;
    fail_msg("no metric %s", name);
    return 0;
}

static void valid_cert_ok(void **state)
{
    (void)state;
    struct pk_check c;
    init_check(&c, port90);
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    assert_string_equal(last.message, "");
    assert_string_equal(last.check_type, "tls");
    double days = metric("days_left");
    assert_true(days > 89.9 && days <= 90.01);
    double expiry = metric("expiry_unix");
    double want = (double)time(NULL) + 90 * 86400.0;
    assert_true(expiry > want - 120 && expiry < want + 120);
    assert_true(last.connect_us >= 0 && last.tls_us > 0 && last.total_us >= last.tls_us);
}

static void short_cert_degraded_then_failed(void **state)
{
    (void)state;
    struct pk_check c;
    init_check(&c, port5);
    c.u.tls.failed_days = 3;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_DEGRADED);
    assert_int_equal(last.error_class, PK_ERR_TLS);
    assert_non_null(strstr(last.message, "certificate of localhost expires in "));
    assert_non_null(strstr(last.message, "); degraded at 30 days"));
    init_check(&c, port5);
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_TLS);
    assert_non_null(strstr(last.message, "); failed at 7 days"));
    double days = metric("days_left");
    assert_true(days > 4.9 && days <= 5.01);
}

static void verifies_against_ca(void **state)
{
    (void)state;
    char ca[128];
    snprintf(ca, sizeof ca, "%s/valid90.pem", dir);
    struct pk_check c;
    init_check(&c, port90);
    c.u.tls.ca_file = ca;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    /* The IP as the name also verifies (it is in subjectAltName). */
    c.u.tls.server_name = NULL;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
}

static void wrong_ca_fails(void **state)
{
    (void)state;
    char ca[128];
    snprintf(ca, sizeof ca, "%s/short5.pem", dir);
    struct pk_check c;
    init_check(&c, port90);
    c.u.tls.ca_file = ca;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_TLS);
    assert_non_null(strstr(last.message, "certificate of localhost does not verify against "));
    assert_non_null(strstr(last.message, "self-signed certificate"));
}

static void wrong_name_fails(void **state)
{
    (void)state;
    char ca[128];
    snprintf(ca, sizeof ca, "%s/valid90.pem", dir);
    struct pk_check c;
    init_check(&c, port90);
    c.u.tls.ca_file = ca;
    c.u.tls.server_name = "other.example";
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_TLS);
    assert_non_null(strstr(last.message, "certificate of other.example does not verify against "));
    assert_non_null(strstr(last.message, ": hostname mismatch"));
}

/* A listener that accepts and writes garbage: not TLS. */
static void plain_server(int c, void *user)
{
    (void)user;
    (void)!write(c, "HTTP/1.0 400 nope\r\n\r\n", 21);
    usleep(200000);
}

static void not_tls_fails(void **state)
{
    (void)state;
    struct lb_server *plain = lb_start(LB_SERIAL, plain_server, NULL);
    assert_non_null(plain);
    struct pk_check c;
    init_check(&c, lb_port(plain));
    run(&c);
    lb_stop(plain);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_TLS);
    assert_non_null(strstr(last.message, "TLS handshake with 127.0.0.1:"));
}

static void refused(void **state)
{
    (void)state;
    struct pk_check c;
    init_check(&c, lb_closed_port());
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_CONNECT);
    assert_string_equal(last.message, "connection refused");
}

static void bad_ca_file(void **state)
{
    (void)state;
    struct pk_check c;
    init_check(&c, port90);
    c.u.tls.ca_file = "/nonexistent/ca.pem";
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[512];
    assert_null(runner_new(&set, on_result, NULL, err, sizeof err));
    assert_non_null(strstr(err, "test.yaml:7: check 'tls-check': cannot load ca_file /nonexistent/ca.pem: "));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_cert_ok),   cmocka_unit_test(short_cert_degraded_then_failed),
        cmocka_unit_test(verifies_against_ca), cmocka_unit_test(wrong_ca_fails),
        cmocka_unit_test(wrong_name_fails), cmocka_unit_test(not_tls_fails),
        cmocka_unit_test(refused),          cmocka_unit_test(bad_ca_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
