/* main.c: picket-probe's command line. `run` (the default) loads the probe's
 * identity and check files, runs the checks on schedule and streams results to
 * the collector; `validate` checks files without running anything. Exit codes:
 * 0 ok, 1 runtime failure, 2 usage error, 3 configuration error. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "log.h"
#include "probe_config.h"
#include "runner.h"
#include "uplink.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: picket-probe [run] [options]\n"
            "       picket-probe validate FILE...\n"
            "       picket-probe version\n"
            "\n"
            "Runs checks on a schedule and streams their results to a Picket collector.\n"
            "\n"
            "options (flags win over environment, which wins over the config file):\n"
            "  --config FILE        probe config YAML (env PICKET_PROBE_CONFIG)\n"
            "  --name NAME          probe name, default the host name (env PICKET_PROBE_NAME)\n"
            "  --region REGION      region, default \"default\" (env PICKET_REGION)\n"
            "  --labels K=V,...     labels (env PICKET_LABELS)\n"
            "  --collector ADDR     collector host:port; repeat or comma-separate for failover\n"
            "                       (env PICKET_COLLECTOR)\n"
            "  --checks FILE        check file; repeat or comma-separate (env PICKET_CHECKS)\n"
            "  --batch-max N        results per batch, default 500\n"
            "  --log-level LEVEL    debug, info, warn or error (env PICKET_LOG_LEVEL)\n"
            "  -h, --help           this text\n");
}

/* Loads every file into one set; names must be unique across files. */
static int load_checks(char *const *files, size_t n_files, struct pk_checkset *out, char *err, size_t errlen)
{
    struct pk_checkset all = {0};
    for (size_t i = 0; i < n_files; i++) {
        struct pk_checkset one = {0};
        if (pk_checkset_load_file(files[i], &one, err, errlen) < 0)
            goto fail;
        for (size_t a = 0; a < one.n_checks; a++)
            for (size_t b = 0; b < all.n_checks; b++)
                if (strcmp(one.checks[a].name, all.checks[b].name) == 0) {
                    snprintf(err, errlen, "%s:%d: check '%s' is already defined at %s:%d", one.checks[a].file,
                             one.checks[a].line, one.checks[a].name, all.checks[b].file, all.checks[b].line);
                    pk_checkset_free(&one);
                    goto fail;
                }
        struct pk_check *grown = realloc(all.checks, (all.n_checks + one.n_checks) * sizeof *grown);
        if (!grown && all.n_checks + one.n_checks) {
            snprintf(err, errlen, "out of memory");
            pk_checkset_free(&one);
            goto fail;
        }
        all.checks = grown;
        memcpy(all.checks + all.n_checks, one.checks, one.n_checks * sizeof *one.checks);
        all.n_checks += one.n_checks;
        free(one.checks); /* the strings moved into `all` */
    }
    *out = all;
    return 0;
fail:
    pk_checkset_free(&all);
    return -1;
}

static int cmd_validate(int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "picket-probe validate: give at least one check file\n");
        return 2;
    }
    int bad = 0;
    for (int i = 0; i < argc; i++) {
        char err[1024];
        struct pk_checkset set = {0};
        if (pk_checkset_load_file(argv[i], &set, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            bad = 1;
            continue;
        }
        printf("%s: ok, %zu check%s\n", argv[i], set.n_checks, set.n_checks == 1 ? "" : "s");
        pk_checkset_free(&set);
    }
    return bad ? 3 : 0;
}

static void on_result(const struct pk_result *r, void *user)
{
    struct uplink *u = user;
    uplink_submit(u, r);
    char qn[300], qm[600];
    PK_DEBUG("probe", "result", "check=%s outcome=%s status=%d total_us=%lld error=%s message=%s",
             pk_log_q(qn, sizeof qn, r->check_name), pk_outcome_name(r->outcome), r->status_code,
             (long long)r->total_us, pk_error_class_name(r->error_class), pk_log_q(qm, sizeof qm, r->message));
}

