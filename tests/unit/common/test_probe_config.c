/* test_probe_config.c: probe identity from defaults, YAML file and PICKET_*
 * variables. Collector addresses become the documented gRPC targets, later
 * sources replace whole lists, relative check paths follow the config file,
 * and a bad source is refused with its position and changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe_config.h"

static char tmpdir[64];

static int make_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/picket-test-pcfg-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *write_config(const char *name, const char *text)
{
    char *path = malloc(256);
    assert_non_null(path);
    snprintf(path, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    struct pk_probe_config cfg;
    char host[128] = "";
    pk_probe_config_defaults(&cfg);
    gethostname(host, sizeof host - 1);
    assert_string_equal(cfg.name, host);
    assert_string_equal(cfg.region, "default");
    assert_int_equal(cfg.batch_max, 500);
    assert_int_equal(cfg.flush_ms, 200);
    assert_int_equal(cfg.heartbeat_ms, 10000);
    assert_int_equal(cfg.n_labels, 0);
    assert_int_equal(cfg.n_collectors, 0);
    assert_int_equal(cfg.n_check_files, 0);
    pk_probe_config_free(&cfg);
}

static void test_collector_targets(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"127.0.0.1:7700", "ipv4:127.0.0.1:7700"},
        {"[::1]:7700", "ipv6:[::1]:7700"},
        {"localhost:7700", "ipv4:127.0.0.1:7700"},
        {"collector.example.com:443", "dns:///collector.example.com:443"},
        {"ipv4:10.0.0.1:1", "ipv4:10.0.0.1:1"},
        {"ipv6:[fe80::1]:7700", "ipv6:[fe80::1]:7700"},
        {"dns:///c.internal:7700", "dns:///c.internal:7700"},
        {"unix:/run/picket.sock", "unix:/run/picket.sock"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        struct pk_probe_config cfg;
        char err[256];
        pk_probe_config_defaults(&cfg);
        assert_int_equal(pk_probe_config_add_collectors(&cfg, pairs[i][0], err, sizeof err), 0);
        assert_int_equal(cfg.n_collectors, 1);
        assert_string_equal(cfg.collectors[0], pairs[i][1]);
        pk_probe_config_free(&cfg);
    }
    static const char *const bad[][2] = {
        {"collector", "collector 'collector' needs a port 1..65535, like host:7700"},
        {"host:0", "collector 'host:0' needs a port 1..65535, like host:7700"},
        {"host:65536", "collector 'host:65536' needs a port 1..65535, like host:7700"},
        {"host:", "collector 'host:' needs a port 1..65535, like host:7700"},
        {"::1:7700", "collector '::1:7700': put IPv6 addresses in brackets, like [::1]:7700"},
        {"[::1]", "collector '[::1]' needs a port 1..65535, like [::1]:7700"},
        {"[zz]:1", "collector '[zz]:1': 'zz' is not an IPv6 address"},
        {"bad_host:1", "collector 'bad_host:1': invalid host name"},
        {":7700", "collector ':7700': invalid host name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct pk_probe_config cfg;
        char err[256] = "";
        pk_probe_config_defaults(&cfg);
        assert_int_equal(pk_probe_config_add_collectors(&cfg, bad[i][0], err, sizeof err), -1);
        assert_string_equal(err, bad[i][1]);
        assert_int_equal(cfg.n_collectors, 0);
        pk_probe_config_free(&cfg);
    }
}

static void test_flag_helpers(void **state)
{
    (void)state;
    struct pk_probe_config cfg;
    char err[256];
    pk_probe_config_defaults(&cfg);
    /* add_* append, all-or-nothing per call. */
    assert_int_equal(pk_probe_config_add_collectors(&cfg, "10.0.0.1:1, 10.0.0.2:2", err, sizeof err), 0);
    assert_int_equal(pk_probe_config_add_collectors(&cfg, "10.0.0.3:3", err, sizeof err), 0);
    assert_int_equal(pk_probe_config_add_collectors(&cfg, "10.0.0.4:4,nope", err, sizeof err), -1);
    assert_int_equal(cfg.n_collectors, 3);
    assert_string_equal(cfg.collectors[2], "ipv4:10.0.0.3:3");
    assert_int_equal(pk_probe_config_add_check_files(&cfg, "a.yaml,b.yaml", err, sizeof err), 0);
    assert_int_equal(pk_probe_config_add_check_files(&cfg, "/etc/c.yaml", err, sizeof err), 0);
    assert_int_equal(cfg.n_check_files, 3);
    assert_string_equal(cfg.check_files[0], "a.yaml");
    assert_string_equal(cfg.check_files[2], "/etc/c.yaml");

    /* set_labels replaces. */
    assert_int_equal(pk_probe_config_set_labels(&cfg, "team=rag,tier=1", err, sizeof err), 0);
    assert_int_equal(pk_probe_config_set_labels(&cfg, "env=prod, url=a=b", err, sizeof err), 0);
    assert_int_equal(cfg.n_labels, 2);
    assert_string_equal(cfg.labels[0].key, "env");
    assert_string_equal(cfg.labels[0].value, "prod");
    assert_string_equal(cfg.labels[1].value, "a=b");
    assert_int_equal(pk_probe_config_set_labels(&cfg, "novalue", err, sizeof err), -1);
    assert_string_equal(err, "label 'novalue' is not key=value");
    assert_int_equal(pk_probe_config_set_labels(&cfg, "1x=a", err, sizeof err), -1);
    assert_string_equal(err, "invalid label key '1x' (want [A-Za-z_][A-Za-z0-9_]*)");
    assert_int_equal(pk_probe_config_set_labels(&cfg, "a=1,a=2", err, sizeof err), -1);
    assert_string_equal(err, "duplicate label 'a'");
    assert_int_equal(cfg.n_labels, 2);
    assert_string_equal(cfg.labels[0].key, "env");

    /* Fixed-size lists refuse the 17th entry. */
    char many[512] = "";
    for (int i = 0; i < 14; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sh%d:1", i ? "," : "", i);
    assert_int_equal(pk_probe_config_add_collectors(&cfg, many, err, sizeof err), -1);
    assert_string_equal(err, "more than 16 collectors");
    assert_int_equal(cfg.n_collectors, 3);
    pk_probe_config_free(&cfg);
}

