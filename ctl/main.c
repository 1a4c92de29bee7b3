/* main.c: picketctl, the operators' command line. Talks to a collector over
 * gRPC (QueryService) and prints tables for people or JSON for scripts.
 * Exit codes: 0 ok, 1 the collector could not answer, 2 usage error or a name
 * the collector does not know (not found) or a file that cannot be read;
 * apply and diff: 3 a check file is invalid (nothing sent or stored); diff: 0
 * no change, 1 changes, 4 the collector could not answer; apply --wait: 5 a
 * probe refused the version or did not run it in time. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply_wait.h"
#include "auth.h"
#include "buf.h"
#include "query.h"
#include "checkfiles.h"
#include "checks.h"
#include "json_fields.h"
#include "maint.h"
#include "options.h"
#include "result.h"
#include "rpc_ctl.h"
#include "term.h"
#include "rpc_security.h"

/* The options before the command. */
struct global_opts {
    const char *collector;
    int timeout_ms;
    struct pk_tls_opts tls;
};

static const struct pk_option global_options[] = {
    {.name = "collector", .kind = PK_OPT_STRING, .env = "PICKET_COLLECTOR",
     .offset = offsetof(struct global_opts, collector), .metavar = "ADDR",
     .help = "collector host:port, default 127.0.0.1:7700"},
    {.name = "timeout", .kind = PK_OPT_INT, .offset = offsetof(struct global_opts, timeout_ms), .min = 1,
     .max = 600000, .range_text = "1..600000 ms", .metavar = "MS", .help = "per call, default 5000"},
    PK_OPTS_TLS_CLIENT(struct global_opts, tls),
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
    {.name = "version", .kind = PK_OPT_VERSION},
};

static void usage(FILE *f)
{
    fputs("usage: picketctl [options] COMMAND [command options]\n"
          "\n"
          "commands:\n"
          "  status [--check NAME] [--json]   last result, age, success ratio over the last hour\n"
          "                                   per region, and how many probes run each check\n"
          "  probe add NAME [--region R]      issue a token for probe NAME (needs a write credential);\n"
          "                                   the token is printed once, on stdout\n"
          "  probe revoke NAME [--id N]       revoke every token of probe NAME, or only credential N\n"
          "  apply [--json] [--wait [T]] FILE...\n"
          "                                   validate check files, then store them on the\n"
          "                                   collector as the new checks version, pushed to\n"
          "                                   every connected probe (it replaces their local\n"
          "                                   files); --wait: until every probe runs it\n"
          "  diff [--json] FILE...            what apply would change: added, removed and\n"
          "                                   changed checks (with the changed keys)\n"
          "  report                           the live quality dashboard: per service and check, e2e\n"
          "                                   pass/fail, p50/p95/p99 against budget, uptime per\n"
          "                                   region, trend arrows, open incidents, SLO budget left\n"
          "  regressions                      back-test: every alarm the baseline rule would have\n"
          "                                   raised over --since..--until (slo --backtest: the\n"
          "                                   SLO burn-rate rules')\n"
          "  availability | latency | trend | incidents | slo\n"
          "                                   one figure of docs/ANALYTICS.md per check (and region);\n"
          "                                   all analytics commands take --since T --until T\n"
          "                                   (RFC 3339 or 24h, 7d), --check NAME, --service S,\n"
          "                                   --region R, --json or --csv; COMMAND --help for more\n"
          "  maintenance add|list|end         maintenance windows: rounds inside are left out of\n"
          "                                   availability and SLOs, incidents starting inside do\n"
          "                                   not page (maintenance --help)\n"
          "  version                          print the version\n"
          "\n"
          "COMMAND --help shows its options and exit codes. Exit codes: 0 ok, 1 the collector could not\n"
          "answer, 2 bad usage or something the collector does not know (not found).\n"
          "\n"
          "options:\n",
          f);
    pk_opts_print(f, global_options, sizeof global_options / sizeof global_options[0], 23, 0);
    fputs("\n"
          "status and the analytics commands need a read (or write) credential; probe add/revoke a write credential:\n"
          "a client certificate with CN read:WHO or write:WHO, or a token from\n"
          "`picket-collector token add --role read|write WHO` (docs/SECURITY.md).\n",
          f);
}

