/* test_exec.c: the exec check through the real runner with shell scripts
 * written to a temp dir: exit codes 0..3 and 7, perfdata (quoted labels,
 * Nagios 3 multi-line), the output cap, the timeout killing the plugin and
 * its grandchild, argv passed without a shell unless shell is set, env and
 * workdir, a missing program, and the check-level assertions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checks.h"
#include "result.h"
#include "runner.h"

static char dir[64];
static struct pk_result last;

static void on_result(const struct pk_result *r, void *user)
{
    (void)user;
    last = *r;
}

static void write_script(const char *name, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    chmod(path, 0755);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/picket-exec-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    write_script("code.sh", "echo \"status $1 | load=1.5;2;3;0;10\"\necho 'to stderr' >&2\nexit $1\n");
    write_script("perf.sh", "echo \"DISK OK - free space | 'my label'=5ms;10;20 /=2643MB;5948;5958;0;5968\"\n"
                            "echo \"long text line\"\n"
                            "echo \"more text | 'it''s'=7 load1=0.5 bad=U\"\n"
                            "echo \"rest=3s\"\n"
                            "exit 0\n");
    write_script("big.sh", "i=0\nwhile [ $i -lt 2000 ]; do\n"
                           "echo 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'\n"
                           "i=$((i+1))\ndone\necho end\n");
    write_script("hang.sh", "sh -c 'sleep 30' &\necho $! > \"$1\"\nsleep 30\n");
    write_script("envdir.sh", "echo \"x=$PICKET_X dir=$(pwd)\"\n");
    write_script("slow.sh", "sleep 0.2\necho fine\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void init_check(struct pk_check *c, char **argv)
{
    memset(c, 0, sizeof *c);
    c->name = "exec-check";
    c->type = "exec";
    c->file = "test.yaml";
    c->line = 3;
    c->interval_ms = 60000;
    c->timeout_ms = 5000;
    c->u.exec.argv = argv;
    while (argv && argv[c->u.exec.argc])
        c->u.exec.argc++;
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

static const char *path(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void exit_codes(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        int outcome;
        const char *message;
    } cases[] = {
        {"0", PK_OUTCOME_OK, ""},
        {"1", PK_OUTCOME_DEGRADED, "status 1"},
        {"2", PK_OUTCOME_FAILED, "status 2"},
        {"3", PK_OUTCOME_UNKNOWN, "status 3"},
        {"7", PK_OUTCOME_UNKNOWN, "exit code 7: status 7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *argv[] = {(char *)path("code.sh"), (char *)cases[i].code, NULL};
        struct pk_assertion a = {.kind = PK_ASSERT_OUTPUT_CONTAINS, .text = "to stderr"};
        struct pk_check c;
        init_check(&c, argv);
        c.asserts = &a;
        c.n_asserts = 1;
        run(&c);
        assert_int_equal(last.outcome, cases[i].outcome);
        assert_string_equal(last.message, cases[i].message);
        assert_string_equal(last.check_type, "exec");
        assert_int_equal(last.n_metrics, 1);
        assert_string_equal(last.metrics[0].name, "load");
        assert_true(last.metrics[0].value == 1.5);
        assert_true(last.total_us > 0);
    }
}

static void perfdata(void **state)
{
    (void)state;
    char *argv[] = {(char *)path("perf.sh"), NULL};
    struct pk_check c;
    init_check(&c, argv);
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    assert_int_equal(last.n_metrics, 5);
    assert_string_equal(last.metrics[0].name, "my_label");
    assert_true(last.metrics[0].value == 5);
    assert_string_equal(last.metrics[1].name, "_");
    assert_true(last.metrics[1].value == 2643);
    assert_string_equal(last.metrics[2].name, "it_s");
    assert_true(last.metrics[2].value == 7);
    assert_string_equal(last.metrics[3].name, "load1");
    assert_true(last.metrics[3].value == 0.5);
    assert_string_equal(last.metrics[4].name, "rest");
    assert_true(last.metrics[4].value == 3);
}

static void output_cap(void **state)
{
    (void)state;
    char *argv[] = {(char *)path("big.sh"), NULL};
    struct pk_check c;
    struct pk_assertion a = {.kind = PK_ASSERT_OUTPUT_CONTAINS, .text = "end", .describe = "output contains \"end\""};
    init_check(&c, argv);
    c.u.exec.max_output_bytes = 1000;
    c.asserts = &a;
    c.n_asserts = 1;
    run(&c);
    /* Everything was read and counted, only 1000 bytes kept: "end" was not. */
    assert_true(last.body_bytes > 2000 * 100);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_string_equal(last.message, "output contains \"end\": output does not contain \"end\"");
}

