/* Unit tests for the dashboard's parts without a database: the --status-pages
 * file (collector/status_pages.c: a good file, defaults, each error naming
 * file:line:col, membership), the SVG badges (collector/badges.c) and the
 * --dashboard-auth file and its checks (collector/dashboard_auth.c: tokens by
 * SHA-256, crypt(3) users, malformed lines, wrong secrets), a check's history
 * bar and staleness (dash_bar_line), /api/board's 24-hour part and its gzip
 * (collector/dashboard_live.c), the overview's day bars (/api/day-bars:
 * dash_day_state's thresholds, dash_day_bars_json's last 60 of the 90 days),
 * and a status page's maintenance (which of the computed windows a page
 * shows: dash_status_maint_json). */
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

#include <json-c/json.h>
#include <zlib.h>

#include "dashboard_int.h"
#include "picket/v1/picket.pb-c.h"
#include "store_dashboard.h"

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

static void test_bar_line(void **state)
{
    (void)state;
    struct store_check_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "c");
    m.interval_ms = 60000;
    int64_t now = INT64_C(1800000000000000);
    struct store_bar_row rows[3];
    memset(rows, 0, sizeof rows);
    rows[0] = (struct store_bar_row){.bucket = 57, .round_us = 60000000, .ok = 2, .last_us = now - 170000000};
    rows[1] = (struct store_bar_row){.bucket = 58, .round_us = 60000000, .ok = 2, .failed = 1, .last_us = now - 110000000};
    rows[2] = (struct store_bar_row){.bucket = 59, .round_us = 60000000, .tracked = 1, .global_state = 2,
                                     .failed = 2, .last_us = now - 50000000};
    struct dash_bar_line bl;
    dash_bar_line(&m, rows, 3, now, &bl);
    assert_int_equal(strlen(bl.line), DASH_ROUNDS);
    assert_string_equal(bl.line + 56, "-upd"); /* untracked: every result passed; under half failed; tracked down */
    assert_int_equal(bl.round_us, 60000000);
    assert_true(bl.last_us == now - 50000000);
    assert_int_equal(bl.stale, 0);
    dash_bar_line(&m, rows, 3, now + 200000000, &bl); /* no result for over 3 intervals (3 minutes) */
    assert_int_equal(bl.stale, 1);
    m.interval_ms = 7200000; /* no row and a 2-hour interval: 60 rounds of 2 hours saw nothing */
    dash_bar_line(&m, NULL, 0, now, &bl);
    assert_int_equal(bl.stale, 1);
    assert_int_equal(bl.round_us, 7200000000);
    m.interval_ms = 0;
    dash_bar_line(&m, NULL, 0, now, &bl);
    assert_int_equal(bl.stale, 1);
    assert_int_equal(bl.round_us, 60000000);
}

/* The board before the first live pass: no rows, the report's window, ages and
 * group SLOs; its gzip inflates to the same bytes. */
static void test_board_agg(void **state)
{
    (void)state;
    Picket__V1__ReportResponse r = PICKET__V1__REPORT_RESPONSE__INIT;
    Picket__V1__ReportCheck c = PICKET__V1__REPORT_CHECK__INIT, *cs[1] = {&c};
    Picket__V1__GroupSlo g = PICKET__V1__GROUP_SLO__INIT, *gs[1] = {&g};
    c.check_name = (char *)"api";
    c.service = (char *)"shop";
    g.name = (char *)"journey";
    g.budget_left = 0.5;
    r.since_us = 1000;
    r.until_us = 2000;
    r.checks = cs;
    r.n_checks = 1;
    r.groups = gs;
    r.n_groups = 1;
    struct dash_agg *a = dash_agg_from_report(&r.base, 1234567, 12.5);
    assert_non_null(a);
    dash_agg_set_long(a, NULL);
    char *json = NULL, *gz = NULL;
    size_t len = 0, gzlen = 0;
    assert_int_equal(dash_board_render(NULL, a, &json, &len, &gz, &gzlen), 0);
    struct json_object *j = json_tokener_parse(json);
    assert_non_null(j);
    struct json_object *v;
    assert_true(json_object_object_get_ex(j, "cols", &v) && json_object_array_length(v) == 23);
    assert_true(json_object_object_get_ex(j, "live_at_us", &v) && v == NULL); /* no live part yet */
    assert_true(json_object_object_get_ex(j, "computed_at_us", &v) && json_object_get_int64(v) == 1234567);
    assert_true(json_object_object_get_ex(j, "since_us", &v) && json_object_get_int64(v) == 1000);
    assert_true(json_object_object_get_ex(j, "checks", &v) && json_object_array_length(v) == 0);
    assert_true(json_object_object_get_ex(j, "groups", &v) && json_object_array_length(v) == 1);
    struct json_object *name;
    assert_true(json_object_object_get_ex(json_object_array_get_idx(v, 0), "name", &name));
    assert_string_equal(json_object_get_string(name), "journey");
    json_object_put(j);
    assert_non_null(gz);
    char *back = malloc(len + 1);
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gzlen;
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)len + 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, len);
    inflateEnd(&z);
    assert_memory_equal(back, json, len);
    free(back);
    free(json);
    free(gz);
    dash_agg_free(a);
}