/* A command's own options. Commands stop at their first operand, as the global
 * options do (probe excepted: its NAME may come first). 0 to go on, or -1 with
 * *exit_code (0 after --help). */
static int command_options(const char *prog, const struct pk_option *table, size_t n, unsigned flags, void *target,
                           int argc, char **argv, int *next, int *exit_code)
{
    const struct pk_opts spec = {.prog = prog, .table = table, .n = n, .flags = flags | PK_OPTS_NO_ENV};
    switch (pk_opts_parse(&spec, target, argc, argv, next)) {
    case PK_OPTS_OK:
        return 0;
    case PK_OPTS_HELP:
        usage(stdout);
        *exit_code = 0;
        return -1;
    default:
        *exit_code = 2;
        return -1;
    }
}

struct status_opts {
    int json;
    const char *check;
};
static const struct pk_option status_options[] = {
    {.name = "check", .kind = PK_OPT_STRING, .offset = offsetof(struct status_opts, check), .metavar = "NAME",
     .help = "only this check (exit 2 when the collector does not know it)"},
    {.name = "json", .kind = PK_OPT_FLAG, .offset = offsetof(struct status_opts, json), .help = "print JSON"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
};

struct probe_opts {
    const char *region;
    long long id;
};
static const struct pk_option probe_options[] = {
    {.name = "region", .kind = PK_OPT_STRING, .offset = offsetof(struct probe_opts, region), .metavar = "R",
     .help = "add: the new probe's region (default \"default\")"},
    {.name = "id", .kind = PK_OPT_LLONG, .offset = offsetof(struct probe_opts, id), .min = 1, .max = 9.3e18,
     .range_text = "a positive integer", .metavar = "N", .help = "revoke: only credential N"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
};

/* The options table of apply and diff, below. */
static const struct pk_option apply_options[3];

/* COMMAND --help: that command's synopsis, what it does and its options. */
static void command_usage(FILE *f, const char *command)
{
    const struct pk_option *table = status_options;
    size_t n = sizeof status_options / sizeof status_options[0];
    if (strcmp(command, "status") == 0) {
        fputs("usage: picketctl [options] status [--check NAME] [--json]\n"
              "The last result of every check (or one), its age and latency, the success ratio over the last\n"
              "hour per region, and per probe: last contact, spool, and the checks version it runs or refused.\n"
              "Exit 0 ok, 1 the collector could not answer, 2 bad usage or a check it does not know.\n",
              f);
    } else if (strcmp(command, "probe") == 0) {
        fputs("usage: picketctl [options] probe add NAME [--region R]\n"
              "       picketctl [options] probe revoke NAME [--id N]\n"
              "add issues a token for probe NAME (printed once, on stdout); revoke revokes every token of NAME,\n"
              "or only credential N. Both need a write credential.\n"
              "Exit 0 ok, 1 the collector could not answer, 2 bad usage or nothing to revoke.\n",
              f);
        table = probe_options;
        n = sizeof probe_options / sizeof probe_options[0];
    } else {
        int apply = strcmp(command, "apply") == 0;
        fputs(apply ? "usage: picketctl [options] apply [--json] [--wait [TIMEOUT]] FILE...\n"
                      "Validates the check files, then stores them on the collector as the new checks version,\n"
                      "pushed to every connected probe. A probe the version selects any check for runs only the\n"
                      "version's checks: its own --checks files are set aside, not merged.\n"
                      "Exit 0 ok, 1 collector error, 2 bad usage or a FILE that cannot be read (missing, a\n"
                      "directory), 3 a file is invalid (nothing is sent or stored), 5 (--wait) a probe refused\n"
                      "the version or did not run it in time.\n"
                    : "usage: picketctl [options] diff [--json] FILE...\n"
                      "What apply would change: added, removed and changed checks (with the changed keys).\n"
                      "Exit 0 no change, 1 changes, 2 bad usage or a FILE that cannot be read, 3 a file is\n"
                      "invalid, 4 collector error.\n",
              f);
        table = apply_options;
        n = apply ? 3 : 2;
    }
    fputs("\noptions:\n", f);
    pk_opts_print(f, table, n, 22, 0);
    fputs("(global options such as --collector go before the command: picketctl --help)\n", f);
}

static void format_age(char *buf, size_t size, int64_t age_us)
{
    int64_t s = age_us / 1000000;
    if (age_us < 0)
        snprintf(buf, size, "-");
    else if (s < 120)
        snprintf(buf, size, "%llds", (long long)s);
    else if (s < 7200)
        snprintf(buf, size, "%lldm", (long long)(s / 60));
    else if (s < 172800)
        snprintf(buf, size, "%lldh", (long long)(s / 3600));
    else
        snprintf(buf, size, "%lldd", (long long)(s / 86400));
}

static void format_latency(char *buf, size_t size, int64_t us)
{
    if (us < 0)
        snprintf(buf, size, "-");
    else if (us < 1000)
        snprintf(buf, size, "%lldus", (long long)us);
    else if (us < 1000000)
        snprintf(buf, size, "%.1fms", (double)us / 1000.0);
    else
        snprintf(buf, size, "%.2fs", (double)us / 1e6);
}

/* Probes and their spools: what is waiting, and what was lost (never silent). */
static void print_probes_table(const Picket__V1__StatusResponse *resp)
{
    if (resp->n_probes == 0)
        return;
    printf("\n%-24s %-12s %9s %9s %9s %10s  %s\n", "PROBE", "REGION", "LAST SEEN", "PENDING", "DROPPED", "SPOOL",
           "CHECKS");
    for (size_t i = 0; i < resp->n_probes; i++) {
        const Picket__V1__ProbeStatus *p = resp->probes[i];
        char age[32], spool[32];
        format_age(age, sizeof age, resp->now_us - p->last_seen_us);
        if (p->spool_bytes >= 1024 * 1024)
            snprintf(spool, sizeof spool, "%.1fMB", (double)p->spool_bytes / (1024.0 * 1024.0));
        else
            snprintf(spool, sizeof spool, "%.1fkB", (double)p->spool_bytes / 1024.0);
        char checks[32];
        if (p->checks_version)
            snprintf(checks, sizeof checks, "version %lld", (long long)p->checks_version);
        else
            snprintf(checks, sizeof checks, "local files");
        printf("%-24s %-12s %9s %9llu %9llu %10s  %s\n", pk_term(p->name), pk_term(p->region), age,
               (unsigned long long)p->pending_results, (unsigned long long)p->dropped_results, spool, checks);
        if (p->checks_refused_version)
            printf("%-24s   refused checks version %lld: %s\n", "", (long long)p->checks_refused_version,
                   p->checks_error[0] ? pk_term(p->checks_error) : "no reason given");
    }
    unsigned long long dropped = 0;
    for (size_t i = 0; i < resp->n_probes; i++)
        dropped += resp->probes[i]->dropped_results;
    if (dropped)
        printf("warning: probes report %llu results lost (spool cap reached, or a torn record cut off); "
               "see docs/RELIABILITY.md\n", dropped);
}

static void print_status_table(const Picket__V1__StatusResponse *resp)
{
    if (resp->n_checks == 0) {
        printf("no checks known yet: is a probe connected to this collector?\n");
        return;
    }
    printf("%-24s %-5s %-14s %5s %9s %-24s %6s  %s\n", "CHECK", "TYPE", "LAST", "AGE", "LATENCY",
           "FROM (REGION)", "PROBES", "LAST HOUR OK (PER REGION)");
    for (size_t i = 0; i < resp->n_checks; i++) {
        const Picket__V1__CheckStatus *c = resp->checks[i];
        char last[64], age[32], lat[32], from[160];
        if (c->last_started_at_us == 0) {
            snprintf(last, sizeof last, "no data");
            snprintf(age, sizeof age, "-");
            snprintf(lat, sizeof lat, "-");
            snprintf(from, sizeof from, "-");
        } else {
            if (c->last_status_code)
                snprintf(last, sizeof last, "%s %d", pk_outcome_name(c->last_outcome), c->last_status_code);
            else
                snprintf(last, sizeof last, "%s", pk_outcome_name(c->last_outcome));
            format_age(age, sizeof age, resp->now_us - c->last_started_at_us);
            format_latency(lat, sizeof lat, c->last_total_us);
            snprintf(from, sizeof from, "%s (%s)", pk_term(c->last_probe), pk_term(c->last_region));
        }
        printf("%-24s %-5s %-14s %5s %9s %-24s %6d  ", pk_term(c->check_name), pk_term(c->check_type), last, age, lat, from,
               c->probes);
        if (c->n_last_hour == 0)
            printf("no data");
        for (size_t j = 0; j < c->n_last_hour; j++) {
            const Picket__V1__RegionRatio *r = c->last_hour[j];
            printf("%s%s %.1f%% (%lld/%lld)", j ? "  " : "", pk_term(r->region),
                   r->total ? 100.0 * (double)r->ok / (double)r->total : 0.0, (long long)r->ok,
                   (long long)r->total);
        }
        printf("\n");
        if (c->last_started_at_us && c->last_outcome != PICKET__V1__OUTCOME__OUTCOME_OK && c->last_message[0])
            printf("%-24s   reason: %s\n", "", pk_term(c->last_message));
    }
    print_probes_table(resp);
}

#define PROBE_JSON(key, field, kind) CTL_JSON(Picket__V1__ProbeStatus, key, field, kind)
static const struct ctl_json_field probe_fields[] = {
    PROBE_JSON("probe", name, STR), PROBE_JSON("region", region, STR), PROBE_JSON("last_seen_us", last_seen_us, I64),
    PROBE_JSON("pending_results", pending_results, U64), PROBE_JSON("dropped_results", dropped_results, U64),
    PROBE_JSON("spool_bytes", spool_bytes, U64), PROBE_JSON("committed_sequence", committed_sequence, U64),
    PROBE_JSON("checks_version", checks_version, I64),
    PROBE_JSON("checks_refused_version", checks_refused_version, I64),
    PROBE_JSON("checks_error", checks_error, STR_NULL),
};

static void print_status_json(const Picket__V1__StatusResponse *resp)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "now_us", json_object_new_int64(resp->now_us));
    json_object *checks = json_object_new_array();
    for (size_t i = 0; i < resp->n_checks; i++) {
        const Picket__V1__CheckStatus *c = resp->checks[i];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "check", json_object_new_string(c->check_name));
        json_object_object_add(o, "type", json_object_new_string(c->check_type));
        json_object_object_add(o, "probes", json_object_new_int(c->probes));
        if (c->last_started_at_us) {
            json_object *last = json_object_new_object();
            json_object_object_add(last, "started_at_us", json_object_new_int64(c->last_started_at_us));
            json_object_object_add(last, "age_s",
                                   json_object_new_double((double)(resp->now_us - c->last_started_at_us) / 1e6));
            json_object_object_add(last, "outcome", json_object_new_string(pk_outcome_name(c->last_outcome)));
            json_object_object_add(last, "status_code", json_object_new_int(c->last_status_code));
            json_object_object_add(last, "total_us", json_object_new_int64(c->last_total_us));
            json_object_object_add(last, "message", json_object_new_string(c->last_message));
            json_object_object_add(last, "probe", json_object_new_string(c->last_probe));
            json_object_object_add(last, "region", json_object_new_string(c->last_region));
            json_object_object_add(o, "last", last);
        } else {
            json_object_object_add(o, "last", NULL);
        }
        json_object *regions = json_object_new_array();
        for (size_t j = 0; j < c->n_last_hour; j++) {
            const Picket__V1__RegionRatio *r = c->last_hour[j];
            json_object *ro = json_object_new_object();
            json_object_object_add(ro, "region", json_object_new_string(r->region));
            json_object_object_add(ro, "total", json_object_new_int64(r->total));
            json_object_object_add(ro, "ok", json_object_new_int64(r->ok));
            json_object_object_add(ro, "success_ratio",
                                   r->total ? json_object_new_double((double)r->ok / (double)r->total) : NULL);
            json_object_array_add(regions, ro);
        }
        json_object_object_add(o, "last_hour", regions);
        /* the newest numbers (extract:, perfdata): {"vulnerabilities": 3} */
        json_object *metrics = json_object_new_object();
        for (size_t j = 0; j < c->n_last_metrics; j++)
            json_object_object_add(metrics, c->last_metrics[j]->name, json_object_new_double(c->last_metrics[j]->value));
        json_object_object_add(o, "metrics", metrics);
        json_object_array_add(checks, o);
    }
    json_object_object_add(root, "checks", checks);
    json_object *probes = json_object_new_array();
    for (size_t i = 0; i < resp->n_probes; i++) {
        const Picket__V1__ProbeStatus *p = resp->probes[i];
        json_object_array_add(probes, ctl_json_object(p, probe_fields, CTL_JSON_NFIELDS(probe_fields)));
    }
    json_object_object_add(root, "probes", probes);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static int cmd_status(const char *collector, int timeout_ms, int argc, char **argv)
{
    struct status_opts o = {0};
    int next, rc;
    if (command_options("picketctl status", status_options, sizeof status_options / sizeof status_options[0],
                        PK_OPTS_IN_ORDER, &o, argc, argv, &next, &rc) < 0)
        return rc;
    if (next < argc) {
        fprintf(stderr, "picketctl status: unexpected argument '%s'\n", argv[next]);
        return 2;
    }
    char err[1024];
    Picket__V1__StatusResponse *resp = NULL;
    int src = ctl_status(collector, o.check, timeout_ms, &resp, err, sizeof err);
    if (src < 0) {
        fprintf(stderr, "picketctl status: %s\n", err);
        return src == -2 ? 2 : 1;
    }
    if (o.json)
        print_status_json(resp);
    else
        print_status_table(resp);
    picket__v1__status_response__free_unpacked(resp, NULL);
    return 0;
}