int main(int argc, char **argv)
{
    const char *command = "run";
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
    if (strcmp(command, "run") != 0) {
        fprintf(stderr, "picket-probe: unknown command '%s'\n", command);
        usage(stderr);
        return 2;
    }

    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},    {"name", required_argument, NULL, 'n'},
        {"region", required_argument, NULL, 'r'},    {"labels", required_argument, NULL, 'l'},
        {"collector", required_argument, NULL, 'C'}, {"checks", required_argument, NULL, 'k'},
        {"batch-max", required_argument, NULL, 'b'}, {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},            {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* First pass: only --config and --help, so the file loads before env and flags. */
    const char *config_file = getenv("PICKET_PROBE_CONFIG");
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c == 'c')
            config_file = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c == 'V') {
            printf("picket-probe %s\n", PICKET_VERSION);
            return 0;
        }
    }
    char err[1024];
    struct pk_probe_config cfg;
    pk_probe_config_defaults(&cfg);
    if (config_file && config_file[0] && pk_probe_config_load_file(&cfg, config_file, err, sizeof err) < 0) {
        fprintf(stderr, "picket-probe: %s\n", err);
        pk_probe_config_free(&cfg);
        return 3;
    }
    if (pk_probe_config_load_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "picket-probe: %s\n", err);
        pk_probe_config_free(&cfg);
        return 3;
    }
    /* Second pass: every flag. Lists given by flags replace those from file/env. */
    int flag_collectors = 0, flag_checks = 0;
    optind = 1;
    opterr = 1;
    int rc = 0;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            break;
        case 'n':
            pk_strlcpy(cfg.name, optarg, sizeof cfg.name);
            break;
        case 'r':
            pk_strlcpy(cfg.region, optarg, sizeof cfg.region);
            break;
        case 'l':
            if (pk_probe_config_set_labels(&cfg, optarg, err, sizeof err) < 0) {
                fprintf(stderr, "picket-probe: --labels: %s\n", err);
                rc = 2;
            }
            break;
        case 'C':
            if (!flag_collectors++) {
                for (size_t i = 0; i < cfg.n_collectors; i++)
                    free(cfg.collectors[i]);
                cfg.n_collectors = 0;
            }
            if (pk_probe_config_add_collectors(&cfg, optarg, err, sizeof err) < 0) {
                fprintf(stderr, "picket-probe: --collector: %s\n", err);
                rc = 2;
            }
            break;
        case 'k':
            if (!flag_checks++) {
                for (size_t i = 0; i < cfg.n_check_files; i++)
                    free(cfg.check_files[i]);
                cfg.n_check_files = 0;
            }
            if (pk_probe_config_add_check_files(&cfg, optarg, err, sizeof err) < 0) {
                fprintf(stderr, "picket-probe: --checks: %s\n", err);
                rc = 2;
            }
            break;
        case 'b': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 5000) {
                fprintf(stderr, "picket-probe: --batch-max must be 1..5000, got '%s'\n", optarg);
                rc = 2;
            } else
                cfg.batch_max = (int)v;
            break;
        }
        case 'L': {
            int level = pk_log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr, "picket-probe: unknown --log-level '%s'\n", optarg);
                rc = 2;
            } else
                pk_log_set_level(level);
            break;
        }
        default:
            rc = 2;
        }
    }
    if (!rc && optind < argc) {
        fprintf(stderr, "picket-probe: unexpected argument '%s'\n", argv[optind]);
        rc = 2;
    }
    if (!rc && cfg.n_collectors == 0) {
        fprintf(stderr, "picket-probe: no collector: give --collector HOST:PORT or set PICKET_COLLECTOR\n");
        rc = 2;
    }
    if (!rc && cfg.n_check_files == 0) {
        fprintf(stderr, "picket-probe: no checks: give --checks FILE or set PICKET_CHECKS\n");
        rc = 2;
    }
    if (rc) {
        pk_probe_config_free(&cfg);
        return rc;
    }

    struct pk_checkset set = {0};
    if (load_checks(cfg.check_files, cfg.n_check_files, &set, err, sizeof err) < 0) {
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

    struct uplink_check_info *infos = calloc(set.n_checks ? set.n_checks : 1, sizeof *infos);
    for (size_t i = 0; infos && i < set.n_checks; i++) {
        infos[i].name = set.checks[i].name;
        infos[i].type = set.checks[i].type;
        infos[i].target = set.checks[i].url;
        infos[i].interval_ms = set.checks[i].interval_ms;
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
    };
    int exit_code = 1;
    struct runner *runner = NULL;

    struct uplink *up = uplink_start(&ucfg, err, sizeof err);
    if (!up) {
        fprintf(stderr, "picket-probe: %s\n", err);
        goto out;
    }
    runner = runner_new(&set, on_result, up, err, sizeof err);
    if (!runner) {
        fprintf(stderr, "picket-probe: %s\n", err);
        uplink_stop(up, 0);
        goto out;
    }
    {
        char qn[300], qr[200];
        PK_INFO("probe", "starting", "version=%s probe=%s region=%s checks=%zu collectors=%zu", PICKET_VERSION,
                pk_log_q(qn, sizeof qn, cfg.name), pk_log_q(qr, sizeof qr, cfg.region), set.n_checks,
                cfg.n_collectors);
    }
    exit_code = runner_run(runner, &stop_requested) == 0 ? 0 : 1;
    runner_free(runner);
    /* Give the collector a moment to acknowledge the last results. */
    uplink_stop(up, 2000);
    PK_INFO("probe", "stopped", "code=%d", exit_code);
out:

    free(infos);
    pk_checkset_free(&set);
    pk_probe_config_free(&cfg);
    return exit_code;
}
