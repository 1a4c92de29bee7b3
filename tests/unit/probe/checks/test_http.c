/* test_http.c: the http check against a real HTTP server on 127.0.0.1 (a
 * thread in this test, plain sockets, one thread per connection). Checks
 * status, body size, the timing phases, every error class a local setup can
 * produce, and what actually goes on the wire. Runs checks through the real
 * runner, so the multi-handle path is the one under test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "log.h"
#include "result.h"
#include "runner.h"

/* ------------------------------------------------------------ test server */

static struct {
    int listen_fd;
    int port;
    pthread_t thread;
    atomic_int stop;
    atomic_int active;
    pthread_mutex_t lock;
    char last_request[8192];
} srv = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

static void respond(int fd, int status, const char *extra_headers, const char *body, size_t body_len)
{
    char head[512];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
                     body_len, extra_headers);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, body_len);
}

/* Reads the head and any Content-Length body into buf; returns bytes read. */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0, want = 0;
    while (len < cap - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0)
            break;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (buf[0] < 'A' || buf[0] > 'Z')
            break; /* not HTTP (a TLS hello): answer at once */
        char *end = strstr(buf, "\r\n\r\n");
        if (end && !want) {
            char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = (size_t)(end + 4 - buf) + (cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0);
        }
        if (want && len >= want)
            break;
    }
    buf[len] = '\0';
    return len;
}

static void *handle_connection(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[8192];
    read_request(fd, req, sizeof req);
    pthread_mutex_lock(&srv.lock);
    pk_strlcpy(srv.last_request, req, sizeof srv.last_request);
    pthread_mutex_unlock(&srv.lock);
    char path[256] = "";
    sscanf(req, "%*s %255s", path);
    if (strcmp(path, "/slow") == 0) {
        sleep_ms(50);
        respond(fd, 200, "", "hello world", 11);
    } else if (strcmp(path, "/503") == 0) {
        respond(fd, 503, "", "unavailable", 11);
    } else if (strcmp(path, "/redirect") == 0) {
        respond(fd, 302, "Location: /slow\r\n", "", 0);
    } else if (strcmp(path, "/big") == 0) {
        size_t n = ((size_t)2 << 20) + 7;
        char *body = malloc(n);
        memset(body, 'b', n);
        respond(fd, 200, "", body, n);
        free(body);
    } else if (strcmp(path, "/hang") == 0) {
        /* Never answer; wait for the client to give up. */
        struct pollfd p = {fd, POLLIN, 0};
        char sink[64];
        while (poll(&p, 1, 3000) > 0 && recv(fd, sink, sizeof sink, 0) > 0)
            ;
    } else {
        respond(fd, 200, "", "ok", 2);
    }
    close(fd);
    atomic_fetch_sub(&srv.active, 1);
    return NULL;
}

