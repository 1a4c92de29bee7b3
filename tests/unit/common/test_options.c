/* test_options.c: common/options.c, the table-driven option parser: long and
 * short options, --x=v and --x v, environment fallback and the command line's
 * precedence over it, unknown options, missing values, bad numbers and their
 * messages, command-name ordering, the early pass, and --help lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "options.h"
#include "pk_error.h"

struct cfg {
    const char *name, *config;
    int verbose, count;
    long long id;
    double ratio;
    int calls;
    const char *last_source;
};

static int count_call(void *target, const struct pk_option *opt, const char *value, const char *source, char *err, size_t errlen)
{
    (void)opt;
    struct cfg *c = target;
    c->calls++;
    c->last_source = source;
    if (value && strcmp(value, "bad") == 0)
        return pk_fail(err, errlen, "%s: no, not '%s'", source, value);
    return 0;
}

static const struct pk_option table[] = {
    {.name = "name", .short_name = 'n', .kind = PK_OPT_STRING, .env = "PK_TEST_NAME", .offset = offsetof(struct cfg, name),
     .metavar = "NAME", .help = "who"},
    {.name = "config", .kind = PK_OPT_STRING, .env = "PK_TEST_CONFIG", .offset = offsetof(struct cfg, config),
     .metavar = "FILE", .help = "a file\nover two lines", .flags = PK_OPTF_EARLY},
    {.name = "verbose", .short_name = 'v', .kind = PK_OPT_FLAG, .offset = offsetof(struct cfg, verbose),
     .help = "talk more"},
    {.name = "count", .kind = PK_OPT_INT, .env = "PK_TEST_COUNT", .offset = offsetof(struct cfg, count), .min = 1,
     .max = 64, .metavar = "N", .help = "how many, see PK_TEST_COUNT"},
    {.name = "id", .kind = PK_OPT_LLONG, .offset = offsetof(struct cfg, id), .min = 1, .max = 9.3e18,
     .range_text = "a positive integer", .metavar = "N"},
    {.name = "ratio", .kind = PK_OPT_DOUBLE, .offset = offsetof(struct cfg, ratio), .min = 0, .max = 1,
     .range_text = "in 0..1", .metavar = "R", .help = "a ratio", .tags = 2},
    {.name = "call", .kind = PK_OPT_CALL, .set = count_call, .metavar = "X", .env = "PK_TEST_CALL",
     .flags = PK_OPTF_ENV_ELSEWHERE, .help = "a setter"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
    {.name = "version", .kind = PK_OPT_VERSION},
};
#define N_TABLE (sizeof table / sizeof table[0])

/* Runs the parser on a NULL-terminated list, capturing what it prints on stderr. */
static int run(unsigned flags, struct cfg *c, char *errout, size_t errsize, int *next, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, next);
    argv[argc++] = "prog";
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), 2);
    struct pk_opts o = {.prog = "prog", .table = table, .n = N_TABLE, .flags = flags};
    int rc = pk_opts_parse(&o, c, argc, argv, next);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t got = fread(errout, 1, errsize - 1, tmp);
    errout[got] = '\0';
    fclose(tmp);
    return rc;
}

static void setup_env(void)
{
    unsetenv("PK_TEST_NAME");
    unsetenv("PK_TEST_CONFIG");
    unsetenv("PK_TEST_COUNT");
    unsetenv("PK_TEST_CALL");
}

static void long_and_short_forms(void **state)
{
    (void)state;
    setup_env();
    struct cfg c = {0};
    char err[512];
    int next = 0;
    assert_int_equal(run(0, &c, err, sizeof err, &next, "--name", "a", "--count=5", "-v", "file", "--ratio", "0.25",
                         NULL),
                     PK_OPTS_OK);
    assert_string_equal(c.name, "a");
    assert_int_equal(c.count, 5);
    assert_int_equal(c.verbose, 1);
    assert_true(c.ratio == 0.25);
    assert_int_equal(next, 7); /* the operand is moved behind the options */
    assert_string_equal(err, "");
    c = (struct cfg){0};
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "-n", "b", "--name=c", "--id", "12345678901234567", NULL),
                     PK_OPTS_OK);
    assert_string_equal(c.name, "c"); /* the last one wins */
    assert_true(c.id == 12345678901234567LL);
    c = (struct cfg){0};
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--nam", "prefix", NULL), PK_OPTS_OK);
    assert_string_equal(c.name, "prefix");
}

