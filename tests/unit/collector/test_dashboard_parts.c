/* Unit tests for the dashboard's parts without a database: the --status-pages
 * file (collector/status_pages.c: a good file, defaults, each error naming
 * file:line:col, membership), the SVG badges (collector/badges.c) and the
 * --dashboard-auth file and its checks (collector/dashboard_auth.c: tokens by
 * SHA-256, crypt(3) users, malformed lines, wrong secrets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <crypt.h>
#include <math.h>

#include "dashboard_int.h"

static char err[512];
static char path[64];

static const char *write_tmp(const char *text)
{
    snprintf(path, sizeof path, "/tmp/picket-dash-unit-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (long)strlen(text));
    close(fd);
    return path;
}

static void test_status_pages_good(void **state)
{
    (void)state;
    struct status_pages *sp = status_pages_load(write_tmp("status_pages:\n"
                                                          "  - name: shop\n"
                                                          "    title: Shop status\n"
                                                          "    services: [shop.api, payments]\n"
                                                          "  - name: internal\n"
                                                          "    services: [db]\n"
                                                          "    public: false\n"),
                                                err, sizeof err);
    unlink(path);
    assert_non_null(sp);
    assert_int_equal(sp->n, 2);
    const struct status_page *p = status_page_find(sp, "shop");
    assert_non_null(p);
    assert_string_equal(p->title, "Shop status");
    assert_true(p->public_page);
    assert_true(status_page_has(p, "shop", "payments"));
    assert_false(status_page_has(p, "shop", "shop.web")); /* a listed page takes its list, not the prefix */
    assert_string_equal(status_page_find(sp, "internal")->title, "internal status");
    assert_false(status_page_find(sp, "internal")->public_page);
    assert_true(status_pages_publish(sp, "payments"));
    assert_false(status_pages_publish(sp, "db"));
    assert_null(status_page_find(sp, "nope"));
    /* a group not in the file: the service named by it or under it */
    assert_true(status_page_has(NULL, "shop", "shop.web"));
    assert_true(status_page_has(NULL, "shop", "shop/eu"));
    assert_false(status_page_has(NULL, "shop", "shopping"));
    status_pages_free(sp);
}

static void expect_bad(const char *text, const char *fragment)
{
    struct status_pages *sp = status_pages_load(write_tmp(text), err, sizeof err);
    unlink(path);
    assert_null(sp);
    if (!strstr(err, fragment) || !strstr(err, path))
        fail_msg("error '%s' lacks '%s' or the file name", err, fragment);
}

static void test_status_pages_bad(void **state)
{
    (void)state;
    expect_bad("pages: []\n", "status_pages");
    expect_bad("status_pages:\n  - title: x\n    services: [a]\n", "needs a 'name'");
    expect_bad("status_pages:\n  - name: a\n", "needs 'services'");
    expect_bad("status_pages:\n  - name: a b\n    services: [a]\n", "letters, digits");
    expect_bad("status_pages:\n  - name: a\n    services: [a]\n    public: yes\n", ":4:");
    expect_bad("status_pages:\n  - name: a\n    services: [a]\n    colour: red\n", "unknown key 'colour'");
    expect_bad("status_pages:\n  - name: a\n    services: [a]\n  - name: a\n    services: [b]\n", "given twice");
    expect_bad("status_pages:\n  - name: a\n    services: [a]\n    logo: /nonexistent/x.svg\n", "logo");
    expect_bad("status_pages:\n  - name: a\n    services: [a]\n    logo: /etc/passwd\n", ".svg or .png");
}