static int cmd_probe(const char *collector, int timeout_ms, int argc, char **argv)
{
    struct probe_opts o = {0};
    int next, rc;
    /* argv[0] is "probe", argv[1] the action. */
    if (argc < 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "revoke") != 0)) {
        fprintf(stderr, "picketctl probe: give an action: add NAME [--region R] or revoke NAME [--id N]\n");
        return 2;
    }
    int add = strcmp(argv[1], "add") == 0;
    const char *action = argv[1];
    argc--;
    argv++;
    if (command_options("picketctl probe", probe_options, sizeof probe_options / sizeof probe_options[0], 0, &o,
                        argc, argv, &next, &rc) < 0)
        return rc;
    if (next + 1 != argc) {
        fprintf(stderr, "picketctl probe %s: give exactly one probe NAME\n", action);
        return 2;
    }
    const char *name = argv[next];
    const char *region = o.region;
    long long id = o.id;
    char err[1024];
    if (add) {
        if (id) {
            fprintf(stderr, "picketctl probe add: --id is for revoke\n");
            return 2;
        }
        Picket__V1__AddProbeResponse *resp = NULL;
        int arc = ctl_add_probe(collector, name, region, timeout_ms, &resp, err, sizeof err);
        if (arc < 0) {
            fprintf(stderr, "picketctl probe add: %s\n", err);
            return arc == -2 ? 2 : 1;
        }
        printf("%s\n", resp->token);
        fflush(stdout);
        fprintf(stderr,
                "picketctl: token for probe '%s' issued (credential id %lld). It is shown only once and the\n"
                "collector keeps only its hash. Save it in a file readable only by the probe's user, then run\n"
                "  picket-probe --name %s --tls-ca CA.crt --token-file FILE ...   (or set PICKET_TOKEN)\n",
                name, (long long)resp->credential_id, name);
        size_t n = strlen(resp->token);
        memset(resp->token, 0, n);
        picket__v1__add_probe_response__free_unpacked(resp, NULL);
        return 0;
    }
    if (region) {
        fprintf(stderr, "picketctl probe revoke: --region is for add\n");
        return 2;
    }
    long long revoked = 0;
    int vrc = ctl_revoke(collector, name, id, timeout_ms, &revoked, err, sizeof err);
    if (vrc < 0) {
        fprintf(stderr, "picketctl probe revoke: %s\n", err);
        return vrc == -2 ? 2 : 1;
    }
    printf("revoked %lld credential%s of probe %s\n", revoked, revoked == 1 ? "" : "s", name);
    return 0;
}

