/* main.c: picket-probe's command line. `run` (the default) loads the probe's
 * identity and check files, runs the checks on schedule and streams results to
 * the collector; `run --once FILE...` is the CI gate: it runs every check once
 * with no collector, reports (report.c) and exits 0 ok, 1 degraded, 2 failed,
 * 3 config error; `validate` checks files without running anything. Daemon exit
 * codes: 0 ok, 1 runtime failure, 2 usage error, 3 configuration error. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "pk_error.h"
#include "probe_config.h"
#include "rpc_security.h"
#include "report.h"
#include "exec_policy.h"
#include "runner.h"
#include "uplink.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* ---------------------------------------------------------------- options */

/* --var K=V values; the keys are copies, the values point into argv. */
struct var_list {
    struct pk_kv vars[64];
    size_t n;
};

static int var_add(struct var_list *vl, const char *key, size_t keylen, const char *value, char *err, size_t errlen)
{
    if (keylen == 0)
        return pk_fail(err, errlen, "--var needs K=V with a non-empty K");
    for (size_t i = 0; i < vl->n; i++)
        if (strlen(vl->vars[i].key) == keylen && memcmp(vl->vars[i].key, key, keylen) == 0) {
            vl->vars[i].value = (char *)value; /* the last one given wins */
            return 0;
        }
    if (vl->n == sizeof vl->vars / sizeof vl->vars[0])
        return pk_fail(err, errlen, "at most %zu --var flags", sizeof vl->vars / sizeof vl->vars[0]);
    char *k = strndup(key, keylen);
    if (!k)
        return pk_fail(err, errlen, "out of memory");
    vl->vars[vl->n].key = k;
    vl->vars[vl->n].value = (char *)value;
    vl->n++;
    return 0;
}

static int var_parse(struct var_list *vl, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (!eq)
        return pk_fail(err, errlen, "--var wants K=V, got '%s'", spec);
    return var_add(vl, spec, (size_t)(eq - spec), eq + 1, err, errlen);
}

static void var_free(struct var_list *vl)
{
    for (size_t i = 0; i < vl->n; i++)
        free(vl->vars[i].key);
    vl->n = 0;
}

/* What `run` (the daemon) takes from the command line and the environment; the
 * config file and most variables arrive through cfg (probe_config.c). */
struct run_opts {
    struct pk_probe_config cfg;
    const char *config_file;    /* --config / PICKET_PROBE_CONFIG */
    const char *metrics_listen; /* --metrics-listen / PICKET_METRICS_LISTEN */
    int flag_collectors, flag_checks; /* lists given by flags replace those from file/env */
    struct pk_tls_opts tls;
    struct exec_policy exec_policy; /* --allow-pushed-exec, --allow-pushed-shell */
};

static int with_flag(int rc, const char *src, const char *why, char *err, size_t errlen);

static int set_allow_exec(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                          size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    char why[600];
    return with_flag(exec_policy_add(&o->exec_policy, v, why, sizeof why), src, why, err, errlen);
}