static void test_badges(void **state)
{
    (void)state;
    struct dash_check_fig figs[2] = {
        {.check = "api", .service = "shop", .state = 1, .u24 = 0.9995, .u7 = 0.995, .u30 = NAN, .p95_us = 250000,
         .budget_p95_us = 200000},
        {.check = "db", .service = "shop", .state = 0, .u24 = 0.5, .u7 = NAN, .u30 = NAN, .p95_us = NAN,
         .budget_p95_us = 0},
    };
    struct pk_http_reply r;
    const struct {
        const char *path, *want, *color;
    } cases[] = {
        {"api/uptime-24h.svg", "uptime 24h: 99.95%", "#2da44e"}, {"api/uptime-7d.svg", "uptime 7d: 99.50%", "#bf8700"},
        {"api/uptime-30d.svg", "uptime 30d: no data", "#6e7781"}, {"api/status.svg", "status: up", "#2da44e"},
        {"api/p95.svg", "p95: 250 ms", "#cf222e"}, /* over its budget */
        {"db/status.svg", "status: down", "#cf222e"},           {"db/uptime-24h.svg", "uptime 24h: 50.00%", "#cf222e"},
        {"db/p95.svg", "p95: no data", "#6e7781"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dash_badge(figs, 2, cases[i].path, &r);
        assert_int_equal(r.code, 200);
        assert_string_equal(r.type, "image/svg+xml");
        char *body = strndup(r.body, r.len);
        if (!strstr(body, cases[i].want) || !strstr(body, cases[i].color) || strncmp(body, "<svg", 4) != 0)
            fail_msg("%s: %s", cases[i].path, body);
        free(body);
        free((void *)r.body);
    }
    dash_badge(figs, 2, "nope/status.svg", &r);
    assert_int_equal(r.code, 404);
    dash_badge(figs, 2, "api/uptime.svg", &r);
    assert_int_equal(r.code, 404);
    dash_badge(figs, 2, "api", &r);
    assert_int_equal(r.code, 404);
}

static void test_auth(void **state)
{
    (void)state;
    struct crypt_data cd;
    memset(&cd, 0, sizeof cd);
    char hash[256];
    snprintf(hash, sizeof hash, "%s", crypt_r("pw", "$6$saltsalt$", &cd));
    char text[1024];
    /* sha256("pkt_secret") */
    snprintf(text, sizeof text,
             "# logins\ntoken ca8ef237b6db5735e2a27b770177a46a81446ec74c137266346ca8ada801299a\nuser alice %s\n", hash);
    struct dash_auth *a = dash_auth_load(write_tmp(text), err, sizeof err);
    unlink(path);
    assert_non_null(a);
    assert_true(dash_auth_allows(a, "Basic YWxpY2U6cHc=", NULL));   /* alice:pw */
    assert_true(dash_auth_allows(a, "Basic YWxpY2U6cHc=", NULL));   /* again, from the cache */
    assert_false(dash_auth_allows(a, "Basic YWxpY2U6cHg=", NULL)); /* alice:px */
    assert_false(dash_auth_allows(a, "Basic Ym9iOnB3", NULL));     /* bob:pw */
    assert_false(dash_auth_allows(a, "Basic !!!", NULL));
    assert_true(dash_auth_allows(a, "Bearer pkt_secret", NULL));
    assert_true(dash_auth_allows(a, "bearer pkt_secret", NULL));
    assert_false(dash_auth_allows(a, "Bearer pkt_other", NULL));
    assert_false(dash_auth_allows(a, "", NULL));
    assert_false(dash_auth_allows(a, NULL, NULL));
    assert_false(dash_auth_allows(a, NULL, "read:viewer")); /* no cert line: a certificate is no login */
    assert_false(dash_auth_wants_certs(a));
    dash_auth_free(a);

    a = dash_auth_load(write_tmp("cert read:viewer\ncert read:ops # two\n"), err, sizeof err);
    unlink(path);
    assert_non_null(a);
    assert_true(dash_auth_wants_certs(a));
    assert_true(dash_auth_allows(a, NULL, "read:viewer"));
    assert_true(dash_auth_allows(a, "Basic !!!", "read:ops"));
    assert_false(dash_auth_allows(a, NULL, "read:view"));
    assert_false(dash_auth_allows(a, NULL, NULL));
    assert_false(dash_auth_allows(a, "Bearer pkt_secret", NULL));
    dash_auth_free(a);
    a = dash_auth_load(write_tmp("cert *\n"), err, sizeof err);
    unlink(path);
    assert_non_null(a);
    assert_true(dash_auth_allows(a, NULL, "anyone"));
    assert_false(dash_auth_allows(a, NULL, NULL));
    dash_auth_free(a);
    assert_null(dash_auth_load(write_tmp("cert a b\n"), err, sizeof err));
    assert_non_null(strstr(err, "cert CN"));
    unlink(path);

    assert_null(dash_auth_load(write_tmp("token abc\n"), err, sizeof err));
    assert_non_null(strstr(err, ":1:"));
    unlink(path);
    assert_null(dash_auth_load(write_tmp("user bob plaintext\n"), err, sizeof err));
    assert_non_null(strstr(err, "crypt(3)"));
    unlink(path);
    assert_null(dash_auth_load(write_tmp("# nothing\n"), err, sizeof err));
    assert_non_null(strstr(err, "nobody could log in"));
    unlink(path);
    assert_null(dash_auth_load("/nonexistent/auth", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/auth"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_pages_good),
        cmocka_unit_test(test_status_pages_bad),
        cmocka_unit_test(test_badges),
        cmocka_unit_test(test_auth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