static json_object *changes_json(Picket__V1__CheckChange **changes, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "check", json_object_new_string(changes[i]->name));
        json_object_object_add(o, "change", json_object_new_string(changes[i]->change));
        json_object *keys = json_object_new_array();
        for (size_t k = 0; k < changes[i]->n_keys; k++)
            json_object_array_add(keys, json_object_new_string(changes[i]->keys[k]));
        json_object_object_add(o, "keys", keys);
        json_object_array_add(arr, o);
    }
    return arr;
}

static void print_changes(Picket__V1__CheckChange **changes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Picket__V1__CheckChange *c = changes[i];
        char sign = strcmp(c->change, "added") == 0 ? '+' : strcmp(c->change, "removed") == 0 ? '-' : '~';
        printf("%c %-32s %s", sign, pk_term(c->name), pk_term(c->change));
        for (size_t k = 0; k < c->n_keys; k++)
            printf("%s%s", k ? ", " : " (", pk_term(c->keys[k]));
        printf("%s\n", c->n_keys ? ")" : "");
    }
}

/* What apply and diff print beside the changes: a central set is the whole set. */
#define REPLACES_NOTE                                                                                              \
    "note: a probe this version selects any check for runs only the version's checks: its own --checks files "  \
    "are set aside, not merged (a probe it selects none for keeps its local files)"