static void test_day_bars(void **state)
{
    (void)state;
    /* The status page's thresholds: 99.9 % and over up, 99 % and over partial, below down. */
    assert_int_equal(dash_day_state(1.0), 'u');
    assert_int_equal(dash_day_state(0.999), 'u');
    assert_int_equal(dash_day_state(0.9989), 'p');
    assert_int_equal(dash_day_state(0.99), 'p');
    assert_int_equal(dash_day_state(0.9899), 'd');
    assert_int_equal(dash_day_state(0.0), 'd');
    assert_int_equal(dash_day_state(NAN), '-');

    const int64_t day_us = INT64_C(86400000000);
    struct dash_check_days c[2];
    memset(c, 0, sizeof c);
    snprintf(c[0].check, sizeof c[0].check, "api");
    snprintf(c[1].check, sizeof c[1].check, "we\"b");
    for (int d = 0; d < DASH_DAYS; d++)
        c[0].day[d] = c[1].day[d] = NAN;
    c[0].day[0] = 0.5;               /* older than the 60 days: left out */
    c[0].day[DASH_DAYS - 60] = 0.95; /* the first of the 60 */
    c[0].day[DASH_DAYS - 2] = 0.995;
    c[0].day[DASH_DAYS - 1] = 1.0; /* today */
    struct dash_hist h = {.at_us = 42, .day0_us = 100 * day_us, .compute_ms = 1.5, .checks = c, .n_checks = 2};
    size_t len = 0;
    char *json = dash_day_bars_json(&h, &len);
    assert_non_null(json);
    assert_int_equal(len, strlen(json));
    struct json_object *j = json_tokener_parse(json), *v, *x;
    assert_non_null(j);
    assert_true(json_object_object_get_ex(j, "at_us", &v) && json_object_get_int64(v) == 42);
    assert_true(json_object_object_get_ex(j, "days", &v) && json_object_get_int(v) == DASH_DAY_BARS);
    assert_true(json_object_object_get_ex(j, "first_day_us", &v) &&
                json_object_get_int64(v) == (100 + DASH_DAYS - DASH_DAY_BARS) * day_us);
    assert_true(json_object_object_get_ex(j, "checks", &v) && json_object_object_length(v) == 2);
    char want[DASH_DAY_BARS + 1];
    memset(want, '-', DASH_DAY_BARS);
    want[DASH_DAY_BARS] = '\0';
    want[0] = 'd';
    want[DASH_DAY_BARS - 2] = 'p';
    want[DASH_DAY_BARS - 1] = 'u';
    assert_true(json_object_object_get_ex(v, "api", &x));
    assert_string_equal(json_object_get_string(json_object_array_get_idx(x, 0)), want);
    struct json_object *shares = json_object_array_get_idx(x, 1); /* the days with data only, oldest first */
    assert_int_equal(json_object_array_length(shares), 3);
    assert_true(json_object_get_double(json_object_array_get_idx(shares, 0)) == 0.95);
    assert_true(json_object_get_double(json_object_array_get_idx(shares, 1)) == 0.995);
    assert_true(json_object_get_double(json_object_array_get_idx(shares, 2)) == 1.0);
    memset(want, '-', DASH_DAY_BARS);
    assert_true(json_object_object_get_ex(v, "we\"b", &x)); /* the name escaped */
    assert_string_equal(json_object_get_string(json_object_array_get_idx(x, 0)), want);
    assert_int_equal(json_object_array_length(json_object_array_get_idx(x, 1)), 0);
    json_object_put(j);
    free(json);
}

/* A page shows the windows not over that cover one of its services, with only
 * those services, ongoing judged at the request's time. */
static void test_status_maint_json(void **state)
{
    (void)state;
    struct dash_maint_cover c0[] = {{"shop.api", 1, 2}, {"db", 3, 3}}, c1[] = {{"shop.web", 1, 1}},
                            c2[] = {{"db", 1, 3}};
    struct dash_maint_occ occ[] = {
        {"old", "", 100, 200, NULL, 0},
        {"upgrade", "new kernel", 900, 2000, c0, 2},
        {"web", "", 1500, 1600, c1, 1},
        {"db-only", "", 1100, 1200, c2, 1},
    };
    occ[0].cover = c1;
    occ[0].n_cover = 1;
    struct dash_maint m = {.at_us = 990, .occ = occ, .n = 4};
    struct json_object *j = json_object_new_object();
    dash_status_maint_json(j, &m, NULL, "shop", 1000);
    const char *got = json_object_to_json_string_ext(json_object_object_get(j, "maintenance"), JSON_C_TO_STRING_PLAIN);
    assert_string_equal(got,
                        "[{\"name\":\"upgrade\",\"reason\":\"new kernel\",\"start_us\":900,\"end_us\":2000,"
                        "\"ongoing\":true,\"services\":[{\"service\":\"shop.api\",\"checks\":1,\"checks_total\":2}]},"
                        "{\"name\":\"web\",\"reason\":null,\"start_us\":1500,\"end_us\":1600,\"ongoing\":false,"
                        "\"services\":[{\"service\":\"shop.web\",\"checks\":1,\"checks_total\":1}]}]");
    assert_int_equal(json_object_get_int64(json_object_object_get(j, "maintenance_at_us")), 990);
    json_object_put(j);
    j = json_object_new_object(); /* no window on the group's services; none computed yet */
    dash_status_maint_json(j, &m, NULL, "pay", 1000);
    assert_int_equal(json_object_array_length(json_object_object_get(j, "maintenance")), 0);
    json_object_put(j);
    j = json_object_new_object();
    dash_status_maint_json(j, NULL, NULL, "shop", 1000);
    assert_int_equal(json_object_array_length(json_object_object_get(j, "maintenance")), 0);
    assert_int_equal(json_object_get_int64(json_object_object_get(j, "maintenance_at_us")), 0);
    json_object_put(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_pages_good),
        cmocka_unit_test(test_status_pages_bad),
        cmocka_unit_test(test_badges),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_bar_line),
        cmocka_unit_test(test_board_agg),
        cmocka_unit_test(test_day_bars),
        cmocka_unit_test(test_status_maint_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