static void test_file(void **state)
{
    (void)state;
    char *path = write_config("probe.yaml", "name: probe-eu-1\n"
                                            "region: eu-west\n"
                                            "labels:\n"
                                            "  env: prod\n"
                                            "  team: sre\n"
                                            "collectors:\n"
                                            "  - 10.1.2.3:7700\n"
                                            "  - collector.internal:7700\n"
                                            "checks: [a.yaml, /etc/picket/b.yaml, sub/c.yaml]\n"
                                            "batch_max: 100\n"
                                            "flush_ms: 50\n"
                                            "heartbeat_ms: 5000\n");
    struct pk_probe_config cfg;
    char err[512] = "", want[300];
    pk_probe_config_defaults(&cfg);
    /* A list from a later source replaces, never appends. */
    assert_int_equal(pk_probe_config_add_collectors(&cfg, "127.0.0.1:1", err, sizeof err), 0);
    assert_int_equal(pk_probe_config_load_file(&cfg, path, err, sizeof err), 0);
    assert_string_equal(cfg.name, "probe-eu-1");
    assert_string_equal(cfg.region, "eu-west");
    assert_int_equal(cfg.n_labels, 2);
    assert_string_equal(cfg.labels[1].key, "team");
    assert_string_equal(cfg.labels[1].value, "sre");
    assert_int_equal(cfg.n_collectors, 2);
    assert_string_equal(cfg.collectors[0], "ipv4:10.1.2.3:7700");
    assert_string_equal(cfg.collectors[1], "dns:///collector.internal:7700");
    assert_int_equal(cfg.n_check_files, 3);
    snprintf(want, sizeof want, "%s/a.yaml", tmpdir);
    assert_string_equal(cfg.check_files[0], want);
    assert_string_equal(cfg.check_files[1], "/etc/picket/b.yaml");
    snprintf(want, sizeof want, "%s/sub/c.yaml", tmpdir);
    assert_string_equal(cfg.check_files[2], want);
    assert_int_equal(cfg.batch_max, 100);
    assert_int_equal(cfg.flush_ms, 50);
    assert_int_equal(cfg.heartbeat_ms, 5000);
    pk_probe_config_free(&cfg);
    free(path);

    /* An empty file sets nothing. */
    path = write_config("empty.yaml", "# nothing yet\n");
    pk_probe_config_defaults(&cfg);
    assert_int_equal(pk_probe_config_load_file(&cfg, path, err, sizeof err), 0);
    assert_string_equal(cfg.region, "default");
    pk_probe_config_free(&cfg);
    free(path);
}