struct apply_opts {
    int json;
    int wait;           /* --wait given */
    int64_t wait_ms;    /* its TIMEOUT, default 60 s */
};

static const struct pk_option apply_options[3] = {
    {.name = "json", .kind = PK_OPT_FLAG, .offset = offsetof(struct apply_opts, json), .help = "print JSON"},
    {.name = "help", .short_name = 'h', .kind = PK_OPT_HELP, .help = "this text"},
    {.name = "wait", .kind = PK_OPT_FLAG, .metavar = "[TIMEOUT]", .offset = offsetof(struct apply_opts, wait),
     .help = "then wait until every connected probe runs the version (default 60s); exit 5 naming "
             "the probes that refused it or did not answer"},
};

/* Takes --wait [TIMEOUT] and --wait=TIMEOUT out of the options before the
 * first operand (TIMEOUT is a duration such as 90s or 2m, and not a file).
 * 0, or -1 after printing why. */
static int take_wait(int *argc, char **argv, struct apply_opts *o)
{
    o->wait_ms = 60000;
    int out = 1, i = 1;
    for (; i < *argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--wait") != 0 && strncmp(a, "--wait=", 7) != 0) {
            argv[out++] = argv[i];
            continue;
        }
        const char *t = a[6] == '=' ? a + 7 : NULL;
        int64_t ms = 0;
        if (!t && i + 1 < *argc && pk_parse_duration_ms(argv[i + 1], &ms) == 0 && access(argv[i + 1], F_OK) != 0)
            t = argv[++i];
        if (t && (pk_parse_duration_ms(t, &ms) < 0 || ms <= 0 || ms > 86400000)) {
            fprintf(stderr, "picketctl apply: --wait '%s': give a duration such as 90s or 5m (at most 24h)\n", t);
            return -1;
        }
        o->wait = 1;
        if (t)
            o->wait_ms = ms;
    }
    for (; i < *argc; i++)
        argv[out++] = argv[i];
    *argc = out;
    return 0;
}

