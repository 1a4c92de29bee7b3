/* test_http_server.c: common/http_server.c: the listen-address parser both
 * daemons use, one served request per route kind on a free loopback port, and a
 * start that logs nothing (libmicrohttpd once warned about its option order). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_server.h"
#include "log.h"

static void parses_ipv4_and_port(void **state)
{
    (void)state;
    struct sockaddr_in a;
    char err[128] = "";
    assert_int_equal(pk_http_parse_listen("127.0.0.1:7701", &a, err, sizeof err), 0);
    assert_int_equal(a.sin_family, AF_INET);
    assert_int_equal(ntohs(a.sin_port), 7701);
    assert_int_equal(ntohl(a.sin_addr.s_addr), 0x7f000001);
    assert_int_equal(pk_http_parse_listen("0.0.0.0:0", &a, err, sizeof err), 0);
    assert_int_equal(ntohs(a.sin_port), 0);
    assert_int_equal(a.sin_addr.s_addr, 0);
    assert_int_equal(pk_http_parse_listen("10.1.2.3:65535", &a, err, sizeof err), 0);
    assert_int_equal(ntohs(a.sin_port), 65535);
}

static void refuses_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "127.0.0.1:",       /* empty port: once taken as port 0 by the collector */
        ":7701",            /* empty host */
        "127.0.0.1",        /* no port */
        "127.0.0.1:65536",  "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80x",
        "127.0.0.1:000080", /* more than 5 digits */
        "localhost:80",     "::1:80",       "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sockaddr_in a;
        char err[128] = "";
        char want[128];
        snprintf(want, sizeof want, "HTTP listen address '%s' must be IPv4:PORT", bad[i]);
        if (pk_http_parse_listen(bad[i], &a, err, sizeof err) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        assert_string_equal(err, want);
    }
}

static size_t metrics(char *buf, size_t size, void *user)
{
    (void)user;
    return (size_t)snprintf(buf, size, "up 1\n");
}

static int sick(void *user)
{
    (void)user;
    return 0;
}

static int route(void *user, const char *url, pk_http_arg_fn arg, void *req, struct pk_http_reply *out)
{
    (void)user;
    if (strcmp(url, "/hello") != 0)
        return 0;
    const char *who = arg(req, "who");
    static char body[64];
    snprintf(body, sizeof body, "hello %s", who ? who : "nobody");
    *out = (struct pk_http_reply){200, "text/plain", body, strlen(body), 0};
    return 1;
}

/* "GET path" on 127.0.0.1:port; the whole response in out. */
static void get(int port, const char *method, const char *path, char *out, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t used = 0;
    ssize_t got;
    while (used + 1 < size && (got = read(fd, out + used, size - 1 - used)) > 0)
        used += (size_t)got;
    out[used] = '\0';
    close(fd);
}

static void serves_every_route_kind(void **state)
{
    (void)state;
    struct pk_http_server_options o = {.metrics = metrics, .health = sick, .unhealthy_body = "database unreachable\n",
                                .route = route, .threads = 2};
    char err[128];
    struct pk_http_server *h = pk_http_start("127.0.0.1:0", &o, err, sizeof err);
    assert_non_null(h);
    int port = pk_http_port(h);
    assert_true(port > 0);
    char resp[4096];
    get(port, "GET", "/metrics", resp, sizeof resp);
    assert_non_null(strstr(resp, " 200 "));
    assert_non_null(strstr(resp, "\r\n\r\nup 1\n"));
    get(port, "GET", "/healthz", resp, sizeof resp);
    assert_non_null(strstr(resp, " 503 "));
    assert_non_null(strstr(resp, "\r\n\r\ndatabase unreachable\n"));
    get(port, "GET", "/hello?who=probe", resp, sizeof resp);
    assert_non_null(strstr(resp, "\r\n\r\nhello probe"));
    get(port, "GET", "/nowhere", resp, sizeof resp);
    assert_non_null(strstr(resp, " 404 "));
    get(port, "POST", "/metrics", resp, sizeof resp);
    assert_non_null(strstr(resp, " 405 "));
    pk_http_stop(h);
}

/* The whole of f, from its start, into buf. */
static void slurp(FILE *f, char *buf, size_t size)
{
    fflush(f);
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
}

static void starts_without_a_warning(void **state)
{
    (void)state;
    FILE *log = tmpfile(), *errf = tmpfile();
    assert_non_null(log);
    assert_non_null(errf);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(errf), 2), 2); /* libmicrohttpd's own logger writes to stderr */
    pk_log_set_stream(log);
    struct pk_http_server_options o = {.metrics = metrics, .route = route, .threads = 2};
    char err[128];
    struct pk_http_server *h = pk_http_start("127.0.0.1:0", &o, err, sizeof err);
    pk_http_stop(h);
    pk_log_set_stream(stderr);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    assert_non_null(h);
    char logged[4096], printed[4096];
    slurp(log, logged, sizeof logged);
    slurp(errf, printed, sizeof printed);
    fclose(log);
    fclose(errf);
    if (logged[0] || printed[0])
        fail_msg("starting the HTTP server logged:\n%s%s", logged, printed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_ipv4_and_port),
        cmocka_unit_test(refuses_malformed),
        cmocka_unit_test(serves_every_route_kind),
        cmocka_unit_test(starts_without_a_warning),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