static void test_file_errors(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"region: eu\nregoin: us\n", "2:1: unknown key 'regoin' (known: name, region, labels, collectors, checks, "
                                     "batch_max, flush_ms, heartbeat_ms, vars, spool_dir, spool_cap, spool_fsync)"},
        {"batch_max: 0\n", "1:12: 'batch_max' must be an integer 1..5000"},
        {"flush_ms: fast\n", "1:11: 'flush_ms' must be an integer 1..60000"},
        {"labels: [a]\n", "1:9: 'labels' must be a mapping of strings"},
        {"labels:\n  a-b: 1\n", "2:3: invalid label key 'a-b' (want [A-Za-z_][A-Za-z0-9_]*)"},
        {"collectors:\n  - 10.0.0.1:1\n  - nohost\n", "3:5: collector 'nohost' needs a port 1..65535, like host:7700"},
        {"collectors: 10.0.0.1:1\n", "1:13: 'collectors' must be a list of strings"},
        {"checks: [[a]]\n", "1:10: 'checks' must be a list of strings"},
        {"name: a\nname: b\n", "2:1: duplicate key 'name'"},
        {"- a\n", "1:1: expected a mapping of settings at the top level"},
        {"name: [\n", "2:1: YAML syntax error: did not find expected node content"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *path = write_config("bad.yaml", cases[i][0]);
        struct pk_probe_config cfg;
        char err[512] = "", want[600];
        pk_probe_config_defaults(&cfg);
        assert_int_equal(pk_probe_config_add_collectors(&cfg, "127.0.0.1:1", err, sizeof err), 0);
        snprintf(want, sizeof want, "%s:%s", path, cases[i][1]);
        assert_int_equal(pk_probe_config_load_file(&cfg, path, err, sizeof err), -1);
        assert_string_equal(err, want);
        /* Nothing from the bad file applies, not even the keys before the error. */
        assert_string_equal(cfg.region, "default");
        assert_int_equal(cfg.n_collectors, 1);
        assert_string_equal(cfg.collectors[0], "ipv4:127.0.0.1:1");
        pk_probe_config_free(&cfg);
        free(path);
    }
    struct pk_probe_config cfg;
    char err[512];
    pk_probe_config_defaults(&cfg);
    assert_int_equal(pk_probe_config_load_file(&cfg, "/nonexistent/probe.yaml", err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/probe.yaml: cannot open: No such file or directory");
    pk_probe_config_free(&cfg);
}

static void clear_env(void)
{
    unsetenv("PICKET_PROBE_NAME");
    unsetenv("PICKET_REGION");
    unsetenv("PICKET_LABELS");
    unsetenv("PICKET_COLLECTOR");
    unsetenv("PICKET_CHECKS");
}

static void test_env(void **state)
{
    (void)state;
    struct pk_probe_config cfg;
    char err[512] = "";
    clear_env();
    pk_probe_config_defaults(&cfg);
    assert_int_equal(pk_probe_config_set_labels(&cfg, "from=file", err, sizeof err), 0);
    assert_int_equal(pk_probe_config_add_check_files(&cfg, "file.yaml", err, sizeof err), 0);
    setenv("PICKET_PROBE_NAME", "env-probe", 1);
    setenv("PICKET_REGION", "us-east", 1);
    setenv("PICKET_LABELS", "team=rag,env=staging", 1);
    setenv("PICKET_COLLECTOR", "[::1]:7700,localhost:7701", 1);
    setenv("PICKET_CHECKS", "x.yaml,y.yaml", 1);
    assert_int_equal(pk_probe_config_load_env(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.name, "env-probe");
    assert_string_equal(cfg.region, "us-east");
    assert_int_equal(cfg.n_labels, 2);
    assert_string_equal(cfg.labels[0].key, "team");
    assert_int_equal(cfg.n_collectors, 2);
    assert_string_equal(cfg.collectors[0], "ipv6:[::1]:7700");
    assert_string_equal(cfg.collectors[1], "ipv4:127.0.0.1:7701");
    assert_int_equal(cfg.n_check_files, 2);
    assert_string_equal(cfg.check_files[0], "x.yaml");
    pk_probe_config_free(&cfg);

    /* A bad variable names itself and changes nothing, even the good ones before it. */
    pk_probe_config_defaults(&cfg);
    setenv("PICKET_COLLECTOR", "10.0.0.1", 1);
    assert_int_equal(pk_probe_config_load_env(&cfg, err, sizeof err), -1);
    assert_string_equal(err, "PICKET_COLLECTOR: collector '10.0.0.1' needs a port 1..65535, like host:7700");
    assert_string_equal(cfg.region, "default");
    assert_int_equal(cfg.n_labels, 0);
    pk_probe_config_free(&cfg);
    clear_env();
}

static const char *var_of(const struct pk_probe_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_vars; i++)
        if (strcmp(cfg->vars[i].key, key) == 0)
            return cfg->vars[i].value;
    return NULL;
}

/* Variables merge key by key across file, environment and flags, later winning. */
static void test_spool_settings(void **state)
{
    (void)state;
    unsigned long long v = 0;
    assert_int_equal(pk_probe_config_parse_size("256M", &v), 0);
    assert_int_equal(v, 256ull << 20);
    assert_int_equal(pk_probe_config_parse_size("2GiB", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(pk_probe_config_parse_size("65536", &v), 0);
    assert_int_equal(pk_probe_config_parse_size("1K", &v), -1);   /* under 64 KiB */
    assert_int_equal(pk_probe_config_parse_size("-5M", &v), -1);
    assert_int_equal(pk_probe_config_parse_size("12Q", &v), -1);
    assert_int_equal(pk_probe_config_parse_size("", &v), -1);
    int ms = 7;
    assert_int_equal(pk_probe_config_parse_fsync("always", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(pk_probe_config_parse_fsync("never", &ms), 0);
    assert_int_equal(ms, -1);
    assert_int_equal(pk_probe_config_parse_fsync("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(pk_probe_config_parse_fsync("sometimes", &ms), -1);

    struct pk_probe_config cfg;
    pk_probe_config_defaults(&cfg);
    assert_int_equal(cfg.spool_cap, 256ull << 20);
    assert_int_equal(cfg.spool_fsync_ms, 1000);
    snprintf(cfg.name, sizeof cfg.name, "edge-1");
    char dir[1200];
    unsetenv("STATE_DIRECTORY");
    pk_probe_config_spool_dir(&cfg, dir, sizeof dir);
    assert_string_equal(dir, "var/spool/edge-1");
    setenv("STATE_DIRECTORY", "/var/lib/picket-probe", 1);
    pk_probe_config_spool_dir(&cfg, dir, sizeof dir);
    assert_string_equal(dir, "/var/lib/picket-probe/spool");
    unsetenv("STATE_DIRECTORY");

    setenv("PICKET_SPOOL_DIR", "/srv/spool", 1);
    setenv("PICKET_SPOOL_CAP", "1G", 1);
    setenv("PICKET_SPOOL_FSYNC", "never", 1);
    char err[256];
    assert_int_equal(pk_probe_config_load_env(&cfg, err, sizeof err), 0);
    assert_string_equal(cfg.spool_dir, "/srv/spool");
    assert_int_equal(cfg.spool_cap, 1ull << 30);
    assert_int_equal(cfg.spool_fsync_ms, -1);
    setenv("PICKET_SPOOL_CAP", "lots", 1);
    assert_int_equal(pk_probe_config_load_env(&cfg, err, sizeof err), -1);
    assert_non_null(strstr(err, "PICKET_SPOOL_CAP"));
    unsetenv("PICKET_SPOOL_DIR");
    unsetenv("PICKET_SPOOL_CAP");
    unsetenv("PICKET_SPOOL_FSYNC");
    pk_probe_config_free(&cfg);
}

static void test_vars(void **state)
{
    (void)state;
    char err[512];
    struct pk_probe_config cfg;
    pk_probe_config_defaults(&cfg);
    char *path = write_config("vars.yaml", "vars:\n  base: http://file:1\n  team: sre\n  only_file: yes\n");
    assert_int_equal(pk_probe_config_load_file(&cfg, path, err, sizeof err), 0);
    assert_string_equal(var_of(&cfg, "base"), "http://file:1");
    setenv("PICKET_VARS", "base=http://env:2,zone=a=b", 1);
    assert_int_equal(pk_probe_config_load_env(&cfg, err, sizeof err), 0);
    unsetenv("PICKET_VARS");
    assert_string_equal(var_of(&cfg, "base"), "http://env:2");
    assert_string_equal(var_of(&cfg, "zone"), "a=b");
    assert_string_equal(var_of(&cfg, "only_file"), "yes");
    assert_int_equal(pk_probe_config_set_var(&cfg, "team=platform, ops", err, sizeof err), 0);
    assert_string_equal(var_of(&cfg, "team"), "platform, ops");
    assert_int_equal(cfg.n_vars, 4);
    assert_int_equal(pk_probe_config_set_var(&cfg, "no-equals", err, sizeof err), -1);
    assert_non_null(strstr(err, "K=V"));
    assert_int_equal(pk_probe_config_set_var(&cfg, "9bad=x", err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid variable name '9bad'"));
    pk_probe_config_free(&cfg);

    pk_probe_config_defaults(&cfg);
    char *bad = write_config("badvars.yaml", "vars:\n  ok: 1\n  bad-name: 2\n");
    assert_int_equal(pk_probe_config_load_file(&cfg, bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "badvars.yaml:3:3: invalid variable name 'bad-name'"));
    pk_probe_config_free(&cfg);
    free(path);
    free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_collector_targets), cmocka_unit_test(test_flag_helpers),
        cmocka_unit_test(test_file),     cmocka_unit_test(test_file_errors),       cmocka_unit_test(test_env),
        cmocka_unit_test(test_vars),
        cmocka_unit_test(test_spool_settings),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