static void print_json(json_object *root)
{
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static void print_apply(const Picket__V1__ApplyChecksResponse *resp, int json)
{
    if (json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "version", json_object_new_int64(resp->version));
        json_object_object_add(root, "created", json_object_new_boolean(resp->created));
        json_object_object_add(root, "changes", changes_json(resp->changes, resp->n_changes));
        json_object_object_add(root, "replaces_local_checks", json_object_new_boolean(1));
        print_json(root);
        return;
    }
    print_changes(resp->changes, resp->n_changes);
    if (resp->created)
        printf("stored: checks version %lld is current; connected probes receive it within seconds\n",
               (long long)resp->version);
    else
        printf("no change: checks version %lld stays current\n", (long long)resp->version);
    printf("`picketctl status` shows which probes run it and which refused it (apply --wait waits for them)\n");
    printf("%s\n", REPLACES_NOTE);
}

static int print_diff(const Picket__V1__DiffChecksResponse *resp, int json)
{
    if (json) {
        json_object *root = json_object_new_object();
        json_object_object_add(root, "current_version", json_object_new_int64(resp->current_version));
        json_object_object_add(root, "changes", changes_json(resp->changes, resp->n_changes));
        json_object_object_add(root, "replaces_local_checks", json_object_new_boolean(1));
        print_json(root);
    } else if (resp->n_changes == 0) {
        printf("no changes against checks version %lld\n", (long long)resp->current_version);
    } else {
        print_changes(resp->changes, resp->n_changes);
        printf("%s\n", REPLACES_NOTE);
    }
    return resp->n_changes ? 1 : 0;
}