static int process_alive(pid_t pid)
{
    char p[64], stat[256] = "";
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close_paren = strrchr(stat, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z';
}

static void timeout_kills_group(void **state)
{
    (void)state;
    const char *pidfile = path("grandchild.pid");
    char *argv[] = {(char *)path("hang.sh"), (char *)pidfile, NULL};
    struct pk_check c;
    init_check(&c, argv);
    c.timeout_ms = 400;
    int64_t t0 = pk_mono_us();
    run(&c);
    int64_t took = pk_mono_us() - t0;
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_TIMEOUT);
    assert_string_equal(last.message, "timed out after 400 ms; killed");
    assert_true(took >= 380000 && took < 3000000);
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    for (int i = 0; i < 100 && process_alive(pid); i++)
        usleep(10000);
    assert_false(process_alive(pid));
}

static void no_shell_by_default(void **state)
{
    (void)state;
    char marker[256];
    snprintf(marker, sizeof marker, "%s/should-not-exist", dir);
    char arg[300];
    snprintf(arg, sizeof arg, "a; touch %s", marker);
    char *argv[] = {"echo", arg, NULL};
    struct pk_check c;
    struct pk_assertion a = {.kind = PK_ASSERT_OUTPUT_CONTAINS, .text = "a; touch"};
    init_check(&c, argv);
    c.asserts = &a;
    c.n_asserts = 1;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    assert_int_equal(access(marker, F_OK), -1);
}

static void shell_when_asked(void **state)
{
    (void)state;
    char *argv[] = {"echo 'CRITICAL - down' ; exit 2", NULL};
    struct pk_check c;
    init_check(&c, argv);
    c.u.exec.shell = 1;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_FAILED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_string_equal(last.message, "CRITICAL - down");
}

static void env_and_workdir(void **state)
{
    (void)state;
    char *argv[] = {(char *)path("envdir.sh"), NULL};
    struct pk_kv env[] = {{"PICKET_X", "hello"}};
    char want[128];
    snprintf(want, sizeof want, "x=hello dir=%s", dir);
    struct pk_assertion a = {.kind = PK_ASSERT_OUTPUT_CONTAINS, .text = want};
    struct pk_check c;
    init_check(&c, argv);
    c.u.exec.env = env;
    c.u.exec.n_env = 1;
    c.u.exec.workdir = dir;
    c.asserts = &a;
    c.n_asserts = 1;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
}

static void missing_program(void **state)
{
    (void)state;
    char *argv[] = {"/nonexistent/plugin", NULL};
    struct pk_check c;
    init_check(&c, argv);
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_UNKNOWN);
    assert_string_equal(last.message, "cannot run /nonexistent/plugin: No such file or directory");
}

static void templates_and_secrets(void **state)
{
    (void)state;
    struct pk_var_source vars[] = {{"greeting", "hello", 0}, {"token", "s3cr3t-value", 1}};
    char *argv[] = {"echo", "{{greeting}} world", NULL};
    struct pk_kv env[] = {{"PICKET_X", "{{ greeting }}!"}};
    struct pk_assertion a = {.kind = PK_ASSERT_OUTPUT_CONTAINS, .text = "hello world"};
    struct pk_check c;
    init_check(&c, argv);
    c.vars = vars;
    c.n_vars = 2;
    c.asserts = &a;
    c.n_asserts = 1;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    /* env values render too */
    char *argv2[] = {(char *)path("envdir.sh"), NULL};
    struct pk_assertion a2 = {.kind = PK_ASSERT_OUTPUT_CONTAINS, .text = "x=hello!"};
    init_check(&c, argv2);
    c.vars = vars;
    c.n_vars = 2;
    c.u.exec.env = env;
    c.u.exec.n_env = 1;
    c.asserts = &a2;
    c.n_asserts = 1;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_OK);
    /* a secret in the program name never shows in the message */
    char *argv3[] = {"/nonexistent/{{token}}", NULL};
    init_check(&c, argv3);
    c.vars = vars;
    c.n_vars = 2;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_UNKNOWN);
    assert_string_equal(last.message, "cannot run /nonexistent/{{token}}: No such file or directory");
}