static int set_allow_shell(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                           size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    if (!v || !v[0] || !strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"))
        o->exec_policy.allow_shell = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no"))
        o->exec_policy.allow_shell = 0;
    else
        return pk_fail(err, errlen, "%s: '%s' is not 1, true, yes, 0, false or no", src, v);
    return 0;
}

static int set_name(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt, (void)src, (void)err, (void)errlen;
    struct run_opts *o = t;
    pk_strlcpy(o->cfg.name, v, sizeof o->cfg.name);
    return 0;
}

static int set_region(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt, (void)src, (void)err, (void)errlen;
    struct run_opts *o = t;
    pk_strlcpy(o->cfg.region, v, sizeof o->cfg.region);
    return 0;
}

/* "--flag: reason" from a probe_config.c setter's message. */
static int with_flag(int rc, const char *src, const char *why, char *err, size_t errlen)
{
    return rc < 0 ? pk_fail(err, errlen, "%s: %s", src, why) : 0;
}

static int set_labels(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    char why[1024];
    return with_flag(pk_probe_config_set_labels(&o->cfg, v, why, sizeof why), src, why, err, errlen);
}

static int set_var(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    char why[1024];
    return with_flag(pk_probe_config_set_var(&o->cfg, v, why, sizeof why), src, why, err, errlen);
}

static int set_collector(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                         size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    if (!o->flag_collectors++) {
        for (size_t i = 0; i < o->cfg.n_collectors; i++)
            free(o->cfg.collectors[i]);
        o->cfg.n_collectors = 0;
    }
    char why[1024];
    return with_flag(pk_probe_config_add_collectors(&o->cfg, v, why, sizeof why), src, why, err, errlen);
}

static int set_checks(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    if (!o->flag_checks++) {
        for (size_t i = 0; i < o->cfg.n_check_files; i++)
            free(o->cfg.check_files[i]);
        o->cfg.n_check_files = 0;
    }
    char why[1024];
    return with_flag(pk_probe_config_add_check_files(&o->cfg, v, why, sizeof why), src, why, err, errlen);
}

static int set_spool_dir(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                         size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    if (!v[0] || strlen(v) >= sizeof o->cfg.spool_dir)
        return pk_fail(err, errlen, "%s: give a path of 1..%zu bytes", src, sizeof o->cfg.spool_dir - 1);
    pk_strlcpy(o->cfg.spool_dir, v, sizeof o->cfg.spool_dir);
    return 0;
}

static int set_spool_cap(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                         size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    if (pk_probe_config_parse_size(v, &o->cfg.spool_cap) < 0)
        return pk_fail(err, errlen, "%s: '%s' is not a size of at least 64K (like 256M)", src, v);
    return 0;
}

static int set_spool_fsync(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                           size_t errlen)
{
    (void)opt;
    struct run_opts *o = t;
    if (pk_probe_config_parse_fsync(v, &o->cfg.spool_fsync_ms) < 0)
        return pk_fail(err, errlen, "%s: '%s' is not always, never or a duration like 1s", src, v);
    return 0;
}

#define OFF(member) offsetof(struct run_opts, member)
/* The cfg variables are read by pk_probe_config_load_env, after the config file. */
#define CFG_ENV(var) .env = var, .flags = PK_OPTF_ENV_ELSEWHERE
static const struct pk_option run_options[] = {
    {.name = "config", .kind = PK_OPT_STRING, .env = "PICKET_PROBE_CONFIG", .flags = PK_OPTF_EARLY,
     .offset = OFF(config_file), .metavar = "FILE", .help = "probe config YAML"},
    {.name = "name", .kind = PK_OPT_CALL, .set = set_name, CFG_ENV("PICKET_PROBE_NAME"), .metavar = "NAME",
     .help = "probe name, default the host name"},
    {.name = "region", .kind = PK_OPT_CALL, .set = set_region, CFG_ENV("PICKET_REGION"), .metavar = "REGION",
     .help = "region, default \"default\""},
    {.name = "labels", .kind = PK_OPT_CALL, .set = set_labels, CFG_ENV("PICKET_LABELS"), .metavar = "K=V,...",
     .help = "labels"},
    {.name = "collector", .kind = PK_OPT_CALL, .set = set_collector, CFG_ENV("PICKET_COLLECTOR"), .metavar = "ADDR",
     .help = "collector host:port; repeat or comma-separate for failover\n"},
    {.name = "checks", .kind = PK_OPT_CALL, .set = set_checks, CFG_ENV("PICKET_CHECKS"), .metavar = "FILE",
     .help = "check file; repeat or comma-separate (env PICKET_CHECKS).\n"
             "Optional: a set the collector assigns (picketctl apply)\n"
             "replaces these files while it selects any check for\n"
             "this probe; without --checks the probe waits for it.\n"
             "Checks whose selector: does not match this probe's\n"
             "region and labels are not run"},
    {.name = "allow-pushed-exec", .kind = PK_OPT_CALL, .set = set_allow_exec, .env = "PICKET_ALLOW_PUSHED_EXEC",
     .metavar = "DIR|CMD",
     .help = "run exec checks from central assignment (picketctl apply) whose\n"
             "command is under directory DIR or is exactly CMD; repeat or\n"
             "comma-separate. Default: none, only this probe's own --checks\n"
             "files run commands (docs/SECURITY.md)\n"},
    {.name = "allow-pushed-shell", .kind = PK_OPT_CALL, .set = set_allow_shell, .env = "PICKET_ALLOW_PUSHED_SHELL",
     .help = "also run `shell: true` exec checks (any command line) and risky\n"
             "environment variables (LD_*, PATH, ...) from central assignment\n"},
    {.name = "batch-max", .kind = PK_OPT_INT, .offset = OFF(cfg.batch_max), .min = 1, .max = 5000,
     .range_text = "1..5000", .metavar = "N", .help = "results per batch, default 500"},
    {.name = "spool-dir", .kind = PK_OPT_CALL, .set = set_spool_dir, CFG_ENV("PICKET_SPOOL_DIR"), .metavar = "DIR",
     .help = "where results wait for the collector's ack (env PICKET_SPOOL_DIR);\n"
             "default $STATE_DIRECTORY/spool, else var/spool/NAME; one probe\n"
             "per directory"},
    {.name = "spool-cap", .kind = PK_OPT_CALL, .set = set_spool_cap, CFG_ENV("PICKET_SPOOL_CAP"), .metavar = "SIZE",
     .help = "disk cap, e.g. 256M (the default) or 2G; beyond it the oldest\n"
             "results are dropped and counted"},
    {.name = "spool-fsync", .kind = PK_OPT_CALL, .set = set_spool_fsync, CFG_ENV("PICKET_SPOOL_FSYNC"),
     .metavar = "WHEN",
     .help = "always, never, or the longest a result stays unsynced, e.g.\n1s (the default)"},
    {.name = "var", .kind = PK_OPT_CALL, .set = set_var, CFG_ENV("PICKET_VARS"), .metavar = "K=V",
     .help = "a variable for the check files, overriding their vars:\n"
             "(repeatable; env PICKET_VARS=K=V,K2=V2; config file vars:).\n"
             "`probe` and `region` are set to this probe's name and region\n"
             "unless given"},
    {.name = "log-level", .kind = PK_OPT_LOG_LEVEL, CFG_ENV("PICKET_LOG_LEVEL"), .metavar = "LEVEL",
     .help = "debug, info, warn or error"},
    {.name = "metrics-listen", .kind = PK_OPT_STRING, .env = "PICKET_METRICS_LISTEN", .offset = OFF(metrics_listen),
     .metavar = "ADDR",
     .help = "serve Prometheus /metrics and /healthz on IPv4:PORT, e.g.\n"
             "127.0.0.1:9469 (env PICKET_METRICS_LISTEN); default \"none\": off.\n"
             "Series and their blackbox_exporter names: docs/METRICS.md"},
    PK_OPTS_TLS_CLIENT(struct run_opts, tls),
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
    {.name = "version", .kind = PK_OPT_VERSION},
};
#undef CFG_ENV
#undef OFF

/* What `run --once` takes. */
struct once_opts {
    struct var_list vl;
    const char *junit;
    int tap, once;
    char **files; /* --checks and operands; points into argv */
    size_t n_files;
};

static int once_var(void *t, const struct pk_option *opt, const char *v, const char *src, char *err, size_t errlen)
{
    (void)opt, (void)src;
    return var_parse(&((struct once_opts *)t)->vl, v, err, errlen);
}

static int once_region(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                       size_t errlen)
{
    (void)opt, (void)src;
    return var_add(&((struct once_opts *)t)->vl, "region", 6, v, err, errlen);
}

static int once_checks(void *t, const struct pk_option *opt, const char *v, const char *src, char *err,
                       size_t errlen)
{
    (void)opt, (void)src, (void)err, (void)errlen;
    struct once_opts *o = t;
    o->files[o->n_files++] = (char *)v;
    return 0;
}

static const struct pk_option once_options[] = {
    {.name = "once", .kind = PK_OPT_FLAG, .offset = offsetof(struct once_opts, once)},
    {.name = "junit", .kind = PK_OPT_STRING, .offset = offsetof(struct once_opts, junit), .metavar = "FILE",
     .help = "also write JUnit XML to FILE (\"-\": stdout)"},
    {.name = "tap", .kind = PK_OPT_FLAG, .offset = offsetof(struct once_opts, tap),
     .help = "print TAP instead of the table"},
    {.name = "var", .kind = PK_OPT_CALL, .set = once_var, .metavar = "K=V",
     .help = "override the files' variable K (repeatable)"},
    {.name = "region", .kind = PK_OPT_CALL, .set = once_region, .metavar = "R",
     .help = "the same as --var region=R; also runs only the checks\n"
             "whose selector regions (if any) include R"},
    {.name = "checks", .kind = PK_OPT_CALL, .set = once_checks, .metavar = "FILE"},
    {.name = "log-level", .kind = PK_OPT_LOG_LEVEL, .metavar = "LEVEL"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP},
};

#define N_OPTIONS(table) (sizeof table / sizeof table[0])

static void usage(FILE *f)
{
    fputs("usage: picket-probe [run] [options]\n"
          "       picket-probe run --once [--junit FILE] [--tap] [--var K=V]... [--region R] FILE...\n"
          "       picket-probe validate [--var K=V]... FILE...\n"
          "       picket-probe version\n"
          "\n"
          "Runs checks on a schedule and streams their results to a Picket collector.\n"
          "\n"
          "options (flags win over environment, which wins over the config file):\n",
          f);
    pk_opts_print(f, run_options, N_OPTIONS(run_options), 23, 0);
    fputs("\n"
          "Talking to a collector needs --tls-ca with a client certificate (CN probe:NAME) or a\n"
          "token from `picketctl probe add NAME`, or --insecure-plaintext (docs/SECURITY.md).\n"
          "environment for every command:\n"
          "  PICKET_MAX_CHECK_FILE_BYTES  check files larger than this are refused unread,\n"
          "                       default 16777216 (16 MiB)\n"
          "\n"
          "run --once (the CI gate; needs no collector):\n",
          f);
    pk_opts_print(f, once_options, N_OPTIONS(once_options), 23, 0);
    fputs("  exit: 0 all ok, 1 something degraded (none failed), 2 something failed,\n"
          "        3 a check file did not load (nothing ran)\n",
          f);
}

/* Moves every check of *one into *all (one is freed either way); -1 with err
 * when a name is already in all, naming both places. */
static int checkset_append(struct pk_checkset *all, struct pk_checkset *one, char *err, size_t errlen)
{
    for (size_t a = 0; a < one->n_checks; a++)
        for (size_t b = 0; b < all->n_checks; b++)
            if (strcmp(one->checks[a].name, all->checks[b].name) == 0) {
                snprintf(err, errlen, "%s:%d: check '%s' is already defined at %s:%d", one->checks[a].file,
                         one->checks[a].line, one->checks[a].name, all->checks[b].file, all->checks[b].line);
                pk_checkset_free(one);
                return -1;
            }
    struct pk_check *grown = realloc(all->checks, (all->n_checks + one->n_checks) * sizeof *grown);
    if (!grown && all->n_checks + one->n_checks) {
        snprintf(err, errlen, "out of memory");
        pk_checkset_free(one);
        return -1;
    }
    all->checks = grown;
    memcpy(all->checks + all->n_checks, one->checks, one->n_checks * sizeof *one->checks);
    all->n_checks += one->n_checks;
    /* The checks (each with its own copy of the vars) moved into `all`; free
     * the rest of `one`. */
    free(one->checks);
    one->checks = NULL;
    one->n_checks = 0;
    pk_checkset_free(one);
    return 0;
}

/* Loads every file into one set, all or nothing; names must be unique across
 * files. `ov` (may be NULL) overrides the files' vars. */
static int load_checks(char *const *files, size_t n_files, const struct pk_var_overrides *ov,
                       struct pk_checkset *out, char *err, size_t errlen)
{
    struct pk_checkset all = {0};
    for (size_t i = 0; i < n_files; i++) {
        struct pk_checkset one = {0};
        if (pk_checkset_load_file_with_vars(files[i], ov, &one, err, errlen) < 0)
            goto fail;
        if (checkset_append(&all, &one, err, errlen) < 0)
            goto fail;
    }
    *out = all;
    return 0;
fail:
    pk_checkset_free(&all);
    return -1;
}

/* validate's --var flags; the other arguments are files, whatever they look like. */
static int validate_vars(int argc, char **argv, struct var_list *vl)
{
    char err[256];
    for (int i = 0; i < argc; i++) {
        const char *spec = NULL;
        if (strcmp(argv[i], "--var") == 0) {
            if (i + 1 >= argc)
                return -1;
            spec = argv[++i];
        } else if (strncmp(argv[i], "--var=", 6) == 0)
            spec = argv[i] + 6;
        if (spec && var_parse(vl, spec, err, sizeof err) < 0) {
            fprintf(stderr, "picket-probe: %s\n", err);
            return -1;
        }
    }
    return 0;
}

/* Prints every file's verdict, not only the first error. */
static int cmd_validate(int argc, char **argv)
{
    struct var_list vl = {.n = 0};
    int bad = 0, n_files = 0;
    struct pk_checkset *sets = calloc((size_t)argc + 1, sizeof *sets); /* every file, for depends_on */
    size_t n_sets = 0;
    if (!sets || validate_vars(argc, argv, &vl) < 0) {
        free(sets);
        var_free(&vl);
        return 2;
    }
    struct pk_var_overrides ov = {.vars = vl.vars, .n_vars = vl.n};
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--var") == 0) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--var=", 6) == 0)
            continue;
        n_files++;
        char err[1024];
        struct pk_checkset set = {0};
        if (pk_checkset_load_file_with_vars(argv[i], &ov, &set, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            bad = 1;
            continue;
        }
        printf("%s: ok, %zu check%s\n", argv[i], set.n_checks, set.n_checks == 1 ? "" : "s");
        sets[n_sets++] = set;
    }
    /* depends_on names checks and services of every file given, and no cycle. */
    char err[1024];
    if (!bad && n_sets && pk_checksets_check_depends(sets, n_sets, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        bad = 1;
    }
    for (size_t i = 0; i < n_sets; i++)
        pk_checkset_free(&sets[i]);
    free(sets);
    var_free(&vl);
    if (n_files == 0) {
        fprintf(stderr, "picket-probe validate: give at least one check file\n");
        return 2;
    }
    return bad ? 3 : 0;
}