static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&srv.stop)) {
        struct pollfd p = {srv.listen_fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(srv.listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        atomic_fetch_add(&srv.active, 1);
        if (pthread_create(&t, NULL, handle_connection, (void *)(intptr_t)fd) != 0) {
            close(fd);
            atomic_fetch_sub(&srv.active, 1);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

/* Binds 127.0.0.1 on an ephemeral port; returns the fd and sets *port. */
static int listen_ephemeral(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int server_start(void **state)
{
    (void)state;
    srv.listen_fd = listen_ephemeral(&srv.port);
    pk_log_set_level(PK_LOG_ERROR);
    return pthread_create(&srv.thread, NULL, serve, NULL);
}

static int server_stop(void **state)
{
    (void)state;
    atomic_store(&srv.stop, 1);
    pthread_join(srv.thread, NULL);
    close(srv.listen_fd);
    for (int i = 0; i < 400 && atomic_load(&srv.active) > 0; i++)
        sleep_ms(10);
    return 0;
}

/* --------------------------------------------------------------- helpers */

static void keep_result(const struct pk_result *r, void *user) { *(struct pk_result *)user = *r; }

/* Runs one check given as YAML fields (with %d for the server port) once. */
static struct pk_result run_check(const char *fields_fmt, ...)
{
    char fields[1024], yaml[1400], err[512] = "";
    va_list ap;
    va_start(ap, fields_fmt);
    vsnprintf(fields, sizeof fields, fields_fmt, ap);
    va_end(ap);
    snprintf(yaml, sizeof yaml, "checks:\n  - name: t\n    type: http\n%s", fields);
    struct pk_checkset set = {0};
    if (pk_checkset_load_string(yaml, strlen(yaml), "test", &set, err, sizeof err) < 0)
        fail_msg("%s", err);
    struct pk_result result;
    memset(&result, 0xff, sizeof result);
    struct runner *r = runner_new(&set, keep_result, &result, err, sizeof err);
    if (!r)
        fail_msg("%s", err);
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
    pk_checkset_free(&set);
    return result;
}

/* ------------------------------------------------------------------ tests */

static void test_ok_with_timings(void **state)
{
    (void)state;
    int64_t before = pk_now_us();
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/slow\n", srv.port);
    int64_t after = pk_now_us();
    assert_string_equal(r.check_name, "t");
    assert_string_equal(r.check_type, "http");
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.error_class, PK_ERR_NONE);
    assert_string_equal(r.message, "");
    assert_int_equal(r.status_code, 200);
    assert_int_equal(r.body_bytes, 11);
    assert_true(r.started_at_us >= before && r.started_at_us <= after);
    assert_true(r.dns_us >= 0);
    assert_true(r.connect_us >= 0);
    assert_int_equal(r.tls_us, -1);
    assert_true(r.ttfb_us >= 45000); /* the server thinks for 50 ms */
    assert_true(r.total_us >= r.ttfb_us);
    assert_true(r.total_us >= r.dns_us + r.connect_us + r.ttfb_us);
    assert_true(r.total_us < 2000000);
    assert_true(r.started_at_us + r.total_us <= after);
}

static void test_connect_refused(void **state)
{
    (void)state;
    int port;
    close(listen_ephemeral(&port)); /* a port that was just free and now is closed */
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/\n", port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_CONNECT);
    assert_int_equal(r.status_code, 0);
    assert_int_equal(r.connect_us, -1);
    assert_int_equal(r.tls_us, -1);
    assert_int_equal(r.ttfb_us, -1);
    assert_true(r.total_us >= 0);
    assert_true(strlen(r.message) > 0);
}

static void test_unexpected_status(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/503\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_HTTP);
    assert_int_equal(r.status_code, 503);
    assert_int_equal(r.body_bytes, 11);
    assert_string_equal(r.message, "status 503, expected 200");
    assert_true(r.ttfb_us >= 0);

    r = run_check("    url: http://127.0.0.1:%d/503\n    expect_status: [200, 204]\n", srv.port);
    assert_string_equal(r.message, "status 503, expected one of 200, 204");

    r = run_check("    url: http://127.0.0.1:%d/503\n    expect_status: 503\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_string_equal(r.message, "");
}

static void test_timeout(void **state)
{
    (void)state;
    struct pk_result r =
        run_check("    url: http://127.0.0.1:%d/hang\n    interval: 1s\n    timeout: 200ms\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_TIMEOUT);
    assert_int_equal(r.status_code, 0);
    assert_true(r.connect_us >= 0);
    assert_int_equal(r.ttfb_us, -1);
    assert_true(r.total_us >= 190000);
    assert_true(r.total_us < 1500000);
}

static void test_redirect_not_followed(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/redirect\n", srv.port);
    assert_int_equal(r.status_code, 302);
    assert_int_equal(r.error_class, PK_ERR_HTTP);
    assert_int_equal(r.body_bytes, 0);
}

static void test_body_cap_still_counts(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/big\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    assert_int_equal(r.body_bytes, ((int64_t)2 << 20) + 7);
}

static void test_request_on_the_wire(void **state)
{
    (void)state;
    struct pk_result r = run_check("    url: http://127.0.0.1:%d/echo\n"
                                   "    method: PUT\n"
                                   "    headers: {X-Test: 'yes', Content-Type: application/json}\n"
                                   "    body: '{\"a\":1}'\n",
                                   srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_OK);
    pthread_mutex_lock(&srv.lock);
    char req[8192];
    pk_strlcpy(req, srv.last_request, sizeof req);
    pthread_mutex_unlock(&srv.lock);
    assert_true(strncmp(req, "PUT /echo HTTP/1.1\r\n", 20) == 0);
    assert_non_null(strstr(req, "\r\nX-Test: yes\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: picket-probe/" PICKET_VERSION "\r\n"));
    assert_non_null(strstr(req, "\r\nContent-Length: 7\r\n"));
    assert_null(strcasestr(req, "\r\nExpect:"));
    assert_non_null(strstr(req, "\r\n\r\n{\"a\":1}"));

    r = run_check("    url: http://127.0.0.1:%d/head\n    method: HEAD\n", srv.port);
    pthread_mutex_lock(&srv.lock);
    assert_true(strncmp(srv.last_request, "HEAD /head HTTP/1.1\r\n", 21) == 0);
    pthread_mutex_unlock(&srv.lock);
}

static void test_tls_failure(void **state)
{
    (void)state;
    /* A plain-HTTP server answering a TLS hello is a handshake failure. */
    struct pk_result r = run_check("    url: https://127.0.0.1:%d/\n    timeout: 2s\n", srv.port);
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_TLS);
    assert_int_equal(r.status_code, 0);
    assert_int_equal(r.ttfb_us, -1);
}

static void test_dns_failure(void **state)
{
    (void)state;
    /* .invalid never resolves (RFC 6761); without any resolver it fails just the same. */
    struct pk_result r = run_check("    url: http://picket-test.invalid/\n    timeout: 5s\n");
    assert_int_equal(r.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(r.error_class, PK_ERR_DNS);
    assert_int_equal(r.dns_us, -1);
    assert_int_equal(r.connect_us, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_with_timings),       cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_unexpected_status),     cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_redirect_not_followed), cmocka_unit_test(test_body_cap_still_counts),
        cmocka_unit_test(test_request_on_the_wire),   cmocka_unit_test(test_tls_failure),
        cmocka_unit_test(test_dns_failure),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
