/* test_maint_config.c: collector/maint_config.c, the --maintenance YAML file:
 * a good file with each kind of window, and bad ones refused with FILE:LINE:COL
 * naming the problem. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "maint_config.h"

#define NOW INT64_C(1796601600000000) /* 2026-12-07T00:00:00Z, a Monday */
#define H INT64_C(3600000000)

static void good_file(void **state)
{
    (void)state;
    static const char text[] = "windows:\n"
                               "  - name: weekly-backup\n"
                               "    for: [service:db]\n"
                               "    cron: \"0 3 * * sun\"\n"
                               "    duration: 1h\n"
                               "    timezone: Europe/Berlin\n"
                               "    reason: pg_dump\n"
                               "  - name: nightly\n"
                               "    for: [api-*, service:web]\n"
                               "    every: mon-fri 02:00\n"
                               "    duration: 30m\n"
                               "    start: 2026-12-01T00:00\n"
                               "  - name: release\n"
                               "    for: [api-login]\n"
                               "    start: now\n"
                               "    duration: 2h\n";
    struct maint_config cfg;
    char err[512];
    assert_int_equal(maint_config_parse("m.yml", text, strlen(text), NOW, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.n_windows, 3);
    assert_int_equal(cfg.windows[0].kind, MAINT_CRON);
    assert_string_equal(cfg.windows[0].tz, "Europe/Berlin");
    assert_string_equal(cfg.windows[0].reason, "pg_dump");
    assert_int_equal(cfg.windows[0].duration_us, H);
    assert_int_equal(cfg.windows[1].kind, MAINT_WEEKLY);
    assert_int_equal(cfg.windows[1].n_targets, 2);
    assert_int_equal(cfg.windows[1].start_us, NOW - 6 * 24 * H);
    assert_int_equal(cfg.windows[2].kind, MAINT_ONCE);
    assert_int_equal(cfg.windows[2].start_us, NOW);
    assert_int_equal(cfg.windows[2].end_us, NOW + 2 * H);
    /* The Monday-to-Friday window holds 02:10 today, not Sunday's. */
    struct maint_subject s = {"api-login", "", NULL, 0};
    struct maint_interval *iv = NULL;
    size_t n = 0;
    assert_int_equal(maint_intervals(&cfg.windows[1], 1, &s, NOW - 24 * H, NOW + 24 * H, &iv, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(iv[0].start_us, NOW + 2 * H);
    free(iv);
    maint_config_free(&cfg);
    static const char empty[] = "windows: []\n";
    assert_int_equal(maint_config_parse("m.yml", empty, strlen(empty), NOW, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.n_windows, 0);
    maint_config_free(&cfg);
    /* label: targets: the collector knows the checks' labels (migration 023) */
    const char *labelled = "windows:\n  - name: a\n    for: [label:team=core]\n    start: now\n    duration: 1h\n";
    assert_int_equal(maint_config_parse("m.yml", labelled, strlen(labelled), NOW, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg.n_windows, 1);
    maint_config_free(&cfg);
}

static void bad_files(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"windows:\n  - name: a\n    for: [x]\n    start: now\n    duration: 1h\n    colour: red\n",
         "m.yml:6:5: maintenance window: unknown key 'colour'"},
        {"windows:\n  - name: a\n    start: now\n    duration: 1h\n", "m.yml:2:5: window 'a' needs 'for'"},
        {"windows:\n  - name: a\n    for: [label:team]\n    start: now\n    duration: 1h\n",
         "m.yml:2:5: target 'label:team' is not a check name"},
        {"windows:\n  - name: a\n    for: [x]\n    cron: 61 * * * *\n    duration: 1h\n",
         "m.yml:2:5: cron '61 * * * *': field 1 '61' is not a valid minute (0-59)"},
        {"windows:\n  - name: a\n    for: [x]\n    every: mon 02:00\n", "m.yml:2:5: window 'a': a recurring window "
                                                                     "needs a 'duration'"},
        {"windows:\n  - name: a\n    for: [x]\n    start: now\n    end: 2020-01-01T00:00\n",
         "m.yml:2:5: window 'a' must end after it starts"},
        {"windows:\n  - name: a\n    for: [x]\n    start: now\n    duration: 1h\n"
         "  - name: a\n    for: [y]\n    start: now\n    duration: 1h\n",
         "m.yml:6:5: window 'a' is defined twice"},
        {"windows:\n  - name: a\n    for: [x]\n    every: sat 01:00\n    duration: 1h\n    timezone: Nowhere/City\n",
         "m.yml:2:5: time zone 'Nowhere/City' is not known"},
        {"slos: []\n", "m.yml:1:1: maintenance file: unknown key 'slos'"},
        {"windows: []\nwindows: []\n", "m.yml:2:1: maintenance file: key 'windows' given twice"},
        {"windows: 3\n", "m.yml:1:10: 'windows' must be a list (it may be empty: windows: [])"},
        {"- a\n", "m.yml:1:1: the maintenance file must be a mapping with a list 'windows'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct maint_config cfg;
        char err[512] = "";
        assert_int_equal(maint_config_parse("m.yml", bad[i].text, strlen(bad[i].text), NOW, &cfg, err, sizeof err), -1);
        if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
            fail_msg("case %zu: got '%s', want it to start with '%s'", i, err, bad[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(good_file), cmocka_unit_test(bad_files)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