static void env_fallback_and_precedence(void **state)
{
    (void)state;
    setup_env();
    setenv("PK_TEST_NAME", "from-env", 1);
    setenv("PK_TEST_COUNT", "7", 1);
    setenv("PK_TEST_CALL", "ignored", 1); /* read elsewhere: the parser leaves it */
    struct cfg c = {0};
    char err[512];
    assert_int_equal(run(0, &c, err, sizeof err, NULL, NULL), PK_OPTS_OK);
    assert_string_equal(c.name, "from-env");
    assert_int_equal(c.count, 7);
    assert_int_equal(c.calls, 0);
    c = (struct cfg){0};
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--name", "from-flag", "--count", "9", NULL), PK_OPTS_OK);
    assert_string_equal(c.name, "from-flag");
    assert_int_equal(c.count, 9);
    /* An empty string variable counts as unset; a number must still parse. */
    setenv("PK_TEST_NAME", "", 1);
    c = (struct cfg){.name = "default"};
    assert_int_equal(run(0, &c, err, sizeof err, NULL, NULL), PK_OPTS_OK);
    assert_string_equal(c.name, "default");
    setenv("PK_TEST_COUNT", "x", 1);
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--count", "3", NULL), PK_OPTS_BAD_VALUE);
    assert_string_equal(err, "prog: PK_TEST_COUNT must be an integer in 1..64, got 'x'\n");
    assert_int_equal(run(PK_OPTS_NO_ENV, &c, err, sizeof err, NULL, NULL), PK_OPTS_OK);
    setup_env();
}

static void unknown_and_missing(void **state)
{
    (void)state;
    setup_env();
    struct cfg c = {0};
    char err[512];
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--nope", NULL), PK_OPTS_UNKNOWN);
    assert_non_null(strstr(err, "unrecognized option '--nope'"));
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--name", NULL), PK_OPTS_UNKNOWN);
    assert_non_null(strstr(err, "option '--name' requires an argument"));
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "-x", NULL), PK_OPTS_UNKNOWN);
    assert_non_null(strstr(err, "invalid option -- 'x'"));
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--verbose=1", NULL), PK_OPTS_UNKNOWN);
    assert_non_null(strstr(err, "doesn't allow an argument"));
}

static void bad_numbers(void **state)
{
    (void)state;
    setup_env();
    struct cfg c = {0};
    char err[512];
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--count", "65", NULL), PK_OPTS_BAD_VALUE);
    assert_string_equal(err, "prog: --count must be an integer in 1..64, got '65'\n");
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--count", "", NULL), PK_OPTS_BAD_VALUE);
    assert_string_equal(err, "prog: --count must be an integer in 1..64, got ''\n");
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--count=4x", NULL), PK_OPTS_BAD_VALUE);
    assert_string_equal(err, "prog: --count must be an integer in 1..64, got '4x'\n");
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--id", "0", NULL), PK_OPTS_BAD_VALUE);
    assert_string_equal(err, "prog: --id must be a positive integer, got '0'\n");
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--ratio", "1.5", NULL), PK_OPTS_BAD_VALUE);
    assert_string_equal(err, "prog: --ratio must be in 0..1, got '1.5'\n");
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--ratio", "nan", NULL), PK_OPTS_BAD_VALUE);
    /* The first error stops the parse unless asked to keep going. */
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--count", "0", "--id", "0", NULL), PK_OPTS_BAD_VALUE);
    assert_null(strstr(err, "--id"));
    assert_int_equal(run(PK_OPTS_KEEP_GOING, &c, err, sizeof err, NULL, "--count", "0", "--id", "0", "--zz", NULL),
                     PK_OPTS_BAD_VALUE);
    assert_non_null(strstr(err, "--count must"));
    assert_non_null(strstr(err, "--id must"));
    assert_non_null(strstr(err, "'--zz'"));
    double d = 0;
    assert_int_equal(pk_opts_number(&table[3], "12", "--count", &d, err, sizeof err), 0);
    assert_true(d == 12);
}