static void time_assertion(void **state)
{
    (void)state;
    char *argv[] = {(char *)path("slow.sh"), NULL};
    struct pk_assertion a = {.kind = PK_ASSERT_TIME_UNDER, .severity = PK_SEV_DEGRADED, .max_ms = 50,
                             .describe = "time under 50 ms"};
    struct pk_check c;
    init_check(&c, argv);
    c.asserts = &a;
    c.n_asserts = 1;
    run(&c);
    assert_int_equal(last.outcome, PK_OUTCOME_DEGRADED);
    assert_int_equal(last.error_class, PK_ERR_ASSERTION);
    assert_non_null(strstr(last.message, "time under 50 ms: took "));
}

static volatile sig_atomic_t stop_flag;

static void *stop_later(void *arg)
{
    (void)arg;
    usleep(400000);
    stop_flag = 1;
    return NULL;
}

static void cancel_mid_run(void **state)
{
    (void)state;
    /* runner_free while a plugin runs must kill its group and return promptly. */
    const char *pidfile = path("grandchild2.pid");
    unlink(pidfile);
    char *argv[] = {(char *)path("hang.sh"), (char *)pidfile, NULL};
    struct pk_check c;
    init_check(&c, argv);
    c.interval_ms = 100;
    c.timeout_ms = 20000;
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    memset(&last, 0, sizeof last);
    struct runner *r = runner_new(&set, on_result, NULL, err, sizeof err);
    assert_non_null(r);
    stop_flag = 0;
    pthread_t t;
    pthread_create(&t, NULL, stop_later, NULL);
    assert_int_equal(runner_run(r, &stop_flag), 0);
    pthread_join(t, NULL);
    int64_t t0 = pk_mono_us();
    runner_free(r);
    assert_true(pk_mono_us() - t0 < 1000000);
    assert_int_equal(last.outcome, PK_OUTCOME_UNSPECIFIED); /* cancelled: no result */
    FILE *f = fopen(pidfile, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    for (int i = 0; i < 100 && process_alive(pid); i++)
        usleep(10000);
    assert_false(process_alive(pid));
}

/* A slow plugin does not hold up a fast one: both run at once. */
static struct {
    char name[PK_NAME_MAX];
    int64_t at_us;
} finished[2];
static int n_finished;

static void on_result_order(const struct pk_result *r, void *user)
{
    (void)user;
    if (n_finished < 2) {
        pk_strlcpy(finished[n_finished].name, r->check_name, sizeof finished[n_finished].name);
        finished[n_finished++].at_us = pk_mono_us();
    }
}

static void slow_does_not_delay_fast(void **state)
{
    (void)state;
    char *slow_argv[] = {"sleep", "0.6", NULL};
    char *fast_argv[] = {"true", NULL};
    struct pk_check c[2];
    init_check(&c[0], slow_argv);
    c[0].name = "slow";
    init_check(&c[1], fast_argv);
    c[1].name = "fast";
    struct pk_checkset set = {c, 2, NULL, 0};
    char err[256];
    n_finished = 0;
    struct runner *r = runner_new(&set, on_result_order, NULL, err, sizeof err);
    assert_non_null(r);
    int64_t t0 = pk_mono_us();
    assert_int_equal(runner_run_once(r), 0);
    runner_free(r);
    assert_int_equal(n_finished, 2);
    assert_string_equal(finished[0].name, "fast");
    assert_string_equal(finished[1].name, "slow");
    assert_true(finished[1].at_us - finished[0].at_us >= 200000);
    assert_true(finished[1].at_us - t0 >= 550000);
}

static void bad_config(void **state)
{
    (void)state;
    struct pk_check c;
    init_check(&c, NULL);
    struct pk_checkset set = {&c, 1, NULL, 0};
    char err[256];
    assert_null(runner_new(&set, on_result, NULL, err, sizeof err));
    assert_string_equal(err, "test.yaml:3: check 'exec-check' has no command to run");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exit_codes),          cmocka_unit_test(perfdata),
        cmocka_unit_test(output_cap),          cmocka_unit_test(timeout_kills_group),
        cmocka_unit_test(no_shell_by_default), cmocka_unit_test(shell_when_asked),
        cmocka_unit_test(env_and_workdir),     cmocka_unit_test(missing_program),
        cmocka_unit_test(templates_and_secrets), cmocka_unit_test(time_assertion),      cmocka_unit_test(cancel_mid_run),
        cmocka_unit_test(slow_does_not_delay_fast), cmocka_unit_test(bad_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