/* Sends the files: apply stores them (then waits when asked), diff compares. The exit code. */
static int send_files(const char *collector, int timeout_ms, int apply, const struct apply_opts *o,
                      Picket__V1__CheckFile **fp, size_t n)
{
    char err[1400];
    int invalid = 0;
    ProtobufCMessage *answer = NULL;
    Picket__V1__ApplyChecksRequest areq = PICKET__V1__APPLY_CHECKS_REQUEST__INIT;
    Picket__V1__DiffChecksRequest dreq = PICKET__V1__DIFF_CHECKS_REQUEST__INIT;
    areq.n_files = dreq.n_files = n;
    areq.files = dreq.files = fp;
    if (ctl_admin_call(collector, apply ? "/picket.v1.AdminService/ApplyChecks" : "/picket.v1.AdminService/DiffChecks",
                       apply ? &areq.base : &dreq.base,
                       apply ? &picket__v1__apply_checks_response__descriptor
                             : &picket__v1__diff_checks_response__descriptor,
                       timeout_ms, &answer, &invalid, err, sizeof err) < 0) {
        fprintf(stderr, "picketctl %s: %s\n", apply ? "apply" : "diff", err);
        return invalid ? 3 : apply ? 1 : 4;
    }
    int rc = 0;
    if (apply) {
        const Picket__V1__ApplyChecksResponse *resp = (const Picket__V1__ApplyChecksResponse *)answer;
        print_apply(resp, o->json);
        fflush(stdout);
        if (o->wait)
            rc = ctl_apply_wait(collector, timeout_ms, resp->version, o->wait_ms);
    } else {
        rc = print_diff((const Picket__V1__DiffChecksResponse *)answer, o->json);
    }
    protobuf_c_message_free_unpacked(answer, NULL);
    return rc;
}