/* ---------------------------------------------------------------- run --once */

struct once_results {
    const struct pk_checkset *set;
    struct pk_result *results; /* one per check, in the set's order */
    int *have;
};

/* Results arrive in completion order; file them under their check. */
static void once_on_result(const struct pk_result *r, void *user)
{
    struct once_results *o = user;
    for (size_t i = 0; i < o->set->n_checks; i++) {
        if (o->have[i])
            continue;
        char name[PK_NAME_MAX];
        pk_strlcpy(name, o->set->checks[i].name, sizeof name); /* pk_result's copy may be truncated */
        if (strcmp(name, r->check_name) == 0) {
            o->results[i] = *r;
            o->have[i] = 1;
            return;
        }
    }
}

static int write_junit(const char *path, const struct report_row *rows, size_t n)
{
    if (strcmp(path, "-") == 0) {
        report_junit(stdout, "picket-probe run --once", rows, n);
        return 0;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "picket-probe: cannot write --junit %s: %s\n", path, strerror(errno));
        return -1;
    }
    report_junit(f, "picket-probe run --once", rows, n);
    if (fclose(f) != 0) {
        fprintf(stderr, "picket-probe: cannot write --junit %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Runs every check of opts->files once and reports; the exit code. Frees opts. */
static int run_once(struct once_opts *opts)
{
    struct var_list vl = opts->vl;
    char **files = opts->files;
    size_t n_files = opts->n_files;
    const char *junit = opts->junit;
    int tap = opts->tap;
    char err[1024];
    struct pk_checkset set = {0};
    struct pk_var_overrides ov = {.vars = vl.vars, .n_vars = vl.n};
    struct once_results o = {.set = &set};
    struct report_row *rows = NULL;
    struct runner *runner = NULL;
    int exit_code = REPORT_EXIT_FAILED;
    if (load_checks(files, n_files, &ov, &set, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        exit_code = REPORT_EXIT_CONFIG;
        goto out;
    }
    for (size_t i = 0; i < vl.n; i++)
        if (strcmp(vl.vars[i].key, "region") == 0)
            pk_checkset_select_region(&set, vl.vars[i].value);
    signal(SIGPIPE, SIG_IGN);
    size_t n = set.n_checks;
    o.results = calloc(n ? n : 1, sizeof *o.results);
    o.have = calloc(n ? n : 1, sizeof *o.have);
    rows = calloc(n ? n : 1, sizeof *rows);
    if (!o.results || !o.have || !rows) {
        fprintf(stderr, "picket-probe: out of memory\n");
        goto out;
    }
    runner = runner_new(&set, once_on_result, &o, err, sizeof err);
    if (!runner) {
        /* A check the registry cannot build is a configuration problem. */
        fprintf(stderr, "picket-probe: %s\n", err);
        exit_code = REPORT_EXIT_CONFIG;
        goto out;
    }
    if (runner_run_once(runner) < 0)
        fprintf(stderr, "picket-probe: the runner stopped early; checks without a result are reported unknown\n");
    for (size_t i = 0; i < n; i++) {
        const struct pk_check *ck = &set.checks[i];
        if (!o.have[i]) {
            struct pk_result *r = &o.results[i];
            pk_strlcpy(r->check_name, ck->name, sizeof r->check_name);
            pk_strlcpy(r->check_type, ck->type, sizeof r->check_type);
            r->outcome = PK_OUTCOME_UNKNOWN;
            r->error_class = PK_ERR_INTERNAL;
            r->total_us = -1;
            pk_strlcpy(r->message, "the check did not report a result", sizeof r->message);
        }
        rows[i] = (struct report_row){ck->name, ck->type, ck->service, &o.results[i]};
    }
    if (tap)
        report_tap(stdout, rows, n);
    else
        report_table(stdout, rows, n);
    fflush(stdout);
    exit_code = report_exit_code(rows, n);
    if (junit && write_junit(junit, rows, n) < 0 && exit_code < REPORT_EXIT_FAILED)
        exit_code = REPORT_EXIT_FAILED; /* a CI gate must not pass without its report */
out:
    runner_free(runner);
    free(rows);
    free(o.results);
    free(o.have);
    pk_checkset_free(&set);
    free(files);
    var_free(&vl);
    return exit_code;
}

static int cmd_run_once(int argc, char **argv)
{
    struct once_opts opts = {.files = calloc((size_t)argc + 1, sizeof(char *))};
    if (!opts.files)
        return 2;
    if (!getenv("PICKET_LOG_LEVEL"))
        pk_log_set_level(PK_LOG_WARN); /* the report is the output; events only when wrong */
    const struct pk_opts spec = {.prog = "picket-probe", .table = once_options, .n = N_OPTIONS(once_options)};
    int next, rc = 0;
    switch (pk_opts_parse(&spec, &opts, argc, argv, &next)) {
    case PK_OPTS_OK:
        break;
    case PK_OPTS_HELP:
        usage(stdout);
        free(opts.files);
        var_free(&opts.vl);
        return 0;
    default:
        rc = 2;
    }
    for (int i = next; !rc && i < argc; i++)
        opts.files[opts.n_files++] = argv[i];
    if (!rc && opts.n_files == 0) {
        fprintf(stderr, "picket-probe: run --once: give at least one check file\n");
        rc = 2;
    }
    if (rc) {
        free(opts.files);
        var_free(&opts.vl);
        return rc;
    }
    return run_once(&opts);
}


/* What the daemon's callbacks share. The runner is created before the uplink,
 * so both pointers are set before either thread calls back. */
struct probe_ctx {
    struct uplink *up;
    struct runner *runner;
    struct probe_metrics *metrics;
    double start_time_s;
    const struct pk_probe_config *cfg;
    const struct pk_var_overrides *ov;
    const struct exec_policy *exec_policy;
};

/* The set this probe runs from local files: loaded, then narrowed by selector. */
static int load_local(const struct probe_ctx *p, struct pk_checkset *out, char *err, size_t errlen)
{
    *out = (struct pk_checkset){0};
    if (p->cfg->n_check_files == 0)
        return 0;
    if (load_checks(p->cfg->check_files, p->cfg->n_check_files, p->ov, out, err, errlen) < 0)
        return -1;
    pk_checkset_select(out, p->cfg->region, p->cfg->labels, p->cfg->n_labels);
    return 0;
}

/* Uplink thread: a CheckSet from the collector. Loaded and checked here, so a
 * bad set is refused (and said so to the collector) before the runner sees it. */
static int on_checks(int64_t version, const char *const *origins, const char *const *docs, size_t n, void *user,
                     char *err, size_t errlen)
{
    struct probe_ctx *p = user;
    struct pk_checkset all = {0};
    char qe[1100];
    if (n == 0) {
        /* This version selects nothing here: back to the local files. */
        if (load_local(p, &all, err, errlen) < 0)
            goto refuse;
        PK_INFO("probe", "checks version selects nothing for this probe; running local files",
                "version=%lld checks=%zu", (long long)version, all.n_checks);
        if (probe_metrics_set_checks(p->metrics, &all) < 0)
            PK_WARN("probe", "out of memory; /metrics keeps showing the previous checks", "version=%lld",
                    (long long)version);
        runner_swap(p->runner, &all);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct pk_checkset one = {0};
        if (pk_checkset_load_string_with_vars(docs[i], strlen(docs[i]), origins[i], p->ov, &one, err, errlen) < 0)
            goto refuse;
        if (checkset_append(&all, &one, err, errlen) < 0)
            goto refuse;
    }
    pk_checkset_select(&all, p->cfg->region, p->cfg->labels, p->cfg->n_labels);
    if (exec_policy_check(p->exec_policy, &all, err, errlen) < 0 || runner_can_run(&all, err, errlen) < 0)
        goto refuse;
    PK_INFO("probe", "running checks version", "version=%lld checks=%zu", (long long)version, all.n_checks);
    if (probe_metrics_set_checks(p->metrics, &all) < 0)
        PK_WARN("probe", "out of memory; /metrics keeps showing the previous checks", "version=%lld",
                (long long)version);
    runner_swap(p->runner, &all);
    return 0;
refuse:
    pk_checkset_free(&all);
    PK_ERROR("probe", "checks version refused; the old schedule keeps running", "version=%lld error=%s",
             (long long)version, pk_log_q(qe, sizeof qe, err));
    return -1;
}

static void on_result(const struct pk_result *r, void *user)
{
    struct probe_ctx *p = user;
    uplink_submit(p->up, r);
    probe_metrics_record(p->metrics, r);
    char qn[300], qm[600];
    PK_DEBUG("probe", "result", "check=%s outcome=%s status=%d total_us=%lld error=%s message=%s",
             pk_log_q(qn, sizeof qn, r->check_name), pk_outcome_name(r->outcome), r->status_code,
             (long long)r->total_us, pk_error_class_name(r->error_class), pk_log_q(qm, sizeof qm, r->message));
}

/* About 2 kB per http check: room for some 30,000 checks. Pages the body does not
 * reach are never touched (a buffer this size is mmap'd lazily). */
#define METRICS_BODY_MAX ((size_t)64 * 1024 * 1024)

static void on_round_started(int64_t lateness_us, void *user) { probe_metrics_round_started(user, lateness_us); }

/* HTTP thread: the uplink and metrics pointers are set before the server starts. */
static size_t render_metrics(char *buf, size_t size, void *user)
{
    struct probe_ctx *p = user;
    struct uplink_stats us;
    uplink_get_stats(p->up, &us);
    return probe_metrics_render(p->metrics, &us, p->start_time_s, buf, size);
}

/* PICKET_MAX_CHECK_FILE_BYTES raises (or lowers) the check-file size cap for every
 * command. -1 when it is not a positive integer. */
static int apply_max_check_file_bytes(void)
{
    const char *v = getenv("PICKET_MAX_CHECK_FILE_BYTES");
    if (!v || !v[0])
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n == 0 || v[0] == '-' || n > (unsigned long long)SIZE_MAX / 2) {
        fprintf(stderr, "picket-probe: PICKET_MAX_CHECK_FILE_BYTES must be a positive byte count, got '%s'\n", v);
        return -1;
    }
    pk_checkset_set_max_file_bytes((size_t)n);
    return 0;
}

/* Runs the checks and the uplink until SIGINT/SIGTERM; the exit code. Takes over
 * what *cfg_in owns (freed here). */
static int run_daemon(struct pk_probe_config *cfg_in, const char *metrics_listen, const struct exec_policy *policy)
{
    struct pk_probe_config cfg = *cfg_in;
    char err[1024];
    /* One check file serves every deployment: a probe's own variables win over the
     * file's, and every probe knows its name and region. */
    struct pk_kv ov_vars[PK_PROBE_MAX_VARS + 2];
    size_t n_ov = 0;
    int has_probe = 0, has_region = 0;
    for (size_t i = 0; i < cfg.n_vars; i++) {
        ov_vars[n_ov++] = cfg.vars[i];
        has_probe |= strcmp(cfg.vars[i].key, "probe") == 0;
        has_region |= strcmp(cfg.vars[i].key, "region") == 0;
    }
    if (!has_probe)
        ov_vars[n_ov++] = (struct pk_kv){"probe", cfg.name};
    if (!has_region)
        ov_vars[n_ov++] = (struct pk_kv){"region", cfg.region};
    struct pk_var_overrides ov = {.vars = ov_vars, .n_vars = n_ov};
    struct pk_checkset set = {0};
    struct probe_ctx pctx = {.cfg = &cfg, .ov = &ov, .exec_policy = policy, .start_time_s = (double)pk_now_us() / 1e6};
    if (load_local(&pctx, &set, err, sizeof err) < 0) {
        fprintf(stderr, "picket-probe: %s\n", err);
        pk_probe_config_free(&cfg);
        return 3;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char spool_dir[1100];
    pk_probe_config_spool_dir(&cfg, spool_dir, sizeof spool_dir);
    struct uplink_check_info *infos = calloc(set.n_checks ? set.n_checks : 1, sizeof *infos);
    for (size_t i = 0; infos && i < set.n_checks; i++) {
        infos[i].name = set.checks[i].name;
        infos[i].type = set.checks[i].type;
        infos[i].target = set.checks[i].target;
        infos[i].interval_ms = set.checks[i].interval_ms;
        infos[i].service = set.checks[i].service;
        infos[i].meta = pk_check_meta_of(&set.checks[i]);
    }
    struct uplink_config ucfg = {
        .collectors = (const char *const *)cfg.collectors,
        .n_collectors = cfg.n_collectors,
        .probe_name = cfg.name,
        .region = cfg.region,
        .labels = cfg.labels,
        .n_labels = cfg.n_labels,
        .checks = infos,
        .n_checks = infos ? set.n_checks : 0,
        .batch_max = cfg.batch_max,
        .flush_ms = cfg.flush_ms,
        .heartbeat_ms = cfg.heartbeat_ms,
        .spool_dir = spool_dir,
        .spool_cap_bytes = cfg.spool_cap,
        .spool_fsync_ms = cfg.spool_fsync_ms,
        .on_checks = on_checks,
        .checks_user = &pctx,
    };
    int exit_code = 1;
    struct pk_http_server *http = NULL;
    pctx.metrics = probe_metrics_new(cfg.region);
    if (!pctx.metrics || probe_metrics_set_checks(pctx.metrics, &set) < 0) {
        fprintf(stderr, "picket-probe: out of memory\n");
        goto out;
    }
    struct runner *runner = runner_new(&set, on_result, &pctx, err, sizeof err);
    if (!runner) {
        fprintf(stderr, "picket-probe: %s\n", err);
        goto out;
    }
    pctx.runner = runner;
    runner_set_lateness_hook(runner, on_round_started, pctx.metrics);
    struct uplink *up = uplink_start(&ucfg, err, sizeof err);
    if (!up) {
        fprintf(stderr, "picket-probe: %s\n", err);
        runner_free(runner);
        goto out;
    }
    pctx.up = up;
    if (metrics_listen && metrics_listen[0] && strcmp(metrics_listen, "none") != 0) {
        struct pk_http_server_options ho = {.body_max = METRICS_BODY_MAX, .metrics = render_metrics, .user = &pctx};
        http = pk_http_start(metrics_listen, &ho, err, sizeof err);
        if (!http) {
            fprintf(stderr, "picket-probe: --metrics-listen: %s\n", err);
            uplink_stop(up, 0);
            runner_free(runner);
            goto out;
        }
    }
    if (set.n_checks == 0)
        PK_INFO("probe", "no local checks for this probe; waiting for the collector's", "collectors=%zu",
                cfg.n_collectors);
    /* Parsing the check files (YAML documents, compiled expressions) left freed
     * memory in the heap; hand it back so a long-running probe stays small. */
    malloc_trim(0);
    {
        char qn[300], qr[200];
        PK_INFO("probe", "starting", "version=%s probe=%s region=%s checks=%zu collectors=%zu metrics_listen=%s",
                PICKET_VERSION, pk_log_q(qn, sizeof qn, cfg.name), pk_log_q(qr, sizeof qr, cfg.region),
                set.n_checks, cfg.n_collectors, http ? metrics_listen : "none");
    }
    exit_code = runner_run(runner, &stop_requested) == 0 ? 0 : 1;
    pk_http_stop(http); /* it reads the uplink's stats */
    /* Give the collector a moment to acknowledge the last results. The uplink
     * (whose callback swaps into the runner) stops before the runner is freed. */
    uplink_stop(up, 2000);
    runner_free(runner);
    PK_INFO("probe", "stopped", "code=%d", exit_code);
out:
    rpc_client_clear_security();
    probe_metrics_free(pctx.metrics);

    free(infos);
    pk_checkset_free(&set);
    pk_probe_config_free(&cfg);
    return exit_code;
}

/* The daemon's options in three layers: --config (and --help) first, so the file
 * loads before the environment and the flags. 0 to run, or -1 with *exit_code. */
static int parse_run(struct run_opts *o, int argc, char **argv, int *exit_code)
{
    struct pk_opts spec = {.prog = "picket-probe", .table = run_options, .n = N_OPTIONS(run_options),
                           .flags = PK_OPTS_EARLY_ONLY};
    pk_tls_opts_from_env(&o->tls);
    pk_probe_config_defaults(&o->cfg);
    *exit_code = 0;
    switch (pk_opts_parse(&spec, o, argc, argv, NULL)) {
    case PK_OPTS_HELP:
        usage(stdout);
        return -1;
    case PK_OPTS_VERSION:
        printf("picket-probe %s\n", PICKET_VERSION);
        return -1;
    default:
        break;
    }
    char err[1024];
    *exit_code = 3;
    if (o->config_file && o->config_file[0] && pk_probe_config_load_file(&o->cfg, o->config_file, err, sizeof err) < 0) {
        fprintf(stderr, "picket-probe: %s\n", err);
        return -1;
    }
    if (pk_probe_config_load_env(&o->cfg, err, sizeof err) < 0) {
        fprintf(stderr, "picket-probe: %s\n", err);
        return -1;
    }
    *exit_code = 2;
    spec.flags = PK_OPTS_KEEP_GOING;
    int next;
    if (pk_opts_parse(&spec, o, argc, argv, &next) != PK_OPTS_OK)
        return -1;
    if (next < argc) {
        fprintf(stderr, "picket-probe: unexpected argument '%s'\n", argv[next]);
        return -1;
    }
    if (o->cfg.n_collectors == 0) {
        fprintf(stderr, "picket-probe: no collector: give --collector HOST:PORT or set PICKET_COLLECTOR\n");
        return -1;
    }
    if (rpc_client_security_from_opts(&o->tls, "picket-probe", err, sizeof err) < 0) {
        fprintf(stderr, "picket-probe: %s\n", err);
        return -1;
    }
    return 0;
}

/* `run`: the daemon. */
static int cmd_run(int argc, char **argv)
{
    struct run_opts o = {0};
    int rc;
    if (parse_run(&o, argc, argv, &rc) < 0) {
        pk_probe_config_free(&o.cfg);
        exec_policy_free(&o.exec_policy);
        return rc;
    }
    rc = run_daemon(&o.cfg, o.metrics_listen, &o.exec_policy);
    exec_policy_free(&o.exec_policy);
    return rc;
}

int main(int argc, char **argv)
{
    const char *command = "run";
    if (apply_max_check_file_bytes() < 0)
        return 2;
    if (argc > 1 && argv[1][0] != '-') {
        command = argv[1];
        argv++;
        argc--;
    }
    if (strcmp(command, "validate") == 0)
        return cmd_validate(argc - 1, argv + 1);
    if (strcmp(command, "version") == 0) {
        printf("picket-probe %s\n", PICKET_VERSION);
        return 0;
    }
    if (strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(command, "run") == 0)
        for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
            if (strcmp(argv[i], "--once") == 0)
                return cmd_run_once(argc, argv);
    if (strcmp(command, "run") != 0) {
        fprintf(stderr, "picket-probe: unknown command '%s'\n", command);
        usage(stderr);
        return 2;
    }
    return cmd_run(argc, argv);
}
