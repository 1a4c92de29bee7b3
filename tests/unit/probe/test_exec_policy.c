/* test_exec_policy.c: probe/exec_policy.c, which exec checks a probe runs when
 * they come from central assignment. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "exec_policy.h"

/* Loads one exec check with the given exec: options (flow YAML) and checks it. */
static int verdict(const struct exec_policy *p, const char *exec_yaml, char *err, size_t errlen)
{
    char doc[1024];
    snprintf(doc, sizeof doc, "checks:\n  - {name: pushed, type: exec, interval: 1s, exec: %s}\n", exec_yaml);
    struct pk_checkset set = {0};
    char lerr[512];
    assert_int_equal(pk_checkset_load_string(doc, strlen(doc), "pushed.yaml", &set, lerr, sizeof lerr), 0);
    err[0] = '\0';
    int rc = exec_policy_check(p, &set, err, errlen);
    pk_checkset_free(&set);
    return rc;
}

static void nothing_allowed_by_default(void **state)
{
    (void)state;
    struct exec_policy p = {0};
    char err[512];
    assert_int_equal(verdict(&p, "{command: [/usr/lib/nagios/plugins/check_ping]}", err, sizeof err), -1);
    assert_non_null(strstr(err, "check pushed: exec of '/usr/lib/nagios/plugins/check_ping' from central "
                                "assignment not allowed on this probe (start it with --allow-pushed-exec)"));
    assert_int_equal(verdict(&p, "{command: 'true', shell: true}", err, sizeof err), -1);
    assert_non_null(strstr(err, "--allow-pushed-shell"));
}

static void directories_and_commands(void **state)
{
    (void)state;
    struct exec_policy p = {0};
    char err[512];
    assert_int_equal(exec_policy_add(&p, "/opt/plugins/,/usr/bin/true,check_local", err, sizeof err), 0);
    assert_int_equal(verdict(&p, "{command: [/opt/plugins/check_x, -w, '1']}", err, sizeof err), 0);
    assert_int_equal(verdict(&p, "{command: [/opt/plugins/sub/check_y]}", err, sizeof err), 0);
    assert_int_equal(verdict(&p, "{command: [/usr/bin/true]}", err, sizeof err), 0);
    assert_int_equal(verdict(&p, "{command: [check_local]}", err, sizeof err), 0);
    /* escapes from the directory, other programs, the directory itself */
    assert_int_equal(verdict(&p, "{command: [/opt/plugins/../../bin/sh]}", err, sizeof err), -1);
    assert_non_null(strstr(err, "not under any --allow-pushed-exec"));
    assert_int_equal(verdict(&p, "{command: [/opt/pluginsX/evil]}", err, sizeof err), -1);
    assert_int_equal(verdict(&p, "{command: [/opt/plugins/]}", err, sizeof err), -1);
    assert_int_equal(verdict(&p, "{command: [/usr/bin/truex]}", err, sizeof err), -1);
    assert_int_equal(verdict(&p, "{command: [sh, -c, id]}", err, sizeof err), -1);
    /* an allowed program with an environment that loads other code */
    assert_int_equal(verdict(&p, "{command: [/opt/plugins/check_x], env: {LD_PRELOAD: /tmp/x.so}}", err,
                             sizeof err), -1);
    assert_non_null(strstr(err, "LD_PRELOAD"));
    assert_int_equal(verdict(&p, "{command: [/opt/plugins/check_x], env: {LANG: C}}", err, sizeof err), 0);
    /* a templated command is judged as it renders */
    char doc[] = "vars: {d: /opt/plugins, e: /tmp}\nchecks:\n"
                 "  - {name: t1, type: exec, interval: 1s, exec: {command: ['{{d}}/check_x']}}\n";
    struct pk_checkset set = {0};
    char lerr[512];
    assert_int_equal(pk_checkset_load_string(doc, strlen(doc), "t.yaml", &set, lerr, sizeof lerr), 0);
    assert_int_equal(exec_policy_check(&p, &set, err, sizeof err), 0);
    pk_checkset_free(&set);
    char doc2[] = "vars: {d: /opt/plugins, e: /tmp}\nchecks:\n"
                  "  - {name: t2, type: exec, interval: 1s, exec: {command: ['{{e}}/evil']}}\n";
    assert_int_equal(pk_checkset_load_string(doc2, strlen(doc2), "t.yaml", &set, lerr, sizeof lerr), 0);
    assert_int_equal(exec_policy_check(&p, &set, err, sizeof err), -1);
    assert_non_null(strstr(err, "check t2: exec of '/tmp/evil'"));
    pk_checkset_free(&set);
    /* shell needs its own allowance */
    assert_int_equal(verdict(&p, "{command: 'echo hi', shell: true}", err, sizeof err), -1);
    p.allow_shell = 1;
    assert_int_equal(verdict(&p, "{command: 'echo hi', shell: true}", err, sizeof err), 0);
    exec_policy_free(&p);
}

static void bad_entries_are_refused(void **state)
{
    (void)state;
    struct exec_policy p = {0};
    char err[512];
    assert_int_equal(exec_policy_add(&p, "plugins/check_x", err, sizeof err), -1);
    assert_non_null(strstr(err, "'plugins/check_x'"));
    assert_int_equal(exec_policy_add(&p, "/opt/../bin/", err, sizeof err), -1);
    assert_int_equal(p.n_allow, 0);
    exec_policy_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_allowed_by_default),
        cmocka_unit_test(directories_and_commands),
        cmocka_unit_test(bad_entries_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
