/* Unit tests for collector/slo_config.c: the --slos file of group SLOs (a good
 * file with every key and default, each error naming file:line:col, member
 * selection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "slo_config.h"

static struct slo_config cfg;
static char err[512];

static int parse(const char *text) { return slo_config_parse("s.yml", text, strlen(text), &cfg, err, sizeof err); }

static void test_full_file(void **state)
{
    (void)state;
    assert_int_equal(parse("slos:\n"
                           "  - name: checkout-journey\n"
                           "    description: \"all checks of checkout, together\"\n"
                           "    target: 99.9%\n"
                           "    window: 28d\n"
                           "    service: checkout\n"
                           "  - name: edge\n"
                           "    target: 99\n"
                           "    checks: [cdn-*, dns-root]\n"
                           "  - name: api-of-shop\n"
                           "    target: 99.5\n"
                           "    window: 12h\n"
                           "    service: shop\n"
                           "    checks: [api-*]\n"),
                     0);
    assert_int_equal(cfg.n_groups, 3);
    const struct slo_group *g = &cfg.groups[0];
    assert_string_equal(g->name, "checkout-journey");
    assert_string_equal(g->description, "all checks of checkout, together");
    assert_true(g->target_percent == 99.9);
    assert_int_equal(g->window_ms, 28LL * 86400000);
    assert_string_equal(g->service, "checkout");
    assert_int_equal(g->n_patterns, 0);
    assert_int_equal(g->line, 2);
    g = &cfg.groups[1];
    assert_true(g->target_percent == 99.0);
    assert_int_equal(g->window_ms, 30LL * 86400000); /* the default */
    assert_string_equal(g->description, "");
    assert_int_equal(g->n_patterns, 2);
    assert_string_equal(g->patterns[1], "dns-root");
    assert_int_equal(cfg.groups[2].window_ms, 12LL * 3600000);
    assert_ptr_equal(slo_config_find(&cfg, "edge"), &cfg.groups[1]);
    assert_null(slo_config_find(&cfg, "nope"));

    /* Selection: every selector given must match. */
    assert_true(slo_group_selects(&cfg.groups[0], "pay", "checkout"));
    assert_false(slo_group_selects(&cfg.groups[0], "pay", "shop"));
    assert_false(slo_group_selects(&cfg.groups[0], "pay", ""));
    assert_true(slo_group_selects(&cfg.groups[1], "cdn-eu", ""));
    assert_true(slo_group_selects(&cfg.groups[1], "dns-root", "infra"));
    assert_false(slo_group_selects(&cfg.groups[1], "dns-roots", "infra"));
    assert_true(slo_group_selects(&cfg.groups[2], "api-a", "shop"));
    assert_false(slo_group_selects(&cfg.groups[2], "api-a", "site"));
    assert_false(slo_group_selects(&cfg.groups[2], "web", "shop"));
    slo_config_free(&cfg);
    assert_int_equal(cfg.n_groups, 0);
}

static void expect_error(const char *text, const char *want)
{
    assert_int_equal(parse(text), -1);
    if (!strstr(err, want))
        fail_msg("error '%s' lacks '%s'", err, want);
    assert_null(cfg.groups); /* nothing left to free */
}

#define HEAD "slos:\n  - name: j\n"

static void test_errors_name_file_line_col(void **state)
{
    (void)state;
    expect_error(HEAD "    target: 99.9%\n    service: s\n    labels: {team: a}\n",
                 "s.yml:5:5: SLO 'j': unknown key 'labels'");
    expect_error(HEAD "    target: 100\n    service: s\n", "s.yml:3:13: 'target' of SLO 'j' must be between 0 and 100");
    expect_error(HEAD "    target: high\n    service: s\n", "s.yml:3:13: 'target' of SLO 'j' must be a percentage");
    expect_error(HEAD "    target: 99.9%%\n    service: s\n", "s.yml:3:13: 'target' of SLO 'j' must be a percentage");
    expect_error(HEAD "    service: s\n", "s.yml:2:5: SLO 'j' needs a 'target'");
    expect_error(HEAD "    target: 99\n    window: 30\n    service: s\n",
                 "s.yml:4:13: 'window' of SLO 'j' must be a duration from 1m to 366d");
    expect_error(HEAD "    target: 99\n    window: 400d\n    service: s\n", "s.yml:4:13: 'window' of SLO 'j'");
    expect_error(HEAD "    target: 99\n    window: soon\n    service: s\n", "s.yml:4:13: 'window' of SLO 'j'");
    expect_error(HEAD "    target: 99\n", "s.yml:2:5: SLO 'j' selects no checks");
    expect_error(HEAD "    target: 99\n    checks: []\n", "s.yml:4:13: 'checks' of SLO 'j' must be a non-empty list");
    expect_error(HEAD "    target: 99\n    checks: api-*\n", "s.yml:4:13: 'checks' of SLO 'j' must be a non-empty list");
    expect_error(HEAD "    target: 99\n    checks: [a, a]\n", "s.yml:4:17: 'checks' of SLO 'j' lists 'a' twice");
    expect_error(HEAD "    target: 99\n    service: [a]\n", "s.yml:4:14: 'service' of SLO 'j' must be a non-empty string");
    expect_error(HEAD "    target: 99\n    service: s\n    target: 98\n", "s.yml:5:5: SLO 'j': key 'target' given twice");
    expect_error(HEAD "    target: 99\n    service: s\n  - name: j\n    target: 98\n    service: t\n",
                 "s.yml:5:11: SLO 'j' is defined twice (first at line 2)");
    expect_error("slos:\n  - target: 99\n    service: s\n", "s.yml:2:5: an SLO needs a 'name'");
    expect_error("slos:\n  - name: a|b\n    target: 99\n    service: s\n", "s.yml:2:11: SLO name 'a|b' must not contain '|'");
    expect_error("slos:\n  - just-a-name\n", "s.yml:2:5: an SLO must be a mapping");
    expect_error("slos: []\n", "s.yml:1:7: 'slos' must be a non-empty list");
    expect_error("groups:\n  - name: j\n", "s.yml:1:1: SLO file: unknown key 'groups'");
    expect_error("- name: j\n", "s.yml:1:1: the SLO file must be a mapping");
    expect_error("slos: [\n", "s.yml:2:1: YAML");
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/picket-slo-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "slos:\n  - name: j\n    target: 99\n    window: 7d\n    service: s\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(slo_config_load(path, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.n_groups, 1);
    assert_string_equal(cfg.origin, path);
    slo_config_free(&cfg);
    unlink(path);
    assert_int_equal(slo_config_load(path, &cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_non_null(strstr(err, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_errors_name_file_line_col),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