static void setters_help_version(void **state)
{
    (void)state;
    setup_env();
    struct cfg c = {0};
    char err[512];
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--call", "ok", "--call=bad", NULL), PK_OPTS_BAD_VALUE);
    assert_int_equal(c.calls, 2);
    assert_string_equal(err, "prog: --call: no, not 'bad'\n");
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--name", "a", "-h", "--count", "0", NULL), PK_OPTS_HELP);
    assert_int_equal(run(0, &c, err, sizeof err, NULL, "--version", NULL), PK_OPTS_VERSION);
}

static void command_order_and_early_pass(void **state)
{
    (void)state;
    setup_env();
    struct cfg c = {0};
    char err[512];
    int next = 0;
    assert_int_equal(run(PK_OPTS_IN_ORDER, &c, err, sizeof err, &next, "-v", "status", "--name", "x", NULL),
                     PK_OPTS_OK);
    assert_int_equal(next, 2);
    assert_null(c.name); /* after the command: its own options */
    /* The early pass applies only --config (and help), silently ignoring the rest. */
    setenv("PK_TEST_CONFIG", "env.yaml", 1);
    setenv("PK_TEST_COUNT", "x", 1);
    c = (struct cfg){0};
    assert_int_equal(run(PK_OPTS_EARLY_ONLY, &c, err, sizeof err, NULL, "--name", "--config", "--bogus", "--count",
                         "0", NULL),
                     PK_OPTS_OK);
    assert_string_equal(c.config, "env.yaml"); /* "--config" was --name's value */
    assert_null(c.name);
    assert_string_equal(err, "");
    assert_int_equal(run(PK_OPTS_EARLY_ONLY, &c, err, sizeof err, NULL, "--config=f.yaml", "--help", NULL),
                     PK_OPTS_HELP);
    assert_string_equal(c.config, "f.yaml");
    setup_env();
}

static void help_lines(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    pk_opts_print(f, table, N_TABLE, 18, 0);
    fclose(f);
    assert_string_equal(text, "  -n, --name NAME who (env PK_TEST_NAME)\n"
                              "  --config FILE   a file\n"
                              "                  over two lines (env PK_TEST_CONFIG)\n"
                              "  -v, --verbose   talk more\n"
                              "  --count N       how many, see PK_TEST_COUNT\n"
                              "  --call X        a setter (env PK_TEST_CALL)\n"
                              "  -h, --help      this text\n");
    free(text);
    f = open_memstream(&text, &len);
    pk_opts_print(f, table, N_TABLE, 18, 2);
    fclose(f);
    assert_non_null(strstr(text, "  --ratio R       a ratio\n"));
    free(text);
}

/* The shared client TLS entries: --token-file wins over PICKET_TOKEN. */
static void tls_client_entries(void **state)
{
    (void)state;
    struct client {
        int other;
        struct pk_tls_opts tls;
    } c;
    static const struct pk_option tls_table[] = {PK_OPTS_TLS_CLIENT(struct client, tls)};
    setenv("PICKET_TOKEN", "pkt_from_env", 1);
    pk_tls_opts_from_env(&c.tls);
    char *argv[] = {"prog", "--tls-ca", "ca.pem", "--insecure-plaintext", NULL};
    struct pk_opts o = {.prog = "prog", .table = tls_table, .n = sizeof tls_table / sizeof tls_table[0]};
    assert_int_equal(pk_opts_parse(&o, &c, 4, argv, NULL), PK_OPTS_OK);
    assert_string_equal(c.tls.ca_file, "ca.pem");
    assert_int_equal(c.tls.insecure_plaintext, 1);
    assert_string_equal(c.tls.token, "pkt_from_env");
    char *argv2[] = {"prog", "--token-file=t.txt", NULL};
    assert_int_equal(pk_opts_parse(&o, &c, 2, argv2, NULL), PK_OPTS_OK);
    assert_string_equal(c.tls.token_file, "t.txt");
    assert_null(c.tls.token);
    unsetenv("PICKET_TOKEN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(long_and_short_forms),      cmocka_unit_test(env_fallback_and_precedence),
        cmocka_unit_test(unknown_and_missing),       cmocka_unit_test(bad_numbers),
        cmocka_unit_test(setters_help_version),      cmocka_unit_test(command_order_and_early_pass),
        cmocka_unit_test(help_lines),                cmocka_unit_test(tls_client_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