/* apply and diff share everything but the call and the answer. */
static int cmd_apply_or_diff(const char *collector, int timeout_ms, int apply, int argc, char **argv)
{
    const char *name = apply ? "apply" : "diff";
    char prog[32];
    snprintf(prog, sizeof prog, "picketctl %s", name);
    struct apply_opts o = {0};
    int next, rc;
    if (apply && take_wait(&argc, argv, &o) < 0)
        return 2;
    if (command_options(prog, apply_options, sizeof apply_options / sizeof apply_options[0], PK_OPTS_IN_ORDER, &o,
                        argc, argv, &next, &rc) < 0)
        return rc;
    if (o.wait && !apply) {
        fprintf(stderr, "picketctl diff: --wait is for apply\n");
        return 2;
    }
    size_t n = (size_t)(argc - next);
    if (n == 0) {
        fprintf(stderr, "picketctl %s: give at least one check file\n", name);
        return 2;
    }
    char err[1400];
    struct ctl_check_file *read = calloc(n, sizeof *read);
    Picket__V1__CheckFile *files = calloc(n, sizeof *files);
    Picket__V1__CheckFile **fp = calloc(n, sizeof *fp);
    rc = 1;
    if (!read || !files || !fp)
        goto out;
    if (ctl_check_files_limit_from_env(err, sizeof err) < 0) {
        fprintf(stderr, "picketctl %s: %s\n", name, err);
        rc = 2;
        goto out;
    }
    enum ctl_files_error fe = ctl_read_check_files(argv + next, n, read, err, sizeof err);
    if (fe != CTL_FILES_OK) {
        fprintf(stderr, "picketctl %s: %s\n", name, err);
        rc = fe == CTL_FILES_UNREADABLE ? 2 : 3;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        picket__v1__check_file__init(&files[i]);
        files[i].name = (char *)read[i].name;
        files[i].content = read[i].content; /* owned by read[] */
        fp[i] = &files[i];
    }
    rc = send_files(collector, timeout_ms, apply, &o, fp, n);
out:
    if (read)
        ctl_check_files_free(read, n);
    free(read);
    free(files);
    free(fp);
    return rc;
}

/* The commands that call the collector: help needs no credentials, the rest do. */
static int remote_command(const struct global_opts *g, const char *command, int argc, char **argv)
{
    char err[1024];
    int wants_help = 0;
    for (int i = 1; i < argc; i++)
        wants_help |= strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    if (wants_help) {
        if (ctl_query_is_command(command))
            ctl_query_usage(stdout, command);
        else if (strcmp(command, "maintenance") == 0)
            ctl_maint_usage(stdout);
        else
            command_usage(stdout, command);
        return 0;
    }
    if (rpc_client_security_from_opts(&g->tls, "picketctl", err, sizeof err) < 0) {
        fprintf(stderr, "picketctl: %s\n", err);
        return 2;
    }
    int rc;
    if (strcmp(command, "status") == 0)
        rc = cmd_status(g->collector, g->timeout_ms, argc, argv);
    else if (ctl_query_is_command(command))
        rc = ctl_query_main(g->collector, g->timeout_ms, argc, argv);
    else if (strcmp(command, "probe") == 0)
        rc = cmd_probe(g->collector, g->timeout_ms, argc, argv);
    else if (strcmp(command, "maintenance") == 0)
        rc = ctl_maint_main(g->collector, g->timeout_ms, argc, argv);
    else
        rc = cmd_apply_or_diff(g->collector, g->timeout_ms, strcmp(command, "apply") == 0, argc, argv);
    rpc_client_clear_security();
    return rc;
}

int main(int argc, char **argv)
{
    struct global_opts g = {.collector = "127.0.0.1:7700", .timeout_ms = 5000};
    pk_tls_opts_from_env(&g.tls);
    const struct pk_opts spec = {.prog = "picketctl",
                                 .table = global_options,
                                 .n = sizeof global_options / sizeof global_options[0],
                                 .flags = PK_OPTS_IN_ORDER};
    int next;
    switch (pk_opts_parse(&spec, &g, argc, argv, &next)) {
    case PK_OPTS_OK:
        break;
    case PK_OPTS_HELP:
        usage(stdout);
        return 0;
    case PK_OPTS_VERSION:
        printf("picketctl %s\n", PICKET_VERSION);
        return 0;
    case PK_OPTS_UNKNOWN:
        usage(stderr);
        return 2;
    default:
        return 2;
    }
    if (next >= argc) {
        usage(stderr);
        return 2;
    }
    const char *command = argv[next];
    if (strcmp(command, "status") == 0 || strcmp(command, "probe") == 0 || strcmp(command, "apply") == 0 ||
        strcmp(command, "diff") == 0 || strcmp(command, "maintenance") == 0 || ctl_query_is_command(command))
        return remote_command(&g, command, argc - next, argv + next);
    if (strcmp(command, "version") == 0) {
        printf("picketctl %s\n", PICKET_VERSION);
        return 0;
    }
    if (strcmp(command, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "picketctl: unknown command '%s'\n", command);
    usage(stderr);
    return 2;
}
